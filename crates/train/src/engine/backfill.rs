//! The cache rows only validation and test use, filled in on a second thread while the
//! steps run.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, mpsc};

use spam_model::Classifier;
use tch::{Device, Kind, Tensor};

use crate::batch::{Examples, PadTo, make_batch};
use crate::error::{Result, TrainError};

/// Where finished rows go (the cache): the backfill names no cache type, so the cache can
/// start one.
pub(super) trait Store {
    /// Stores the frozen blocks' output `hidden` of the distinct inputs `chunk` of `inputs`.
    fn store(&self, chunk: &[usize], hidden: &Tensor, inputs: &Examples, kind: Kind) -> Result<()>;
}

/// Batch size of the cache build and of evaluation passes: bigger than training's 8
/// because no gradients are kept.
pub(super) const EVAL_BATCH: usize = 32;

/// The cache rows only the validation and test splits use, computed on a second thread
/// while the steps run: a step on 8 rows keeps one core busy, not two, and until the first
/// evaluation the steps need the training rows alone. When the steps' thread needs a row
/// of a batch no thread has started, it computes that batch itself. The batches are fixed
/// up front (validation rows first, then test rows, each sorted by length), so which
/// thread computes one does not change its rounding. Both threads run libtorch on one thread
/// each, the steps' thread for as long as the runner lives: a thread count that changed
/// when the fill ends would make the steps' rounding depend on timing.
pub(super) struct Backfill {
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
    pub(super) fn start(
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

    fn take(
        &mut self,
        cache: &dyn Store,
        chunk: &[usize],
        hidden: &Tensor,
        kind: Kind,
    ) -> Result<()> {
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
pub(super) fn prefix_of(
    model: &Classifier,
    inputs: &Examples,
    chunk: &[usize],
    (pad, pad_id, device): (PadTo, i64, Device),
) -> Tensor {
    let b = make_batch(inputs, chunk, pad, pad_id, device);
    model.forward_prefix(&b.ids)
}

/// Makes sure the cache holds the distinct inputs `us`: takes what the backfill worker
/// finished, computes the queued batches holding any of them here, and waits for the
/// worker's current one if it holds some.
pub(super) fn ensure_cached(
    slot: &Mutex<Option<Backfill>>,
    cache: &dyn Store,
    model: &Classifier,
    us: &[usize],
    (kind, io): (Kind, (PadTo, i64, Device)),
) -> Result<()> {
    let mut guard = slot
        .lock()
        .map_err(|_| TrainError::Internal("prefix cache lock poisoned".into()))?;
    let Some(fill) = guard.as_mut() else {
        return Ok(());
    };
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
                let hidden = prefix_of(model, &fill.inputs, &chunk, io);
                fill.take(cache, &chunk, &hidden, kind)?;
            }
            None if us.iter().any(|&u| !fill.ready[u]) => {
                let (chunk, hidden) = fill.done.recv().map_err(|_| {
                    TrainError::Internal(
                        "the thread computing the prefix cache's remaining rows stopped".into(),
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
