//! A transformers folder's own tokenizer files, checked against GPT-2's: texts are always
//! tokenized with GPT-2's tokenizer, so a folder whose `vocab.json`, `merges.txt` or
//! `tokenizer.json` is another tokenizer's (other ids, other merges, a prefix space) is
//! refused, naming the file, rather than answered with ids the model was not trained on. A
//! folder with none of these files is read with GPT-2's tokenizer.

use std::collections::HashMap;
use std::path::Path;
use std::sync::OnceLock;

use serde_json::{Map, Value};

use crate::error::{ModelError, Result};
use crate::files::{MAX_JSON_BYTES, json_type, present, read_capped, read_json};

/// transformers' vocabulary file (token text -> id).
pub(crate) const VOCAB_FILE: &str = "vocab.json";
/// transformers' BPE merges, in priority order.
pub(crate) const MERGES_FILE: &str = "merges.txt";
/// The tokenizers library's one-file tokenizer.
pub(crate) const TOKENIZER_FILE: &str = "tokenizer.json";
/// transformers' tokenizer settings.
pub(crate) const TOKENIZER_CONFIG_FILE: &str = "tokenizer_config.json";

/// GPT-2's vocabulary and merges, as transformers reads them.
struct Gpt2Bpe {
    vocab: HashMap<String, u64>,
    merges: Vec<(String, String)>,
}

/// GPT-2's tokenizer, derived once per process (it takes a moment); `path` is the folder's
/// file it is compared with, for the message should that fail.
fn gpt2(path: &Path) -> Result<&'static Gpt2Bpe> {
    static GPT2: OnceLock<Gpt2Bpe> = OnceLock::new();
    if let Some(bpe) = GPT2.get() {
        return Ok(bpe);
    }
    let fail = |source| ModelError::Gpt2Tokenizer {
        path: path.to_path_buf(),
        source,
    };
    let (vocab, merges) = spam_data::gpt2_vocab_and_merges().map_err(fail)?;
    let vocab: HashMap<String, u64> = serde_json::from_str(&vocab).map_err(|e| {
        fail(spam_data::DataError::Tokenizer(format!(
            "GPT-2's vocab.json does not parse: {e}"
        )))
    })?;
    let merges = merges
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(' '))
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    Ok(GPT2.get_or_init(|| Gpt2Bpe { vocab, merges }))
}

fn unsupported<T>(path: &Path, detail: impl Into<String>) -> Result<T> {
    Err(ModelError::UnsupportedTokenizer {
        path: path.to_path_buf(),
        detail: detail.into(),
    })
}

/// A token's text for a message: quoted, and cut after 40 characters.
fn short(token: &str) -> String {
    let mut s: String = token.chars().take(40).collect();
    if s.len() < token.len() {
        s.push_str("...");
    }
    format!("{s:?}")
}

/// Refuses tokenizer files in `dir` that are not GPT-2's (see the module's documentation).
pub(crate) fn check_gpt2_tokenizer(dir: &Path) -> Result<()> {
    let vocab = dir.join(VOCAB_FILE);
    let merges = dir.join(MERGES_FILE);
    match (present(&vocab), present(&merges)) {
        (false, false) => {}
        (true, false) => {
            return unsupported(&vocab, format!("comes without {MERGES_FILE}"));
        }
        (false, true) => {
            return unsupported(&merges, format!("comes without {VOCAB_FILE}"));
        }
        (true, true) => {
            let value = read_json(&vocab, "vocab.json")?;
            check_vocab(&vocab, &value, "")?;
            let bytes = read_capped(&merges, "merges.txt", MAX_JSON_BYTES)?;
            let Ok(text) = std::str::from_utf8(&bytes) else {
                return unsupported(&merges, "is not UTF-8 text");
            };
            let pairs = merge_lines(text).map(|(n, line)| {
                match line.split_whitespace().collect::<Vec<_>>()[..] {
                    [a, b] => Ok((a, b)),
                    _ => unsupported(&merges, format!("line {n} is not two tokens")),
                }
            });
            check_merges(&merges, pairs, "")?;
        }
    }
    let tokenizer = dir.join(TOKENIZER_FILE);
    if present(&tokenizer) {
        check_tokenizer_json(&tokenizer, &read_json(&tokenizer, "tokenizer.json")?)?;
    }
    let config = dir.join(TOKENIZER_CONFIG_FILE);
    if present(&config) {
        check_tokenizer_config(&config, &read_json(&config, "tokenizer_config.json")?)?;
    }
    Ok(())
}

/// The merge lines of `merges.txt` with their line numbers (from 1), as transformers reads
/// them: the `#version` line and empty lines left out.
fn merge_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .filter(|(i, l)| !(l.trim().is_empty() || (*i == 0 && l.starts_with("#version"))))
        .map(|(i, l)| (i + 1, l))
}

/// `value` (the file at `path`, or its `where_` part) is GPT-2's vocabulary.
fn check_vocab(path: &Path, value: &Value, where_: &str) -> Result<()> {
    let Some(map) = value.as_object() else {
        return unsupported(
            path,
            format!(
                "{where_}is {}, not a vocabulary (token -> id)",
                json_type(value)
            ),
        );
    };
    let gpt2 = gpt2(path)?;
    if map.len() != gpt2.vocab.len() {
        return unsupported(
            path,
            format!(
                "{where_}has {} tokens, GPT-2's vocabulary {}",
                map.len(),
                gpt2.vocab.len()
            ),
        );
    }
    for (token, id) in map {
        match gpt2.vocab.get(token) {
            None => {
                return unsupported(
                    path,
                    format!(
                        "{where_}has the token {}, which GPT-2's lacks",
                        short(token)
                    ),
                );
            }
            Some(&want) if id.as_u64() != Some(want) => {
                return unsupported(
                    path,
                    format!(
                        "{where_}gives the token {} the id {id}, GPT-2's gives it {want}",
                        short(token)
                    ),
                );
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// `pairs` (line or entry number, merge) are GPT-2's merges, in GPT-2's order.
fn check_merges<'a>(
    path: &Path,
    pairs: impl Iterator<Item = Result<(&'a str, &'a str)>>,
    where_: &str,
) -> Result<()> {
    let gpt2 = gpt2(path)?;
    let mut count = 0;
    for pair in pairs {
        let (a, b) = pair?;
        let Some((ga, gb)) = gpt2.merges.get(count) else {
            return unsupported(
                path,
                format!("{where_}has more merges than GPT-2's {}", gpt2.merges.len()),
            );
        };
        if (a, b) != (ga.as_str(), gb.as_str()) {
            return unsupported(
                path,
                format!(
                    "{where_}merge {} is {} {}, GPT-2's is {} {}",
                    count + 1,
                    short(a),
                    short(b),
                    short(ga),
                    short(gb)
                ),
            );
        }
        count += 1;
    }
    if count != gpt2.merges.len() {
        return unsupported(
            path,
            format!("{where_}has {count} merges, GPT-2's {}", gpt2.merges.len()),
        );
    }
    Ok(())
}

/// `tokenizer.json`: a byte-level BPE model with GPT-2's vocabulary and merges, and no
/// prefix space.
fn check_tokenizer_json(path: &Path, value: &Value) -> Result<()> {
    let Some(model) = value.get("model").and_then(Value::as_object) else {
        return unsupported(path, "has no `model` object; not a tokenizers file");
    };
    if let Some(kind) = model.get("type")
        && kind.as_str() != Some("BPE")
    {
        return unsupported(path, format!("`model.type` is {kind}, not GPT-2's \"BPE\""));
    }
    check_vocab(
        path,
        model.get("vocab").unwrap_or(&Value::Null),
        "`model.vocab` ",
    )?;
    let Some(merges) = model.get("merges").and_then(Value::as_array) else {
        return unsupported(path, "`model.merges` is not an array of merges");
    };
    let pairs = merges.iter().enumerate().map(|(i, m)| {
        let pair = match m {
            Value::String(s) => s.split_once(' '),
            Value::Array(a) => match a.as_slice() {
                [Value::String(x), Value::String(y)] => Some((x.as_str(), y.as_str())),
                _ => None,
            },
            _ => None,
        };
        pair.ok_or_else(|| ModelError::UnsupportedTokenizer {
            path: path.to_path_buf(),
            detail: format!(
                "`model.merges` entry {} is not a merge of two tokens",
                i + 1
            ),
        })
    });
    check_merges(path, pairs, "`model.merges` ")?;
    if let Some(Value::Object(pre)) = value.get("pre_tokenizer") {
        check_no_prefix_space(path, pre, "`pre_tokenizer.")?;
    }
    Ok(())
}

/// `add_prefix_space` and `add_bos_token` are not on: with either, transformers gives texts
/// other ids than GPT-2's tokenizer (a space before the first word, a leading token).
fn check_tokenizer_config(path: &Path, value: &Value) -> Result<()> {
    let Some(map) = value.as_object() else {
        return unsupported(path, format!("is {}, not an object", json_type(value)));
    };
    check_no_prefix_space(path, map, "`")?;
    if map
        .get("add_bos_token")
        .is_some_and(|v| v != &Value::Bool(false) && !v.is_null())
    {
        return unsupported(
            path,
            "`add_bos_token` is on: transformers puts a token before each text, GPT-2's \
             tokenizer does not",
        );
    }
    Ok(())
}

fn check_no_prefix_space(path: &Path, map: &Map<String, Value>, prefix: &str) -> Result<()> {
    match map.get("add_prefix_space") {
        None | Some(Value::Null | Value::Bool(false)) => Ok(()),
        Some(v) => unsupported(
            path,
            format!(
                "{prefix}add_prefix_space` is {v}: transformers puts a space before each text, \
                 GPT-2's tokenizer does not"
            ),
        ),
    }
}

/// `model_max_length` of `tokenizer_config.json` when it is a usable input length
/// (transformers writes a huge number when the tokenizer has none); `None` without the file.
pub(crate) fn tokenizer_max_length(dir: &Path, n_ctx: i64) -> Result<Option<usize>> {
    let path = dir.join(TOKENIZER_CONFIG_FILE);
    if !present(&path) {
        return Ok(None);
    }
    let value = read_json(&path, "tokenizer_config.json")?;
    let len = match value.get("model_max_length") {
        None | Some(Value::Null) => return Ok(None),
        Some(v @ Value::Number(_)) => v.as_u64(),
        Some(v) => {
            return Err(ModelError::UnsupportedTokenizer {
                path,
                detail: format!("`model_max_length` is {}, not a number", json_type(v)),
            });
        }
    };
    Ok(len
        .filter(|l| (1..=n_ctx as u64).contains(l))
        .map(|l| l as usize))
}
