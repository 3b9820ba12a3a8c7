//! Files that are not regular files, for the tests that check a reader refuses them, and a
//! bound on how long such a test may wait (a reader that opens a FIFO blocks for ever).

#![allow(clippy::unwrap_used)] // test support: a panic is the failure report

use std::path::Path;
use std::time::Duration;

/// Makes a FIFO at `path` (with the system's `mkfifo`).
pub fn mkfifo(path: &Path) {
    let status = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success(), "mkfifo {}", path.display());
}

/// Runs `f` on a thread of its own and returns its result, failing the test with `what` if
/// it has not returned within `limit` (it blocked).
pub fn within<T: Send + 'static>(
    limit: Duration,
    what: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (send, recv) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = send.send(f());
    });
    recv.recv_timeout(limit)
        .unwrap_or_else(|_| panic!("{what}: still blocked after {limit:?}"))
}
