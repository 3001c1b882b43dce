//! CLIP tokenizer parity with Hugging Face `CLIPTokenizer` (transformers 5.23).
//!
//! Golden ids: `tests/fixtures/textimg/tokenizer_cases.json`, made by
//! `tests/fixtures/make_textimg_fixtures.py tokenizer`. Ids must be identical (no tolerance).
use clipsearch::tokenizer::ClipTokenizer;
use clipsearch::Error;

const TOKENIZER_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/models/clip-tokenizer");

#[derive(serde::Deserialize)]
struct Case {
    text: String,
    ids: Vec<u32>,
    untruncated_len: usize,
}

#[derive(serde::Deserialize)]
struct Fixture {
    cases: Vec<Case>,
}

fn cases() -> Vec<Case> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/textimg/tokenizer_cases.json"
    );
    let bytes = std::fs::read(path).expect("fixture file");
    let f: Fixture = serde_json::from_slice(&bytes).expect("fixture json");
    f.cases
}

fn from_json() -> ClipTokenizer {
    let bytes = std::fs::read(format!("{TOKENIZER_DIR}/tokenizer.json")).expect("tokenizer.json");
    ClipTokenizer::from_tokenizer_json(&bytes).expect("load tokenizer.json")
}

fn from_vocab_merges() -> ClipTokenizer {
    let vocab = std::fs::read(format!("{TOKENIZER_DIR}/vocab.json")).expect("vocab.json");
    let merges = std::fs::read(format!("{TOKENIZER_DIR}/merges.txt")).expect("merges.txt");
    ClipTokenizer::from_vocab_merges(&vocab, &merges).expect("load vocab+merges")
}

/// Asserts every fixture case encodes to exactly the Hugging Face ids, printing the first
/// mismatches.
fn assert_all_cases_match(tok: &ClipTokenizer, what: &str) {
    let cases = cases();
    let mut bad = Vec::new();
    for (i, c) in cases.iter().enumerate() {
        let ids = tok.encode(&c.text).expect("encode");
        if ids != c.ids {
            bad.push((i, c, ids));
        }
    }
    for (i, c, ids) in bad.iter().take(10) {
        eprintln!(
            "[{what}] case {i} {:?}\n  expected {:?}\n  got      {:?}",
            c.text, c.ids, ids
        );
    }
    assert!(
        bad.is_empty(),
        "[{what}] {} of {} strings differ from Hugging Face",
        bad.len(),
        cases.len()
    );
}

#[test]
fn fixture_covers_at_least_600_strings_including_long_and_empty_ones() {
    let cases = cases();
    assert!(cases.len() >= 600, "{} cases", cases.len());
    assert!(cases.iter().filter(|c| c.untruncated_len > 77).count() >= 50);
    assert!(cases.iter().any(|c| c.text.is_empty()));
    assert!(cases.iter().any(|c| c.text.contains("<|endoftext|>")));
}

#[test]
fn tokenizer_json_ids_equal_hugging_face_on_every_fixture_string() {
    assert_all_cases_match(&from_json(), "tokenizer.json");
}

#[test]
fn vocab_and_merges_ids_equal_hugging_face_on_every_fixture_string() {
    assert_all_cases_match(&from_vocab_merges(), "vocab.json+merges.txt");
}

#[test]
fn empty_and_whitespace_only_text_encode_to_bos_eos() {
    let tok = from_json();
    for text in ["", " ", "\t\n  ", "\u{3000}"] {
        assert_eq!(tok.encode(text).unwrap(), vec![49406, 49407], "{text:?}");
    }
}

#[test]
fn long_text_is_truncated_to_77_with_eos_last() {
    let tok = from_json();
    let text = "a photo of a cat ".repeat(100);
    let ids = tok.encode(&text).unwrap();
    assert_eq!(ids.len(), 77);
    assert_eq!(ids[0], tok.bos_id());
    assert_eq!(ids[76], tok.eos_id());
    // The first 75 content tokens are kept, in order.
    let full = tok
        .clone()
        .with_max_len(10_000)
        .unwrap()
        .encode(&text)
        .unwrap();
    assert_eq!(&ids[..76], &full[..76]);
}

#[test]
fn query_is_never_padded() {
    let tok = from_json();
    assert_eq!(tok.encode("a dog").unwrap().len(), 4);
}

#[test]
fn literal_special_token_strings_map_to_their_ids_so_eos_position_is_the_last_index() {
    let tok = from_json();
    let ids = tok.encode("a <|endoftext|> b").unwrap();
    assert_eq!(ids, vec![49406, 320, 49407, 321, 49407]);
    // argmax of the ids would find index 2; the pooled position is the last one.
    let argmax = ids
        .iter()
        .enumerate()
        .max_by_key(|(i, v)| (**v, std::cmp::Reverse(*i)))
        .unwrap()
        .0;
    assert_eq!(argmax, 2);
    assert_eq!(ids.len() - 1, 4);
}

#[test]
fn custom_max_len_truncates_and_rejects_less_than_two() {
    let tok = from_json().with_max_len(5).unwrap();
    assert_eq!(tok.max_len(), 5);
    assert_eq!(
        tok.encode("a b c d e f").unwrap(),
        vec![49406, 320, 321, 322, 49407]
    );
    let tok2 = from_json().with_max_len(2).unwrap();
    assert_eq!(tok2.encode("a b c").unwrap(), vec![49406, 49407]);
    assert!(matches!(
        from_json().with_max_len(1),
        Err(Error::InvalidArgument(_))
    ));
}

#[test]
fn vocabulary_has_clip_size_and_decode_roundtrips_simple_text() {
    let tok = from_json();
    assert_eq!(tok.vocab_size(), 49408);
    let ids = tok.encode("a photo of a cat").unwrap();
    assert_eq!(tok.decode(&ids).unwrap(), "a photo of a cat");
}

#[test]
fn invalid_tokenizer_files_give_tokenizer_errors() {
    assert!(matches!(
        ClipTokenizer::from_tokenizer_json(b""),
        Err(Error::Tokenizer(_))
    ));
    assert!(matches!(
        ClipTokenizer::from_tokenizer_json(b"<html>not json</html>"),
        Err(Error::Tokenizer(_))
    ));
    let merges = std::fs::read(format!("{TOKENIZER_DIR}/merges.txt")).unwrap();
    assert!(matches!(
        ClipTokenizer::from_vocab_merges(b"[1,2,3]", &merges),
        Err(Error::Tokenizer(_))
    ));
    // A vocabulary without the special tokens is not a CLIP vocabulary.
    assert!(matches!(
        ClipTokenizer::from_vocab_merges(br#"{"a": 0, "b": 1, "ab": 2}"#, b"#version: 0.2\na b\n"),
        Err(Error::Tokenizer(_))
    ));
    let vocab = std::fs::read(format!("{TOKENIZER_DIR}/vocab.json")).unwrap();
    assert!(matches!(
        ClipTokenizer::from_vocab_merges(&vocab, b"#version: 0.2\nthree tokens here\n"),
        Err(Error::Tokenizer(_))
    ));
    assert!(matches!(
        ClipTokenizer::from_vocab_merges(&vocab, b"#version: 0.2\nnotintokens zzzzqqq\n"),
        Err(Error::Tokenizer(_))
    ));
}
