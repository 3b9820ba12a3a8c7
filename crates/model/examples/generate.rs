//! Greedy generation from an OpenAI checkpoint directory or a safetensors file, the chapter's
//! check that weights loaded.
//!
//! ```text
//! cargo run --release -p spam-model --example generate -- PATH [TOKEN_ID ...]
//! ```
//! Token ids default to "Every effort moves you" in GPT-2's BPE: 6109 3626 6100 345.
//! Prints the generation as JSON (prompt ids, generated ids, top-10 logits per step).
use std::path::PathBuf;
use std::time::Instant;

use spam_model::{DeviceChoice, GenerateOptions, LanguageModel, try_generate};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let Some(path) = args.next().map(PathBuf::from) else {
        anyhow::bail!("usage: generate PATH [TOKEN_ID ...]");
    };
    let mut ids: Vec<i64> = args.map(|a| a.parse()).collect::<Result<_, _>>()?;
    if ids.is_empty() {
        ids = vec![6109, 3626, 6100, 345];
    }
    let device = DeviceChoice::Auto.resolve()?;
    let start = Instant::now();
    let lm = LanguageModel::from_path(&path, device)?;
    eprintln!(
        "loaded {} ({} layers, width {}) in {:.3} s",
        path.display(),
        lm.config.n_layer,
        lm.config.n_embd,
        start.elapsed().as_secs_f64()
    );
    let opts = GenerateOptions {
        max_new_tokens: 10,
        ..GenerateOptions::default()
    };
    let out = try_generate(&lm.gpt, &ids, &opts)?;
    println!("{}", serde_json::to_string(&out)?);
    Ok(())
}
