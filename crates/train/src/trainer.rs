//! The fine-tuning loop: the chapter's `train_classifier_simple`, plus accumulation,
//! schedules, clipping, early stopping, checkpoints and resume.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use spam_model::Classifier;
use tch::{Kind, Tensor};

use crate::best::{BestMetric, BestRecord, MetricPoint, weighted_loss};
use crate::checkpoint::{self, Position};
use crate::config::TrainConfig;
use crate::data::{Split, TrainData};
use crate::engine::{Runner, RunnerOptions, SplitOutputs, first};
use crate::error::{Result, TrainError};
use crate::events::{Event, Events};
use crate::optim::AdamW;
use crate::order::TrainOrder;
use crate::report::{EpochRecord, EvalRecord, FinalAccuracy, Report, Timing};
use crate::run_log::{LineState, RunLog};
use spam_model::SplitMetrics;
use spam_model::decide;

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
    /// Stop (as if killed) after this many steps, failing with
    /// [`TrainError::StoppedForTest`]; for tests of resume.
    pub stop_after_steps: Option<usize>,
    /// Make the checkpoint write with this number (1 is the first of this process) fail
    /// half-way, as a full disk would; for tests of checkpoint writes.
    pub fail_checkpoint_write: Option<usize>,
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
    // The run computes in the config's precision whatever the caller's model was set to: a
    // replica shares the variables, so the caller's model is the one trained.
    let mut model = model.replica();
    model.set_precision(config.precision);
    let model = &model;
    // Each step frees and retakes its gradients: keep that memory in the process.
    spam_model::reuse_freed_memory();
    let started = Instant::now();
    let events = &options.events;
    let order = TrainOrder::new(&config.order_settings(), data.train.len());
    let train_batches_per_epoch = order.epoch(0).len();
    if train_batches_per_epoch == 0 {
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

    let mut optimizer = AdamW::new(model.trainable_parameters(), config.optimizer);
    let class_weights = match &config.class_weights {
        Some(w) => Some(w.resolve(&data.train.labels, data.label_names.len())?),
        None => None,
    };
    let weight_tensor = class_weights.as_ref().map(|w| {
        Tensor::from_slice(w)
            .to_kind(Kind::Float)
            .to_device(model.device())
    });
    let total_updates = config.epochs * train_batches_per_epoch.div_ceil(config.grad_accum_steps);
    let mut report = Report::new(config, &runner.describe(), data);
    let mut position = Position::default();
    let mut best_weights: Option<Weights> = None;

    if options.resume {
        let dir = checkpoint_dir(options)?;
        let checkpoint::Restored {
            position: pos,
            report: saved_report,
            best,
        } = checkpoint::load(&dir, model, &mut optimizer).map_err(|e| {
            TrainError::checkpoint_by(&dir, format!("could not resume from {}", dir.display()), e)
        })?;
        events.emit(Event::Resumed {
            checkpoint: dir.clone(),
            epoch: pos.epoch,
            step: pos.global_step,
        });
        position = pos;
        report = saved_report;
        best_weights = best;
        // A resume may extend the run (more epochs): the report tells the settings it ends with.
        report.config = config.clone();
    }

    let log = match &options.checkpoint_dir {
        Some(dir) if options.resume => Some(RunLog::resume(
            dir,
            position.global_step,
            position.epoch,
            config.epochs,
        )?),
        Some(dir) => Some(RunLog::start(dir, data.train.len(), config)?),
        None => None,
    };
    let mut line = LineState::default();
    let stop_requested = || {
        options
            .stop
            .as_ref()
            .is_some_and(|s| s.load(Ordering::SeqCst))
    };

    let train_start = Instant::now();
    let mut steps_this_process = 0usize;
    let mut saves = 0usize;
    let threshold = config.early_stopping_threshold;
    let mut best_val = f64::INFINITY;
    let mut evals_without_improvement = 0usize;
    let mut stopped_early = false;
    for e in &report.evals {
        if best_val - e.val_loss > threshold {
            best_val = e.val_loss;
            evals_without_improvement = 0;
        } else {
            evals_without_improvement += 1;
        }
    }
    // The best-model metric so far: a resumed run continues from its history.
    let mut tracker = BestTracker::new(config.metric_for_best, threshold);
    for point in &report.best_metric_history {
        tracker.observe(point.value);
    }
    report.class_weights = class_weights.clone();

    'epochs: for epoch in position.epoch..config.epochs {
        let batches = order.epoch(epoch);
        events.emit(Event::EpochStarted {
            epoch,
            epochs: config.epochs,
            first_batch: position.batch,
            batches: train_batches_per_epoch,
        });
        for (bi, indices) in batches.iter().enumerate().skip(position.batch) {
            let batch = runner.train_batch(indices)?;
            let logits = if config.optimizer.lr > 0.0 && model.config.model.dropout > 0.0 {
                // Dropout masks depend on the step alone, so a resumed run draws the same ones
                // (no other thread may draw between the seed and the masks).
                let _generator = spam_model::global_generator();
                tch::manual_seed((config.seed as i64).wrapping_add(position.global_step as i64));
                runner.forward(&batch, true)
            } else {
                runner.forward(&batch, true)
            };
            let loss = weighted_loss(
                &logits,
                &batch.labels,
                config.ignore_index,
                weight_tensor.as_ref(),
            );
            let loss_value = loss.double_value(&[]);
            if !loss_value.is_finite() {
                let kept = options
                    .checkpoint_dir
                    .as_ref()
                    .and_then(|d| checkpoint::written(&d.join("checkpoint")));
                let kept = match kept {
                    Some(dir) => format!("The last good checkpoint is kept in {}", dir.display()),
                    None => "No checkpoint was written before it".to_string(),
                };
                return Err(TrainError::NonFiniteLoss(format!(
                    "the training loss became {loss_value} at epoch {}, step {}: stopping. \
                     {kept}; lower the learning rate or enable gradient clipping \
                     (--clip-grad-norm 1.0)",
                    epoch + 1,
                    position.global_step,
                )));
            }
            optimizer
                .backward(&(loss / config.grad_accum_steps as f64))
                .map_err(TrainError::Backward)?;
            let last_of_epoch = bi + 1 == batches.len();
            let updated = (bi + 1) % config.grad_accum_steps == 0 || last_of_epoch;
            if updated {
                let norm = match config.clip_grad_norm {
                    Some(max) => Some(optimizer.clip_grad_norm(max)),
                    // Only a run with a log reads the norm: the others skip its reduction.
                    None if log.is_some() => Some(optimizer.grad_norm()),
                    None => None,
                };
                let lr =
                    config
                        .schedule
                        .lr(config.optimizer.lr, optimizer.step as usize, total_updates);
                optimizer.step(lr);
                optimizer.zero_grad();
                line.lr = Some(lr);
                line.grad_norm = norm;
            }
            position.examples_seen += indices.len();
            position.batch = bi + 1;
            report.step_losses.push(loss_value);
            events.emit(Event::Step { loss: loss_value });

            if position.global_step % config.eval_freq == 0 {
                let train_loss = match order.estimate(position.global_step) {
                    Some(batches) => runner.loss_over(
                        Split::Train,
                        first(&batches, Some(config.eval_iter)),
                        config.ignore_index,
                    )?,
                    None => runner.loss(Split::Train, config.eval_iter, config.ignore_index)?,
                };
                let val_loss =
                    runner.loss(Split::Validation, config.eval_iter, config.ignore_index)?;
                let record = EvalRecord {
                    step: position.global_step,
                    epoch: epoch + 1,
                    examples_seen: position.examples_seen,
                    train_loss,
                    val_loss,
                };
                if let Some(log) = &log {
                    log.eval(&record, line)?;
                }
                events.emit(Event::Evaluated(record.clone()));
                report.evals.push(record);
                if let Some(metric) = config.metric_for_best {
                    let value = best_metric(&runner, metric, config, &data.label_names)?;
                    report.best_metric_history.push(MetricPoint {
                        step: position.global_step,
                        value,
                    });
                    if tracker.observe(value) {
                        best_weights = Some(snapshot(model));
                        report.best = Some(BestRecord {
                            metric,
                            step: position.global_step,
                            epoch: epoch + 1,
                            value,
                        });
                    }
                }
                if best_val - val_loss > threshold {
                    best_val = val_loss;
                    evals_without_improvement = 0;
                } else {
                    evals_without_improvement += 1;
                }
            }
            position.global_step += 1;
            steps_this_process += 1;
            if let (Some(every), Some(_)) = (config.checkpoint_every, &options.checkpoint_dir)
                && position.global_step % every == 0
                && !last_of_epoch
            {
                saves += 1;
                checkpoint::save(
                    &checkpoint_dir(options)?,
                    model,
                    &optimizer,
                    &position,
                    &report,
                    best_weights.as_deref(),
                    options.fail_checkpoint_write == Some(saves),
                )?;
            }
            if options.stop_after_steps == Some(steps_this_process) {
                return Err(TrainError::StoppedForTest);
            }
            // Stops only where no gradient is held (after an update), so the checkpoint
            // holds everything the resumed run needs; the epoch's end checks below.
            if updated && !last_of_epoch && stop_requested() {
                return Err(interrupted(
                    options,
                    model,
                    &optimizer,
                    &position,
                    &report,
                    best_weights.as_deref(),
                ));
            }
            let without_improvement = if config.metric_for_best.is_some() {
                tracker.without_improvement
            } else {
                evals_without_improvement
            };
            if let Some(patience) = config.early_stopping_patience
                && without_improvement >= patience
            {
                events.emit(Event::EarlyStopped {
                    patience,
                    metric: config
                        .metric_for_best
                        .map_or_else(|| "validation loss".to_string(), |m| m.to_string()),
                });
                stopped_early = true;
            }
            if stopped_early {
                break;
            }
        }
        let train_accuracy = match order.epoch_end(epoch) {
            Some(batches) => {
                runner.accuracy_over(Split::Train, first(&batches, Some(config.eval_iter)))?
            }
            None => runner.accuracy(Split::Train, Some(config.eval_iter))?,
        };
        let val_accuracy = runner.accuracy(Split::Validation, Some(config.eval_iter))?;
        let record = EpochRecord {
            epoch: epoch + 1,
            examples_seen: position.examples_seen,
            train_accuracy,
            val_accuracy,
        };
        if let Some(log) = &log {
            line.step = position.global_step;
            log.epoch(&record, line)?;
        }
        events.emit(Event::EpochFinished(record.clone()));
        report.epochs.push(record);
        position.epoch = epoch + 1;
        position.batch = 0;
        if options.checkpoint_dir.is_some() {
            saves += 1;
            checkpoint::save(
                &checkpoint_dir(options)?,
                model,
                &optimizer,
                &position,
                &report,
                best_weights.as_deref(),
                options.fail_checkpoint_write == Some(saves),
            )?;
        }
        if stopped_early {
            break 'epochs;
        }
        if epoch + 1 < config.epochs && stop_requested() {
            // The epoch's checkpoint was just written.
            return Err(TrainError::Interrupted {
                checkpoint: options
                    .checkpoint_dir
                    .as_ref()
                    .map(|d| d.join("checkpoint")),
            });
        }
    }
    let training_seconds = train_start.elapsed().as_secs_f64();
    events.emit(Event::TrainingFinished {
        seconds: training_seconds,
    });

    if let (Some(weights), Some(best)) = (&best_weights, &report.best) {
        restore(model, weights);
        events.emit(Event::BestKept(best.clone()));
    }

    let eval_start = Instant::now();
    if config.final_eval {
        let mut per_split = std::collections::BTreeMap::new();
        let splits = Split::ALL;
        for (split, out) in splits.into_iter().zip(runner.outputs_of(splits)?) {
            // A run without a test file has no test metrics.
            if out.truth.is_empty() {
                continue;
            }
            per_split.insert(
                split.name().to_string(),
                split_metrics(&out, config.threshold, &data.label_names),
            );
        }
        let acc = |s: &str| per_split.get(s).map_or(f64::NAN, |m| m.accuracy);
        let accuracy = FinalAccuracy {
            train_accuracy: acc("train"),
            validation_accuracy: acc("validation"),
            test_accuracy: acc("test"),
        };
        events.emit(Event::FinalAccuracy(accuracy.clone()));
        report.final_accuracy = Some(accuracy);
        report.per_split = per_split;
    }
    let final_eval_seconds = eval_start.elapsed().as_secs_f64();
    let total_seconds = started.elapsed().as_secs_f64();
    let prior = report.timing.as_ref().map_or(0.0, |t| t.total_seconds);
    report.timing = Some(Timing {
        total_seconds: total_seconds + prior,
        cache_seconds,
        training_seconds,
        final_eval_seconds,
        seconds_per_step: training_seconds / steps_this_process.max(1) as f64,
    });
    report.examples_per_second =
        position.examples_seen as f64 / (training_seconds + prior).max(1e-9);
    report.examples_seen = position.examples_seen;
    report.steps = position.global_step;
    report.stopped_early = stopped_early;
    Ok(report)
}

/// A copy of the trainable weights (the best so far).
type Weights = Vec<(String, Tensor)>;

fn snapshot(model: &Classifier) -> Weights {
    model
        .trainable_parameters()
        .into_iter()
        .map(|(name, t)| (name, t.detach().copy()))
        .collect()
}

fn restore(model: &Classifier, weights: &Weights) {
    tch::no_grad(|| {
        for ((_, mut p), (_, saved)) in model.trainable_parameters().into_iter().zip(weights) {
            p.copy_(saved);
        }
    });
}

/// The best-model metric on the whole validation split.
fn best_metric(
    runner: &Runner,
    metric: BestMetric,
    config: &TrainConfig,
    names: &[String],
) -> Result<f64> {
    if metric == BestMetric::ValLoss {
        return runner.loss(Split::Validation, usize::MAX, config.ignore_index);
    }
    let [out] = runner.outputs_of([Split::Validation])?;
    let m = split_metrics(&out, config.threshold, names);
    Ok(match metric {
        BestMetric::ValAccuracy => m.accuracy,
        _ => m.f1,
    })
}

/// Metrics of a split's outputs: predictions through the threshold (two classes), AUCs from
/// the positive class's probability.
fn split_metrics(out: &SplitOutputs, threshold: Option<f64>, names: &[String]) -> SplitMetrics {
    let predicted: Vec<usize> = match threshold {
        Some(t) => out
            .probabilities
            .iter()
            .map(|p| decide(p, Some(t)))
            .collect(),
        None => out.predicted.clone(),
    };
    let positive: Vec<f64> = out
        .probabilities
        .iter()
        .map(|p| p.get(1).copied().unwrap_or(0.0))
        .collect();
    SplitMetrics::compute(&out.truth, &predicted, names).with_scores(&out.truth, &positive)
}

/// The best value of the best-model metric so far, and evaluations since it improved.
struct BestTracker {
    metric: Option<BestMetric>,
    threshold: f64,
    best: Option<f64>,
    without_improvement: usize,
}

impl BestTracker {
    fn new(metric: Option<BestMetric>, threshold: f64) -> Self {
        Self {
            metric,
            threshold,
            best: None,
            without_improvement: 0,
        }
    }

    /// Records an evaluation; whether it is the new best.
    fn observe(&mut self, value: f64) -> bool {
        let Some(metric) = self.metric else {
            return false;
        };
        let better = match self.best {
            None => !value.is_nan(),
            Some(best) => metric.improves(value, best, self.threshold),
        };
        if better {
            self.best = Some(value);
            self.without_improvement = 0;
        } else {
            self.without_improvement += 1;
        }
        better
    }
}

fn checkpoint_dir(options: &RunOptions) -> Result<PathBuf> {
    options
        .checkpoint_dir
        .as_ref()
        .map(|d| d.join("checkpoint"))
        .ok_or_else(|| TrainError::Settings("resuming needs a run directory".into()))
}

/// The error of a run stopped by its stop flag, after writing a checkpoint where it stopped
/// (when the run has a directory).
fn interrupted(
    options: &RunOptions,
    model: &Classifier,
    optimizer: &AdamW,
    position: &Position,
    report: &Report,
    best: Option<&[(String, Tensor)]>,
) -> TrainError {
    let Some(dir) = options
        .checkpoint_dir
        .as_ref()
        .map(|d| d.join("checkpoint"))
    else {
        return TrainError::Interrupted { checkpoint: None };
    };
    match checkpoint::save(&dir, model, optimizer, position, report, best, false) {
        Ok(()) => TrainError::Interrupted {
            checkpoint: Some(dir),
        },
        Err(e) => e,
    }
}
