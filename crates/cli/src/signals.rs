//! Ctrl-C and SIGTERM: the first stops a run after its step with a checkpoint, a second ends
//! the process at once; and what the error of a stopped run says.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result};

/// Whether `err` is a run stopped by Ctrl-C (which wrote a checkpoint to resume from).
pub fn interrupted(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        matches!(
            e.downcast_ref::<spam_train::TrainError>(),
            Some(spam_train::TrainError::Interrupted { .. })
        )
    })
}

/// A stop flag set by the first Ctrl-C (or SIGTERM); a second one ends the process at once.
pub fn stop_on_signal() -> Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::SeqCst) {
            exit_now(130);
        }
        eprintln!(
            "\nStopping after this step with a checkpoint (press Ctrl-C again to stop at once)"
        );
    })
    .context("could not install the Ctrl-C handler")?;
    Ok(stop)
}

/// Ends the process at once with `code`, from the signal-handling thread, while another
/// thread may be inside libtorch: `_exit` runs no exit handlers and no static destructors
/// (`std::process::exit` does, and libtorch's, torn down under a running kernel, panic with a
/// long backtrace).
fn exit_now(code: i32) -> ! {
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "\nStopped at once: no checkpoint of this step"
    );
    // SAFETY: `_exit` takes no pointers and never returns; skipping the exit handlers is the
    // point (nothing of ours needs them: files are written atomically).
    unsafe { libc::_exit(code) }
}

/// After Ctrl-C, the error says how to continue.
pub fn stop_error(e: anyhow::Error, dir: &std::path::Path) -> anyhow::Error {
    if !matches!(
        e.downcast_ref::<spam_train::TrainError>(),
        Some(spam_train::TrainError::Interrupted { .. })
    ) {
        return e;
    }
    let hint = format!(
        "interrupted: a checkpoint was written; `spam-cli train --resume {}` continues the run \
         (its log.jsonl is in the folder kept beside it until then)",
        dir.display()
    );
    e.context(hint)
}
