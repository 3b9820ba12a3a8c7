//! Shared test fixtures: a tiny random classifier saved to disk and a server on loopback.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use spam_model::{Classifier, ClassifierConfig, Config, Weights};
use spam_serve::{ServeOptions, WorkerHandle, serve_on, spawn_worker_with};
use spam_train::Predictor;
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

/// A client with a bounded timeout.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap_or_else(|e| panic!("could not build the HTTP client: {e}"))
}
