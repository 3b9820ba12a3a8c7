//! Connection limits: header and idle timeouts, the cap on open connections, and a
//! shutdown that a stuck client cannot hold up (issue 15, item 1).

use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use spam_serve::ServeOptions;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::{TestServer, client, parse_response, raw_request};

/// Reads until the peer closes the connection (or resets it); the time it took.
async fn until_closed(stream: &mut TcpStream, within: Duration) -> Result<Duration> {
    let started = Instant::now();
    let mut buf = [0u8; 1024];
    tokio::time::timeout(within, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    })
    .await
    .with_context(|| format!("the server kept the connection open for {within:?}"))?;
    Ok(started.elapsed())
}

/// Reads one answer to a `GET /healthz` (a JSON body ending in `}`).
async fn read_answer(stream: &mut TcpStream) -> Result<String> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    tokio::time::timeout(Duration::from_secs(10), async {
        while !(got.ends_with(b"}") && got.windows(4).any(|w| w == b"\r\n\r\n")) {
            let n = stream.read(&mut buf).await?;
            ensure!(
                n > 0,
                "closed before the answer: {:?}",
                String::from_utf8_lossy(&got)
            );
            got.extend_from_slice(&buf[..n]);
        }
        Ok(())
    })
    .await??;
    Ok(String::from_utf8_lossy(&got).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_sending_headers_byte_by_byte_is_cut_off() -> Result<()> {
    let opts = ServeOptions {
        header_timeout: Duration::from_millis(500),
        ..ServeOptions::default()
    };
    let server = TestServer::start(opts).await?;
    let stream = TcpStream::connect(server.addr).await?;
    let (mut reader, mut writer) = stream.into_split();
    let head = format!("GET /healthz HTTP/1.1\r\nHost: {}\r\nX-Slow: ", server.addr);
    writer.write_all(head.as_bytes()).await?;
    let started = Instant::now();
    // One more byte every 50 ms, for at most 10 s: the client never finishes its headers.
    let drip = tokio::spawn(async move {
        for _ in 0..200 {
            if writer.write_all(b"a").await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    let mut buf = [0u8; 1024];
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match reader.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    })
    .await;
    drip.abort();
    ensure!(
        closed.is_ok(),
        "a client still sending its headers after 5 s was not cut off"
    );
    let after = started.elapsed();
    ensure!(
        after >= Duration::from_millis(400),
        "cut off after {after:?}, before the 500 ms header timeout"
    );
    // Others are still served.
    let health = client().get(server.url("/healthz")).send().await?;
    ensure!(health.status() == 200);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_keep_alive_connection_is_closed() -> Result<()> {
    let opts = ServeOptions {
        idle_timeout: Duration::from_millis(500),
        ..ServeOptions::default()
    };
    let server = TestServer::start(opts).await?;
    let mut stream = TcpStream::connect(server.addr).await?;
    let request = format!("GET /healthz HTTP/1.1\r\nHost: {}\r\n\r\n", server.addr);
    stream.write_all(request.as_bytes()).await?;
    let answer = read_answer(&mut stream).await?;
    ensure!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // Keep-alive: a second request on the same connection is answered...
    stream.write_all(request.as_bytes()).await?;
    let answer = read_answer(&mut stream).await?;
    ensure!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // ...and then, with nothing sent, the connection is closed after the idle timeout.
    let idle = until_closed(&mut stream, Duration::from_secs(5)).await?;
    ensure!(
        idle >= Duration::from_millis(400),
        "closed after {idle:?}, before the 500 ms idle timeout"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_cap_are_refused_at_once() -> Result<()> {
    const CAP: usize = 4;
    let opts = ServeOptions {
        max_connections: CAP,
        ..ServeOptions::default()
    };
    let server = TestServer::start(opts).await?;
    // Fill the cap with keep-alive connections that each got an answer (so each is counted).
    let mut hogs = Vec::new();
    for _ in 0..CAP {
        let mut stream = TcpStream::connect(server.addr).await?;
        let request = format!("GET /healthz HTTP/1.1\r\nHost: {}\r\n\r\n", server.addr);
        stream.write_all(request.as_bytes()).await?;
        let answer = read_answer(&mut stream).await?;
        ensure!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        hogs.push(stream);
    }
    // More connections get an immediate 503 with a reason, and are closed.
    for i in 0..3 {
        let started = Instant::now();
        let request = format!(
            "GET /healthz HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            server.addr
        );
        let answer = raw_request(server.addr, &request)
            .await
            .with_context(|| format!("connection {} over the cap", i + 1))?;
        ensure!(answer.status == 503, "{answer:?}");
        ensure!(answer.head.contains("connection: close"), "{answer:?}");
        ensure!(
            answer.head.contains("content-type: application/json"),
            "{answer:?}"
        );
        let body: serde_json::Value = serde_json::from_str(&answer.body)?;
        ensure!(
            body["error"]
                .as_str()
                .is_some_and(|e| e.contains("maximum of 4 open connections")),
            "{body}"
        );
        ensure!(
            started.elapsed() < Duration::from_secs(2),
            "refusal was slow"
        );
    }
    // One connection closes: a normal client is answered again.
    drop(hogs.pop());
    let c = client();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        // Until the server has seen the close, a refusal may also reach the client as a reset
        // connection: both mean "not yet".
        let status = match c.get(server.url("/healthz")).send().await {
            Ok(answer) => answer.status().to_string(),
            Err(e) => format!("{e}"),
        };
        if status.starts_with("200") {
            break;
        }
        ensure!(
            Instant::now() < deadline,
            "still refused 5 s after a slot was freed: {status}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_half_sent_request_does_not_hold_up_the_shutdown() -> Result<()> {
    let opts = ServeOptions {
        shutdown_timeout: Duration::from_millis(500),
        ..ServeOptions::default()
    };
    let mut server = TestServer::start(opts).await?;
    // Headers begun and never finished (the reproduction), and an idle connection.
    let mut half = TcpStream::connect(server.addr).await?;
    half.write_all(b"GET / HTTP/1.1\r\nX: a").await?;
    let mut idle = TcpStream::connect(server.addr).await?;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    server
        .stop(Duration::from_secs(5))
        .await
        .context("the server did not stop within 5 s of the shutdown")?;
    let took = started.elapsed();
    ensure!(
        took < Duration::from_secs(3),
        "the shutdown took {took:?} with a 500 ms deadline"
    );
    until_closed(&mut half, Duration::from_secs(2)).await?;
    until_closed(&mut idle, Duration::from_secs(2)).await?;
    Ok(())
}

#[test]
fn parse_response_reads_status_head_and_body() -> Result<()> {
    let r = parse_response(b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n\r\n{}")?;
    ensure!(r.status == 503 && r.head.contains("connection: close") && r.body == "{}");
    Ok(())
}
