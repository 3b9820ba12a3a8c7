//! The order in which the training examples are visited: the chapter's `DataLoader`
//! reproduced draw for draw, or the crate's own seeded shuffle.

use spam_data::Named;
use tch::{Device, Kind, Tensor};

use crate::batch::shuffled_batches;

/// How the training batches are drawn (`--data-order`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DataOrder {
    /// The chapter's `DataLoader(train, shuffle=True, drop_last=True)` after
    /// `torch.manual_seed(seed)`, with the loader passes the chapter makes: one per epoch, one
    /// per periodic estimate and one per end-of-epoch accuracy estimate (each of those draws a
    /// new shuffle, as `calc_loss_loader(train_loader, …)` does). Drawn from libtorch's CPU
    /// generator, which it reseeds.
    #[default]
    Chapter,
    /// The crate's own shuffle, seeded per epoch, independent of libtorch; periodic estimates
    /// read the same fixed batches each time.
    Seeded,
}

impl DataOrder {
    /// The name used by `--data-order` and the config file (in [`Named::NAMES`]).
    pub fn as_str(self) -> &'static str {
        self.name_of().unwrap_or_default()
    }
}

impl Named for DataOrder {
    const WHAT: &'static str = "data order";
    const NAMES: &'static [(Self, &'static str, &'static [&'static str])] = &[
        (Self::Chapter, "chapter", &[]),
        (Self::Seeded, "seeded", &[]),
    ];
}

impl std::fmt::Display for DataOrder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.write_name(f)
    }
}

impl std::str::FromStr for DataOrder {
    type Err = String;
    /// A name of [`Named::NAMES`], exact spelling.
    fn from_str(s: &str) -> Result<Self, String> {
        Self::from_name(s).ok_or_else(|| Self::unknown(s))
    }
}

spam_data::serde_by_name!(DataOrder);

/// What the order of the training batches depends on: the run's settings, as
/// `TrainConfig::order_settings` gives them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct OrderSettings {
    pub data_order: DataOrder,
    pub seed: u64,
    pub batch_size: usize,
    pub drop_last: bool,
    pub epochs: usize,
    pub eval_freq: usize,
}

/// The training split's batches for every loader pass of one run.
///
/// The chapter's loaders draw from the global generator each time a pass starts: every
/// `iter(loader)` takes one `int64` for its workers' base seed, and a shuffled loader's
/// `RandomSampler` then takes one more as the seed of its own generator, which gives
/// `randperm(n)`. Validation passes (not shuffled) take only the first. So the seed of each
/// training pass is fixed by the sequence of passes in `train_classifier_simple`, which
/// depends only on the epochs, the steps per epoch and `eval_freq`; it is replayed here once,
/// up front.
#[derive(Debug, Clone)]
pub(crate) struct TrainOrder {
    n: usize,
    batch_size: usize,
    drop_last: bool,
    kind: Plan,
}

#[derive(Debug, Clone)]
enum Plan {
    Seeded {
        seed: u64,
    },
    Chapter {
        /// Sampler seed of each epoch's pass.
        epoch: Vec<i64>,
        /// Sampler seed of the periodic estimate after each global step (`None` where the
        /// step has no estimate).
        estimate: Vec<Option<i64>>,
        /// Sampler seed of each end-of-epoch accuracy estimate.
        epoch_end: Vec<i64>,
    },
}

impl TrainOrder {
    /// The order of a run of `config` over `n` training examples.
    pub(crate) fn new(config: &OrderSettings, n: usize) -> Self {
        let batch_size = config.batch_size.max(1);
        let kind = match config.data_order {
            DataOrder::Seeded => Plan::Seeded { seed: config.seed },
            DataOrder::Chapter => {
                let steps_per_epoch = if config.drop_last {
                    n / batch_size
                } else {
                    n.div_ceil(batch_size)
                };
                chapter_seeds(config, steps_per_epoch)
            }
        };
        Self {
            n,
            batch_size,
            drop_last: config.drop_last,
            kind,
        }
    }

    /// The training batches of `epoch` (0-based).
    pub(crate) fn epoch(&self, epoch: usize) -> Vec<Vec<usize>> {
        match &self.kind {
            Plan::Seeded { seed } => {
                let seed = spam_data::epoch_seed(*seed, epoch as u64);
                shuffled_batches(self.n, self.batch_size, seed, self.drop_last)
            }
            Plan::Chapter { epoch: seeds, .. } => {
                self.chapter_batches(seeds.get(epoch).copied(), self.drop_last)
            }
        }
    }

    /// The training batches the periodic estimate after `global_step` reads, or `None` for the
    /// runner's fixed estimate batches.
    pub(crate) fn estimate(&self, global_step: usize) -> Option<Vec<Vec<usize>>> {
        match &self.kind {
            Plan::Seeded { .. } => None,
            Plan::Chapter { estimate, .. } => {
                let seed = estimate.get(global_step).copied().flatten();
                // The chapter's train loader drops its last partial batch in every pass.
                seed.map(|s| self.chapter_batches(Some(s), true))
            }
        }
    }

    /// The training batches of the accuracy estimate at the end of `epoch`, or `None` for the
    /// runner's fixed estimate batches.
    pub(crate) fn epoch_end(&self, epoch: usize) -> Option<Vec<Vec<usize>>> {
        match &self.kind {
            Plan::Seeded { .. } => None,
            Plan::Chapter { epoch_end, .. } => epoch_end
                .get(epoch)
                .map(|&s| self.chapter_batches(Some(s), true)),
        }
    }

    fn chapter_batches(&self, seed: Option<i64>, drop_last: bool) -> Vec<Vec<usize>> {
        let Some(seed) = seed else {
            return Vec::new();
        };
        let order = chapter_permutation(seed, self.n);
        let mut batches: Vec<Vec<usize>> = order
            .chunks(self.batch_size)
            .map(<[usize]>::to_vec)
            .collect();
        if drop_last && batches.last().is_some_and(|b| b.len() < self.batch_size) {
            batches.pop();
        }
        batches
    }
}

/// Replays the chapter's draws from `torch.manual_seed(config.seed)` through its training loop.
fn chapter_seeds(config: &OrderSettings, steps_per_epoch: usize) -> Plan {
    let _generator = spam_model::global_generator();
    tch::manual_seed(config.seed as i64);
    let draw = || {
        let mut t = Tensor::empty([] as [i64; 0], (Kind::Int64, Device::Cpu));
        let _ = t.random_();
        t.int64_value(&[])
    };
    // A shuffled pass: the iterator's base seed, then the sampler's seed.
    let shuffled_pass = || {
        draw();
        draw()
    };
    let eval_freq = config.eval_freq.max(1);
    let mut epoch = Vec::with_capacity(config.epochs);
    let mut estimate = vec![None; config.epochs * steps_per_epoch];
    let mut epoch_end = Vec::with_capacity(config.epochs);
    for e in 0..config.epochs {
        epoch.push(shuffled_pass());
        for s in 0..steps_per_epoch {
            let step = e * steps_per_epoch + s;
            if step.is_multiple_of(eval_freq) {
                estimate[step] = Some(shuffled_pass());
                draw(); // the validation pass
            }
        }
        epoch_end.push(shuffled_pass());
        draw(); // the validation pass
    }
    Plan::Chapter {
        epoch,
        estimate,
        epoch_end,
    }
}

/// `torch.randperm(n, generator=g)` with `g` seeded by `seed`, as `RandomSampler` does.
fn chapter_permutation(seed: i64, n: usize) -> Vec<usize> {
    let _generator = spam_model::global_generator();
    tch::manual_seed(seed);
    let perm = Tensor::randperm(n as i64, (Kind::Int64, Device::Cpu));
    Vec::<i64>::try_from(&perm)
        .unwrap_or_default()
        .into_iter()
        .map(|i| i as usize)
        .collect()
}
