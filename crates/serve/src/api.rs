//! The HTTP routes: `POST /v1/classify`, `GET /v1/info`, `GET /healthz` and the page at `/`
//! (and `POST /predict`, in `tei`).

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};
use tokio::sync::Semaphore;

use crate::ServeOptions;
use crate::body::{TextProblem, check_texts, read_body, require_json};
use crate::error::{ApiError, UNAVAILABLE};
use crate::hosts::AllowedHosts;
use crate::request_id::{REQUEST_ID, RequestId, RequestIds};
use crate::state::AppState;
use crate::worker::{WorkerError, WorkerHandle};

/// The single page served at `/`.
pub const INDEX_HTML: &str = include_str!("index.html");

/// The body of `POST /v1/classify`: exactly one of `text` and `texts`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassifyRequest {
    /// One message.
    #[serde(default)]
    pub text: Option<String>,
    /// Several messages, classified in order.
    #[serde(default)]
    pub texts: Option<Vec<String>>,
}

/// The answer of `POST /v1/classify`.
#[derive(Debug, Clone, Serialize)]
pub struct ClassifyResponse {
    /// What the model can say.
    pub model: ModelInfo,
    /// One result per input text, in order.
    pub results: Vec<ClassifyResult>,
}

/// The model's class names.
#[derive(Debug, Clone, Serialize)]
pub struct ModelInfo {
    /// Class names, in class order.
    pub labels: Vec<String>,
}

/// One text's label and class probabilities.
#[derive(Debug, Clone, Serialize)]
pub struct ClassifyResult {
    /// The input text.
    pub text: String,
    /// The predicted class name.
    pub label: String,
    /// Probability of each class, keyed by class name (in class order).
    #[serde(serialize_with = "ordered_map")]
    pub probabilities: Vec<(String, f64)>,
}

fn ordered_map<S: Serializer>(pairs: &[(String, f64)], s: S) -> Result<S::Ok, S::Error> {
    let mut map = s.serialize_map(Some(pairs.len()))?;
    for (k, v) in pairs {
        map.serialize_entry(k, v)?;
    }
    map.end()
}

#[derive(Debug, Clone, Serialize)]
struct Health<'a> {
    status: &'static str,
    labels: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
}

#[derive(Debug, Clone)]
struct Guard {
    timeout: Duration,
    in_flight: Arc<Semaphore>,
    hosts: Option<Arc<AllowedHosts>>,
    ids: Arc<RequestIds>,
}

/// The application's routes over a running worker, with the limits of `opts` (body size,
/// texts per request, characters per text, request timeout, requests in flight) and its
/// `Host` check (against `opts.addr` and `opts.allowed_hosts`).
/// Every error, including unknown routes and methods, is answered as `{"error": "..."}`.
pub fn router(worker: WorkerHandle, opts: &ServeOptions) -> Router {
    // The size and token position are the loaded model's, whatever a file says.
    let run_info = Arc::new(opts.info.clone().with_model(worker.model_config()));
    let state = AppState {
        worker,
        max_body_bytes: opts.max_body_bytes,
        max_texts: opts.max_texts,
        max_text_chars: opts.max_text_chars,
        info: run_info,
    };
    let guard = Guard {
        timeout: opts.request_timeout,
        in_flight: Arc::new(Semaphore::new(opts.max_in_flight.max(1))),
        hosts: AllowedHosts::for_options(opts).map(Arc::new),
        ids: Arc::new(RequestIds::new()),
    };
    Router::new()
        .route("/", get(index))
        .route("/healthz", get(healthz))
        .route("/v1/classify", post(classify))
        .route("/predict", post(crate::tei::predict))
        .route("/v1/info", get(info))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
        .layer(middleware::from_fn_with_state(guard, guard_request))
        // Outermost, so the guard's answers on `/predict` get TEI's error shape too.
        .layer(middleware::from_fn(crate::tei::error_shape))
}

/// Gives every request an id (in the answer's [`REQUEST_ID`] header), refuses a request
/// with more than one `Host` (400, on any server) and a `Host` that is not the server's,
/// bounds every request in time (body upload, queueing and model included) and caps the
/// requests being handled at once; the others wait for a slot within their time.
async fn guard_request(State(guard): State<Guard>, mut request: Request, next: Next) -> Response {
    let id = guard.ids.next();
    request.extensions_mut().insert(id.clone());
    let mut response = guarded(&guard, request, next).await;
    if let Ok(value) = header::HeaderValue::from_str(&id.0) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    response
}

async fn guarded(guard: &Guard, request: Request, next: Next) -> Response {
    if let Err(e) = crate::hosts::single_host(&request) {
        return e.into_response();
    }
    if let Some(hosts) = &guard.hosts
        && let Err(e) = hosts.check(&request)
    {
        return e.into_response();
    }
    let run = async {
        let _permit = guard.in_flight.acquire().await;
        next.run(request).await
    };
    match tokio::time::timeout(guard.timeout, run).await {
        Ok(response) => response,
        Err(_) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "the request did not complete within {:.1} s; try again later",
                guard.timeout.as_secs_f64()
            ),
        )
        .into_response(),
    }
}

async fn index() -> impl IntoResponse {
    ([(header::CACHE_CONTROL, "no-store")], Html(INDEX_HTML))
}

/// `GET /v1/info`: the labels, what the run directory says of the model, and the size and
/// token position of the model loaded.
async fn info(State(state): State<AppState>) -> Response {
    #[derive(Serialize)]
    struct Info<'a> {
        labels: &'a [String],
        /// The threshold the API's labels use (`null`: the most probable class).
        threshold: Option<f64>,
        /// The number format the model computes in (`fp32` or `bf16`).
        precision: spam_model::Precision,
        #[serde(flatten)]
        run: &'a spam_model::RunInfo,
    }
    axum::Json(Info {
        labels: state.worker.labels(),
        threshold: state.worker.threshold(),
        precision: state.worker.precision(),
        run: &state.info,
    })
    .into_response()
}

async fn healthz(State(state): State<AppState>) -> Response {
    let labels = state.worker.labels();
    if state.worker.has_failed() || !state.worker.is_alive() {
        let error = if state.worker.has_failed() {
            UNAVAILABLE.to_string()
        } else {
            WorkerError::Stopped.to_string()
        };
        let body = Health {
            status: "unavailable",
            labels,
            error: Some(&error),
        };
        return (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response();
    }
    axum::Json(Health {
        status: "ok",
        labels,
        error: None,
    })
    .into_response()
}

async fn not_found(request: Request) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!(
            "no route for {} {}: try POST /v1/classify, POST /predict, GET /v1/info, GET /healthz \
             or GET /",
            request.method(),
            request.uri().path()
        ),
    )
}

async fn method_not_allowed(request: Request) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!(
            "method {} is not allowed on {}",
            request.method(),
            request.uri().path()
        ),
    )
}

async fn classify(
    State(state): State<AppState>,
    request: Request,
) -> Result<axum::Json<ClassifyResponse>, ApiError> {
    require_json(&request)?;
    let id = request
        .extensions()
        .get::<RequestId>()
        .cloned()
        .unwrap_or_else(|| RequestId("-".into()));
    let body = read_body(request.into_body(), state.max_body_bytes).await?;
    let texts = parse_request(&body, state.max_texts, state.max_text_chars)?;
    let predictions = state
        .worker
        .classify(texts.clone())
        .await
        .map_err(|e| ApiError::from_worker(e, &id))?;
    let labels = state.worker.labels();
    let results = texts
        .into_iter()
        .zip(predictions)
        .map(|(text, p)| ClassifyResult {
            text,
            label: p.label,
            probabilities: p
                .probabilities
                .iter()
                .enumerate()
                .map(|(i, &prob)| {
                    (
                        labels.get(i).cloned().unwrap_or_else(|| i.to_string()),
                        prob,
                    )
                })
                .collect(),
        })
        .collect();
    Ok(axum::Json(ClassifyResponse {
        model: ModelInfo {
            labels: labels.to_vec(),
        },
        results,
    }))
}

/// Validates a `POST /v1/classify` body and returns its texts.
pub fn parse_request(
    body: &[u8],
    max_texts: usize,
    max_text_chars: usize,
) -> Result<Vec<String>, ApiError> {
    const SHAPE: &str = r#"expected a JSON object {"text": "..."} or {"texts": ["...", ...]}"#;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(format!(
            "the request body is empty: {SHAPE}"
        )));
    }
    if let Err(e) = std::str::from_utf8(body) {
        return Err(ApiError::bad_request(format!(
            "the request body is not valid UTF-8 (invalid byte at offset {})",
            e.valid_up_to()
        )));
    }
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| {
        use serde_json::error::Category;
        match e.classify() {
            Category::Syntax | Category::Eof | Category::Io => {
                ApiError::bad_request(format!("malformed JSON: {e}"))
            }
            Category::Data => ApiError::unprocessable(format!("invalid request: {e}; {SHAPE}")),
        }
    })?;
    if !value.is_object() {
        let kind = match value {
            serde_json::Value::Null => "null",
            serde_json::Value::Bool(_) => "a boolean",
            serde_json::Value::Number(_) => "a number",
            serde_json::Value::String(_) => "a string",
            serde_json::Value::Array(_) => "an array",
            serde_json::Value::Object(_) => "an object",
        };
        return Err(ApiError::unprocessable(format!(
            "invalid type: the body is {kind}; {SHAPE}"
        )));
    }
    let request: ClassifyRequest = serde_json::from_value(value)
        .map_err(|e| ApiError::unprocessable(format!("invalid request: {e}; {SHAPE}")))?;
    let (texts, listed) = match (request.text, request.texts) {
        (Some(text), None) => (vec![text], false),
        (None, Some(texts)) => (texts, true),
        (Some(_), Some(_)) => {
            return Err(ApiError::unprocessable(format!(
                "give either `text` or `texts`, not both; {SHAPE}"
            )));
        }
        (None, None) => {
            return Err(ApiError::unprocessable(format!(
                "no `text` or `texts`; {SHAPE}"
            )));
        }
    };
    if texts.is_empty() {
        return Err(ApiError::unprocessable(
            "`texts` is empty: give at least one text",
        ));
    }
    if texts.len() > max_texts {
        return Err(ApiError::too_large(format!(
            "too many texts: {} (at most {max_texts} per request)",
            texts.len()
        )));
    }
    let name = |i: usize| {
        if listed {
            format!("texts[{i}]")
        } else {
            "the text".to_string()
        }
    };
    check_texts(&texts, max_text_chars, name).map_err(|p| match p {
        TextProblem::Empty(m) => ApiError::unprocessable(m),
        TextProblem::TooLong(m) => ApiError::too_large(m),
    })?;
    Ok(texts)
}
