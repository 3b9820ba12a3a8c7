//! The frozen blocks' output, computed once per distinct input: in memory (padded or
//! ragged) or in an anonymous temporary file.

use std::cmp::Reverse;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use spam_model::Classifier;
use tch::{Device, Kind, Tensor};
use tracing::info;

use super::backfill::{Backfill, EVAL_BATCH, Store, prefix_of};
use super::distinct::Distinct;
use crate::batch::{Examples, PadTo};
use crate::data::{Split, TrainData};
use crate::error::{Result, TrainError};
use crate::events::{Event, Events};
use spam_model::Workers;

/// What [`build`] needs.
#[derive(Clone, Copy)]
pub(super) struct BuildInputs<'a> {
    pub(super) model: &'a Classifier,
    pub(super) data: &'a TrainData,
    pub(super) device: Device,
    /// Element type the rows are stored in.
    pub(super) kind: Kind,
    /// A directory for an on-disk cache; `None` keeps it in memory.
    pub(super) dir: Option<&'a Path>,
    /// Validation examples, from the first, that the first evaluation reads.
    pub(super) first_validation: usize,
    pub(super) events: &'a Events,
}

/// What [`build`] made.
pub(super) struct Built {
    pub(super) cache: Cache,
    /// Distinct inputs the cache holds.
    pub(super) distinct_inputs: usize,
    /// Examples they stand for.
    pub(super) examples: usize,
    /// The rows still being computed alongside the steps, if any.
    pub(super) backfill: Option<Backfill>,
}

/// The frozen blocks' output of every distinct input, in memory or in a file in `dir`.
/// The training split's rows are computed here, on all cores; with more than one core,
/// the rest come from a [`Backfill`] while the steps run.
pub(super) fn build(inputs: &BuildInputs<'_>) -> Result<Built> {
    let BuildInputs {
        model,
        data,
        device,
        first_validation,
        events,
        ..
    } = *inputs;
    let splits = Split::ALL.map(|s| s.of(data));
    let distinct = Distinct::of(splits, data.pad);
    let workers = Workers::for_device(device);
    let Plan { train, now, later } = plan(&distinct, data.pad, workers.threads, first_validation);
    events.emit(Event::CacheStarted {
        examples: distinct.copies[..train].iter().sum::<usize>() as u64,
    });
    let (pad, pad_id) = (data.pad, data.pad_id);
    let distinct_ref = &distinct;
    let run_batch = move |model: &Classifier, chunk: &[usize]| {
        let hidden = prefix_of(model, &distinct_ref.examples, chunk, (pad, pad_id, device));
        events.emit(Event::CacheProgress {
            examples: chunk.iter().map(|&u| distinct_ref.copies[u]).sum::<usize>() as u64,
        });
        hidden
    };
    let cache = compute(inputs, &distinct, &workers, &now, run_batch)?;
    events.emit(Event::CacheFinished);
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
            model.replica(),
            Arc::new(distinct.examples),
            later,
            (pad, pad_id, device),
        )
    });
    Ok(Built {
        cache,
        distinct_inputs: rows.0,
        examples: rows.1,
        backfill,
    })
}

/// Which distinct inputs [`build`] computes before the first step and which come later.
struct Plan {
    /// The rows `0..train` are computed before the first step.
    train: usize,
    /// Their batches.
    now: Vec<Vec<usize>>,
    /// The batches of the other rows, in the order they are needed.
    later: Vec<Vec<usize>>,
}

/// The batches of distinct rows to compute now and later, with `threads` workers.
fn plan(distinct: &Distinct<3>, pad: PadTo, threads: usize, first_validation: usize) -> Plan {
    // Distinct inputs are numbered by first appearance, training split first: the
    // training rows are `0..train`.
    let train = match threads {
        1 => distinct.len(),
        _ => distinct.rows[0].iter().map(|&u| u + 1).max().unwrap_or(0),
    };
    let rows_per_batch = if threads > 1 {
        CPU_CACHE_BATCH
    } else {
        EVAL_BATCH
    };
    let batches_of_rows = |mut order: Vec<usize>| -> Vec<Vec<usize>> {
        if pad == PadTo::Dynamic {
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
    let mut first: Vec<usize> = distinct.rows[1][..first_validation.min(distinct.rows[1].len())]
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
    Plan { train, now, later }
}

/// Computes the batches `now` of distinct rows with `run_batch` on the workers, into a new
/// cache of the layout `inputs` asks for.
fn compute(
    inputs: &BuildInputs<'_>,
    distinct: &Distinct<3>,
    workers: &Workers,
    now: &[Vec<usize>],
    run_batch: impl Fn(&Classifier, &[usize]) -> Tensor + Sync,
) -> Result<Cache> {
    let BuildInputs {
        model,
        data,
        device,
        kind,
        dir,
        ..
    } = *inputs;
    let e = model.config.model.n_embd;
    let state = || model.replica();
    Ok(match (dir, data.pad) {
        (Some(dir), pad) => {
            let lengths: Vec<i64> = (0..distinct.len())
                .map(|u| distinct.cached_len(u, pad))
                .collect();
            let disk = DiskCache::create(dir, kind, e, &lengths, distinct.rows.clone())?;
            let written = workers.run(state, now, |model, chunk| -> Result<()> {
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
            let state = || (model.replica(), hidden.shallow_clone());
            workers.run(state, now, |(model, hidden), chunk| {
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
            for (chunk, hidden) in now.iter().zip(workers.run(state, now, run_batch)) {
                cache.store(chunk, &hidden, &distinct.examples, kind)?;
            }
            cache
        }
    })
}

/// Rows per cache batch when each CPU worker runs on one libtorch thread.
const CPU_CACHE_BATCH: usize = 8;

/// The frozen blocks' output for every example. Examples with the same token ids (the SMS
/// collection repeats some messages) share one computed row.
pub(super) enum Cache {
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
pub(super) struct DiskCache {
    file: Mutex<File>,
    pub(super) dir: PathBuf,
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
        std::fs::create_dir_all(dir).map_err(|e| {
            TrainError::cache_file(
                dir,
                format!("cannot create the cache directory {}", dir.display()),
                e,
            )
        })?;
        let file = tempfile::tempfile_in(dir).map_err(|e| {
            TrainError::cache_file(
                dir,
                format!("cannot create a cache file in {}", dir.display()),
                e,
            )
        })?;
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
        file.set_len(offset).map_err(|e| {
            TrainError::cache_file(
                dir,
                format!(
                    "cannot make a {offset}-byte cache file in {}: is the disk full?",
                    dir.display()
                ),
                e,
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
        self.at(offset, |file| file.write_all(&buf)).map_err(|e| {
            TrainError::cache_file(
                &self.dir,
                format!(
                    "cannot write the prefix cache in {}: is the disk full?",
                    self.dir.display()
                ),
                e,
            )
        })
    }

    /// Distinct input `u`'s rows, `[len, emb]` in the stored kind.
    fn read(&self, u: usize) -> Result<Tensor> {
        let (offset, len) = self.spans[u];
        let mut buf = vec![0u8; (len * self.emb) as usize * self.kind.elt_size_in_bytes()];
        self.at(offset, |file| file.read_exact(&mut buf))
            .map_err(|e| {
                TrainError::cache_file(
                    &self.dir,
                    format!(
                        "cannot read the prefix cache back from {}",
                        self.dir.display()
                    ),
                    e,
                )
            })?;
        Ok(Tensor::f_from_data_size(&buf, &[len, self.emb], self.kind)?)
    }
}

impl Cache {
    /// The distinct input of `split`'s example `i`.
    pub(super) fn row(&self, split: Split, i: usize) -> usize {
        let s = split.index();
        match self {
            Cache::Padded { rows, .. } => rows[s][i] as usize,
            Cache::Ragged { rows, .. } => rows[s][i],
            Cache::Disk(disk) => disk.rows[s][i],
        }
    }

    /// Stores the frozen blocks' output `hidden` `[chunk.len(), cols, emb]` of the distinct
    /// inputs `chunk`, whose own lengths `inputs` gives.
    pub(super) fn store(
        &self,
        chunk: &[usize],
        hidden: &Tensor,
        inputs: &Examples,
        kind: Kind,
    ) -> Result<()> {
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
                    .map_err(|_| TrainError::Internal("prefix cache lock poisoned".into()))?;
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

    /// The stored rows of `split`'s examples at `indices`, as fp32 `[rows, cols, emb]`.
    pub(super) fn input(
        &self,
        split: Split,
        indices: &[usize],
        cols: i64,
        device: Device,
    ) -> Result<Tensor> {
        Ok(match self {
            Cache::Padded { hidden, rows } => {
                let rows = &rows[split.index()];
                let idx = Tensor::from_slice(&indices.iter().map(|&i| rows[i]).collect::<Vec<_>>())
                    .to_device(device);
                hidden.index_select(0, &idx).to_kind(Kind::Float)
            }
            Cache::Ragged { by_row, rows } => {
                let rows = &rows[split.index()];
                let by_row = by_row
                    .lock()
                    .map_err(|_| TrainError::Internal("prefix cache lock poisoned".into()))?;
                let parts = indices
                    .iter()
                    .map(|&i| {
                        by_row[rows[i]]
                            .as_ref()
                            .map(Tensor::shallow_clone)
                            .ok_or_else(|| {
                                TrainError::Internal("a prefix cache row is missing".into())
                            })
                    })
                    .collect::<Result<Vec<_>>>()?;
                stack_padded(parts, cols)
            }
            Cache::Disk(disk) => {
                let rows = &disk.rows[split.index()];
                let parts = indices
                    .iter()
                    .map(|&i| disk.read(rows[i]))
                    .collect::<Result<Vec<_>>>()?;
                stack_padded(parts, cols).to_device(device)
            }
        })
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

impl Store for Cache {
    fn store(&self, chunk: &[usize], hidden: &Tensor, inputs: &Examples, kind: Kind) -> Result<()> {
        Cache::store(self, chunk, hidden, inputs, kind)
    }
}
