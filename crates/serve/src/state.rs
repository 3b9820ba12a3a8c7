//! What the handlers of both APIs share: the worker, the limits and the run's description.

use std::sync::Arc;

use crate::worker::WorkerHandle;

/// The state of the routes.
#[derive(Debug, Clone)]
pub(crate) struct AppState {
    pub(crate) worker: WorkerHandle,
    pub(crate) max_body_bytes: usize,
    pub(crate) max_texts: usize,
    pub(crate) max_text_chars: usize,
    pub(crate) info: Arc<spam_model::RunInfo>,
}
