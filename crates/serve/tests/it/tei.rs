//! `POST /predict`, text-embeddings-inference's sequence-classification route: its answer
//! shapes, its error shape, and the same limits and checks as `/v1/classify`.

use std::time::Duration;

use crate::common::{TestServer, client};
use anyhow::{Context, Result, ensure};
use serde_json::{Value, json};
use spam_serve::ServeOptions;

async fn post(
    c: &reqwest::Client,
    url: &str,
    body: impl Into<reqwest::Body>,
) -> Result<(u16, Value)> {
    let response = c
        .post(url)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await?;
    let status = response.status().as_u16();
    let text = response.text().await?;
    let value = serde_json::from_str(&text)
        .with_context(|| format!("status {status}: body is not JSON: {text:?}"))?;
    Ok((status, value))
}

/// One text's answer: every class once, scores summing to 1, highest first.
fn check_list(list: &Value) -> Result<Vec<(String, f64)>> {
    let items = list.as_array().context("not a list")?;
    ensure!(items.len() == 2, "{list}");
    let mut out = Vec::new();
    for item in items {
        let obj = item.as_object().context("not an object")?;
        ensure!(obj.len() == 2, "{item}");
        let label = obj["label"].as_str().context("label")?.to_string();
        let score = obj["score"].as_f64().context("score")?;
        out.push((label, score));
    }
    let mut labels: Vec<&str> = out.iter().map(|(l, _)| l.as_str()).collect();
    labels.sort_unstable();
    ensure!(labels == ["ham", "spam"], "{list}");
    ensure!((out[0].1 + out[1].1 - 1.0).abs() < 1e-6, "{list}");
    ensure!(out[0].1 >= out[1].1, "not highest first: {list}");
    Ok(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn predict_answers_one_list_per_input() -> Result<()> {
    let server = TestServer::start(ServeOptions::default()).await?;
    let c = client();
    let url = server.url("/predict");
    let spam = "WINNER!! Claim your free prize now";

    // A single string: one list of label/score objects.
    let (status, one) = post(&c, &url, json!({ "inputs": spam }).to_string()).await?;
    ensure!(status == 200, "{status} {one}");
    let one = check_list(&one)?;

    // The same as /v1/classify says.
    let (status, v1) = post(
        &c,
        &server.url("/v1/classify"),
        json!({ "text": spam }).to_string(),
    )
    .await?;
    ensure!(status == 200, "{v1}");
    let label = v1["results"][0]["label"].as_str().context("label")?;
    ensure!(one[0].0 == label, "{one:?} vs {v1}");
    let p = v1["results"][0]["probabilities"][label]
        .as_f64()
        .context("p")?;
    ensure!((one[0].1 - p).abs() < 1e-9, "{one:?} vs {v1}");

    // A list: a list of lists, in input order; TEI's batch form answers the same.
    let texts = ["Hey, lunch today?", spam, "ok"];
    let (status, batch) = post(&c, &url, json!({ "inputs": texts }).to_string()).await?;
    ensure!(status == 200, "{status} {batch}");
    let lists = batch.as_array().context("batch is not a list")?;
    ensure!(lists.len() == 3, "{batch}");
    let second = check_list(&lists[1])?;
    ensure!(
        second[0].0 == one[0].0 && (second[0].1 - one[0].1).abs() < 1e-6,
        "{batch}"
    );
    let nested: Vec<[&str; 1]> = texts.iter().map(|t| [*t]).collect();
    let body = json!({ "inputs": nested, "truncate": true, "truncation_direction": "Right", "raw_scores": false });
    let (status, again) = post(&c, &url, body.to_string()).await?;
    ensure!(status == 200, "{status} {again}");
    ensure!(again.as_array().map(Vec::len) == Some(3), "{again}");
    for (a, b) in lists.iter().zip(again.as_array().context("list")?) {
        let (a, b) = (check_list(a)?, check_list(b)?);
        ensure!(
            a[0].0 == b[0].0 && (a[0].1 - b[0].1).abs() < 1e-6,
            "{a:?} vs {b:?}"
        );
    }
    // A one-element list is a batch of one.
    let (status, single) = post(&c, &url, json!({ "inputs": ["ok"] }).to_string()).await?;
    ensure!(
        status == 200 && single.as_array().map(Vec::len) == Some(1),
        "{single}"
    );
    check_list(&single[0])?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn predict_errors_have_tei_shape_and_status() -> Result<()> {
    let opts = ServeOptions {
        max_texts: 4,
        max_text_chars: 100,
        max_body_bytes: 4096,
        ..ServeOptions::default()
    };
    let server = TestServer::start(opts).await?;
    let c = client();
    let url = server.url("/predict");
    let cases: Vec<(&str, String, u16, &str)> = vec![
        (
            "malformed JSON",
            r#"{"inputs": "x"#.into(),
            400,
            "malformed JSON",
        ),
        ("empty body", String::new(), 400, "empty"),
        ("no inputs", r#"{"text": "hi"}"#.into(), 422, "no `inputs`"),
        (
            "inputs a number",
            r#"{"inputs": 5}"#.into(),
            422,
            "a number",
        ),
        ("top-level list", r#"["hi"]"#.into(), 422, "a list"),
        ("empty list", r#"{"inputs": []}"#.into(), 422, "empty list"),
        (
            "empty text",
            r#"{"inputs": " "}"#.into(),
            422,
            "inputs[0] is empty",
        ),
        (
            "number in list",
            r#"{"inputs": ["a", 1]}"#.into(),
            422,
            "inputs[1] is a number",
        ),
        ("pair", r#"{"inputs": [["a", "b"]]}"#.into(), 422, "pair"),
        (
            "raw scores",
            r#"{"inputs": "a", "raw_scores": true}"#.into(),
            422,
            "raw_scores",
        ),
        (
            "truncate a bool",
            r#"{"inputs": "a", "truncate": "yes"}"#.into(),
            422,
            "invalid request",
        ),
        (
            "left truncation",
            r#"{"inputs": "a", "truncation_direction": "Left"}"#.into(),
            422,
            "truncation_direction",
        ),
        (
            "too many",
            json!({ "inputs": vec!["a"; 5] }).to_string(),
            413,
            "batch size 5",
        ),
        (
            "too long",
            json!({ "inputs": "a".repeat(101) }).to_string(),
            413,
            "too long",
        ),
        (
            "body too large",
            json!({ "inputs": "a".repeat(5000) }).to_string(),
            413,
            "larger than the limit",
        ),
    ];
    for (name, body, want, words) in cases {
        let (status, v) = post(&c, &url, body)
            .await
            .with_context(|| name.to_string())?;
        let error = v["error"]
            .as_str()
            .with_context(|| format!("{name}: {v}"))?;
        ensure!(status == want, "{name}: {status} (want {want}): {v}");
        ensure!(error.contains(words), "{name}: {error:?} lacks {words:?}");
        ensure!(v["error_type"] == "validation", "{name}: {v}");
        ensure!(v.as_object().map(|o| o.len()) == Some(2), "{name}: {v}");
    }

    // Not declared JSON: 415, as on /v1/classify.
    let r = c.post(&url).body(r#"{"inputs": "a"}"#).send().await?;
    ensure!(r.status() == 415);
    let v: Value = r.json().await?;
    ensure!(
        v["error_type"] == "validation" && v["error"].as_str().is_some(),
        "{v}"
    );
    // A wrong method gets the same shape.
    let r = c.get(&url).send().await?;
    ensure!(r.status() == 405);
    let v: Value = r.json().await?;
    ensure!(v["error_type"] == "validation", "{v}");
    // /v1/classify keeps its own shape.
    let (status, v) = post(&c, &server.url("/v1/classify"), "{}").await?;
    ensure!(status == 422 && v.get("error_type").is_none(), "{v}");
    // And the server still answers.
    let (status, v) = post(&c, &url, r#"{"inputs": "still there?"}"#).await?;
    ensure!(status == 200, "{v}");
    Ok(())
}

/// A raw request with a chosen `Host`, for the check reqwest would not let us bypass.
async fn raw(addr: std::net::SocketAddr, host: &str, body: &str) -> Result<(u16, String)> {
    let req = format!(
        "POST /predict HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let answer = crate::common::raw_request(addr, &req).await?;
    Ok((answer.status, answer.body))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn predict_keeps_the_host_check_and_the_time_limit() -> Result<()> {
    let server = TestServer::start(ServeOptions::default()).await?;
    let (status, body) = raw(server.addr, "evil.example", r#"{"inputs": "a"}"#).await?;
    ensure!(status == 421, "{status} {body}");
    let v: Value = serde_json::from_str(&body).with_context(|| body.clone())?;
    ensure!(
        v["error_type"] == "validation" && v["error"].as_str().is_some(),
        "{v}"
    );
    let (status, body) = raw(server.addr, &server.addr.to_string(), r#"{"inputs": "a"}"#).await?;
    ensure!(status == 200, "{status} {body}");

    // A body that never arrives runs into the request time limit: 503, overloaded.
    let opts = ServeOptions {
        request_timeout: Duration::from_millis(300),
        ..ServeOptions::default()
    };
    let server = TestServer::start(opts).await?;
    let text = crate::common::stalled_post(server.addr, "/predict", r#"{"inputs""#).await?;
    ensure!(text.starts_with("HTTP/1.1 503"), "{text}");
    ensure!(text.contains(r#""error_type":"overloaded""#), "{text}");
    Ok(())
}
