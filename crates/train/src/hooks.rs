//! Fault injection for tests, behind spam-train's `test-hooks` feature (off by default; the
//! crates whose tests need it enable it in their dev-dependencies). `test_hooks` arms a hook
//! on the calling thread; a run reads what is armed when it starts (`Armed`). Without the
//! feature `Armed` is empty and its answers are constant: no stop, no failed write.

#[cfg(feature = "test-hooks")]
pub(crate) use test_hooks::Armed;

/// The hooks a run started with: none, without the `test-hooks` feature.
#[cfg(not(feature = "test-hooks"))]
#[derive(Debug)]
pub(crate) struct Armed;

#[cfg(not(feature = "test-hooks"))]
impl Armed {
    /// Nothing is ever armed.
    pub(crate) fn current() -> Self {
        Self
    }

    /// Never stops.
    pub(crate) fn after_steps(&self, _steps: usize) -> crate::error::Result<()> {
        Ok(())
    }

    /// No write fails.
    pub(crate) fn next_write_fails(&mut self) -> bool {
        false
    }
}

/// Fault injection for tests: make a run stop as if killed after some steps, or make one of
/// its checkpoint writes fail half-way as a full disk would.
///
/// A hook is armed on the calling thread by the guard a function here returns, and disarmed
/// when the guard drops; `train` reads the hooks of its thread when it starts (spam-runs'
/// `fine_tune` and `resume` train on the calling thread). Scope the guard to the one run it is
/// meant for:
///
/// ```no_run
/// # use spam_train::{RunOptions, TrainConfig, TrainData, test_hooks, train};
/// # fn demo(model: &spam_model::Classifier, data: &TrainData, options: &RunOptions) {
/// let err = {
///     let _stop = test_hooks::stop_after_steps(3);
///     train(model, data, &TrainConfig::default(), options).unwrap_err()
/// };
/// assert!(test_hooks::is_stopped_for_test(&err));
/// # }
/// ```
#[cfg(feature = "test-hooks")]
pub mod test_hooks {
    use std::cell::Cell;
    use std::error::Error;
    use std::marker::PhantomData;

    use crate::error::{Result, TrainError};

    /// The hooks armed on a thread.
    #[derive(Debug, Clone, Copy, Default)]
    struct Set {
        stop_after_steps: Option<usize>,
        fail_checkpoint_write: Option<usize>,
    }

    thread_local! {
        static ARMED: Cell<Set> = const {
            Cell::new(Set {
                stop_after_steps: None,
                fail_checkpoint_write: None,
            })
        };
    }

    /// Keeps a hook armed on its thread; dropping it puts back what was armed before.
    #[must_use = "the hook is disarmed when the guard drops"]
    #[derive(Debug)]
    pub struct Guard {
        before: Set,
        /// Armed on one thread: the guard stays there.
        _thread: PhantomData<*const ()>,
    }

    impl Drop for Guard {
        fn drop(&mut self) {
            ARMED.with(|armed| armed.set(self.before));
        }
    }

    fn arm(change: impl FnOnce(&mut Set)) -> Guard {
        let before = ARMED.with(Cell::get);
        let mut set = before;
        change(&mut set);
        ARMED.with(|armed| armed.set(set));
        Guard {
            before,
            _thread: PhantomData,
        }
    }

    /// A run started on this thread while the guard lives stops after its `steps`-th step
    /// in this process, as if killed there (it writes nothing more), failing with the error
    /// [`is_stopped_for_test`] recognises.
    pub fn stop_after_steps(steps: usize) -> Guard {
        arm(|set| set.stop_after_steps = Some(steps))
    }

    /// A run started on this thread while the guard lives fails its `write`-th checkpoint
    /// write in this process (1 is the first) half-way through, as a full disk would.
    pub fn fail_checkpoint_write(write: usize) -> Guard {
        arm(|set| set.fail_checkpoint_write = Some(write))
    }

    /// The cause of a run stopped by [`stop_after_steps`]: an I/O error
    /// ([`TrainError::Io`]) wrapping this.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct StoppedForTest;

    impl std::fmt::Display for StoppedForTest {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("stopped after the requested number of steps")
        }
    }

    impl Error for StoppedForTest {}

    /// Whether `error`, or an error in its chain of sources, is the stop of
    /// [`stop_after_steps`] (pass `&*e` for an `anyhow::Error`).
    pub fn is_stopped_for_test(error: &(dyn Error + 'static)) -> bool {
        std::iter::successors(Some(error), |&e| e.source()).any(|e| {
            let io = match e.downcast_ref::<TrainError>() {
                Some(TrainError::Io(io)) => Some(io),
                _ => e.downcast_ref::<std::io::Error>(),
            };
            io.and_then(std::io::Error::get_ref)
                .is_some_and(|inner| inner.is::<StoppedForTest>())
        })
    }

    /// The hooks a run started with, and its count of checkpoint writes.
    #[derive(Debug)]
    pub(crate) struct Armed {
        set: Set,
        writes: usize,
    }

    impl Armed {
        /// The hooks armed on this thread.
        pub(crate) fn current() -> Self {
            Self {
                set: ARMED.with(Cell::get),
                writes: 0,
            }
        }

        /// After the run's `steps`-th step in this process: the simulated kill, if armed for
        /// it.
        pub(crate) fn after_steps(&self, steps: usize) -> Result<()> {
            if self.set.stop_after_steps == Some(steps) {
                return Err(TrainError::Io(std::io::Error::other(StoppedForTest)));
            }
            Ok(())
        }

        /// Counts a checkpoint write; whether it is the one to fail.
        pub(crate) fn next_write_fails(&mut self) -> bool {
            self.writes += 1;
            self.set.fail_checkpoint_write == Some(self.writes)
        }
    }
}
