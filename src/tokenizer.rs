//! The CLIP BPE tokenizer, with ids identical to Hugging Face's `CLIPTokenizer`.
//!
//! Built on the `tokenizers` crate (the library behind Hugging Face's fast tokenizers, here with
//! its pure-Rust `fancy-regex` backend so it also builds for wasm32). It runs the same pipeline as
//! `transformers` 5.23 `models/clip/tokenization_clip.py`:
//!
//! 1. normalise: Unicode NFC, every run of whitespace replaced by one space, lowercase;
//! 2. split with CLIP's regex (`'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+`,
//!    whitespace removed), then GPT-2 byte-level mapping;
//! 3. BPE over OpenAI's `bpe_simple_vocab_16e6` merges, each word ending in `</w>`;
//! 4. `<|startoftext|>` (49406) first and `<|endoftext|>` (49407) last.
//!
//! ## Contracts
//! - [`ClipTokenizer::encode`] returns `[BOS, tokens..., EOS]`, never more than
//!   [`ClipTokenizer::max_len`] ids (77 for every OpenAI CLIP). A longer text keeps its first
//!   `max_len - 2` tokens and the EOS id stays last, exactly as Hugging Face's
//!   `tokenizer(text, truncation=True, max_length=77)`.
//! - **The end-of-text position is `ids.len() - 1`.** A query is never padded, so the model pools
//!   the hidden state at that index. It must never be found with `argmax` of the ids: a text that
//!   contains the literal string `<|endoftext|>` has that id in the middle too (Hugging Face maps
//!   literal special-token strings to their ids, and so does this tokenizer).
//! - The empty string (and any whitespace-only string) encodes to `[49406, 49407]`: a valid,
//!   two-token query.
//!
//! # Example
//! ```
//! let json = std::fs::read("models/clip-tokenizer/tokenizer.json").unwrap();
//! let tok = clipsearch::tokenizer::ClipTokenizer::from_tokenizer_json(&json).unwrap();
//! let ids = tok.encode("a photo of a cat").unwrap();
//! assert_eq!(ids, vec![49406, 320, 1125, 539, 320, 2368, 49407]);
//! assert_eq!(tok.encode("").unwrap(), vec![49406, 49407]);
//! ```
use std::collections::HashMap;

use tokenizers::models::bpe::BPE;
use tokenizers::normalizers::{Lowercase, Replace, Sequence as NormalizerSequence, NFC};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::sequence::Sequence as PreTokenizerSequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::processors::roberta::RobertaProcessing;
use tokenizers::{AddedToken, SplitDelimiterBehavior, Tokenizer};

use crate::{Error, Result};

/// The start-of-text token of CLIP's vocabulary.
pub const BOS_TOKEN: &str = "<|startoftext|>";
/// The end-of-text token of CLIP's vocabulary (also CLIP's unknown and padding token).
pub const EOS_TOKEN: &str = "<|endoftext|>";
/// The context length of every OpenAI CLIP text tower.
pub const DEFAULT_MAX_LEN: usize = 77;

/// CLIP's pre-tokenizer split pattern, as in `transformers` 5.23 `tokenization_clip.py`.
const SPLIT_PATTERN: &str =
    r"<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+";

/// CLIP's byte-level BPE tokenizer.
///
/// Cheap to share: `encode` takes `&self` and the type is `Send + Sync`.
#[derive(Clone)]
pub struct ClipTokenizer {
    inner: Tokenizer,
    bos: u32,
    eos: u32,
    max_len: usize,
}

impl std::fmt::Debug for ClipTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClipTokenizer")
            .field("vocab_size", &self.vocab_size())
            .field("bos", &self.bos)
            .field("eos", &self.eos)
            .field("max_len", &self.max_len)
            .finish()
    }
}

impl ClipTokenizer {
    /// Loads a Hugging Face `tokenizer.json` (e.g. `openai/clip-vit-base-patch32`'s, or
    /// `models/clip-tokenizer/tokenizer.json`).
    ///
    /// Any truncation or padding stored in the file is ignored: this type truncates to
    /// [`max_len`](Self::max_len) itself and never pads.
    ///
    /// # Errors
    /// [`Error::Tokenizer`] if the bytes are not a valid `tokenizer.json` or its vocabulary lacks
    /// `<|startoftext|>` or `<|endoftext|>`.
    ///
    /// # Example
    /// ```
    /// use clipsearch::tokenizer::ClipTokenizer;
    /// let json = std::fs::read("models/clip-tokenizer/tokenizer.json").unwrap();
    /// let tok = ClipTokenizer::from_tokenizer_json(&json).unwrap();
    /// assert_eq!(tok.max_len(), 77);
    /// assert!(ClipTokenizer::from_tokenizer_json(b"not json").is_err());
    /// ```
    pub fn from_tokenizer_json(bytes: &[u8]) -> Result<Self> {
        let mut inner = Tokenizer::from_bytes(bytes).map_err(|e| {
            Error::Tokenizer(format!(
                "tokenizer.json could not be parsed ({e}): pass the tokenizer.json of a CLIP model"
            ))
        })?;
        inner
            .with_truncation(None)
            .map_err(|e| Error::Tokenizer(e.to_string()))?;
        inner.with_padding(None);
        Self::wrap(inner)
    }

    /// Builds the tokenizer from a Hugging Face model folder's `vocab.json` and `merges.txt`
    /// (for folders without `tokenizer.json`), with exactly the pipeline `transformers`'
    /// `CLIPTokenizer` builds from them.
    ///
    /// `merges_txt` may start with a `#version` line; empty lines are skipped.
    ///
    /// # Errors
    /// [`Error::Tokenizer`] if `vocab.json` is not a JSON object of token -> id, a merge line
    /// does not hold two tokens, a merge names a token missing from the vocabulary, or the
    /// vocabulary lacks `<|startoftext|>` or `<|endoftext|>`.
    ///
    /// # Example
    /// ```
    /// use clipsearch::tokenizer::ClipTokenizer;
    /// let vocab = std::fs::read("models/clip-tokenizer/vocab.json").unwrap();
    /// let merges = std::fs::read("models/clip-tokenizer/merges.txt").unwrap();
    /// let tok = ClipTokenizer::from_vocab_merges(&vocab, &merges).unwrap();
    /// assert_eq!(tok.encode("a dog").unwrap(), vec![49406, 320, 1929, 49407]);
    /// ```
    pub fn from_vocab_merges(vocab_json: &[u8], merges_txt: &[u8]) -> Result<Self> {
        let vocab: HashMap<String, u32> = serde_json::from_slice(vocab_json).map_err(|e| {
            Error::Tokenizer(format!(
                "vocab.json is not a JSON object of token -> id ({e}): pass a CLIP vocab.json"
            ))
        })?;
        let merges_txt = std::str::from_utf8(merges_txt)
            .map_err(|e| Error::Tokenizer(format!("merges.txt is not UTF-8: {e}")))?;
        let mut merges = Vec::new();
        for (n, line) in merges_txt.lines().enumerate() {
            if (n == 0 && line.starts_with("#version")) || line.trim().is_empty() {
                continue;
            }
            let mut parts = line.split(' ');
            match (parts.next(), parts.next(), parts.next()) {
                (Some(a), Some(b), None) if !a.is_empty() && !b.is_empty() => {
                    merges.push((a.to_string(), b.to_string()))
                }
                _ => {
                    return Err(Error::Tokenizer(format!(
                        "merges.txt line {} is not two space-separated tokens",
                        n + 1
                    )))
                }
            }
        }
        let bos = *vocab
            .get(BOS_TOKEN)
            .ok_or_else(|| Error::Tokenizer(format!("vocab.json has no `{BOS_TOKEN}`")))?;
        let eos = *vocab
            .get(EOS_TOKEN)
            .ok_or_else(|| Error::Tokenizer(format!("vocab.json has no `{EOS_TOKEN}`")))?;

        // transformers 5.23 models/clip/tokenization_clip.py, CLIPTokenizer.__init__.
        let bpe = BPE::builder()
            .vocab_and_merges(
                vocab
                    .into_iter()
                    .collect::<tokenizers::models::bpe::Vocab>(),
                merges,
            )
            .dropout(0.0)
            .continuing_subword_prefix(String::new())
            .end_of_word_suffix("</w>".to_string())
            .fuse_unk(false)
            .unk_token(EOS_TOKEN.to_string())
            .build()
            .map_err(|e| Error::Tokenizer(format!("vocab.json/merges.txt do not agree: {e}")))?;
        let err = |e: tokenizers::Error| Error::Tokenizer(e.to_string());
        let normalizer = NormalizerSequence::new(vec![
            NFC.into(),
            Replace::new(
                tokenizers::normalizers::replace::ReplacePattern::Regex(r"\s+".into()),
                " ",
            )
            .map_err(err)?
            .into(),
            Lowercase.into(),
        ]);
        let pre_tokenizer = PreTokenizerSequence::new(vec![
            Split::new(
                SplitPattern::Regex(SPLIT_PATTERN.into()),
                SplitDelimiterBehavior::Removed,
                true,
            )
            .map_err(err)?
            .into(),
            ByteLevel::new(false, true, true).into(),
        ]);
        let mut inner = Tokenizer::new(bpe);
        inner
            .with_normalizer(Some(normalizer))
            .with_pre_tokenizer(Some(pre_tokenizer))
            .with_post_processor(Some(
                RobertaProcessing::new((EOS_TOKEN.into(), eos), (BOS_TOKEN.into(), bos))
                    .trim_offsets(false)
                    .add_prefix_space(false),
            ))
            .with_decoder(Some(ByteLevel::default()));
        inner.add_special_tokens(&[
            AddedToken::from(BOS_TOKEN, true),
            AddedToken::from(EOS_TOKEN, true),
        ]);
        Self::wrap(inner)
    }

    fn wrap(inner: Tokenizer) -> Result<Self> {
        let bos = inner.token_to_id(BOS_TOKEN).ok_or_else(|| {
            Error::Tokenizer(format!(
                "the vocabulary has no `{BOS_TOKEN}`: this is not a CLIP tokenizer"
            ))
        })?;
        let eos = inner.token_to_id(EOS_TOKEN).ok_or_else(|| {
            Error::Tokenizer(format!(
                "the vocabulary has no `{EOS_TOKEN}`: this is not a CLIP tokenizer"
            ))
        })?;
        Ok(Self {
            inner,
            bos,
            eos,
            max_len: DEFAULT_MAX_LEN,
        })
    }

    /// Returns this tokenizer with another maximum sequence length (the text tower's
    /// `max_position_embeddings`), counting BOS and EOS.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if `max_len < 2` (BOS and EOS alone need two positions).
    ///
    /// # Example
    /// ```
    /// # let json = std::fs::read("models/clip-tokenizer/tokenizer.json").unwrap();
    /// let tok = clipsearch::tokenizer::ClipTokenizer::from_tokenizer_json(&json).unwrap();
    /// let tok = tok.with_max_len(4).unwrap();
    /// assert_eq!(tok.encode("a b c d e").unwrap(), vec![49406, 320, 321, 49407]);
    /// ```
    pub fn with_max_len(mut self, max_len: usize) -> Result<Self> {
        if max_len < 2 {
            return Err(Error::InvalidArgument(format!(
                "tokenizer max_len must be at least 2 (BOS and EOS), got {max_len}"
            )));
        }
        self.max_len = max_len;
        Ok(self)
    }

    /// Tokenizes `text` into `[BOS, tokens..., EOS]`, truncated to [`max_len`](Self::max_len)
    /// ids with EOS kept last, never padded.
    ///
    /// The end-of-text position the text tower pools at is always `ids.len() - 1` (see the
    /// module docs); `""` gives `[49406, 49407]`.
    ///
    /// # Errors
    /// [`Error::Tokenizer`] if the underlying tokenizer fails (not expected for any `&str`).
    ///
    /// # Example
    /// ```
    /// # let json = std::fs::read("models/clip-tokenizer/tokenizer.json").unwrap();
    /// let tok = clipsearch::tokenizer::ClipTokenizer::from_tokenizer_json(&json).unwrap();
    /// let ids = tok.encode(&"word ".repeat(200)).unwrap();
    /// assert_eq!(ids.len(), 77);
    /// assert_eq!(ids[76], tok.eos_id());
    /// ```
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        encode_between(&self.inner, text, self.bos, self.eos, self.max_len)
    }

    /// The maximum number of ids [`encode`](Self::encode) returns, BOS and EOS included
    /// (77 unless changed with [`with_max_len`](Self::with_max_len)).
    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// The id of `<|startoftext|>` (49406 in CLIP's vocabulary).
    pub fn bos_id(&self) -> u32 {
        self.bos
    }

    /// The id of `<|endoftext|>` (49407 in CLIP's vocabulary).
    pub fn eos_id(&self) -> u32 {
        self.eos
    }

    /// The number of ids in the vocabulary, special tokens included (49408 for CLIP).
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// Turns ids back into text (special tokens dropped), for debugging and display.
    ///
    /// # Errors
    /// [`Error::Tokenizer`] if an id is outside the vocabulary.
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        let text = self
            .inner
            .decode(ids, true)
            .map_err(|e| Error::Tokenizer(format!("could not decode ids: {e}")))?;
        Ok(text.replace("</w>", " ").trim().to_string())
    }
}

/// A BERT WordPiece tokenizer from a Hugging Face `tokenizer.json` (e.g. the
/// `bert-base-multilingual-cased` tokenizer of `sentence-transformers/clip-ViT-B-32-multilingual-v1`),
/// with the truncation sentence-transformers applies.
///
/// The pipeline (normaliser, pre-tokenizer, WordPiece vocabulary) is the one stored in the file,
/// run by the `tokenizers` crate. [`WordPieceTokenizer::encode`] returns `[CLS] tokens... [SEP]`,
/// at most [`max_len`](Self::max_len) ids (the model's `max_seq_length`, 128 for
/// clip-ViT-B-32-multilingual-v1) with `[SEP]` kept last, exactly as
/// `tokenizer(text, truncation=True, max_length=max_seq_length)` (what sentence-transformers'
/// `Transformer.tokenize` calls for one text). The empty string encodes to `[CLS, SEP]`.
///
/// # Example
/// ```
/// use clipsearch::tokenizer::WordPieceTokenizer;
/// let json = std::fs::read("models/tiny-multilingual/tokenizer.json").unwrap();
/// let tok = WordPieceTokenizer::from_tokenizer_json(&json, 128).unwrap();
/// assert_eq!(tok.encode("").unwrap(), vec![101, 102]);
/// assert_eq!(tok.encode(&"猫".repeat(300)).unwrap().len(), 128);
/// ```
#[derive(Clone)]
pub struct WordPieceTokenizer {
    inner: Tokenizer,
    cls: u32,
    sep: u32,
    max_len: usize,
}

impl std::fmt::Debug for WordPieceTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WordPieceTokenizer")
            .field("vocab_size", &self.vocab_size())
            .field("cls", &self.cls)
            .field("sep", &self.sep)
            .field("max_len", &self.max_len)
            .finish()
    }
}

impl WordPieceTokenizer {
    /// The classification token (first id of every sequence).
    pub const CLS_TOKEN: &'static str = "[CLS]";
    /// The separator token (last id of every sequence).
    pub const SEP_TOKEN: &'static str = "[SEP]";

    /// Loads a BERT `tokenizer.json`; `max_len` counts `[CLS]` and `[SEP]`.
    ///
    /// Truncation and padding stored in the file are ignored (this type truncates itself and
    /// never pads).
    ///
    /// # Errors
    /// [`Error::Tokenizer`] if the bytes are not a valid `tokenizer.json` or the vocabulary
    /// lacks `[CLS]` or `[SEP]`; [`Error::InvalidArgument`] if `max_len < 2`.
    pub fn from_tokenizer_json(bytes: &[u8], max_len: usize) -> Result<Self> {
        if max_len < 2 {
            return Err(Error::InvalidArgument(format!(
                "tokenizer max_len must be at least 2 ([CLS] and [SEP]), got {max_len}"
            )));
        }
        let mut inner = Tokenizer::from_bytes(bytes).map_err(|e| {
            Error::Tokenizer(format!(
                "tokenizer.json could not be parsed ({e}): pass the tokenizer.json of the \
                 sentence-transformers model"
            ))
        })?;
        inner
            .with_truncation(None)
            .map_err(|e| Error::Tokenizer(e.to_string()))?;
        inner.with_padding(None);
        let id = |t: &str| {
            inner.token_to_id(t).ok_or_else(|| {
                Error::Tokenizer(format!(
                    "the vocabulary has no `{t}`: this is not a BERT WordPiece tokenizer"
                ))
            })
        };
        let (cls, sep) = (id(Self::CLS_TOKEN)?, id(Self::SEP_TOKEN)?);
        Ok(Self {
            inner,
            cls,
            sep,
            max_len,
        })
    }

    /// Tokenizes `text` into `[CLS] tokens... [SEP]`, truncated to [`max_len`](Self::max_len)
    /// ids with `[SEP]` kept last, never padded.
    ///
    /// # Errors
    /// [`Error::Tokenizer`] if the underlying tokenizer fails (not expected for any `&str`).
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        encode_between(&self.inner, text, self.cls, self.sep, self.max_len)
    }

    /// The maximum number of ids [`encode`](Self::encode) returns, `[CLS]` and `[SEP]` included.
    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// The number of ids in the vocabulary, special tokens included.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }
}

/// `first, tokens..., last` for `text` without the tokenizer's own special tokens, the tokens
/// truncated so the whole stays within `max_len` (>= 2) ids with `last` kept last (CLIP's
/// `<|startoftext|> ... <|endoftext|>`, BERT's `[CLS] ... [SEP]`).
fn encode_between(
    inner: &Tokenizer,
    text: &str,
    first: u32,
    last: u32,
    max_len: usize,
) -> Result<Vec<u32>> {
    let enc = inner
        .encode_fast(text, false)
        .map_err(|e| Error::Tokenizer(format!("could not tokenize the text: {e}")))?;
    let body = enc.get_ids();
    let keep = body.len().min(max_len.saturating_sub(2));
    let mut ids = Vec::with_capacity(keep + 2);
    ids.push(first);
    ids.extend_from_slice(body.get(..keep).unwrap_or(body));
    ids.push(last);
    Ok(ids)
}
