//! Token ids against what Python tiktoken (`gpt2`) wrote: every message of the real file, plus
//! tricky texts (non-ASCII, emoji, HTML entities, `<|endoftext|>`).

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use crate::common;

use spam_data::{ParseMode, Tokenizer, read_sms};

fn ids_hash(ids: &[u32]) -> String {
    let text: Vec<String> = ids.iter().map(u32::to_string).collect();
    common::sha256(text.join(" ").as_bytes())
}

#[test]
fn every_real_message_matches_tiktoken() {
    let fixture = std::fs::read_to_string(common::fixtures().join("tiktoken_sms_ids.txt")).unwrap();
    let mut lines = fixture.lines();
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    // "# messages 5574 tokens 127018 sha256 <hex>"
    assert_eq!(header[2], "5574");
    let expected: Vec<(usize, &str)> = lines
        .map(|l| {
            let (n, h) = l.split_once(' ').unwrap();
            (n.parse().unwrap(), h)
        })
        .collect();

    let ds = read_sms(common::real_sms(), ParseMode::Lines).unwrap();
    assert_eq!(ds.len(), 5574);
    assert_eq!(expected.len(), 5574);
    let tok = Tokenizer::gpt2();
    let all = tok.encode_all(&ds.texts);
    let mut mismatches = Vec::new();
    for (i, (ids, (n, h))) in all.iter().zip(&expected).enumerate() {
        if ids.len() != *n || &ids_hash(ids)[..16] != *h {
            mismatches.push(format!("line {}: {:?}", i + 1, ds.texts[i]));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} messages differ from tiktoken: {:#?}",
        mismatches.len(),
        &mismatches[..mismatches.len().min(5)]
    );
    let flat: Vec<u32> = all.concat();
    assert_eq!(flat.len(), 127_018);
    assert_eq!(flat.len().to_string(), header[4]);
    assert_eq!(ids_hash(&flat), header[6]);
}

#[test]
fn tricky_texts_match_tiktoken() {
    let tok = Tokenizer::gpt2();
    let text = std::fs::read_to_string(common::fixtures().join("tiktoken_cases.jsonl")).unwrap();
    let mut n = 0;
    for line in text.lines() {
        let case: serde_json::Value = serde_json::from_str(line).unwrap();
        let s = case["text"].as_str().unwrap();
        let ids: Vec<u32> = case["ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as u32)
            .collect();
        assert_eq!(tok.encode(s), ids, "{s:?}");
        assert_eq!(tok.decode(&ids).unwrap(), s);
        n += 1;
    }
    assert!(n > 40, "{n} cases");
}

#[test]
fn endoftext_in_data_is_plain_text() {
    let tok = Tokenizer::gpt2();
    let ids = tok.encode("a <|endoftext|> b");
    assert!(!ids.contains(&spam_data::PAD_TOKEN_ID));
    assert!(ids.len() > 3);
}

#[test]
fn pathological_inputs_do_not_panic() {
    let tok = Tokenizer::gpt2();
    let spaces = format!("{}x", " ".repeat(200_000));
    assert!(!tok.encode(&spaces).is_empty());
    let long_word = "a".repeat(200_000);
    assert!(!tok.encode(&long_word).is_empty());
    let mixed = "£😀&lt;#&gt;\u{96}\t\r\n".repeat(10_000);
    let ids = tok.encode(&mixed);
    assert_eq!(tok.decode(&ids).unwrap(), mixed);
}
