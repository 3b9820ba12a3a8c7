//! Batched no-grad passes spread over the cores.

use std::sync::atomic::{AtomicUsize, Ordering};

use tch::Device;

/// Threads for batched no-grad passes (the cache build, classification). On the CPU, `n`
/// workers with one libtorch thread each beat one batch at a time on `n` libtorch threads
/// (measured ~15 % on 2 cores: every op of a block is otherwise a fork/join of the thread
/// pool, and the small ones do not scale). Each worker gets its own model replica.
#[derive(Debug, Clone, Copy)]
pub struct Workers {
    /// How many batches run at once.
    pub threads: usize,
}

impl Workers {
    /// One worker per libtorch thread on the CPU, one on a GPU.
    pub fn for_device(device: Device) -> Self {
        let threads = if device == Device::Cpu {
            tch::get_num_threads().max(1) as usize
        } else {
            1
        };
        Self { threads }
    }

    /// `f(state, batch)` for every batch, in parallel, each thread with its own `state()`
    /// (made here, then moved: tensors are `Send` but not `Sync`); results in batch order.
    pub fn run<S: Send, T: Send>(
        &self,
        state: impl Fn() -> S,
        batches: &[Vec<usize>],
        f: impl Fn(&S, &[usize]) -> T + Sync,
    ) -> Vec<T> {
        let threads = self.threads.min(batches.len()).max(1);
        if threads == 1 {
            let state = state();
            return batches.iter().map(|b| f(&state, b)).collect();
        }
        let intra = tch::get_num_threads();
        let next = AtomicUsize::new(0);
        let mut out: Vec<(usize, T)> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..threads)
                .map(|_| {
                    let state = state();
                    let (next, f) = (&next, &f);
                    scope.spawn(move || {
                        tch::set_num_threads(1);
                        let mut done = Vec::new();
                        loop {
                            let i = next.fetch_add(1, Ordering::Relaxed);
                            let Some(batch) = batches.get(i) else { break };
                            done.push((i, f(&state, batch)));
                        }
                        done
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
                .collect()
        });
        // The workers' setting is process-wide for libtorch's BLAS: give the steps theirs back.
        tch::set_num_threads(intra);
        out.sort_by_key(|(i, _)| *i);
        out.into_iter().map(|(_, t)| t).collect()
    }
}
