//! End to end: headless Chromium loads the page, which classifies `?text=...` on load, and
//! the result shown in `#result` matches the API's answer.
//!
//! Needs Chromium at `/usr/bin/chromium` (or `$CHROMIUM`); without it the test fails,
//! unless `SPAM_SKIP_BROWSER=1` is set.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{TestServer, client};
use anyhow::{Context, Result, bail, ensure};
use serde_json::{Value, json};
use spam_serve::ServeOptions;

fn chromium() -> Result<Option<PathBuf>> {
    let path = std::env::var_os("CHROMIUM")
        .map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from);
    if path.is_file() {
        return Ok(Some(path));
    }
    if std::env::var("SPAM_SKIP_BROWSER").is_ok_and(|v| v == "1") {
        eprintln!(
            "skipping the browser test: {} is missing and SPAM_SKIP_BROWSER=1",
            path.display()
        );
        return Ok(None);
    }
    bail!(
        "Chromium is needed for the browser test but {} does not exist: install it \
         (Debian: `apt-get install -y chromium`), point $CHROMIUM at it, or set SPAM_SKIP_BROWSER=1",
        path.display()
    )
}

/// Percent-encodes `s` for a query string.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Runs Chromium headless on `url` and returns the DOM after the page settled; killed
/// after `limit`.
fn dump_dom(chromium: &PathBuf, url: &str, limit: Duration) -> Result<String> {
    let profile = tempfile::tempdir()?;
    let mut child = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--virtual-time-budget=10000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("--dump-dom")
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("could not start {}", chromium.display()))?;
    let mut stdout = child.stdout.take().context("no stdout")?;
    let mut stderr = child.stderr.take().context("no stderr")?;
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            bail!("Chromium did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let dom = out.join().unwrap_or_default();
    let log = err.join().unwrap_or_default();
    ensure!(status.success(), "Chromium failed ({status}): {log}");
    ensure!(!dom.is_empty(), "Chromium printed no DOM: {log}");
    Ok(dom)
}

/// The text content of the element with `id="result"` in a dumped DOM.
fn result_text(dom: &str) -> Option<String> {
    let start = dom.find(r#"id="result""#)?;
    let open_end = start + dom[start..].find('>')? + 1;
    let close = open_end + dom[open_end..].find("</span>")?;
    Some(dom[open_end..close].trim().to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_shows_the_models_answer_in_chromium() -> Result<()> {
    let Some(chromium) = chromium()? else {
        return Ok(());
    };
    let server = TestServer::start(ServeOptions::default()).await?;
    let text = "WINNER!! You have won a £1000 prize & a free cruise. Call now?";

    // What the API says for this text.
    let api: Value = client()
        .post(server.url("/v1/classify"))
        .json(&json!({ "text": text }))
        .send()
        .await?
        .json()
        .await?;
    let label = api["results"][0]["label"]
        .as_str()
        .context("label")?
        .to_string();
    let p = api["results"][0]["probabilities"][&label]
        .as_f64()
        .context("probability")?;
    let want = format!("{label} ({:.1}%)", 100.0 * p);

    let url = server.url(&format!("/?text={}", encode(text)));
    let dom =
        tokio::task::spawn_blocking(move || dump_dom(&chromium, &url, Duration::from_secs(60)))
            .await??;
    let shown =
        result_text(&dom).with_context(|| format!("no #result element in the page: {dom}"))?;
    ensure!(
        shown == want,
        "the page shows {shown:?}, the API says {want:?}"
    );
    ensure!(
        dom.contains(r#"data-state="done""#),
        "the result is not marked done: {dom}"
    );
    // The chat log shows the message that was sent (HTML-escaped by the DOM dump).
    ensure!(
        dom.contains("WINNER!! You have won a £1000 prize &amp; a free cruise."),
        "message missing: {dom}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_says_when_the_model_is_unavailable() -> Result<()> {
    let Some(chromium) = chromium()? else {
        return Ok(());
    };
    let (dir, predictor) = crate::common::failing_predictor()?;
    let server = TestServer::start_with(ServeOptions::default(), dir, predictor).await?;
    // The first request makes the model fail; from then on the page should say so.
    let failed = client()
        .post(server.url("/v1/classify"))
        .json(&json!({ "text": "a message of several tokens" }))
        .send()
        .await?;
    ensure!(failed.status() == 500, "status {}", failed.status());
    let url = server.url("/");
    let dom =
        tokio::task::spawn_blocking(move || dump_dom(&chromium, &url, Duration::from_secs(60)))
            .await??;
    let shown =
        result_text(&dom).with_context(|| format!("no #result element in the page: {dom}"))?;
    ensure!(
        shown.starts_with("error: the model is unavailable"),
        "the page shows {shown:?}"
    );
    Ok(())
}

/// The page's info panel shows `/v1/info`; with one message per line it sends every line in
/// one request and shows a row each; the threshold slider relabels them client-side.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_shows_the_run_and_applies_the_threshold_to_several_lines() -> Result<()> {
    let Some(chromium) = chromium()? else {
        return Ok(());
    };
    let opts = ServeOptions {
        info: spam_model::RunInfo {
            base_weights: Some("models/gpt2/124M".into()),
            size: Some("124M".into()),
            token_position: Some("last".into()),
            trainable: Some("last_block".into()),
            test_accuracy: Some(0.9567),
        },
        ..ServeOptions::default()
    };
    let server = TestServer::start(opts).await?;
    let texts = [
        "WINNER!! Claim your prize now",
        "see you at lunch tomorrow",
        "call me",
    ];
    let api: Value = client()
        .post(server.url("/v1/classify"))
        .json(&json!({ "texts": texts }))
        .send()
        .await?
        .json()
        .await?;
    let probabilities: Vec<(f64, f64)> = (0..3)
        .map(|i| {
            let p = &api["results"][i]["probabilities"];
            Ok((
                p["ham"].as_f64().context("p(ham)")?,
                p["spam"].as_f64().context("p(spam)")?,
            ))
        })
        .collect::<Result<_>>()?;
    // Threshold 0.5 gives the API's labels; 0 makes every line spam, 1 every line ham
    // (unless a probability is exactly 1).
    for threshold in ["0.5", "0", "1"] {
        let t: f64 = threshold.parse()?;
        let url = server.url(&format!(
            "/?multi=1&threshold={threshold}&text={}",
            encode(&texts.join("\n"))
        ));
        let c = chromium.clone();
        let dom = tokio::task::spawn_blocking(move || dump_dom(&c, &url, Duration::from_secs(60)))
            .await??;
        for (key, value) in [
            ("base_weights", "models/gpt2/124M"),
            ("token_position", "last"),
            ("test_accuracy", "95.67%"),
            ("labels", "ham, spam"),
        ] {
            let want = format!(r#"data-key="{key}">{value}<"#);
            ensure!(dom.contains(&want), "the info panel lacks {want}: {dom}");
        }
        for (text, (ham, spam)) in texts.iter().zip(&probabilities) {
            let (label, shown) = if *spam >= t {
                ("spam", spam)
            } else {
                ("ham", ham)
            };
            let want = format!(
                r#"<tr class="row" data-label="{label}"><td class="text">{text}</td><td class="{label}">{label}</td><td class="pct">{:.1}%</td></tr>"#,
                100.0 * shown
            );
            ensure!(
                dom.contains(&want),
                "threshold {threshold}: no row {want}: {dom}"
            );
        }
        ensure!(
            dom.contains("3 messages classified"),
            "threshold {threshold}: {dom}"
        );
    }
    Ok(())
}
