//! `cargo xtask fetch --weights`.
use std::path::Path;

use anyhow::{Result, bail};

pub fn run(_root: &Path, size: &str, _from: Option<&Path>, _force: bool) -> Result<()> {
    bail!(
        "downloading GPT-2 {size} weights is not implemented yet (tracked by the model issue). \
         Meanwhile train with `--weights random`, or pass an OpenAI checkpoint folder or a \
         .safetensors file to `--weights PATH`."
    )
}
