//! `POST /predict`: the sequence-classification route of text-embeddings-inference (TEI), so
//! clients written for it (or for the hub's inference API) work unchanged.
//!
//! * `{"inputs": "text"}` answers `[{"label": ..., "score": ...}, ...]`, one object per class,
//!   highest score first (TEI's order); `{"inputs": ["a", "b"]}` (or TEI's batch form
//!   `[["a"], ["b"]]`) answers a list of such lists, in input order.
//! * `truncate`, `raw_scores` and `truncation_direction` are read as TEI reads them. A text is
//!   always cut to the tokens the model reads (its first ones), so `truncate` changes nothing
//!   and `truncation_direction` must be `right`; the model's answer is probabilities, so
//!   `raw_scores: true` is refused. Other fields are ignored, as TEI ignores them.
//! * Errors are TEI's `{"error": "...", "error_type": "..."}`: 413 `validation` (too large),
//!   422 `validation` (a bad request; 400 and 415 for malformed JSON and a body not declared
//!   JSON, as on `/v1/classify`), 424 `backend` (the model failed), 503 `overloaded` (no answer
//!   in time) or `unhealthy` (the model stopped).
//!
//! A sentence pair (`["a", "b"]` as one input, in TEI) has no meaning for a single-text
//! classifier: a list of strings is always a batch here, and a batch item of two strings is
//! refused.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::body::{TextProblem, check_texts, read_body, require_json};
use crate::error::ApiError;
use crate::request_id::RequestId;
use crate::state::AppState;
use crate::worker::WorkerError;

/// The route this module answers.
const PATH: &str = "/predict";

/// The request as TEI defines it; `inputs` is read by hand for precise messages.
#[derive(Debug, Deserialize)]
struct PredictRequest {
    inputs: Option<Value>,
    #[serde(default)]
    #[allow(dead_code)] // accepted; texts are always cut to what the model reads
    truncate: Option<bool>,
    #[serde(default)]
    raw_scores: bool,
    #[serde(default)]
    truncation_direction: Option<String>,
}

#[derive(Debug, Serialize)]
struct Prediction<'a> {
    label: &'a str,
    score: f64,
}

/// TEI's error answer.
#[derive(Debug)]
struct TeiError {
    status: StatusCode,
    error: String,
    error_type: &'static str,
}

impl TeiError {
    fn validation(status: StatusCode, error: impl Into<String>) -> Self {
        Self {
            status,
            error: error.into(),
            error_type: "validation",
        }
    }

    fn invalid(error: impl Into<String>) -> Self {
        Self::validation(StatusCode::UNPROCESSABLE_ENTITY, error)
    }

    fn too_large(error: impl Into<String>) -> Self {
        Self::validation(StatusCode::PAYLOAD_TOO_LARGE, error)
    }
}

impl From<ApiError> for TeiError {
    fn from(e: ApiError) -> Self {
        Self {
            error_type: error_type_for(e.status),
            status: e.status,
            error: e.message,
        }
    }
}

impl IntoResponse for TeiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": self.error, "error_type": self.error_type });
        (
            self.status,
            [(header::CONTENT_TYPE, "application/json")],
            body.to_string(),
        )
            .into_response()
    }
}

/// TEI's error type for an answer of this status.
fn error_type_for(status: StatusCode) -> &'static str {
    match status.as_u16() {
        503 => "overloaded",
        424 | 500..=599 => "backend",
        _ => "validation",
    }
}

const SHAPE: &str = r#"expected {"inputs": "text"} or {"inputs": ["text", ...]}"#;

/// The texts of `inputs`, checked against the limits.
fn texts_of(inputs: Value, max_texts: usize, max_chars: usize) -> Result<Vec<String>, TeiError> {
    let texts = match inputs {
        Value::String(s) => vec![s],
        Value::Array(items) => {
            if items.is_empty() {
                return Err(TeiError::invalid(
                    "`inputs` is an empty list: give at least one text",
                ));
            }
            let mut texts = Vec::with_capacity(items.len());
            for (i, item) in items.into_iter().enumerate() {
                match item {
                    Value::String(s) => texts.push(s),
                    // TEI's batch form: each input a list of one text.
                    Value::Array(mut one) if one.len() == 1 && one[0].is_string() => {
                        if let Some(Value::String(s)) = one.pop() {
                            texts.push(s);
                        }
                    }
                    Value::Array(pair) if pair.len() == 2 => {
                        return Err(TeiError::invalid(format!(
                            "inputs[{i}] is a pair of texts; this model classifies one text at \
                             a time: give each text as a string"
                        )));
                    }
                    other => {
                        return Err(TeiError::invalid(format!(
                            "inputs[{i}] is {}, not a text; {SHAPE}",
                            kind(&other)
                        )));
                    }
                }
            }
            texts
        }
        other => {
            return Err(TeiError::invalid(format!(
                "`inputs` is {}; {SHAPE}",
                kind(&other)
            )));
        }
    };
    if texts.len() > max_texts {
        return Err(TeiError::too_large(format!(
            "batch size {} > maximum allowed batch size {max_texts}",
            texts.len()
        )));
    }
    check_texts(&texts, max_chars, |i| format!("inputs[{i}]")).map_err(|p| match p {
        TextProblem::Empty(m) => TeiError::invalid(m),
        TextProblem::TooLong(m) => TeiError::too_large(m),
    })?;
    Ok(texts)
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// Parses a `/predict` body: the texts, and whether the answer is one list (a single string).
fn parse(body: &[u8], max_texts: usize, max_chars: usize) -> Result<(Vec<String>, bool), TeiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(TeiError::validation(
            StatusCode::BAD_REQUEST,
            format!("the request body is empty: {SHAPE}"),
        ));
    }
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        TeiError::validation(StatusCode::BAD_REQUEST, format!("malformed JSON: {e}"))
    })?;
    if !value.is_object() {
        return Err(TeiError::invalid(format!(
            "the body is {}; {SHAPE}",
            kind(&value)
        )));
    }
    let request: PredictRequest = serde_json::from_value(value)
        .map_err(|e| TeiError::invalid(format!("invalid request: {e}; {SHAPE}")))?;
    if request.raw_scores {
        return Err(TeiError::invalid(
            "raw_scores is not supported: this server answers class probabilities; leave it \
             out or set it to false",
        ));
    }
    if let Some(dir) = &request.truncation_direction
        && !dir.eq_ignore_ascii_case("right")
    {
        return Err(TeiError::invalid(format!(
            "truncation_direction {dir:?} is not supported: the model reads a text's first \
             tokens (`right`)"
        )));
    }
    let inputs = request
        .inputs
        .ok_or_else(|| TeiError::invalid(format!("no `inputs`; {SHAPE}")))?;
    let single = inputs.is_string();
    Ok((texts_of(inputs, max_texts, max_chars)?, single))
}

/// `POST /predict`.
pub(crate) async fn predict(State(state): State<AppState>, request: Request) -> Response {
    match predict_inner(state, request).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

async fn predict_inner(state: AppState, request: Request) -> Result<Response, TeiError> {
    require_json(&request)?;
    let id = request
        .extensions()
        .get::<RequestId>()
        .cloned()
        .unwrap_or_else(|| RequestId("-".into()));
    let body = read_body(request.into_body(), state.max_body_bytes).await?;
    let (texts, single) = parse(&body, state.max_texts, state.max_text_chars)?;
    let predictions = state.worker.classify(texts).await.map_err(|e| match e {
        WorkerError::Failed(detail) => {
            tracing::error!(request_id = %id.0, "the model failed: {detail}");
            TeiError {
                status: StatusCode::FAILED_DEPENDENCY,
                error: format!(
                    "the model failed on this request (request id {}); the server log has the \
                     detail",
                    id.0
                ),
                error_type: "backend",
            }
        }
        WorkerError::Stopped | WorkerError::Unavailable => TeiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            error: e.to_string(),
            error_type: "unhealthy",
        },
    })?;
    let labels = state.worker.labels();
    let mut lists: Vec<Vec<Prediction<'_>>> = predictions
        .iter()
        .map(|p| {
            let mut list: Vec<Prediction<'_>> = p
                .probabilities
                .iter()
                .zip(labels)
                .map(|(&score, label)| Prediction { label, score })
                .collect();
            // Highest first, as TEI answers; `total_cmp` keeps a NaN from panicking.
            list.sort_by(|a, b| b.score.total_cmp(&a.score));
            list
        })
        .collect();
    let body = if single {
        serde_json::to_string(&lists.pop().unwrap_or_default())
    } else {
        serde_json::to_string(&lists)
    };
    let body = body.map_err(|e| TeiError {
        status: StatusCode::FAILED_DEPENDENCY,
        error: format!("could not write the answer: {e}"),
        error_type: "backend",
    })?;
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

/// Gives the errors on `/predict` that other layers answer (the `Host` check, the time limit,
/// a wrong method) TEI's shape: `error_type` beside `error`.
pub(crate) async fn error_shape(request: Request, next: Next) -> Response {
    if request.uri().path() != PATH {
        return next.run(request).await;
    }
    let response = next.run(request).await;
    let status = response.status();
    if status.is_success() {
        return response;
    }
    let (parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 1 << 20).await else {
        return Response::from_parts(parts, Body::empty());
    };
    let reshaped = match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(mut map)) if !map.contains_key("error_type") => {
            map.insert(
                "error_type".into(),
                Value::String(error_type_for(status).into()),
            );
            Some(Value::Object(map).to_string())
        }
        _ => None,
    };
    let mut parts = parts;
    match reshaped {
        Some(text) => {
            parts.headers.remove(header::CONTENT_LENGTH);
            Response::from_parts(parts, Body::from(text))
        }
        None => Response::from_parts(parts, Body::from(bytes)),
    }
}
