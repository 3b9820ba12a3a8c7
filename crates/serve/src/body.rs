//! Reading and checking request bodies, the same on `/v1/classify` and `/predict`.

use axum::body::{Body, HttpBody};
use axum::extract::Request;
use axum::http::{StatusCode, header};

use crate::error::ApiError;

/// Refuses a body that is not declared JSON (`application/json`, parameters allowed):
/// a page on another site can POST `text/plain` or a form without asking, but not JSON.
pub(crate) fn require_json(request: &Request) -> Result<(), ApiError> {
    let ctype = request
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let essence = ctype
        .as_deref()
        .and_then(|c| c.split(';').next())
        .map(str::trim);
    if essence.is_some_and(|e| e.eq_ignore_ascii_case("application/json")) {
        return Ok(());
    }
    let got = ctype.map_or_else(|| "none".to_string(), |c| format!("`{c}`"));
    Err(ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        format!(
            "the request body must be JSON sent with `Content-Type: application/json` (got {got})"
        ),
    ))
}

/// Reads a body of at most `limit` bytes. A larger one is answered 413, after reading
/// (and discarding) the rest of it when that is not much more than the limit, so that the
/// client, still sending, can read the answer instead of seeing its connection reset.
pub(crate) async fn read_body(mut body: Body, limit: usize) -> Result<Vec<u8>, ApiError> {
    let drain_limit = limit.saturating_mul(4).max(DRAIN_AT_LEAST);
    let too_large = || {
        ApiError::too_large(format!(
            "the request body is larger than the limit of {limit} bytes"
        ))
    };
    if body
        .size_hint()
        .upper()
        .is_some_and(|n| n > drain_limit as u64)
    {
        return Err(too_large());
    }
    let mut buf = Vec::new();
    let mut seen = 0usize;
    while let Some(frame) =
        std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx)).await
    {
        let frame = frame
            .map_err(|e| ApiError::bad_request(format!("could not read the request body: {e}")))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        seen = seen.saturating_add(data.len());
        if seen <= limit {
            buf.extend_from_slice(&data);
        } else if seen > drain_limit {
            break;
        } else if !buf.is_empty() {
            buf = Vec::new();
        }
    }
    if seen > limit {
        Err(too_large())
    } else {
        Ok(buf)
    }
}

/// Oversized bodies up to this size (or 4 times the limit) are read to the end before the
/// 413 answer; larger ones are cut off.
const DRAIN_AT_LEAST: usize = 16 << 20;

/// Why a text of a request cannot be classified, with the message that says so.
pub(crate) enum TextProblem {
    /// Blank (422 on both routes).
    Empty(String),
    /// Over the character limit (413).
    TooLong(String),
}

/// Checks each text of a request (not blank, at most `max_chars` characters); `name(i)` is
/// how the message names text `i`. The one check of `/v1/classify` and `/predict`.
pub(crate) fn check_texts(
    texts: &[String],
    max_chars: usize,
    name: impl Fn(usize) -> String,
) -> Result<(), TextProblem> {
    for (i, text) in texts.iter().enumerate() {
        if text.trim().is_empty() {
            return Err(TextProblem::Empty(format!(
                "{} is empty: give a message to classify",
                name(i)
            )));
        }
        let chars = text.chars().count();
        if chars > max_chars {
            return Err(TextProblem::TooLong(format!(
                "{} is too long: {chars} characters (at most {max_chars})",
                name(i)
            )));
        }
    }
    Ok(())
}
