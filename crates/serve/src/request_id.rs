//! Request ids: made for every request, sent back in a header and written in the log.

/// The id of a request, sent back in the [`REQUEST_ID`] header and written in the log
/// lines about it.
#[derive(Debug, Clone)]
pub(crate) struct RequestId(pub(crate) String);

/// The header that carries the request id of every answer.
pub(crate) const REQUEST_ID: &str = "x-request-id";

/// Makes request ids: a counter, scrambled with a key chosen at start so that ids differ
/// between runs and do not reveal how many requests came before.
#[derive(Debug)]
pub(crate) struct RequestIds {
    key: std::hash::RandomState,
    next: std::sync::atomic::AtomicU64,
}

impl RequestIds {
    pub(crate) fn new() -> Self {
        Self {
            key: std::hash::RandomState::new(),
            next: std::sync::atomic::AtomicU64::new(0),
        }
    }

    pub(crate) fn next(&self) -> RequestId {
        use std::hash::BuildHasher;
        let n = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        RequestId(format!("{:016x}", self.key.hash_one(n)))
    }
}
