//! The two computation paths of a run.
//!
//! *Plain* runs the whole model on token ids at every step, as the chapter does.
//! *Cached* runs the frozen blocks once per example (no grad, batched) and keeps their
//! output; every step and every evaluation then runs only the trainable blocks on it. With
//! dropout 0 in the frozen blocks the frozen blocks compute the same thing every time, so
//! both paths give the same losses up to float rounding.

use std::cmp::Reverse;
use std::collections::VecDeque;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, mpsc};

use anyhow::{Context, Result};
use spam_model::{Classifier, TokenPosition};
use tch::{Device, Kind, Tensor};
use tracing::info;

use crate::batch::{Examples, PadTo, distinct_rows, make_batch};
use crate::config::{CachePrecision, CacheSettings, Engine};
use crate::parallel::Workers;
use crate::trainer::{Split, TrainData, eval_batches, loss_of};

/// Batch size of the cache build and of evaluation passes: bigger than training's 8
/// because no gradients are kept.
const EVAL_BATCH: usize = 32;

/// A batch ready for the model: token ids (plain) or cached hidden states.
#[derive(Debug)]
pub struct Batch {
    pub input: Tensor,
    pub lengths: Tensor,
    pub labels: Tensor,
}

/// Rows per cache batch when each CPU worker runs on one libtorch thread.
const CPU_CACHE_BATCH: usize = 8;

/// The frozen blocks' output for every example. Examples with the same token ids (the SMS
/// collection repeats some messages) share one computed row.
enum Cache {
    /// Fixed padding: `[distinct inputs, cols, emb]`, every position (the trainable blocks
    /// attend over padding too), and per split the row of each example.
    Padded { hidden: Tensor, rows: [Vec<i64>; 3] },
    /// Dynamic padding: each distinct input's true-length `[len, emb]` (`None` while it is
    /// still being computed), and per split the row of each example; batches pad with
    /// zeros, which no classified position can see under the causal mask.
    Ragged {
        by_row: Mutex<Vec<Option<Tensor>>>,
        rows: [Vec<usize>; 3],
    },
    /// Either layout, in a file instead of memory: what `Padded` or `Ragged` would hold,
    /// read back a batch at a time.
    Disk(DiskCache),
}

/// The cache's rows in an anonymous temporary file: the file is unlinked from the start, so
/// nothing is left behind when the run ends, fails or is killed.
struct DiskCache {
    file: Mutex<File>,
    dir: PathBuf,
    kind: Kind,
    emb: i64,
    /// Byte offset and number of positions of each distinct input's rows.
    spans: Vec<(u64, i64)>,
    /// Per split, the distinct row of each example.
    rows: [Vec<usize>; 3],
}

impl DiskCache {
    fn create(
        dir: &Path,
        kind: Kind,
        emb: i64,
        lengths: &[i64],
        rows: [Vec<usize>; 3],
    ) -> Result<Self> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the cache directory {}", dir.display()))?;
        let file = tempfile::tempfile_in(dir)
            .with_context(|| format!("cannot create a cache file in {}", dir.display()))?;
        let row_bytes = (emb as u64) * kind.elt_size_in_bytes() as u64;
        let mut offset = 0u64;
        let spans = lengths
            .iter()
            .map(|&len| {
                let span = (offset, len);
                offset += len as u64 * row_bytes;
                span
            })
            .collect();
        // Reserve the whole size now, so a full disk shows up before the frozen blocks run.
        file.set_len(offset).with_context(|| {
            format!(
                "cannot make a {offset}-byte cache file in {}: is the disk full?",
                dir.display()
            )
        })?;
        Ok(Self {
            file: Mutex::new(file),
            dir: dir.to_path_buf(),
            kind,
            emb,
            spans,
            rows,
        })
    }

    /// Runs `io` on the file positioned at `offset` (the workers of the build share it).
    fn at(
        &self,
        offset: u64,
        io: impl FnOnce(&mut File) -> std::io::Result<()>,
    ) -> std::io::Result<()> {
        let mut file = self
            .file
            .lock()
            .map_err(|_| std::io::Error::other("cache file lock poisoned"))?;
        file.seek(SeekFrom::Start(offset))?;
        io(&mut file)
    }

    /// Stores `hidden` `[len, emb]` as distinct input `u`'s rows.
    fn write(&self, u: usize, hidden: &Tensor) -> Result<()> {
        let (offset, len) = self.spans[u];
        let t = hidden
            .narrow(0, 0, len)
            .to_kind(self.kind)
            .to_device(Device::Cpu)
            .contiguous();
        let numel = (len * self.emb) as usize;
        let mut buf = vec![0u8; numel * self.kind.elt_size_in_bytes()];
        t.f_copy_data_u8(&mut buf, numel)?;
        self.at(offset, |file| file.write_all(&buf))
            .with_context(|| {
                format!(
                    "cannot write the prefix cache in {}: is the disk full?",
                    self.dir.display()
                )
            })
    }

    /// Distinct input `u`'s rows, `[len, emb]` in the stored kind.
    fn read(&self, u: usize) -> Result<Tensor> {
        let (offset, len) = self.spans[u];
        let mut buf = vec![0u8; (len * self.emb) as usize * self.kind.elt_size_in_bytes()];
        self.at(offset, |file| file.read_exact(&mut buf))
            .with_context(|| {
                format!(
                    "cannot read the prefix cache back from {}",
                    self.dir.display()
                )
            })?;
        Ok(Tensor::f_from_data_size(&buf, &[len, self.emb], self.kind)?)
    }
}

impl Cache {
    /// The distinct input of `split`'s example `i`.
    fn row(&self, split: Split, i: usize) -> usize {
        let s = split_index(split);
        match self {
            Cache::Padded { rows, .. } => rows[s][i] as usize,
            Cache::Ragged { rows, .. } => rows[s][i],
            Cache::Disk(disk) => disk.rows[s][i],
        }
    }

    /// Stores the frozen blocks' output `hidden` `[chunk.len(), cols, emb]` of the distinct
    /// inputs `chunk`, whose own lengths `inputs` gives.
    fn store(&self, chunk: &[usize], hidden: &Tensor, inputs: &Examples, kind: Kind) -> Result<()> {
        let len = |u: usize| inputs.ids[u].len().max(1) as i64;
        match self {
            Cache::Padded { hidden: all, .. } => {
                let idx = Tensor::from_slice(&chunk.iter().map(|&u| u as i64).collect::<Vec<_>>())
                    .to_device(all.device());
                let _ = all
                    .shallow_clone()
                    .index_copy_(0, &idx, &hidden.to_kind(all.kind()));
            }
            Cache::Ragged { by_row, .. } => {
                let mut by_row = by_row
                    .lock()
                    .map_err(|_| anyhow::anyhow!("prefix cache lock poisoned"))?;
                for (r, &u) in chunk.iter().enumerate() {
                    let row = hidden.get(r as i64).narrow(0, 0, len(u));
                    by_row[u] = Some(row.to_kind(kind).copy());
                }
            }
            Cache::Disk(disk) => {
                for (r, &u) in chunk.iter().enumerate() {
                    disk.write(u, &hidden.get(r as i64))?;
                }
            }
        }
        Ok(())
    }
}

/// The cache rows only the validation and test splits use, computed on a second thread
/// while the steps run: a step on 8 rows keeps one core busy, not two, and until the first
/// evaluation the steps need the training rows alone. When the steps' thread needs a row
/// of a batch no thread has started, it computes that batch itself. The batches are fixed
/// up front (validation rows first, then test rows, each sorted by length), so which
/// thread computes one does not change its rounding. Both threads run libtorch on one thread
/// each, the steps' thread for as long as the runner lives: a thread count that changed
/// when the fill ends would make the steps' rounding depend on timing.
struct Backfill {
    /// Batches of distinct inputs that no thread has started.
    queue: Arc<Mutex<VecDeque<Vec<usize>>>>,
    /// Batches the worker finished.
    done: mpsc::Receiver<(Vec<usize>, Tensor)>,
    inputs: Arc<Examples>,
    ready: Vec<bool>,
    missing: usize,
    worker: Option<std::thread::JoinHandle<()>>,
}

impl Backfill {
    /// Starts the worker on `batches` of distinct inputs of `inputs` (the other rows are in
    /// the cache already).
    fn start(
        model: Classifier,
        inputs: Arc<Examples>,
        batches: Vec<Vec<usize>>,
        (pad, pad_id, device): (PadTo, i64, Device),
    ) -> Self {
        let mut ready = vec![true; inputs.len()];
        for &u in batches.iter().flatten() {
            ready[u] = false;
        }
        let missing = ready.iter().filter(|&&r| !r).count();
        let queue = Arc::new(Mutex::new(VecDeque::from(batches)));
        let (send, done) = mpsc::channel();
        let worker = {
            let (queue, inputs) = (Arc::clone(&queue), Arc::clone(&inputs));
            std::thread::spawn(move || {
                tch::set_num_threads(1);
                loop {
                    let next = queue.lock().ok().and_then(|mut q| q.pop_front());
                    let Some(chunk) = next else { break };
                    let hidden = prefix_of(&model, &inputs, &chunk, (pad, pad_id, device));
                    if send.send((chunk, hidden)).is_err() {
                        break; // the runner is gone
                    }
                }
            })
        };
        Self {
            queue,
            done,
            inputs,
            ready,
            missing,
            worker: Some(worker),
        }
    }

    fn take(&mut self, cache: &Cache, chunk: &[usize], hidden: &Tensor, kind: Kind) -> Result<()> {
        cache.store(chunk, hidden, &self.inputs, kind)?;
        for &u in chunk {
            if !std::mem::replace(&mut self.ready[u], true) {
                self.missing -= 1;
            }
        }
        Ok(())
    }
}

impl Drop for Backfill {
    /// Stops the worker after its current batch.
    fn drop(&mut self) {
        if let Ok(mut q) = self.queue.lock() {
            q.clear();
        }
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}

/// The frozen blocks' output for the distinct inputs `chunk` of `inputs`.
fn prefix_of(
    model: &Classifier,
    inputs: &Examples,
    chunk: &[usize],
    (pad, pad_id, device): (PadTo, i64, Device),
) -> Tensor {
    let b = make_batch(inputs, chunk, pad, pad_id, device);
    model.forward_prefix(&b.ids)
}

/// What the model sees of a row: with a fixed length, its first `n` tokens.
fn model_input(ids: &[i64], pad: PadTo) -> &[i64] {
    match pad {
        PadTo::Fixed(n) => &ids[..ids.len().min(n)],
        PadTo::Dynamic => ids,
    }
}

/// The distinct inputs of `N` splits (after truncation to a fixed length), so each is run
/// through the model once: the frozen blocks for the cache (the three splits), the whole
/// model in the plain path's closing pass.
struct Distinct<const N: usize> {
    /// One row per distinct input (labels unused).
    examples: Examples,
    /// How many examples each distinct input stands for.
    copies: Vec<usize>,
    /// Per split, the distinct row of each example.
    rows: [Vec<usize>; N],
}

impl<const N: usize> Distinct<N> {
    fn of(splits: [&Examples; N], pad: PadTo) -> Self {
        let inputs = splits.iter().flat_map(|s| &s.ids);
        let (distinct, slots) = distinct_rows(inputs.map(|ids| model_input(ids, pad)));
        let examples = Examples {
            ids: distinct.iter().map(|row| row.to_vec()).collect(),
            labels: vec![0; distinct.len()],
        };
        let mut copies = vec![0; examples.len()];
        for &u in &slots {
            copies[u] += 1;
        }
        let mut rest = &slots[..];
        let rows = splits.map(|s| {
            let (here, later) = rest.split_at(s.len());
            rest = later;
            here.to_vec()
        });
        Self {
            examples,
            copies,
            rows,
        }
    }

    fn len(&self) -> usize {
        self.copies.len()
    }

    /// Positions the cache keeps of distinct input `u`: every padded column (the trainable
    /// blocks attend over padding) or, with dynamic padding, its own tokens.
    fn cached_len(&self, u: usize, pad: PadTo) -> i64 {
        match pad {
            PadTo::Fixed(cols) => cols.max(1) as i64,
            PadTo::Dynamic => self.examples.ids[u].len().max(1) as i64,
        }
    }
}

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
    /// Element type the cache is stored in (steps compute in fp32).
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

fn split_index(split: Split) -> usize {
    match split {
        Split::Train => 0,
        Split::Validation => 1,
        Split::Test => 2,
    }
}

impl<'a> Runner<'a> {
    /// A runner for training with batches of 8, the chapter's size.
    pub fn new(
        model: &'a Classifier,
        data: &'a TrainData,
        engine: Engine,
        device: Device,
        quiet: bool,
    ) -> Result<Self> {
        Self::with_cache(
            model,
            data,
            engine,
            device,
            quiet,
            8,
            &CacheSettings::default(),
        )
    }

    /// A runner whose evaluation batches have `batch_size` rows, like the training ones, and
    /// whose cache (when the cached path is taken) is kept as `cache` says.
    pub fn with_cache(
        model: &'a Classifier,
        data: &'a TrainData,
        engine: Engine,
        device: Device,
        quiet: bool,
        batch_size: usize,
        cache: &CacheSettings,
    ) -> Result<Self> {
        let frozen_blocks = model.frozen_blocks();
        // Without padding, `last` means each row's own last token: batches must not pad.
        let unpadded_last =
            data.pad == PadTo::Dynamic && model.config.token_position == TokenPosition::Last;
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
            anyhow::bail!("the cached path cannot be used here: {why}; use --engine auto or plain");
        }
        let eval_batch = if unpadded_last { 1 } else { batch_size.max(1) };
        let predict_batch = if unpadded_last { 1 } else { EVAL_BATCH };
        let mut runner = Self {
            model,
            data,
            device,
            cache: None,
            backfill: Mutex::new(None),
            threads_before: None,
            cache_rows: (0, 0),
            cache_kind: match cache.precision {
                CachePrecision::Fp32 => Kind::Float,
                CachePrecision::Bf16 => Kind::BFloat16,
            },
            why_plain,
            frozen_blocks,
            eval_batch,
            predict_batch,
        };
        if runner.why_plain.is_none() {
            let start = std::time::Instant::now();
            let (cache, rows, backfill) =
                runner.build_cache(quiet, cache.dir.as_deref(), cache.first_validation)?;
            runner.cache = Some(cache);
            runner.cache_rows = rows;
            if backfill.is_some() {
                runner.threads_before = Some(tch::get_num_threads());
                tch::set_num_threads(1);
            }
            runner.backfill = Mutex::new(backfill);
            info!(
                "prefix cache built in {:.1} s",
                start.elapsed().as_secs_f64()
            );
        }
        Ok(runner)
    }

    /// Which path the run takes, and why, for the log and `metrics.json`.
    pub fn describe(&self) -> String {
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

    pub fn is_cached(&self) -> bool {
        self.cache.is_some()
    }

    /// The frozen blocks' output of every distinct input, in memory or in a file in `dir`.
    /// The training split's rows are computed here, on all cores; with more than one core,
    /// the rest come from a [`Backfill`] while the steps run.
    #[allow(clippy::type_complexity)]
    fn build_cache(
        &self,
        quiet: bool,
        dir: Option<&Path>,
        first_validation: usize,
    ) -> Result<(Cache, (usize, usize), Option<Backfill>)> {
        let splits = [Split::Train, Split::Validation, Split::Test].map(|s| s.of(self.data));
        let distinct = Distinct::of(splits, self.data.pad);
        let workers = Workers::for_device(self.device);
        // Distinct inputs are numbered by first appearance, training split first: the
        // training rows are `0..train`.
        let train = match workers.threads {
            1 => distinct.len(),
            _ => distinct.rows[0].iter().map(|&u| u + 1).max().unwrap_or(0),
        };
        let rows_per_batch = if workers.threads > 1 {
            CPU_CACHE_BATCH
        } else {
            EVAL_BATCH
        };
        let batches_of_rows = |mut order: Vec<usize>| -> Vec<Vec<usize>> {
            if self.data.pad == PadTo::Dynamic {
                // Length-sorted batches waste no compute on padding.
                order.sort_by_key(|&i| Reverse(distinct.examples.ids[i].len()));
            }
            order
                .chunks(rows_per_batch)
                .map(<[usize]>::to_vec)
                .collect()
        };
        let batches_of = |range: std::ops::Range<usize>| batches_of_rows(range.collect());
        // Later: the rows first seen in validation (`train..validation`), which the
        // periodic evaluation reads, then the test split's; first of all the rows of the
        // validation examples the first evaluation reads, right after the first step.
        let validation = distinct.rows[1]
            .iter()
            .map(|&u| u + 1)
            .max()
            .unwrap_or(0)
            .clamp(train, distinct.len());
        let mut first: Vec<usize> = distinct.rows[1]
            [..first_validation.min(distinct.rows[1].len())]
            .iter()
            .copied()
            .filter(|&u| u >= train)
            .collect();
        first.sort_unstable();
        first.dedup();
        let now = batches_of(0..train);
        let mut later = batches_of_rows(first.clone());
        later.extend(batches_of_rows(
            (train..validation)
                .filter(|u| first.binary_search(u).is_err())
                .collect(),
        ));
        later.extend(batches_of(validation..distinct.len()));
        let bar = crate::progress::Progress::cache_bar(
            quiet,
            distinct.copies[..train].iter().sum::<usize>() as u64,
        );
        let (pad, pad_id, device) = (self.data.pad, self.data.pad_id, self.device);
        let kind = self.cache_kind;
        let e = self.model.config.model.n_embd;
        let (distinct_ref, bar) = (&distinct, &bar);
        let run_batch = move |model: &Classifier, chunk: &[usize]| {
            let hidden = prefix_of(model, &distinct_ref.examples, chunk, (pad, pad_id, device));
            bar.inc(chunk.iter().map(|&u| distinct_ref.copies[u]).sum::<usize>() as u64);
            hidden
        };
        let state = || self.model.replica();
        let cache = match (dir, pad) {
            (Some(dir), pad) => {
                let lengths: Vec<i64> = (0..distinct.len())
                    .map(|u| distinct.cached_len(u, pad))
                    .collect();
                let disk = DiskCache::create(dir, kind, e, &lengths, distinct.rows.clone())?;
                let written = workers.run(state, &now, |model, chunk| -> Result<()> {
                    let hidden = run_batch(model, chunk);
                    for (r, &u) in chunk.iter().enumerate() {
                        disk.write(u, &hidden.get(r as i64))?;
                    }
                    Ok(())
                });
                written.into_iter().collect::<Result<()>>()?;
                Cache::Disk(disk)
            }
            (None, PadTo::Fixed(cols)) => {
                let size = [distinct.len() as i64, cols.max(1) as i64, e];
                let hidden = Tensor::empty(size, (kind, device));
                let state = || (self.model.replica(), hidden.shallow_clone());
                workers.run(state, &now, |(model, hidden), chunk| {
                    // Batches are consecutive distinct rows: each writes its own slice.
                    let h = run_batch(model, chunk);
                    hidden
                        .narrow(0, chunk[0] as i64, chunk.len() as i64)
                        .copy_(&h);
                });
                Cache::Padded {
                    hidden,
                    rows: distinct
                        .rows
                        .clone()
                        .map(|r| r.into_iter().map(|u| u as i64).collect()),
                }
            }
            (None, PadTo::Dynamic) => {
                let cache = Cache::Ragged {
                    by_row: Mutex::new((0..distinct.len()).map(|_| None).collect()),
                    rows: distinct.rows.clone(),
                };
                for (chunk, hidden) in now.iter().zip(workers.run(state, &now, run_batch)) {
                    cache.store(chunk, &hidden, &distinct.examples, kind)?;
                }
                cache
            }
        };
        bar.finish_and_clear();
        let rows = (distinct.len(), distinct.copies.iter().sum::<usize>());
        info!(
            "prefix cache: {} distinct inputs for {} examples, {} thread(s); {} computed \
             now, {} alongside the steps",
            rows.0,
            rows.1,
            workers.threads,
            train,
            rows.0 - train
        );
        let backfill = (!later.is_empty()).then(|| {
            Backfill::start(
                self.model.replica(),
                Arc::new(distinct.examples),
                later,
                (pad, pad_id, device),
            )
        });
        Ok((cache, rows, backfill))
    }

    /// Makes sure the cache holds the distinct inputs `us`: takes what the backfill worker
    /// finished, computes the queued batches holding any of them here, and waits for the
    /// worker's current one if it holds some.
    fn ensure_cached(&self, us: &[usize]) -> Result<()> {
        let mut guard = self
            .backfill
            .lock()
            .map_err(|_| anyhow::anyhow!("prefix cache lock poisoned"))?;
        let (Some(fill), Some(cache)) = (guard.as_mut(), self.cache.as_ref()) else {
            return Ok(());
        };
        let kind = self.cache_kind;
        let io = (self.data.pad, self.data.pad_id, self.device);
        while let Ok((chunk, hidden)) = fill.done.try_recv() {
            fill.take(cache, &chunk, &hidden, kind)?;
        }
        loop {
            let needed = |fill: &Backfill, chunk: &[usize]| {
                chunk.iter().any(|u| !fill.ready[*u] && us.contains(u))
            };
            let mine = fill.queue.lock().ok().and_then(|mut q| {
                let at = q.iter().position(|c| needed(fill, c))?;
                q.remove(at)
            });
            match mine {
                Some(chunk) => {
                    let hidden = prefix_of(self.model, &fill.inputs, &chunk, io);
                    fill.take(cache, &chunk, &hidden, kind)?;
                }
                None if us.iter().any(|&u| !fill.ready[u]) => {
                    let (chunk, hidden) = fill.done.recv().map_err(|_| {
                        anyhow::anyhow!(
                            "the thread computing the prefix cache's remaining rows stopped"
                        )
                    })?;
                    fill.take(cache, &chunk, &hidden, kind)?;
                }
                None => break,
            }
        }
        if fill.missing == 0 {
            *guard = None; // joins the worker
        }
        Ok(())
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
        if let Some(cache) = &self.cache {
            let us: Vec<usize> = indices.iter().map(|&i| cache.row(split, i)).collect();
            self.ensure_cached(&us)?;
        }
        let input = match &self.cache {
            None => b.ids,
            Some(Cache::Padded { hidden, rows }) => {
                let rows = &rows[split_index(split)];
                let idx = Tensor::from_slice(&indices.iter().map(|&i| rows[i]).collect::<Vec<_>>())
                    .to_device(self.device);
                hidden.index_select(0, &idx).to_kind(Kind::Float)
            }
            Some(Cache::Ragged { by_row, rows }) => {
                let rows = &rows[split_index(split)];
                let by_row = by_row
                    .lock()
                    .map_err(|_| anyhow::anyhow!("prefix cache lock poisoned"))?;
                let parts = indices
                    .iter()
                    .map(|&i| {
                        by_row[rows[i]]
                            .as_ref()
                            .map(Tensor::shallow_clone)
                            .context("a prefix cache row is missing")
                    })
                    .collect::<Result<Vec<_>>>()?;
                stack_padded(parts, b.ids.size()[1])
            }
            Some(Cache::Disk(disk)) => {
                let rows = &disk.rows[split_index(split)];
                let parts = indices
                    .iter()
                    .map(|&i| disk.read(rows[i]))
                    .collect::<Result<Vec<_>>>()?;
                stack_padded(parts, b.ids.size()[1]).to_device(self.device)
            }
        };
        Ok(Batch {
            input,
            lengths: b.lengths,
            labels: b.labels,
        })
    }

    /// Class logits `[rows, classes]`.
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
        let take = batches.len().min(num_batches);
        if take == 0 {
            return Ok(f64::NAN);
        }
        tch::no_grad(|| {
            let mut total = 0.0;
            for indices in &batches[..take] {
                let b = self.batch(split, indices)?;
                total +=
                    loss_of(&self.forward(&b, false), &b.labels, ignore_index).double_value(&[]);
            }
            Ok(total / take as f64)
        })
    }

    /// Accuracy over the first `num_batches` batches of 8 (all of the split with `None`).
    pub fn accuracy(&self, split: Split, num_batches: Option<usize>) -> Result<f64> {
        let batches = eval_batches(self.data, split, self.eval_batch, 0);
        let take = num_batches.map_or(batches.len(), |n| n.min(batches.len()));
        let (mut correct, mut seen) = (0i64, 0i64);
        tch::no_grad(|| -> Result<()> {
            for indices in &batches[..take] {
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

    /// [`Runner::predictions`] of each of `splits`. The plain path runs each distinct input
    /// among them once: the collection repeats messages, within a split and across splits.
    pub fn predictions_of<const N: usize>(
        &self,
        splits: [Split; N],
    ) -> Result<[(Vec<usize>, Vec<usize>); N]> {
        let argmax = |logits: Tensor| -> Vec<usize> {
            let p = logits.argmax(-1, false).to_device(Device::Cpu);
            let p: Vec<i64> = Vec::<i64>::try_from(&p).unwrap_or_default();
            p.into_iter().map(|x| x.max(0) as usize).collect()
        };
        let mut predicted: [Vec<usize>; N] = if self.cache.is_none() {
            let (pad, pad_id, device) = (self.data.pad, self.data.pad_id, self.device);
            let distinct = Distinct::of(splits.map(|s| s.of(self.data)), pad);
            let batches = crate::batch::sequential_batches(distinct.len(), self.predict_batch);
            // The plain path needs only the token ids: one batch per core, each worker with
            // its own replica of the model.
            let of_distinct: Vec<usize> = Workers::for_device(self.device)
                .run(
                    || self.model.replica(),
                    &batches,
                    |model, indices| {
                        let b = make_batch(&distinct.examples, indices, pad, pad_id, device);
                        argmax(tch::no_grad(|| {
                            model.forward(&b.ids, Some(&b.lengths), false)
                        }))
                    },
                )
                .into_iter()
                .flatten()
                .collect();
            anyhow::ensure!(
                of_distinct.len() == distinct.len(),
                "the closing pass predicted {} of {} distinct inputs",
                of_distinct.len(),
                distinct.len()
            );
            distinct
                .rows
                .map(|rows| rows.iter().map(|&u| of_distinct[u]).collect())
        } else {
            let mut per_split: [Vec<usize>; N] = std::array::from_fn(|_| Vec::new());
            for (out, &split) in per_split.iter_mut().zip(&splits) {
                let batches =
                    crate::batch::sequential_batches(split.of(self.data).len(), self.predict_batch);
                tch::no_grad(|| -> Result<()> {
                    for indices in &batches {
                        out.extend(argmax(self.forward(&self.batch(split, indices)?, false)));
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
            (truth(splits[i]), std::mem::take(&mut predicted[i]))
        }))
    }
}

/// Rows `[len_i, emb]` right-padded with zeros to `cols` and stacked, as fp32 `[n, cols, emb]`.
fn stack_padded(rows: Vec<Tensor>, cols: i64) -> Tensor {
    let padded: Vec<Tensor> = rows
        .into_iter()
        .map(|r| {
            let pad = cols - r.size()[0];
            if pad > 0 {
                r.constant_pad_nd([0, 0, 0, pad])
            } else {
                r
            }
        })
        .collect();
    Tensor::stack(&padded, 0).to_kind(Kind::Float)
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
