//! CLIP BPE tokenizer (interface placeholder; implemented on the `textimg` branch).
#![allow(missing_docs)]
use crate::{Error, Result};

/// CLIP tokenizer.
pub struct ClipTokenizer {
    _p: (),
}

impl ClipTokenizer {
    pub fn from_tokenizer_json(_bytes: &[u8]) -> Result<Self> {
        Err(Error::Tokenizer("tokenizer not built yet".into()))
    }
    /// `[BOS, ..., EOS]`, at most `max_len()` ids, EOS always last.
    pub fn encode(&self, _text: &str) -> Result<Vec<u32>> {
        Err(Error::Tokenizer("tokenizer not built yet".into()))
    }
    pub fn max_len(&self) -> usize {
        77
    }
}
