//! `GET /v1/info`: the labels, what the run directory says of the model served, and the size
//! and token position of the model loaded.

use anyhow::{Result, ensure};
use serde_json::{Value, json};
use spam_model::RunInfo;
use spam_serve::ServeOptions;

use crate::common::{TestServer, client, tiny_predictor};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn info_says_what_is_served() -> Result<()> {
    let opts = ServeOptions {
        info: RunInfo {
            base_weights: Some("models/gpt2/124M".into()),
            size: Some("124M".into()),
            token_position: Some("last".into()),
            trainable: Some("last_block".into()),
            test_accuracy: Some(0.9567),
        },
        ..ServeOptions::default()
    };
    let server = TestServer::start(opts).await?;
    let response = client().get(server.url("/v1/info")).send().await?;
    ensure!(response.status() == 200, "status {}", response.status());
    let body: Value = response.json().await?;
    let want = json!({
        "labels": ["ham", "spam"],
        "threshold": null,
        "precision": "fp32",
        "base_weights": "models/gpt2/124M",
        // The size and token position are the loaded (tiny) model's, not what was said.
        "size": TINY_SIZE,
        "token_position": "last",
        "trainable": "last_block",
        "test_accuracy": 0.9567,
    });
    ensure!(body == want, "{body}");

    // A bare model folder: the labels, and nulls for what is not known.
    let server = TestServer::start(ServeOptions::default()).await?;
    let body = info_of(&server).await?;
    ensure!(body["labels"] == json!(["ham", "spam"]), "{body}");
    ensure!(
        body["test_accuracy"].is_null() && body["base_weights"].is_null(),
        "{body}"
    );

    // A threshold given to the model (`serve --threshold`, or stored with the run) is what
    // the page's slider starts at.
    let (dir, mut predictor) = tiny_predictor()?;
    predictor.set_threshold(Some(0.8))?;
    let server = TestServer::start_with(ServeOptions::default(), dir, predictor).await?;
    let body = info_of(&server).await?;
    ensure!(body["threshold"] == json!(0.8), "{body}");

    // `serve --precision bf16`: the model computes in bf16, and says so.
    let (dir, mut predictor) = tiny_predictor()?;
    predictor.set_precision(spam_model::Precision::Bf16);
    let server = TestServer::start_with(ServeOptions::default(), dir, predictor).await?;
    let body = info_of(&server).await?;
    ensure!(body["precision"] == json!("bf16"), "{body}");
    let answer: Value = client()
        .post(server.url("/v1/classify"))
        .json(&json!({"texts": ["win a prize now"]}))
        .send()
        .await?
        .json()
        .await?;
    ensure!(answer["results"][0]["label"].is_string(), "{answer}");
    Ok(())
}

/// The server's `GET /v1/info` body.
async fn info_of(server: &TestServer) -> Result<Value> {
    Ok(client()
        .get(server.url("/v1/info"))
        .send()
        .await?
        .json()
        .await?)
}

/// The words a run prints for an explicit architecture (`ModelReady`): the tiny model's.
const TINY_SIZE: &str = "custom (1 layers, width 16, 2 heads)";

/// A tiny run with an explicit `model.architecture` in its `config.json`: the size says that
/// architecture (not the `size` setting it overrides), and the token position is the one
/// the loaded model reads, whatever a file claims.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn info_of_a_run_with_an_architecture_says_its_size() -> Result<()> {
    for claimed in ["last", "pooled"] {
        let (dir, predictor) = tiny_predictor()?;
        let config = json!({
            "model": {
                "weights": "random",
                "size": "124M",
                "token_position": claimed,
                "trainable": "last_block",
                "architecture": {
                    "vocab_size": 50257, "n_ctx": 64, "n_embd": 16, "n_layer": 1, "n_head": 2,
                    "dropout": 0.0, "qkv_bias": true,
                },
            },
        });
        std::fs::write(dir.path().join("config.json"), config.to_string())?;
        let info = RunInfo::read(dir.path());
        ensure!(info.size.as_deref() == Some(TINY_SIZE), "{info:?}");
        let opts = ServeOptions {
            info,
            ..ServeOptions::default()
        };
        let server = TestServer::start_with(opts, dir, predictor).await?;
        let body = info_of(&server).await?;
        ensure!(body["size"] == json!(TINY_SIZE), "{body}");
        ensure!(body["base_weights"] == json!("random"), "{body}");
        ensure!(body["trainable"] == json!("last_block"), "{body}");
        // The tiny model reads the last position.
        ensure!(body["token_position"] == json!("last"), "{claimed}: {body}");
    }
    Ok(())
}

/// A transformers folder served with `--model`: what it does not say is null, and its
/// token position is `flexible` (the last non-padding token), as the Predictor reads it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn info_of_a_transformers_folder_says_only_what_it_knows() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mut cc = spam_model::ClassifierConfig::new(
        spam_model::Config {
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
    cc.token_position = spam_model::TokenPosition::Flexible;
    let model = spam_model::Classifier::new(
        cc,
        &spam_model::Weights::Random { seed: 1 },
        tch::Device::Cpu,
        1,
    )?;
    model.save_transformers(dir.path())?;
    ensure!(spam_model::is_transformers_dir(dir.path()));
    let predictor = spam_model::Predictor::load(dir.path(), tch::Device::Cpu)?;
    let info = RunInfo::read(dir.path());
    let opts = ServeOptions {
        info,
        ..ServeOptions::default()
    };
    let server = TestServer::start_with(opts, dir, predictor).await?;
    let body = info_of(&server).await?;
    let want = json!({
        "labels": ["ham", "spam"],
        "threshold": null,
        "precision": "fp32",
        "base_weights": null,
        "size": TINY_SIZE,
        "token_position": "flexible",
        "trainable": null,
        "test_accuracy": null,
    });
    ensure!(body == want, "{body}");
    Ok(())
}
