//! The error both APIs answer with: JSON `{"error": "..."}` and an HTTP status.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::request_id::RequestId;
use crate::worker::WorkerError;

/// An error answered as JSON `{"error": "..."}` with an HTTP status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} (HTTP {status})")]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// What went wrong, for a person to read.
    pub message: String,
}

impl ApiError {
    /// An error with this status and message.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub(crate) fn unprocessable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, message)
    }

    pub(crate) fn too_large(message: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, message)
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::to_string(&ErrorBody {
            error: &self.message,
        })
        .unwrap_or_else(|_| r#"{"error":"internal error"}"#.to_string());
        (
            self.status,
            [(header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response()
    }
}

impl ApiError {
    /// The answer for a worker error. A model failure's detail (libtorch's message, with
    /// paths and a backtrace) is logged under the request id, never sent.
    pub(crate) fn from_worker(e: WorkerError, request_id: &RequestId) -> Self {
        match e {
            WorkerError::Stopped => Self::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
            WorkerError::Unavailable => Self::new(StatusCode::SERVICE_UNAVAILABLE, UNAVAILABLE),
            WorkerError::Failed(detail) => {
                tracing::error!(request_id = %request_id.0, "the model failed: {detail}");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!(
                        "internal error: the model failed on this request (request id {}); \
                         the server log has the detail",
                        request_id.0
                    ),
                )
            }
        }
    }
}

pub(crate) const UNAVAILABLE: &str =
    "the model is unavailable: it failed on an earlier request; restart the server";
