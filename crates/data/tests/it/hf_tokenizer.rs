//! The tokenizer files an export writes, checked against what transformers' `AutoTokenizer`
//! gives when it loads them (fixture from crates/model/scripts/hf_fixtures.py `tokenizer`):
//! the same ids as ours on every message of the SMS collection and on tricky texts.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::collections::HashMap;

use crate::common;
use spam_data::Tokenizer;

fn short_digest(s: &str) -> String {
    common::sha256(s.as_bytes())[..16].to_string()
}

struct Fixture {
    files: HashMap<String, String>,
    tricky: Vec<(String, Vec<u32>)>,
    sms: HashMap<String, String>,
}

fn fixture() -> Fixture {
    let text = std::fs::read_to_string(common::fixtures().join("hf_tokenizer_ids.txt")).unwrap();
    let mut f = Fixture {
        files: HashMap::new(),
        tricky: Vec::new(),
        sms: HashMap::new(),
    };
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let (kind, rest) = line.split_once(' ').unwrap();
        match kind {
            "tricky" => {
                let mut de =
                    serde_json::Deserializer::from_str(rest).into_iter::<serde_json::Value>();
                let t = de.next().unwrap().unwrap();
                let ids = de.next().unwrap().unwrap();
                f.tricky.push((
                    t.as_str().unwrap().to_string(),
                    serde_json::from_value(ids).unwrap(),
                ));
            }
            "sms" => {
                let (text, ids) = rest.split_once(' ').unwrap();
                f.sms.insert(text.to_string(), ids.to_string());
            }
            file => {
                f.files.insert(file.to_string(), rest.to_string());
            }
        }
    }
    f
}

#[test]
fn hfx_the_files_are_the_ones_transformers_was_checked_on() {
    let f = fixture();
    let (vocab, merges) = spam_data::gpt2_vocab_and_merges().unwrap();
    assert_eq!(common::sha256(vocab.as_bytes()), f.files["vocab.json"]);
    assert_eq!(common::sha256(merges.as_bytes()), f.files["merges.txt"]);
    // GPT-2's published merges file has 50000 merges after its version line.
    assert_eq!(merges.lines().count(), 50_001);
    assert!(
        merges.starts_with("#version: 0.2\nĠ t\n"),
        "{}",
        &merges[..40]
    );
    let v: serde_json::Value = serde_json::from_str(&vocab).unwrap();
    assert_eq!(v.as_object().unwrap().len(), 50_257);
    assert_eq!(v["<|endoftext|>"], 50256);
    assert_eq!(v["Hello"], 15496);
    assert_eq!(v["Ġworld"], 995);
}

#[test]
fn hfx_transformers_gives_our_ids_on_every_sms_message_and_tricky_texts() {
    let f = fixture();
    let tok = Tokenizer::gpt2();
    assert!(f.tricky.len() >= 10);
    for (text, ids) in &f.tricky {
        assert_eq!(&tok.encode(text), ids, "{text:?}");
    }
    let file = std::fs::read_to_string(common::real_sms()).unwrap();
    let texts: Vec<&str> = file
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .filter_map(|l| l.split_once('\t').map(|(_, t)| t))
        .collect();
    assert_eq!(texts.len(), 5574);
    assert_eq!(
        f.sms.len(),
        texts.iter().collect::<std::collections::HashSet<_>>().len()
    );
    for text in texts {
        let ids: Vec<String> = tok.encode(text).iter().map(u32::to_string).collect();
        let want = f.sms.get(&short_digest(text)).unwrap();
        assert_eq!(&short_digest(&ids.join(",")), want, "{text:?}");
    }
}

#[test]
fn hfx_the_tokenizer_config_names_end_of_text_as_padding() {
    let dir = tempfile::tempdir().unwrap();
    spam_data::write_gpt2_tokenizer_files(dir.path(), 120).unwrap();
    for name in spam_data::TOKENIZER_FILES {
        assert!(dir.path().join(name).is_file(), "{name}");
    }
    let cfg: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("tokenizer_config.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(cfg["model_max_length"], 120);
    assert_eq!(cfg["pad_token"], "<|endoftext|>");
    assert_eq!(cfg["eos_token"], "<|endoftext|>");
    assert_eq!(
        cfg["added_tokens_decoder"]["50256"]["content"],
        "<|endoftext|>"
    );
}
