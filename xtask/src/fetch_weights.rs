//! `cargo xtask fetch --weights`: OpenAI's GPT-2 checkpoint into `models/gpt2/<size>/`,
//! falling back to the hub's `config.json` and `model.safetensors` when OpenAI's server fails.
//! Those go into the Hugging Face hub cache (the one `spam-cli --weights gpt2` reads, and the
//! hub's own libraries too: `HF_HUB_CACHE`, `HF_HOME`, `HF_ENDPOINT`, `HF_TOKEN` apply), and
//! the run says where; `spam-cli train` without `--weights` finds them there.
//!
//! Downloads resume (HTTP Range) from `<file>.partial`, check sizes where known and are
//! renamed into place only when complete.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use spam_data::{DownloadOptions, download};
use spam_hub::{GPT2_HUB_FILES, HubId, HubOptions};

use crate::progress::DownloadBar;

/// Files of OpenAI's release, with sizes where published (124M's data file).
const OPENAI_FILES: &[&str] = &[
    "checkpoint",
    "encoder.json",
    "hparams.json",
    "model.ckpt.data-00000-of-00001",
    "model.ckpt.index",
    "model.ckpt.meta",
    "vocab.bpe",
];
/// Files a checkpoint folder needs to load (the others are for TensorFlow or the encoder).
const OPENAI_REQUIRED: &[&str] = &[
    "hparams.json",
    "model.ckpt.data-00000-of-00001",
    "model.ckpt.index",
];

/// OpenAI's base URL; the environment overrides it (tests point it at a local server). The
/// hub's is `HF_ENDPOINT`'s.
fn openai_base() -> String {
    std::env::var("SPAM_OPENAI_BASE_URL")
        .unwrap_or_else(|_| "https://openaipublic.blob.core.windows.net/gpt-2/models".into())
}

/// The hub's short name of a size (an alias of `openai-community/NAME`).
fn hub_repo(size: &str) -> Result<&'static str> {
    Ok(match size {
        "124M" => "gpt2",
        "355M" => "gpt2-medium",
        "774M" => "gpt2-large",
        "1558M" => "gpt2-xl",
        other => bail!("unknown model size {other:?}: use 124M, 355M, 774M or 1558M"),
    })
}

fn expected_size(size: &str, file: &str) -> Option<u64> {
    match (size, file) {
        ("124M", "model.ckpt.data-00000-of-00001") => Some(497_759_232),
        _ => None,
    }
}

pub fn run(root: &Path, size: &str, from: Option<&Path>, force: bool) -> Result<()> {
    hub_repo(size)?;
    // SPAM_MODELS_DIR moves the models folder (tests use a temporary one).
    let models =
        std::env::var_os("SPAM_MODELS_DIR").map_or_else(|| root.join("models"), PathBuf::from);
    let dir = models.join("gpt2").join(size);
    if let Some(source) = from {
        return import(source, &dir);
    }
    let hub = HubOptions::from_env();
    let id = HubId::parse(hub_repo(size)?)?;
    if !force && complete(&dir) {
        println!(
            "weights: GPT-2 {size} already in {} (nothing to do; --force fetches again)",
            dir.display()
        );
        return Ok(());
    }
    if !force && let Ok(s) = spam_hub::find_cached(&id, &GPT2_HUB_FILES, &hub.cache) {
        println!(
            "weights: GPT-2 {size} already in the Hugging Face cache: {} (nothing to do)",
            s.dir.display()
        );
        return Ok(());
    }
    fs::create_dir_all(&dir).with_context(|| format!("could not create {}", dir.display()))?;
    let openai_err = match fetch_openai(&dir, size, force) {
        Ok(()) => {
            println!(
                "weights: GPT-2 {size} (OpenAI checkpoint) in {}",
                dir.display()
            );
            return Ok(());
        }
        Err(e) => e,
    };
    eprintln!("weights: OpenAI's server failed ({openai_err:#}); trying the hub ({id})");
    // Nothing usable was left in the folder: remove it so that the default `--weights` looks
    // in the hub cache instead.
    if !complete(&dir) {
        let _ = fs::remove_dir(&dir);
    }
    let mut bar: Option<(String, DownloadBar)> = None;
    let got = spam_hub::resolve_hub(&id, &GPT2_HUB_FILES, &hub, &mut |p| {
        if bar.as_ref().is_none_or(|(f, _)| f != p.file) {
            if let Some((_, mut b)) = bar.take() {
                b.finish();
            }
            bar = Some((p.file.to_string(), DownloadBar::new(p.file)));
        }
        if let Some((_, b)) = bar.as_mut() {
            b.update(p.downloaded, p.total);
        }
    });
    if let Some((_, mut b)) = bar.take() {
        b.finish();
    }
    match got {
        Ok(s) => {
            println!(
                "weights: GPT-2 {size} from the hub ({id} at commit {}) in the Hugging Face cache: {} \
                 (spam-cli finds it there: by default, or with --weights {})",
                s.commit,
                s.dir.display(),
                hub_repo(size)?
            );
            Ok(())
        }
        Err(hub_err) => bail!(
            "GPT-2 {size} could not be downloaded.\n  OpenAI: {openai_err:#}\n  hub: {hub_err}\n  \
             By hand: get the OpenAI files ({}) or the hub's model.safetensors on a machine \
             with internet, then `cargo xtask fetch --weights --size {size} --from DIR`; or \
             train from random weights with `spam-cli train --weights random`.",
            OPENAI_REQUIRED.join(", ")
        ),
    }
}

fn fetch_openai(dir: &Path, size: &str, force: bool) -> Result<()> {
    for file in OPENAI_FILES {
        let dest = dir.join(file);
        if dest.exists() && !force {
            continue;
        }
        let url = format!("{}/{size}/{file}", openai_base());
        let opts = DownloadOptions {
            expected_size: expected_size(size, file),
            ..Default::default()
        };
        let mut bar = DownloadBar::new(file);
        let result = download(&[&url], &dest, &opts, &mut |p| {
            bar.update(p.downloaded, p.total)
        });
        bar.finish();
        result?;
    }
    Ok(())
}

/// Whether `dir` already holds a loadable checkpoint (OpenAI files or a safetensors file).
fn complete(dir: &Path) -> bool {
    OPENAI_REQUIRED.iter().all(|f| dir.join(f).is_file()) || dir.join("model.safetensors").is_file()
}

/// `--from`: copies a checkpoint folder or a safetensors file into place.
fn import(source: &Path, dir: &Path) -> Result<()> {
    let files: Vec<PathBuf> = if source.is_file() {
        if source.extension().and_then(|e| e.to_str()) != Some("safetensors") {
            bail!(
                "{} is neither a checkpoint folder nor a .safetensors file",
                source.display()
            );
        }
        vec![source.to_path_buf()]
    } else if source.join("model.safetensors").is_file() {
        let mut v = vec![source.join("model.safetensors")];
        if source.join("config.json").is_file() {
            v.push(source.join("config.json"));
        }
        v
    } else if source.is_dir() {
        let missing: Vec<&str> = OPENAI_REQUIRED
            .iter()
            .copied()
            .filter(|f| !source.join(f).is_file())
            .collect();
        if !missing.is_empty() {
            bail!(
                "{} is not an OpenAI checkpoint folder: it lacks {} (or a model.safetensors)",
                source.display(),
                missing.join(", ")
            );
        }
        OPENAI_FILES
            .iter()
            .map(|f| source.join(f))
            .filter(|p| p.is_file())
            .collect()
    } else {
        bail!("{} does not exist", source.display());
    };
    fs::create_dir_all(dir).with_context(|| format!("could not create {}", dir.display()))?;
    for src in files {
        let name = src
            .file_name()
            .map(|n| n.to_os_string())
            .unwrap_or_default();
        let dest = dir.join(&name);
        let tmp = spam_data::partial_download_path(&dest);
        fs::copy(&src, &tmp).with_context(|| format!("could not copy {}", src.display()))?;
        fs::rename(&tmp, &dest)
            .with_context(|| format!("could not move {} into place", dest.display()))?;
        println!("weights: imported {}", dest.display());
    }
    Ok(())
}
