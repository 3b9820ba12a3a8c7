//! GPT-2's tokenizer as the files transformers reads (`vocab.json`, `merges.txt`,
//! `tokenizer_config.json`, `special_tokens_map.json`), derived from the r50k ranks that
//! tiktoken-rs ships, so an exported model needs no other source of the vocabulary.
//!
//! tiktoken stores each token's bytes and its rank; transformers' byte-level BPE stores each
//! token as text (every byte mapped to a printable character by GPT-2's `bytes_to_unicode`)
//! and the list of merges in priority order. A token of rank `r` is the merge of the two
//! pieces that BPE reaches on its bytes when only merges of rank below `r` are allowed
//! (exactly two, for every r50k token): that pair is the merge of priority `r`.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;

use crate::atomic::write_atomic;
use crate::error::{DataError, Result};
use crate::tokenize::GPT2_VOCAB_SIZE;

/// `<|endoftext|>`, GPT-2's end-of-text token: also its padding, BOS and unknown token.
pub const END_OF_TEXT_TOKEN: &str = "<|endoftext|>";

/// The files [`write_gpt2_tokenizer_files`] writes, in order.
pub const TOKENIZER_FILES: [&str; 4] = [
    "vocab.json",
    "merges.txt",
    "tokenizer_config.json",
    "special_tokens_map.json",
];

/// GPT-2's map from bytes to printable characters (`bytes_to_unicode` of its encoder):
/// printable Latin-1 bytes map to themselves, the others to 256, 257, ... in byte order.
pub fn gpt2_byte_to_char() -> [char; 256] {
    let mut out = ['\0'; 256];
    let printable = |b: u32| {
        (u32::from(b'!')..=u32::from(b'~')).contains(&b)
            || (0xA1..=0xAC).contains(&b)
            || (0xAE..=0xFF).contains(&b)
    };
    let mut next = 256u32;
    for b in 0..256u32 {
        let code = if printable(b) {
            b
        } else {
            next += 1;
            next - 1
        };
        // Every code is below 0x200, so always a valid char.
        out[b as usize] = char::from_u32(code).unwrap_or('\u{FFFD}');
    }
    out
}

/// The bytes of every ordinary GPT-2 token (ids `0..50256`), by id.
fn token_bytes() -> Result<Vec<Vec<u8>>> {
    let bpe = tiktoken_rs::r50k_base_singleton();
    (0..(GPT2_VOCAB_SIZE as u32 - 1))
        .map(|id| {
            bpe.decode_bytes(&[id])
                .map_err(|e| DataError::Tokenizer(format!("token {id} has no bytes: {e}")))
        })
        .collect()
}

/// `vocab.json` and `merges.txt` of GPT-2, as transformers' `GPT2Tokenizer` reads them.
pub fn gpt2_vocab_and_merges() -> Result<(String, String)> {
    let tokens = token_bytes()?;
    let ranks: HashMap<&[u8], u32> = tokens
        .iter()
        .enumerate()
        .map(|(id, t)| (t.as_slice(), id as u32))
        .collect();
    let map = gpt2_byte_to_char();
    let text = |bytes: &[u8]| -> String { bytes.iter().map(|&b| map[b as usize]).collect() };

    let mut vocab = String::from("{");
    for (id, t) in tokens.iter().enumerate() {
        let key = serde_json::to_string(&text(t))
            .map_err(|e| DataError::Tokenizer(format!("cannot encode token {id}: {e}")))?;
        let _ = write!(vocab, "{key}: {id}, ");
    }
    let _ = write!(
        vocab,
        "\"{END_OF_TEXT_TOKEN}\": {}}}",
        GPT2_VOCAB_SIZE as u32 - 1
    );

    let mut merges = String::from("#version: 0.2\n");
    for (rank, t) in tokens.iter().enumerate() {
        if t.len() < 2 {
            continue;
        }
        let [left, right] = merge_of(t, rank as u32, &ranks).ok_or_else(|| {
            DataError::Tokenizer(format!(
                "token {rank} is not the merge of two lower-ranked tokens; the r50k ranks \
                     are not GPT-2's"
            ))
        })?;
        let _ = writeln!(merges, "{} {}", text(left), text(right));
    }
    Ok((vocab, merges))
}

/// The two pieces BPE leaves of `token` when only merges of rank below `rank` may apply.
fn merge_of<'a>(token: &'a [u8], rank: u32, ranks: &HashMap<&[u8], u32>) -> Option<[&'a [u8]; 2]> {
    // Piece boundaries: piece i is token[bounds[i]..bounds[i + 1]].
    let mut bounds: Vec<usize> = (0..=token.len()).collect();
    loop {
        let best = (0..bounds.len().saturating_sub(2))
            .filter_map(|i| {
                let r = *ranks.get(&token[bounds[i]..bounds[i + 2]])?;
                (r < rank).then_some((r, i))
            })
            .min();
        match best {
            Some((_, i)) => {
                bounds.remove(i + 1);
            }
            None => break,
        }
    }
    match bounds.as_slice() {
        [a, b, c] => Some([&token[*a..*b], &token[*b..*c]]),
        _ => None,
    }
}

/// `tokenizer_config.json`: the GPT-2 tokenizer class, `<|endoftext|>` (id 50256) as
/// end-of-text, BOS, unknown and padding token, right padding, no prefix space, and
/// `model_max_length` (longer texts are cut there when transformers is asked to truncate).
pub fn gpt2_tokenizer_config(model_max_length: usize) -> String {
    let eot = END_OF_TEXT_TOKEN;
    let value = serde_json::json!({
        "tokenizer_class": "GPT2Tokenizer",
        "model_max_length": model_max_length,
        "add_prefix_space": false,
        "add_bos_token": false,
        "bos_token": eot,
        "eos_token": eot,
        "unk_token": eot,
        "pad_token": eot,
        "padding_side": "right",
        "errors": "replace",
        "clean_up_tokenization_spaces": false,
        "added_tokens_decoder": {
            (GPT2_VOCAB_SIZE - 1).to_string(): {
                "content": eot, "lstrip": false, "normalized": true, "rstrip": false,
                "single_word": false, "special": true
            }
        }
    });
    format!("{value:#}\n")
}

/// `special_tokens_map.json`: `<|endoftext|>` for every role.
pub fn gpt2_special_tokens_map() -> String {
    let eot = END_OF_TEXT_TOKEN;
    let value = serde_json::json!({
        "bos_token": eot, "eos_token": eot, "unk_token": eot, "pad_token": eot
    });
    format!("{value:#}\n")
}

/// Writes the four [`TOKENIZER_FILES`] into `dir` (which must exist), each atomically.
pub fn write_gpt2_tokenizer_files(dir: &Path, model_max_length: usize) -> Result<()> {
    let (vocab, merges) = gpt2_vocab_and_merges()?;
    let contents = [
        vocab,
        merges,
        gpt2_tokenizer_config(model_max_length),
        gpt2_special_tokens_map(),
    ];
    for (name, text) in TOKENIZER_FILES.iter().zip(contents) {
        write_atomic(dir.join(name), text.as_bytes())?;
    }
    Ok(())
}
