//! HTTP tests against a real server on loopback with a tiny random model.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::{TestServer, client, tiny_predictor};
use anyhow::{Context, Result, ensure};
use serde_json::{Value, json};
use spam_serve::{ServeOptions, spawn_worker_with};
use tokio::net::TcpStream;

async fn post_raw(
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
    let ctype = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let text = response.text().await?;
    let value: Value = serde_json::from_str(&text)
        .with_context(|| format!("status {status}: body is not JSON: {text:?}"))?;
    ensure!(
        ctype.starts_with("application/json"),
        "content type {ctype:?} for {text}"
    );
    Ok((status, value))
}

async fn assert_serving(c: &reqwest::Client, server: &TestServer) -> Result<()> {
    let (status, body) = post_raw(
        c,
        &server.url("/v1/classify"),
        r#"{"text": "still there?"}"#,
    )
    .await?;
    ensure!(status == 200, "server stopped serving: {status} {body}");
    let health = c.get(server.url("/healthz")).send().await?;
    ensure!(
        health.status() == 200,
        "health check failed: {}",
        health.status()
    );
    Ok(())
}

fn check_result(result: &Value, text: &str) -> Result<()> {
    ensure!(result["text"] == text, "text not echoed: {result}");
    let label = result["label"].as_str().context("label is not a string")?;
    ensure!(
        label == "ham" || label == "spam",
        "unexpected label {label}"
    );
    let probs = result["probabilities"]
        .as_object()
        .context("probabilities is not an object")?;
    let keys: Vec<&str> = probs.keys().map(String::as_str).collect();
    ensure!(keys == ["ham", "spam"], "probability keys {keys:?}");
    let ham = probs["ham"].as_f64().context("ham probability")?;
    let spam = probs["spam"].as_f64().context("spam probability")?;
    ensure!(
        (ham + spam - 1.0).abs() < 1e-6,
        "probabilities sum to {}",
        ham + spam
    );
    let argmax = if spam > ham { "spam" } else { "ham" };
    ensure!(
        label == argmax,
        "label {label} but probabilities {ham} / {spam}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_reports_labels() -> Result<()> {
    let server = TestServer::start(ServeOptions::default()).await?;
    let response = client().get(server.url("/healthz")).send().await?;
    ensure!(response.status() == 200);
    let body: Value = response.json().await?;
    ensure!(
        body == json!({"status": "ok", "labels": ["ham", "spam"]}),
        "{body}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn classifies_one_text_and_many() -> Result<()> {
    let server = TestServer::start(ServeOptions::default()).await?;
    let c = client();
    let url = server.url("/v1/classify");

    let (status, one) = post_raw(
        &c,
        &url,
        r#"{"text": "WINNER!! Claim your free prize now"}"#,
    )
    .await?;
    ensure!(status == 200, "{status} {one}");
    ensure!(one["model"] == json!({"labels": ["ham", "spam"]}), "{one}");
    let results = one["results"].as_array().context("results")?;
    ensure!(results.len() == 1);
    check_result(&results[0], "WINNER!! Claim your free prize now")?;

    let texts = [
        "Hey, are we still on for lunch?",
        "WINNER!! Claim your free prize now",
        "ok",
        "日本語のテキスト 🎉",
    ];
    let (status, many) = post_raw(&c, &url, json!({ "texts": texts }).to_string()).await?;
    ensure!(status == 200, "{status} {many}");
    let results = many["results"].as_array().context("results")?;
    ensure!(results.len() == texts.len());
    for (r, t) in results.iter().zip(texts) {
        check_result(r, t)?;
    }
    // The same text gives the same answer alone or in a batch.
    let alone = one["results"][0]["probabilities"]["spam"]
        .as_f64()
        .context("p")?;
    let batched = results[1]["probabilities"]["spam"].as_f64().context("p")?;
    ensure!(
        (alone - batched).abs() < 1e-6,
        "{alone} alone vs {batched} in a batch"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_the_page() -> Result<()> {
    let server = TestServer::start(ServeOptions::default()).await?;
    let response = client().get(server.url("/")).send().await?;
    ensure!(response.status() == 200);
    let ctype = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    ensure!(ctype.starts_with("text/html"), "content type {ctype}");
    let page = response.text().await?;
    ensure!(page.contains(r#"id="result""#) && page.contains("/v1/classify"));
    ensure!(
        !page.contains("http://") && !page.contains("https://"),
        "the page must not load external assets"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_json_errors_and_the_server_keeps_serving() -> Result<()> {
    let opts = ServeOptions::default();
    let server = TestServer::start(opts.clone()).await?;
    let c = client();
    let url = server.url("/v1/classify");

    let many_texts = json!({ "texts": vec!["hi"; 10_000] }).to_string();
    let ten_mb = format!(r#"{{"text": "{}"}}"#, "a".repeat(10 << 20));
    let long_text = json!({ "text": "a".repeat(opts.max_text_chars + 1) }).to_string();
    let mut invalid_utf8 = br#"{"text": "caf"#.to_vec();
    invalid_utf8.extend_from_slice(&[0xff, 0xfe, 0xc3]);
    invalid_utf8.extend_from_slice(br#""}"#);

    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        (
            "malformed JSON",
            br#"{"text": "unterminated"#.to_vec(),
            400,
            "malformed JSON",
        ),
        (
            "not JSON at all",
            b"text=hello".to_vec(),
            400,
            "malformed JSON",
        ),
        ("empty body", Vec::new(), 400, "empty"),
        (
            "text is a number",
            br#"{"text": 5}"#.to_vec(),
            422,
            "invalid type",
        ),
        (
            "texts is a string",
            br#"{"texts": "hello"}"#.to_vec(),
            422,
            "invalid type",
        ),
        (
            "texts holds numbers",
            br#"{"texts": [1, 2]}"#.to_vec(),
            422,
            "invalid type",
        ),
        (
            "top level array",
            br#"["hello"]"#.to_vec(),
            422,
            "invalid type",
        ),
        (
            "unknown field",
            br#"{"message": "hello"}"#.to_vec(),
            422,
            "unknown field",
        ),
        ("neither field", b"{}".to_vec(), 422, "no `text` or `texts`"),
        (
            "both fields",
            br#"{"text": "a", "texts": ["b"]}"#.to_vec(),
            422,
            "not both",
        ),
        ("empty text", br#"{"text": ""}"#.to_vec(), 422, "empty"),
        (
            "blank text",
            br#"{"text": "  \n\t "}"#.to_vec(),
            422,
            "empty",
        ),
        ("empty list", br#"{"texts": []}"#.to_vec(), 422, "empty"),
        (
            "one empty text in a list",
            br#"{"texts": ["fine", ""]}"#.to_vec(),
            422,
            "texts[1] is empty",
        ),
        ("text too long", long_text.into_bytes(), 413, "too long"),
        (
            "10,000 texts",
            many_texts.into_bytes(),
            413,
            "too many texts",
        ),
        (
            "10 MB body",
            ten_mb.into_bytes(),
            413,
            "larger than the limit",
        ),
        ("invalid UTF-8", invalid_utf8, 400, "UTF-8"),
    ];
    for (name, body, want_status, want_message) in cases {
        let (status, value) = post_raw(&c, &url, body)
            .await
            .with_context(|| format!("case `{name}`"))?;
        let error = value["error"]
            .as_str()
            .with_context(|| format!("case `{name}`: no error field in {value}"))?;
        ensure!(
            status == want_status,
            "case `{name}`: status {status}, want {want_status} ({error})"
        );
        ensure!(
            error.contains(want_message),
            "case `{name}`: message {error:?} lacks {want_message:?}"
        );
        ensure!(
            value.as_object().is_some_and(|o| o.len() == 1),
            "case `{name}`: {value}"
        );
        assert_serving(&c, &server)
            .await
            .with_context(|| format!("after case `{name}`"))?;
    }

    // Unknown routes and methods are JSON errors too.
    let r = c.get(server.url("/nope")).send().await?;
    ensure!(r.status() == 404);
    let v: Value = r.json().await?;
    ensure!(
        v["error"].as_str().is_some_and(|e| e.contains("/nope")),
        "{v}"
    );
    let r = c.get(url.as_str()).send().await?;
    ensure!(r.status() == 405);
    let v: Value = r.json().await?;
    ensure!(
        v["error"].as_str().is_some_and(|e| e.contains("GET")),
        "{v}"
    );
    assert_serving(&c, &server).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_that_stalls_times_out_with_a_json_error() -> Result<()> {
    let opts = ServeOptions {
        request_timeout: Duration::from_millis(300),
        ..ServeOptions::default()
    };
    let server = TestServer::start(opts).await?;
    // Announce a body and never send it.
    let started = Instant::now();
    let text = crate::common::stalled_post(server.addr, "/v1/classify", r#"{"text""#).await?;
    ensure!(text.starts_with("HTTP/1.1 503"), "{text}");
    ensure!(
        text.contains(r#"{"error":"the request did not complete within 0.3 s"#),
        "{text}"
    );
    ensure!(started.elapsed() < Duration::from_secs(5));
    assert_serving(&client(), &server).await
}

/// Open descriptors allowed to this process (Linux), to size the client's connection count.
fn open_file_limit() -> Option<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_requests_complete() -> Result<()> {
    const N: usize = 1000;
    let server = TestServer::start(ServeOptions::default()).await?;
    let c = client();
    let url = server.url("/v1/classify");
    // Every request is sent at once; only the number of requests on the wire is capped, so
    // that client and server (one process, two descriptors per connection, plus pooled
    // connections not yet reused and the other tests) stay within the descriptor limit.
    let connections =
        open_file_limit().map_or(N, |limit| (limit.saturating_sub(256) / 4).clamp(16, N));
    let sockets = Arc::new(tokio::sync::Semaphore::new(connections));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..N {
        let (c, url, sockets) = (c.clone(), url.clone(), sockets.clone());
        tasks.spawn(async move {
            let _socket = sockets.acquire_owned().await?;
            let text = format!("message number {i}: call now to claim your prize");
            let body = if i % 10 == 0 {
                json!({ "texts": [text, "and a second one"] })
            } else {
                json!({ "text": text })
            };
            let (status, value) = post_raw(&c, &url, body.to_string()).await?;
            ensure!(status == 200, "request {i}: {status} {value}");
            check_result(&value["results"][0], &text)?;
            anyhow::Ok(())
        });
    }
    let mut done = 0;
    tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(joined) = tasks.join_next().await {
            joined??;
            done += 1;
        }
        anyhow::Ok(())
    })
    .await
    .context("1000 concurrent requests did not complete within 60 s")??;
    ensure!(done == N);
    eprintln!(
        "{N} concurrent requests ({connections} connections at most) in {:.2?}",
        started.elapsed()
    );
    assert_serving(&c, &server).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batched_answers_equal_unbatched_ones() -> Result<()> {
    let (_dir, predictor) = tiny_predictor()?;
    let (_dir2, reference) = tiny_predictor()?;
    let worker = spawn_worker_with(predictor, ServeOptions::default().worker_options());
    let texts: Vec<String> = (0..200)
        .map(|i| format!("text {i} {}", "spam ".repeat(i % 7)))
        .collect();
    let mut tasks = tokio::task::JoinSet::new();
    for (i, text) in texts.iter().enumerate() {
        let (w, t) = (worker.clone(), text.clone());
        tasks.spawn(async move { (i, w.classify(vec![t]).await) });
    }
    while let Some(joined) = tasks.join_next().await {
        let (i, got) = joined?;
        let got = got?;
        let want = reference.classify(&[&texts[i]]);
        ensure!(got.len() == 1 && got[0].label == want[0].label, "text {i}");
        for (a, b) in got[0].probabilities.iter().zip(&want[0].probabilities) {
            ensure!((a - b).abs() < 1e-6, "text {i}: {a} vs {b}");
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_finishes_and_stops() -> Result<()> {
    let mut server = TestServer::start(ServeOptions::default()).await?;
    let c = client();
    assert_serving(&c, &server).await?;
    // A request in flight when the shutdown starts still gets its answer.
    let in_flight = {
        let (c, url) = (c.clone(), server.url("/v1/classify"));
        tokio::spawn(
            async move { post_raw(&c, &url, r#"{"texts": ["one", "two", "three"]}"#).await },
        )
    };
    tokio::time::sleep(Duration::from_millis(5)).await;
    server
        .stop(Duration::from_secs(10))
        .await
        .context("the server did not stop within 10 s")?;
    let (status, _) = in_flight.await??;
    ensure!(status == 200);
    ensure!(
        TcpStream::connect(server.addr).await.is_err(),
        "still accepting connections after shutdown"
    );
    // The worker ends with the last handle.
    drop(server);
    Ok(())
}

#[test]
fn parse_request_messages() -> Result<()> {
    use spam_serve::parse_request;
    ensure!(parse_request(br#"{"text": "hi"}"#, 4, 10)? == ["hi"]);
    ensure!(parse_request(br#"{"texts": ["a", "b"]}"#, 4, 10)? == ["a", "b"]);
    let e = parse_request(br#"{"texts": ["a", "b", "c"]}"#, 2, 10)
        .err()
        .context("3 texts > 2")?;
    ensure!(e.status == 413 && e.message.contains("at most 2"), "{e:?}");
    let e = parse_request(br#"{"text": "abcdef"}"#, 2, 5)
        .err()
        .context("6 chars > 5")?;
    ensure!(
        e.status == 413 && e.message.contains("6 characters"),
        "{e:?}"
    );
    Ok(())
}
