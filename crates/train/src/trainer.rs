//! The fine-tuning loop: the chapter's `train_classifier_simple`, plus accumulation,
//! schedules, clipping, early stopping, checkpoints and resume.
//!
//! [`train`] builds a `TrainCtx` holding the loop's state, runs its epochs and finishes it;
//! each part of the loop is one method of the context: `step` (one batch and, at the end of
//! an accumulation, one optimizer update), `evaluate` (the periodic estimate and the best
//! model), `end_epoch`, and `checkpoint` (the one place a checkpoint is written).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use spam_model::Classifier;
use tch::{Kind, Tensor};

use crate::best::{BestRecord, MetricPoint, weighted_loss};
use crate::checkpoint::{self, Position};
use crate::config::TrainConfig;
use crate::data::{Split, TrainData};
use crate::engine::{Runner, RunnerOptions, first};
use crate::error::{Result, TrainError};
use crate::events::{Event, Events};
use crate::hooks::Armed;
use crate::keep_best::{BestSoFar, Weights, best_metric, restore, snapshot, split_metrics};
use crate::optim::AdamW;
use crate::order::TrainOrder;
use crate::report::{EpochRecord, EvalRecord, FinalAccuracy, Report, Timing};
use crate::run_log::{LineState, RunLog};

/// Where checkpoints go and whether to resume from them.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Checkpoints are written to `<dir>/checkpoint` and the log to `<dir>/log.jsonl`;
    /// `None` writes neither.
    pub checkpoint_dir: Option<PathBuf>,
    /// Continue from the checkpoint in `checkpoint_dir` when there is one.
    pub resume: bool,
    /// Where progress goes (nowhere by default).
    pub events: Events,
    /// Set (by a signal handler, say) to stop the run between two steps: it writes a
    /// checkpoint (with `checkpoint_dir`) and fails with [`TrainError::Interrupted`].
    pub stop: Option<Arc<AtomicBool>>,
}

/// Fine-tunes `model` on `data`, returning the report `metrics.json` is made of. Sets the
/// process allocator to keep freed memory for reuse ([`spam_model::reuse_freed_memory`]).
pub fn train(
    model: &Classifier,
    data: &TrainData,
    config: &TrainConfig,
    options: &RunOptions,
) -> Result<Report> {
    config.validate()?;
    let classes = &data.label_names;
    if config.threshold.is_some() && classes.len() != 2 {
        return Err(TrainError::Settings(format!(
            "--threshold needs data of two classes (it is the positive class's probability); \
             this data has {}: {}",
            classes.len(),
            classes.join(", ")
        )));
    }
    // The run computes in the config's precision whatever the caller's model was set to: a
    // replica shares the variables, so the caller's model is the one trained.
    let mut model = model.replica();
    model.set_precision(config.precision);
    // Each step frees and retakes its gradients: keep that memory in the process.
    spam_model::reuse_freed_memory();
    let started = Instant::now();
    let mut ctx = TrainCtx::new(&model, data, config, options)?;
    for epoch in ctx.position.epoch..config.epochs {
        ctx.epoch(epoch)?;
        if ctx.stopped_early {
            break;
        }
    }
    ctx.finish(started)
}

/// The state of one run of the loop, from its set-up to its report.
struct TrainCtx<'a> {
    /// The replica being trained, in the run's precision.
    model: &'a Classifier,
    data: &'a TrainData,
    config: &'a TrainConfig,
    options: &'a RunOptions,
    runner: Runner<'a>,
    order: TrainOrder,
    optimizer: AdamW,
    /// The class weights of the loss, on the model's device.
    weight_tensor: Option<Tensor>,
    /// Optimizer updates in the whole run (the schedule's length).
    total_updates: usize,
    batches_per_epoch: usize,
    report: Report,
    position: Position,
    /// The weights of the best evaluation so far (runs with a best-model metric).
    best_weights: Option<Weights>,
    /// Early stopping's state and the best model's.
    best_so_far: BestSoFar,
    log: Option<RunLog>,
    /// What the next log line carries besides its record.
    line: LineState,
    steps_this_process: usize,
    /// The test hooks armed when the run started (none without the `test-hooks` feature).
    hooks: Armed,
    stopped_early: bool,
    cache_seconds: f64,
    /// When the loop started (after the set-up).
    train_start: Instant,
}

impl<'a> TrainCtx<'a> {
    /// Sets the run up: the data order, the runner (which builds the prefix cache), the
    /// optimizer, the class weights, the checkpoint to resume from and the log.
    fn new(
        model: &'a Classifier,
        data: &'a TrainData,
        config: &'a TrainConfig,
        options: &'a RunOptions,
    ) -> Result<Self> {
        let events = &options.events;
        let order = TrainOrder::new(&config.order_settings(), data.train.len());
        let batches_per_epoch = order.epoch(0).len();
        if batches_per_epoch == 0 {
            return Err(TrainError::Settings(format!(
                "the training split has {} examples, fewer than one batch of {}: lower --batch-size",
                data.train.len(),
                config.batch_size
            )));
        }
        let cache_start = Instant::now();
        let runner = Runner::new(
            model,
            data,
            &RunnerOptions {
                engine: config.engine,
                batch_size: config.batch_size,
                cache: config.cache(),
                events: events.clone(),
            },
        )?;
        let cache_seconds = cache_start.elapsed().as_secs_f64();
        events.emit(Event::ComputePath(runner.describe()));

        let optimizer = AdamW::new(model.trainable_parameters(), config.optimizer);
        let class_weights = match &config.class_weights {
            Some(w) => Some(w.resolve(&data.train.labels, data.label_names.len())?),
            None => None,
        };
        let weight_tensor = class_weights.as_ref().map(|w| {
            Tensor::from_slice(w)
                .to_kind(Kind::Float)
                .to_device(model.device())
        });
        let report = Report::new(config, &runner.describe(), data);
        let mut ctx = Self {
            model,
            data,
            config,
            options,
            runner,
            order,
            optimizer,
            weight_tensor,
            total_updates: config.epochs * batches_per_epoch.div_ceil(config.grad_accum_steps),
            batches_per_epoch,
            report,
            position: Position::default(),
            best_weights: None,
            best_so_far: BestSoFar::new(config),
            log: None,
            line: LineState::default(),
            steps_this_process: 0,
            hooks: Armed::current(),
            stopped_early: false,
            cache_seconds,
            train_start: Instant::now(),
        };
        if options.resume {
            ctx.resume()?;
        }
        ctx.log = ctx.open_log()?;
        ctx.train_start = Instant::now();
        // A resumed run continues from the evaluations of its history.
        ctx.best_so_far.replay(&ctx.report);
        ctx.report.class_weights = class_weights;
        Ok(ctx)
    }

    /// Restores the checkpoint of the run's directory: weights, optimizer state, position,
    /// report and best weights.
    fn resume(&mut self) -> Result<()> {
        let dir = self
            .checkpoint_path()
            .ok_or_else(|| TrainError::Settings("resuming needs a run directory".into()))?;
        let checkpoint::Restored {
            position,
            report,
            best,
        } = checkpoint::load(&dir, self.model, &mut self.optimizer).map_err(|e| {
            TrainError::checkpoint_by(&dir, format!("could not resume from {}", dir.display()), e)
        })?;
        self.events().emit(Event::Resumed {
            checkpoint: dir,
            epoch: position.epoch,
            step: position.global_step,
        });
        self.position = position;
        self.report = report;
        self.best_weights = best;
        // A resume may extend the run (more epochs): the report tells the settings it ends with.
        self.report.config = self.config.clone();
        Ok(())
    }

    /// The run's log: started, or cut back to the checkpoint on a resume; `None` without a
    /// run directory.
    fn open_log(&self) -> Result<Option<RunLog>> {
        Ok(match &self.options.checkpoint_dir {
            Some(dir) if self.options.resume => Some(RunLog::resume(
                dir,
                self.position.global_step,
                self.position.epoch,
                self.config.epochs,
            )?),
            Some(dir) => Some(RunLog::start(dir, self.data.train.len(), self.config)?),
            None => None,
        })
    }

    fn events(&self) -> &Events {
        &self.options.events
    }

    /// The run's checkpoint folder; `None` for a run without a directory.
    fn checkpoint_path(&self) -> Option<PathBuf> {
        self.options
            .checkpoint_dir
            .as_ref()
            .map(|d| d.join("checkpoint"))
    }

    fn stop_requested(&self) -> bool {
        self.options
            .stop
            .as_ref()
            .is_some_and(|s| s.load(Ordering::SeqCst))
    }

    /// The steps of `epoch` from where the run is, then its end; stops after a step when
    /// early stopping says so.
    fn epoch(&mut self, epoch: usize) -> Result<()> {
        let batches = self.order.epoch(epoch);
        self.events().emit(Event::EpochStarted {
            epoch,
            epochs: self.config.epochs,
            first_batch: self.position.batch,
            batches: self.batches_per_epoch,
        });
        for (bi, indices) in batches.iter().enumerate().skip(self.position.batch) {
            let last_of_epoch = bi + 1 == batches.len();
            let updated = self.step(epoch, bi, indices, last_of_epoch)?;
            if self
                .position
                .global_step
                .is_multiple_of(self.config.eval_freq)
            {
                self.evaluate(epoch)?;
            }
            self.position.global_step += 1;
            self.steps_this_process += 1;
            self.after_step(updated, last_of_epoch)?;
            if self.stops_early() {
                break;
            }
        }
        self.end_epoch(epoch)
    }

    /// One training step on the batch `indices`, number `bi` of `epoch`: the forward pass,
    /// the loss and its gradients, and, every `grad_accum_steps` batches and at the epoch's
    /// end, one optimizer update. Returns whether it updated.
    fn step(
        &mut self,
        epoch: usize,
        bi: usize,
        indices: &[usize],
        last_of_epoch: bool,
    ) -> Result<bool> {
        let config = self.config;
        let batch = self.runner.train_batch(indices)?;
        let logits = if config.optimizer.lr > 0.0 && self.model.config.model.dropout > 0.0 {
            // Dropout masks depend on the step alone, so a resumed run draws the same ones
            // (no other thread may draw between the seed and the masks).
            let _generator = spam_model::global_generator();
            tch::manual_seed((config.seed as i64).wrapping_add(self.position.global_step as i64));
            self.runner.forward(&batch, true)
        } else {
            self.runner.forward(&batch, true)
        };
        let loss = weighted_loss(
            &logits,
            &batch.labels,
            config.ignore_index,
            self.weight_tensor.as_ref(),
        );
        let loss_value = loss.double_value(&[]);
        if !loss_value.is_finite() {
            return Err(self.non_finite_loss(loss_value, epoch));
        }
        self.optimizer
            .backward(&(loss / config.grad_accum_steps as f64))
            .map_err(TrainError::Backward)?;
        let updated = (bi + 1).is_multiple_of(config.grad_accum_steps) || last_of_epoch;
        if updated {
            self.update();
        }
        self.position.examples_seen += indices.len();
        self.position.batch = bi + 1;
        self.report.step_losses.push(loss_value);
        self.events().emit(Event::Step { loss: loss_value });
        Ok(updated)
    }

    /// The optimizer update of the gradients held: clipped, at the schedule's rate.
    fn update(&mut self) {
        let config = self.config;
        let norm = match config.clip_grad_norm {
            Some(max) => Some(self.optimizer.clip_grad_norm(max)),
            // Only a run with a log reads the norm: the others skip its reduction.
            None if self.log.is_some() => Some(self.optimizer.grad_norm()),
            None => None,
        };
        let lr = config.schedule.lr(
            config.optimizer.lr,
            self.optimizer.step as usize,
            self.total_updates,
        );
        self.optimizer.step(lr);
        self.optimizer.zero_grad();
        self.line.lr = Some(lr);
        self.line.grad_norm = norm;
    }

    /// The error of a training loss that is not a finite number, naming the last good
    /// checkpoint.
    fn non_finite_loss(&self, loss: f64, epoch: usize) -> TrainError {
        let kept = match self.checkpoint_path().and_then(|d| checkpoint::written(&d)) {
            Some(dir) => format!("The last good checkpoint is kept in {}", dir.display()),
            None => "No checkpoint was written before it".to_string(),
        };
        TrainError::NonFiniteLoss(format!(
            "the training loss became {loss} at epoch {}, step {}: stopping. \
             {kept}; lower the learning rate or enable gradient clipping \
             (--clip-grad-norm 1.0)",
            epoch + 1,
            self.position.global_step,
        ))
    }

    /// The periodic estimate after the current step (train and validation loss on
    /// `eval_iter` batches), logged and reported; with a best-model metric, that metric on
    /// the whole validation split, and the weights when it is the best so far.
    fn evaluate(&mut self, epoch: usize) -> Result<()> {
        let (config, step) = (self.config, self.position.global_step);
        let train_loss = match self.order.estimate(step) {
            Some(batches) => self.runner.loss_over(
                Split::Train,
                first(&batches, Some(config.eval_iter)),
                config.ignore_index,
            )?,
            None => self
                .runner
                .loss(Split::Train, config.eval_iter, config.ignore_index)?,
        };
        let val_loss =
            self.runner
                .loss(Split::Validation, config.eval_iter, config.ignore_index)?;
        let record = EvalRecord {
            step,
            epoch: epoch + 1,
            examples_seen: self.position.examples_seen,
            train_loss,
            val_loss,
        };
        if let Some(log) = &self.log {
            log.eval(&record, self.line)?;
        }
        self.events().emit(Event::Evaluated(record.clone()));
        self.report.evals.push(record);
        let Some(metric) = config.metric_for_best else {
            self.best_so_far.observe(val_loss);
            return Ok(());
        };
        let value = best_metric(&self.runner, metric, config, &self.data.label_names)?;
        self.report
            .best_metric_history
            .push(MetricPoint { step, value });
        if self.best_so_far.observe(value) {
            self.best_weights = Some(snapshot(self.model));
            self.report.best = Some(BestRecord {
                metric,
                step,
                epoch: epoch + 1,
                value,
            });
        }
        Ok(())
    }

    /// Between two steps: the periodic checkpoint, a test hook's simulated kill, and a stop
    /// the stop flag asks for (only where no gradient is held).
    fn after_step(&mut self, updated: bool, last_of_epoch: bool) -> Result<()> {
        if let Some(every) = self.config.checkpoint_every
            && self.position.global_step.is_multiple_of(every)
            && !last_of_epoch
        {
            self.checkpoint()?;
        }
        self.hooks.after_steps(self.steps_this_process)?;
        // Stops only where no gradient is held (after an update), so the checkpoint holds
        // everything the resumed run needs; the epoch's end checks in `end_epoch`.
        if updated && !last_of_epoch && self.stop_requested() {
            return Err(self.interrupted());
        }
        Ok(())
    }

    /// Whether early stopping ends the run here (then says so).
    fn stops_early(&mut self) -> bool {
        if let Some(patience) = self.config.early_stopping_patience
            && self.best_so_far.without_improvement >= patience
        {
            self.events().emit(Event::EarlyStopped {
                patience,
                metric: self
                    .config
                    .metric_for_best
                    .map_or_else(|| "validation loss".to_string(), |m| m.to_string()),
            });
            self.stopped_early = true;
        }
        self.stopped_early
    }

    /// The end of `epoch`: the accuracy estimate, logged and reported, and the epoch's
    /// checkpoint; then a stop the stop flag asks for, unless the run ends anyway.
    fn end_epoch(&mut self, epoch: usize) -> Result<()> {
        let eval_iter = Some(self.config.eval_iter);
        let train_accuracy = match self.order.epoch_end(epoch) {
            Some(batches) => self
                .runner
                .accuracy_over(Split::Train, first(&batches, eval_iter))?,
            None => self.runner.accuracy(Split::Train, eval_iter)?,
        };
        let val_accuracy = self.runner.accuracy(Split::Validation, eval_iter)?;
        let record = EpochRecord {
            epoch: epoch + 1,
            examples_seen: self.position.examples_seen,
            train_accuracy,
            val_accuracy,
        };
        if let Some(log) = &self.log {
            self.line.step = self.position.global_step;
            log.epoch(&record, self.line)?;
        }
        self.events().emit(Event::EpochFinished(record.clone()));
        self.report.epochs.push(record);
        self.position.epoch = epoch + 1;
        self.position.batch = 0;
        self.checkpoint()?;
        if !self.stopped_early && epoch + 1 < self.config.epochs && self.stop_requested() {
            // The epoch's checkpoint was just written.
            return Err(TrainError::Interrupted {
                checkpoint: self.checkpoint_path(),
            });
        }
        Ok(())
    }

    /// Writes the checkpoint of where the run is: the one place a checkpoint is written.
    /// Returns its folder; `None` (and writes nothing) for a run without a directory.
    fn checkpoint(&mut self) -> Result<Option<PathBuf>> {
        let Some(dir) = self.checkpoint_path() else {
            return Ok(None);
        };
        let snapshot = checkpoint::Snapshot {
            model: self.model,
            optimizer: &self.optimizer,
            position: &self.position,
            report: &self.report,
            best: self.best_weights.as_deref(),
        };
        checkpoint::save(&dir, &snapshot, self.hooks.next_write_fails())?;
        Ok(Some(dir))
    }

    /// The error of a run stopped by its stop flag, after writing a checkpoint where it
    /// stopped (when the run has a directory).
    fn interrupted(&mut self) -> TrainError {
        match self.checkpoint() {
            Ok(checkpoint) => TrainError::Interrupted { checkpoint },
            Err(e) => e,
        }
    }

    /// After the loop: the best weights put back, the closing pass over every split, and the
    /// timings; the report.
    fn finish(mut self, started: Instant) -> Result<Report> {
        let training_seconds = self.train_start.elapsed().as_secs_f64();
        self.events().emit(Event::TrainingFinished {
            seconds: training_seconds,
        });
        if let (Some(weights), Some(best)) = (&self.best_weights, &self.report.best) {
            restore(self.model, weights);
            self.events().emit(Event::BestKept(best.clone()));
        }
        let eval_start = Instant::now();
        if self.config.final_eval {
            self.final_eval()?;
        }
        let final_eval_seconds = eval_start.elapsed().as_secs_f64();
        let total_seconds = started.elapsed().as_secs_f64();
        let report = &mut self.report;
        let prior = report.timing.as_ref().map_or(0.0, |t| t.total_seconds);
        report.timing = Some(Timing {
            total_seconds: total_seconds + prior,
            cache_seconds: self.cache_seconds,
            training_seconds,
            final_eval_seconds,
            seconds_per_step: training_seconds / self.steps_this_process.max(1) as f64,
        });
        report.examples_per_second =
            self.position.examples_seen as f64 / (training_seconds + prior).max(1e-9);
        report.examples_seen = self.position.examples_seen;
        report.steps = self.position.global_step;
        report.stopped_early = self.stopped_early;
        Ok(self.report)
    }

    /// The closing pass: metrics of each split over all its examples.
    fn final_eval(&mut self) -> Result<()> {
        let mut per_split = std::collections::BTreeMap::new();
        let splits = Split::ALL;
        for (split, out) in splits.into_iter().zip(self.runner.outputs_of(splits)?) {
            // A run without a test file has no test metrics.
            if out.truth.is_empty() {
                continue;
            }
            per_split.insert(
                split.name().to_string(),
                split_metrics(&out, self.config.threshold, &self.data.label_names),
            );
        }
        let acc = |s: &str| per_split.get(s).map_or(f64::NAN, |m| m.accuracy);
        let accuracy = FinalAccuracy {
            train_accuracy: acc("train"),
            validation_accuracy: acc("validation"),
            test_accuracy: acc("test"),
        };
        self.events().emit(Event::FinalAccuracy(accuracy.clone()));
        self.report.final_accuracy = Some(accuracy);
        self.report.per_split = per_split;
        Ok(())
    }
}
