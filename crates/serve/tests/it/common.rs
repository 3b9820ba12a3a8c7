//! Shared test fixtures: a tiny random classifier saved to disk and a server on loopback.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use spam_model::Predictor;
use spam_model::{Classifier, ClassifierConfig, Config, Weights};
use spam_serve::{ServeOptions, WorkerHandle, serve_on, spawn_worker_with};
use tempfile::TempDir;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Saves a tiny 2-class (`ham`, `spam`) classifier with GPT-2's vocabulary into `dir/model`.
pub fn save_tiny_model(dir: &Path) -> anyhow::Result<()> {
    let mut cc = ClassifierConfig::new(
        Config {
            vocab_size: 50257,
            n_ctx: 64,
            n_embd: 16,
            n_layer: 1,
            n_head: 2,
            dropout: 0.0,
            qkv_bias: true,
        },
        2,
    );
    cc.label_names = vec!["ham".into(), "spam".into()];
    cc.max_length = Some(32);
    let model = Classifier::new(cc, &Weights::Random { seed: 1 }, tch::Device::Cpu, 1)?;
    model.save(&dir.join("model"))?;
    Ok(())
}

/// A run directory holding the tiny model, and a predictor loaded from it.
pub fn tiny_predictor() -> anyhow::Result<(TempDir, Predictor)> {
    let dir = tempfile::tempdir()?;
    save_tiny_model(dir.path())?;
    let predictor = Predictor::load(dir.path(), tch::Device::Cpu)?;
    Ok((dir, predictor))
}

/// A server on an ephemeral loopback port, stopped (gracefully) when dropped or by `stop`.
pub struct TestServer {
    pub addr: SocketAddr,
    pub worker: WorkerHandle,
    shutdown: Option<oneshot::Sender<()>>,
    pub task: Option<JoinHandle<Result<(), spam_serve::ServeError>>>,
    _dir: TempDir,
}

impl TestServer {
    pub async fn start(opts: ServeOptions) -> anyhow::Result<Self> {
        let (dir, predictor) = tiny_predictor()?;
        Self::start_with(opts, dir, predictor).await
    }

    /// A server over this predictor (whose files are in `dir`).
    pub async fn start_with(
        opts: ServeOptions,
        dir: TempDir,
        predictor: Predictor,
    ) -> anyhow::Result<Self> {
        let worker = spawn_worker_with(predictor, opts.worker_options());
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (tx, rx) = oneshot::channel::<()>();
        let w = worker.clone();
        let task = tokio::spawn(async move {
            serve_on(listener, w, &opts, async move {
                let _ = rx.await;
            })
            .await
        });
        Ok(Self {
            addr,
            worker,
            shutdown: Some(tx),
            task: Some(task),
            _dir: dir,
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Asks for a graceful shutdown and waits (at most `within`) for the server to stop.
    pub async fn stop(&mut self, within: Duration) -> anyhow::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            tokio::time::timeout(within, task).await???;
        }
        Ok(())
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// A predictor whose model fails on any text of more than one token: its position
/// embedding is cut to one row, so libtorch raises an index error (with a C++ backtrace).
pub fn failing_predictor() -> anyhow::Result<(TempDir, Predictor)> {
    let (dir, predictor) = tiny_predictor()?;
    let variables = predictor.model.vs.variables();
    let (_, wpe) = variables
        .iter()
        .find(|(name, _)| name.ends_with("wpe.weight"))
        .ok_or_else(|| anyhow::anyhow!("no wpe.weight among {:?}", variables.keys()))?;
    let mut wpe = wpe.shallow_clone();
    tch::no_grad(|| {
        wpe.set_data(&tch::Tensor::zeros(
            [1, 16],
            (tch::Kind::Float, tch::Device::Cpu),
        ))
    });
    Ok((dir, predictor))
}

/// An answer read off a raw connection.
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    /// The head, lower-cased.
    pub head: String,
    pub body: String,
}

/// Sends `request` as is on a new connection and reads the answer to the end (the request
/// should say `Connection: close`), within 10 s.
pub async fn raw_request(addr: SocketAddr, request: &str) -> anyhow::Result<RawResponse> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    stream.write_all(request.as_bytes()).await?;
    let mut bytes = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut bytes)).await??;
    parse_response(&bytes)
}

/// Splits an HTTP/1.1 answer (with its body, not chunked) into status, head and body.
pub fn parse_response(bytes: &[u8]) -> anyhow::Result<RawResponse> {
    let text = String::from_utf8_lossy(bytes);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| anyhow::anyhow!("no complete head in {text:?}"))?;
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no status in {head:?}"))?;
    Ok(RawResponse {
        status,
        head: head.to_ascii_lowercase(),
        body: body.to_string(),
    })
}

/// A client with a bounded timeout.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap_or_else(|e| panic!("could not build the HTTP client: {e}"))
}

/// Sends the head of a JSON `POST path` announcing a 100-byte body, and only `partial` of it,
/// then reads the answer until its JSON body has arrived (or 10 s pass): what a client that
/// stalls mid-request gets.
pub async fn stalled_post(addr: SocketAddr, path: &str, partial: &str) -> anyhow::Result<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{partial}"
    );
    stream.write_all(head.as_bytes()).await?;
    let mut response = Vec::new();
    let mut buf = [0u8; 4096];
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let n = stream.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            response.extend_from_slice(&buf[..n]);
            if response.ends_with(b"}") {
                break;
            }
        }
        anyhow::Ok(())
    })
    .await??;
    Ok(String::from_utf8_lossy(&response).into_owned())
}
