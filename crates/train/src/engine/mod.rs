//! The two computation paths of a run.
//!
//! *Plain* runs the whole model on token ids at every step, as the chapter does.
//! *Cached* runs the frozen blocks once per distinct input (no grad, batched) and keeps
//! their output; every step and every evaluation then runs only the trainable blocks on it.
//! With dropout 0 in the frozen blocks the frozen blocks compute the same thing every
//! time, so both paths give the same losses up to float rounding.
//!
//! - `cache`: where the frozen blocks' output lives (memory or a temporary file) and how it
//!   is built;
//! - `backfill`: the validation and test rows, filled in on a second core during the steps;
//! - `distinct`: each distinct input once.

mod backfill;
mod cache;
mod distinct;

use std::sync::Mutex;

use spam_model::{Classifier, Precision};
use tch::{Device, Kind, Reduction, Tensor};
use tracing::info;

use self::backfill::{Backfill, EVAL_BATCH};
use self::cache::Cache;
use self::distinct::Distinct;
use crate::batch::{PadTo, make_batch, sequential_batches, shuffled_batches, unpadded_last};
use crate::config::{CachePrecision, CacheSettings, Engine};
use crate::data::{Split, TrainData};
use crate::error::{Result, TrainError};
use crate::events::Events;
use spam_model::Workers;

/// How a [`Runner`] computes.
#[derive(Debug, Clone)]
pub struct RunnerOptions {
    /// Which path to take (`Auto`: the cached one where it is exact).
    pub engine: Engine,
    /// Rows per training batch; evaluation batches have as many (the chapter: 8).
    pub batch_size: usize,
    /// How the cached path keeps the frozen blocks' output.
    pub cache: CacheSettings,
    /// Where the cache build reports its progress.
    pub events: Events,
}

impl Default for RunnerOptions {
    fn default() -> Self {
        Self {
            engine: Engine::Auto,
            batch_size: 8,
            cache: CacheSettings::default(),
            events: Events::none(),
        }
    }
}

impl RunnerOptions {
    /// The chapter's batches of 8 and an in-memory fp32 cache, on the given path.
    pub fn engine(engine: Engine) -> Self {
        Self {
            engine,
            ..Self::default()
        }
    }
}

/// A batch ready for the model: token ids (plain) or cached hidden states.
#[derive(Debug)]
pub struct Batch {
    /// Token ids `[rows, cols]` (plain) or the frozen blocks' output `[rows, cols, emb]`.
    pub input: Tensor,
    /// True length of each row `[rows]`.
    pub lengths: Tensor,
    /// Class of each row `[rows]`.
    pub labels: Tensor,
}

/// Cross-entropy over the classes, PyTorch's `F.cross_entropy` with `ignore_index`.
pub fn loss_of(logits: &Tensor, labels: &Tensor, ignore_index: Option<i64>) -> Tensor {
    logits.to_kind(Kind::Float).cross_entropy_loss::<Tensor>(
        labels,
        None,
        Reduction::Mean,
        ignore_index.unwrap_or(-100),
        0.0,
    )
}

/// Runs a classifier over [`TrainData`]: batches, forward passes, losses, accuracies and
/// predictions, on the plain or the cached path (chosen once, in [`Runner::new`]). The
/// trainer drives one; tests and benchmarks use it to compare the two paths.
pub struct Runner<'a> {
    model: &'a Classifier,
    data: &'a TrainData,
    device: Device,
    cache: Option<Cache>,
    /// The cache rows still being computed alongside the steps, if any.
    backfill: Mutex<Option<Backfill>>,
    /// libtorch's thread count before a backfill set it to 1, given back on drop.
    threads_before: Option<i32>,
    /// Distinct inputs the cache holds, and the examples they stand for.
    cache_rows: (usize, usize),
    /// Element type the cache is stored in (steps compute in the model's precision).
    cache_kind: Kind,
    why_plain: Option<String>,
    frozen_blocks: usize,
    /// Rows per evaluation batch (the chapter evaluates with its training batch size).
    eval_batch: usize,
    /// Rows per prediction batch of the closing pass.
    predict_batch: usize,
}

impl std::fmt::Debug for Runner<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl Drop for Runner<'_> {
    fn drop(&mut self) {
        if let Ok(fill) = self.backfill.get_mut() {
            drop(fill.take());
        }
        if let Some(threads) = self.threads_before {
            tch::set_num_threads(threads);
        }
    }
}

impl<'a> Runner<'a> {
    /// A runner on `model`'s device. Takes the cached path when `options.engine` allows it
    /// and it gives the plain path's math (then builds the cache before returning), and
    /// fails when `Engine::Cached` is asked for where it would not.
    pub fn new(
        model: &'a Classifier,
        data: &'a TrainData,
        options: &RunnerOptions,
    ) -> Result<Self> {
        let RunnerOptions {
            engine,
            batch_size,
            ref cache,
            ref events,
        } = *options;
        let device = model.device();
        let frozen_blocks = model.frozen_blocks();
        let unpadded_last = unpadded_last(data.pad, model.config.token_position);
        let why_plain = match engine {
            Engine::Plain => Some("plain path requested".to_string()),
            _ if unpadded_last && batch_size > 1 => Some(
                "the last position of a dynamically padded batch is padding for its shorter rows"
                    .to_string(),
            ),
            _ => cache_blocker(model, data.pad),
        };
        if engine == Engine::Cached
            && let Some(why) = &why_plain
        {
            return Err(TrainError::Settings(format!(
                "the cached path cannot be used here: {why}; use --engine auto or plain"
            )));
        }
        let eval_batch = if unpadded_last { 1 } else { batch_size.max(1) };
        let predict_batch = if unpadded_last { 1 } else { EVAL_BATCH };
        let cache_kind = match cache.precision {
            CachePrecision::Fp32 => Kind::Float,
            CachePrecision::Bf16 => Kind::BFloat16,
        };
        let mut runner = Self {
            model,
            data,
            device,
            cache: None,
            backfill: Mutex::new(None),
            threads_before: None,
            cache_rows: (0, 0),
            cache_kind,
            why_plain,
            frozen_blocks,
            eval_batch,
            predict_batch,
        };
        if runner.why_plain.is_none() {
            let start = std::time::Instant::now();
            let built = cache::build(&cache::BuildInputs {
                model,
                data,
                device,
                kind: cache_kind,
                dir: cache.dir.as_deref(),
                first_validation: cache.first_validation,
                events,
            })?;
            runner.cache = Some(built.cache);
            runner.cache_rows = (built.distinct_inputs, built.examples);
            if built.backfill.is_some() {
                runner.threads_before = Some(tch::get_num_threads());
                tch::set_num_threads(1);
            }
            runner.backfill = Mutex::new(built.backfill);
            info!(
                "prefix cache built in {:.1} s",
                start.elapsed().as_secs_f64()
            );
        }
        Ok(runner)
    }

    /// Which path the run takes, and why, for the log and `metrics.json`.
    pub fn describe(&self) -> String {
        let path = self.describe_path();
        match self.model.precision() {
            Precision::Fp32 => path,
            p => format!("{path}, in {p} mixed precision: not exact"),
        }
    }

    fn describe_path(&self) -> String {
        match (&self.cache, &self.why_plain) {
            (Some(_), _) => format!(
                "cached (blocks 0..{} run once per distinct input, {} for {} examples{}{}; \
                 steps run the trainable part)",
                self.frozen_blocks,
                self.cache_rows.0,
                self.cache_rows.1,
                if self.cache_kind == Kind::BFloat16 {
                    ", kept in bf16: not exact"
                } else {
                    ""
                },
                match &self.cache {
                    Some(Cache::Disk(disk)) => format!(", on disk in {}", disk.dir.display()),
                    _ => String::new(),
                }
            ),
            (None, Some(why)) => format!("plain ({why})"),
            (None, None) => "plain".into(),
        }
    }

    /// Whether the cached path runs.
    pub fn is_cached(&self) -> bool {
        self.cache.is_some()
    }

    /// The batch of training examples at `indices`.
    pub fn train_batch(&self, indices: &[usize]) -> Result<Batch> {
        self.batch(Split::Train, indices)
    }

    /// The batch of `split`'s examples at `indices`. Fails only when an on-disk cache
    /// cannot be read back.
    pub fn batch(&self, split: Split, indices: &[usize]) -> Result<Batch> {
        let examples = split.of(self.data);
        let b = make_batch(
            examples,
            indices,
            self.data.pad,
            self.data.pad_id,
            self.device,
        );
        let input = match &self.cache {
            None => b.ids,
            Some(cache) => {
                let us: Vec<usize> = indices.iter().map(|&i| cache.row(split, i)).collect();
                let io = (self.data.pad, self.data.pad_id, self.device);
                backfill::ensure_cached(
                    &self.backfill,
                    cache,
                    self.model,
                    &us,
                    (self.cache_kind, io),
                )?;
                cache.input(split, indices, b.ids.size()[1], self.device)?
            }
        };
        Ok(Batch {
            input,
            lengths: b.lengths,
            labels: b.labels,
        })
    }

    /// Class logits `[rows, classes]` of a batch from [`Runner::batch`].
    pub fn forward(&self, batch: &Batch, train: bool) -> Tensor {
        match self.cache {
            None => self
                .model
                .forward(&batch.input, Some(&batch.lengths), train),
            Some(_) => self
                .model
                .forward_suffix(&batch.input, Some(&batch.lengths), train),
        }
    }

    /// Mean loss over the first `num_batches` evaluation batches of `split`, without grad.
    pub fn loss(&self, split: Split, num_batches: usize, ignore_index: Option<i64>) -> Result<f64> {
        let batches = eval_batches(self.data, split, self.eval_batch, 0);
        self.loss_over(split, first(&batches, Some(num_batches)), ignore_index)
    }

    /// Mean loss over `batches` (indices into `split`), without grad; NaN for no batch.
    pub fn loss_over(
        &self,
        split: Split,
        batches: &[Vec<usize>],
        ignore_index: Option<i64>,
    ) -> Result<f64> {
        if batches.is_empty() {
            return Ok(f64::NAN);
        }
        tch::no_grad(|| {
            let mut total = 0.0;
            for indices in batches {
                let b = self.batch(split, indices)?;
                total +=
                    loss_of(&self.forward(&b, false), &b.labels, ignore_index).double_value(&[]);
            }
            Ok(total / batches.len() as f64)
        })
    }

    /// Accuracy over the first `num_batches` batches of 8 (all of the split with `None`).
    pub fn accuracy(&self, split: Split, num_batches: Option<usize>) -> Result<f64> {
        let batches = eval_batches(self.data, split, self.eval_batch, 0);
        self.accuracy_over(split, first(&batches, num_batches))
    }

    /// Accuracy over `batches` (indices into `split`); NaN for no example.
    pub fn accuracy_over(&self, split: Split, batches: &[Vec<usize>]) -> Result<f64> {
        let (mut correct, mut seen) = (0i64, 0i64);
        tch::no_grad(|| -> Result<()> {
            for indices in batches {
                let b = self.batch(split, indices)?;
                let predicted = self.forward(&b, false).argmax(-1, false);
                correct += predicted
                    .eq_tensor(&b.labels)
                    .sum(Kind::Int64)
                    .int64_value(&[]);
                seen += indices.len() as i64;
            }
            Ok(())
        })?;
        Ok(if seen == 0 {
            f64::NAN
        } else {
            correct as f64 / seen as f64
        })
    }

    /// (true, predicted) class of every example of `split`, in file order.
    pub fn predictions(&self, split: Split) -> Result<(Vec<usize>, Vec<usize>)> {
        let [one] = self.predictions_of([split])?;
        Ok(one)
    }

    /// [`Runner::predictions`] of each of `splits`.
    pub fn predictions_of<const N: usize>(
        &self,
        splits: [Split; N],
    ) -> Result<[(Vec<usize>, Vec<usize>); N]> {
        Ok(self.outputs_of(splits)?.map(|o| (o.truth, o.predicted)))
    }

    /// True class, predicted class (the most probable) and class probabilities of every
    /// example of each of `splits`, in file order. The plain path runs each distinct input
    /// among them once: the collection repeats messages, within a split and across splits.
    pub fn outputs_of<const N: usize>(&self, splits: [Split; N]) -> Result<[SplitOutputs; N]> {
        let outputs = |logits: Tensor| -> Vec<(usize, Vec<f64>)> {
            let p = logits.argmax(-1, false).to_device(Device::Cpu);
            let p: Vec<i64> = Vec::<i64>::try_from(&p).unwrap_or_default();
            let probs = logits
                .to_kind(Kind::Double)
                .softmax(-1, Kind::Double)
                .to_device(Device::Cpu);
            let classes = probs.size().last().copied().unwrap_or(1).max(1) as usize;
            let flat: Vec<f64> = Vec::<f64>::try_from(probs.view([-1])).unwrap_or_default();
            p.into_iter()
                .zip(flat.chunks(classes))
                .map(|(x, row)| (x.max(0) as usize, row.to_vec()))
                .collect()
        };
        let mut predicted: [Vec<(usize, Vec<f64>)>; N] = if self.cache.is_none() {
            let (pad, pad_id, device) = (self.data.pad, self.data.pad_id, self.device);
            let distinct = Distinct::of(splits.map(|s| s.of(self.data)), pad);
            let batches = crate::batch::sequential_batches(distinct.len(), self.predict_batch);
            // The plain path needs only the token ids: one batch per core, each worker with
            // its own replica of the model.
            let of_distinct: Vec<(usize, Vec<f64>)> = Workers::for_device(self.device)
                .run(
                    || self.model.replica(),
                    &batches,
                    |model, indices| {
                        let b = make_batch(&distinct.examples, indices, pad, pad_id, device);
                        outputs(tch::no_grad(|| {
                            model.forward(&b.ids, Some(&b.lengths), false)
                        }))
                    },
                )
                .into_iter()
                .flatten()
                .collect();
            if of_distinct.len() != distinct.len() {
                return Err(TrainError::Internal(format!(
                    "the closing pass predicted {} of {} distinct inputs",
                    of_distinct.len(),
                    distinct.len()
                )));
            }
            distinct
                .rows
                .map(|rows| rows.iter().map(|&u| of_distinct[u].clone()).collect())
        } else {
            let mut per_split: [Vec<(usize, Vec<f64>)>; N] = std::array::from_fn(|_| Vec::new());
            for (out, &split) in per_split.iter_mut().zip(&splits) {
                let batches =
                    crate::batch::sequential_batches(split.of(self.data).len(), self.predict_batch);
                tch::no_grad(|| -> Result<()> {
                    for indices in &batches {
                        out.extend(outputs(self.forward(&self.batch(split, indices)?, false)));
                    }
                    Ok(())
                })?;
            }
            per_split
        };
        let truth = |split: Split| -> Vec<usize> {
            let labels = &split.of(self.data).labels;
            labels.iter().map(|&l| l.max(0) as usize).collect()
        };
        Ok(std::array::from_fn(|i| {
            let (predicted, probabilities) = std::mem::take(&mut predicted[i]).into_iter().unzip();
            SplitOutputs {
                truth: truth(splits[i]),
                predicted,
                probabilities,
            }
        }))
    }
}

/// What [`Runner::outputs_of`] gives for one split, in file order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SplitOutputs {
    /// The true class of each example.
    pub truth: Vec<usize>,
    /// The most probable class of each example.
    pub predicted: Vec<usize>,
    /// The class probabilities of each example (softmax of the logits).
    pub probabilities: Vec<Vec<f64>>,
}

/// Why the cached path would not give the plain path's math, if it would not.
fn cache_blocker(model: &Classifier, pad: PadTo) -> Option<String> {
    if model.frozen_blocks() == 0 {
        return Some("no frozen blocks to cache".into());
    }
    if model.config.model.dropout > 0.0 {
        return Some(format!(
            "dropout {} in the frozen blocks makes their output differ at every step",
            model.config.model.dropout
        ));
    }
    if pad == PadTo::Dynamic && !model.config.causal_mask {
        return Some(
            "dynamic padding without the causal mask lets positions see the padding".into(),
        );
    }
    None
}

/// The first `n` of `batches` (all with `None`).
pub(crate) fn first(batches: &[Vec<usize>], n: Option<usize>) -> &[Vec<usize>] {
    &batches[..n.map_or(batches.len(), |n| n.min(batches.len()))]
}

/// Batches in evaluation order: the chapter's loaders keep validation and test in file
/// order; periodic train estimates use a fixed seeded order so they are reproducible.
fn eval_batches(data: &TrainData, split: Split, batch_size: usize, seed: u64) -> Vec<Vec<usize>> {
    let n = split.of(data).len();
    match split {
        Split::Train => shuffled_batches(n, batch_size, seed ^ 0xE7A1, false),
        _ => sequential_batches(n, batch_size),
    }
}
