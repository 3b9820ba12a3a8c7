//! What a failing model, a cross-site page and a rebound DNS name get (issue 15, items 2
//! and 10).

use anyhow::{Context, Result, ensure};
use serde_json::Value;
use spam_serve::ServeOptions;

use crate::common::{TestServer, client, failing_predictor, raw_request};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_failure_answers_500_with_a_request_id_and_no_backtrace() -> Result<()> {
    let (dir, predictor) = failing_predictor()?;
    let server = TestServer::start_with(ServeOptions::default(), dir, predictor).await?;
    let c = client();
    let response = c
        .post(server.url("/v1/classify"))
        .json(&serde_json::json!({"text": "a message of several tokens"}))
        .send()
        .await?;
    ensure!(response.status() == 500, "status {}", response.status());
    let id = response
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .context("no x-request-id header on the 500")?
        .to_string();
    ensure!(!id.is_empty());
    let body: Value = response.json().await?;
    let error = body["error"].as_str().context("no error field")?;
    ensure!(
        error.contains(&id),
        "the message does not name the request id {id}: {error}"
    );
    for leak in ["Exception", "frame #", ".cpp", "index out of range", "/"] {
        ensure!(!error.contains(leak), "the 500 leaks `{leak}`: {error}");
    }

    // The worker is down now: the health check and the API say so.
    let health = c.get(server.url("/healthz")).send().await?;
    ensure!(health.status() == 503, "healthz {}", health.status());
    let health: Value = health.json().await?;
    ensure!(health["status"] == "unavailable", "{health}");
    let again = c
        .post(server.url("/v1/classify"))
        .json(&serde_json::json!({"text": "hello"}))
        .send()
        .await?;
    ensure!(again.status() == 503, "status {}", again.status());
    let again: Value = again.json().await?;
    ensure!(
        again["error"]
            .as_str()
            .is_some_and(|e| e.contains("model is unavailable")),
        "{again}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_has_a_request_id() -> Result<()> {
    let server = TestServer::start(ServeOptions::default()).await?;
    let c = client();
    let mut ids = Vec::new();
    for path in ["/healthz", "/healthz", "/nope"] {
        let r = c.get(server.url(path)).send().await?;
        let id = r
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .with_context(|| format!("no x-request-id on {path}"))?;
        ids.push(id.to_string());
    }
    ensure!(ids[0] != ids[1] && ids[1] != ids[2], "ids repeat: {ids:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_that_is_not_json_gets_415() -> Result<()> {
    let server = TestServer::start(ServeOptions::default()).await?;
    let c = client();
    let url = server.url("/v1/classify");
    let body = r#"{"text": "hello"}"#;
    for ctype in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        None,
    ] {
        let mut request = c.post(&url).body(body);
        if let Some(ctype) = ctype {
            request = request.header("content-type", ctype);
        }
        let response = request.send().await?;
        ensure!(
            response.status() == 415,
            "{ctype:?}: status {}",
            response.status()
        );
        let v: Value = response.json().await?;
        ensure!(
            v["error"]
                .as_str()
                .is_some_and(|e| e.contains("Content-Type: application/json")),
            "{ctype:?}: {v}"
        );
    }
    let ok = c
        .post(&url)
        .header("content-type", "Application/JSON; charset=utf-8")
        .body(body)
        .send()
        .await?;
    ensure!(ok.status() == 200, "JSON with a charset: {}", ok.status());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_servers_own_host_names_are_answered() -> Result<()> {
    let opts = ServeOptions {
        allowed_hosts: vec!["spam.internal".into(), "proxy.example:8443".into()],
        ..ServeOptions::default()
    };
    let server = TestServer::start(opts).await?;
    let port = server.addr.port();
    let get = |host: Option<String>| {
        let addr = server.addr;
        async move {
            let host = host.map(|h| format!("Host: {h}\r\n")).unwrap_or_default();
            let request = format!("GET /healthz HTTP/1.1\r\n{host}Connection: close\r\n\r\n");
            raw_request(addr, &request).await
        }
    };
    for host in [
        format!("localhost:{port}"),
        format!("LocalHost:{port}"),
        format!("127.0.0.1:{port}"),
        format!("[::1]:{port}"),
        "spam.internal".to_string(),
        "spam.internal:1234".to_string(),
        "proxy.example:8443".to_string(),
    ] {
        let r = get(Some(host.clone())).await?;
        ensure!(r.status == 200, "Host {host}: {r:?}");
    }
    for host in [
        format!("evil.example:{port}"),
        "evil.example".to_string(),
        format!("localhost:{}", port.wrapping_add(1)),
        "localhost".to_string(),
        "proxy.example:9999".to_string(),
        format!("127.0.0.1.evil.example:{port}"),
        format!("localhost:{port}:1"),
    ] {
        let r = get(Some(host.clone())).await?;
        ensure!(r.status == 421, "Host {host}: {r:?}");
        let v: Value = serde_json::from_str(&r.body)?;
        ensure!(
            v["error"]
                .as_str()
                .is_some_and(|e| e.contains("not this server's")),
            "Host {host}: {v}"
        );
    }
    // HTTP/1.1 without a Host is refused too (hyper answers 400 before the routes, or 421).
    let r = get(None).await?;
    ensure!(r.status == 421 || r.status == 400, "no Host: {r:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_star_answers_any_host() -> Result<()> {
    let opts = ServeOptions {
        allowed_hosts: vec!["*".into()],
        ..ServeOptions::default()
    };
    let server = TestServer::start(opts).await?;
    let r = raw_request(
        server.addr,
        "GET /healthz HTTP/1.1\r\nHost: anything.example\r\nConnection: close\r\n\r\n",
    )
    .await?;
    ensure!(r.status == 200, "{r:?}");
    Ok(())
}

/// RFC 9112 (section 3.2): a request with more than one `Host` header is invalid and gets
/// 400, whichever comes first and whether or not the `Host` check is on, on every route.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_host_headers_get_400_on_every_route() -> Result<()> {
    for allowed_hosts in [vec![], vec!["*".to_string()]] {
        let opts = ServeOptions {
            allowed_hosts: allowed_hosts.clone(),
            ..ServeOptions::default()
        };
        let server = TestServer::start(opts).await?;
        let own = format!("localhost:{}", server.addr.port());
        let pairs = [
            [own.clone(), "evil.example".to_string()],
            ["evil.example".to_string(), own.clone()],
            [own.clone(), own.clone()],
        ];
        let routes = [
            ("GET", "/", ""),
            ("GET", "/healthz", ""),
            ("GET", "/v1/info", ""),
            ("POST", "/v1/classify", r#"{"text": "win a prize now"}"#),
            ("POST", "/predict", r#"{"inputs": "win a prize now"}"#),
            ("GET", "/no/such/route", ""),
        ];
        for [first, second] in &pairs {
            for (method, path, body) in routes {
                let request = format!(
                    "{method} {path} HTTP/1.1\r\nHost: {first}\r\nHost: {second}\r\n\
                     Content-Type: application/json\r\nContent-Length: {}\r\n\
                     Connection: close\r\n\r\n{body}",
                    body.len()
                );
                let what =
                    format!("{method} {path} with Host {first} and {second} ({allowed_hosts:?})");
                let r = raw_request(server.addr, &request).await?;
                let start: String = r.body.chars().take(200).collect();
                ensure!(r.status == 400, "{what}: {} {start}", r.status);
                let v: Value = serde_json::from_str(&r.body).with_context(|| what.clone())?;
                ensure!(
                    v["error"]
                        .as_str()
                        .is_some_and(|e| e.contains("more than one `Host`")),
                    "{what}: {v}"
                );
                if path == "/predict" {
                    ensure!(v["error_type"] == "validation", "{what}: {v}");
                }
                ensure!(r.head.contains("x-request-id"), "{what}: {r:?}");
            }
        }
    }
    Ok(())
}
