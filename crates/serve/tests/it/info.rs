//! `GET /v1/info`: the labels and what the run directory says of the model served.

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
        "size": "124M",
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
