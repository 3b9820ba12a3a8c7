//! GPT-2's byte-pair encoding (tiktoken's `gpt2` / `r50k_base`), via tiktoken-rs.
//!
//! Ids are identical to Python tiktoken's `tiktoken.get_encoding("gpt2").encode(text)` for
//! ordinary text (checked on every message of the SMS collection). Text that happens to contain
//! `<|endoftext|>` is encoded as plain text (Python's `encode_ordinary`), never as the special
//! token 50256, so data cannot inject control tokens.

use rayon::prelude::*;
use tiktoken_rs::CoreBPE;

use crate::error::{DataError, Result};

/// GPT-2's vocabulary size (50257; the last id, 50256, is `<|endoftext|>`).
pub const GPT2_VOCAB_SIZE: usize = 50_257;

/// The GPT-2 tokenizer. Cheap to construct and to clone (the BPE tables are shared).
#[derive(Clone, Copy)]
pub struct Tokenizer {
    bpe: &'static CoreBPE,
}

impl std::fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tokenizer(gpt2)")
    }
}

impl Default for Tokenizer {
    fn default() -> Self {
        Self::gpt2()
    }
}

impl Tokenizer {
    /// GPT-2's encoding (ranks embedded in tiktoken-rs; built once per process).
    pub fn gpt2() -> Self {
        Tokenizer {
            bpe: tiktoken_rs::r50k_base_singleton(),
        }
    }

    /// Token ids of `text`; special-token text is treated as plain text.
    pub fn encode(&self, text: &str) -> Vec<u32> {
        self.bpe.encode_ordinary(text)
    }

    /// Encodes many texts in parallel, keeping their order.
    pub fn encode_all<S: AsRef<str> + Sync>(&self, texts: &[S]) -> Vec<Vec<u32>> {
        texts.par_iter().map(|t| self.encode(t.as_ref())).collect()
    }

    /// Text of `ids` (errors on an unknown id or bytes that are not UTF-8).
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        self.bpe
            .decode(ids)
            .map_err(|e| DataError::Tokenizer(e.to_string()))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn hello_world_and_special_text() {
        let t = Tokenizer::gpt2();
        assert_eq!(t.encode("Hello, world"), [15496, 11, 995]);
        let ids = t.encode("<|endoftext|>");
        assert!(!ids.contains(&50256), "{ids:?}");
        assert_eq!(t.decode(&ids).unwrap(), "<|endoftext|>");
    }
}
