//! Loading models from bytes: every kind of bad input gets its typed error, never a panic.

#[path = "model_support.rs"]
mod support;

use candle_core::quantized::{gguf_file, GgmlDType, QTensor};
use candle_core::{Device, Tensor};
use clipsearch::model::{convert, Clip, ClipModel, ConvertOptions, HfFiles, Quantization, Towers};
use clipsearch::Error;
use support::Tiny;

fn code(r: Result<ClipModel, Error>) -> &'static str {
    match r {
        Ok(_) => "Ok",
        Err(e) => e.code(),
    }
}

#[test]
fn a_truncated_gguf_file_is_an_invalid_model() {
    let tiny = Tiny::load();
    let bytes = tiny.gguf(Quantization::Q8_0, Towers::Both);
    for cut in [0, 3, 10, 100, 4000, bytes.len() / 2, bytes.len() - 100] {
        let r = ClipModel::from_gguf(&bytes[..cut]);
        assert_eq!(code(r), "InvalidModel", "cut at {cut}");
    }
}

#[test]
fn garbage_bytes_are_an_invalid_model_in_both_layouts() {
    let garbage: Vec<u8> = (0..5000u32).map(|i| (i * 7919 % 251) as u8).collect();
    assert_eq!(code(ClipModel::from_gguf(&garbage)), "InvalidModel");
    let tiny = Tiny::load();
    let files = HfFiles {
        weights: &garbage,
        ..tiny.files()
    };
    assert_eq!(code(ClipModel::from_hf(&files)), "InvalidModel");
    let truncated = &tiny.weights[..tiny.weights.len() / 3];
    let files = HfFiles {
        weights: truncated,
        ..tiny.files()
    };
    assert_eq!(code(ClipModel::from_hf(&files)), "InvalidModel");
}

#[test]
fn a_missing_tensor_is_named() {
    let tiny = Tiny::load();
    let name = "text_model.encoder.layers.1.mlp.fc2.bias";
    let w = support::edit_safetensors(&tiny.weights, |m| {
        m.remove(name);
    });
    let files = HfFiles {
        weights: &w,
        ..tiny.files()
    };
    assert_eq!(
        ClipModel::from_hf(&files).unwrap_err(),
        Error::MissingTensor(name.into())
    );
}

#[test]
fn a_tensor_of_the_wrong_shape_is_reported_with_both_shapes() {
    let tiny = Tiny::load();
    let name = "vision_model.encoder.layers.0.self_attn.q_proj.weight";
    let w = support::edit_safetensors(&tiny.weights, |m| {
        let t = Tensor::zeros((32, 16), candle_core::DType::F16, &Device::Cpu).expect("zeros");
        m.insert(name.into(), t);
    });
    let files = HfFiles {
        weights: &w,
        ..tiny.files()
    };
    assert_eq!(
        ClipModel::from_hf(&files).unwrap_err(),
        Error::TensorShape {
            name: name.into(),
            expected: vec![32, 32],
            found: vec![32, 16]
        }
    );
}

#[test]
fn a_config_that_disagrees_with_the_weights_is_a_shape_error() {
    let tiny = Tiny::load();
    let cfg = String::from_utf8(tiny.config.clone())
        .expect("utf8")
        .replace("\"projection_dim\": 32", "\"projection_dim\": 64");
    let files = HfFiles {
        config: cfg.as_bytes(),
        ..tiny.files()
    };
    assert_eq!(code(ClipModel::from_hf(&files)), "TensorShape");
}

#[test]
fn a_bad_config_is_an_invalid_config() {
    let tiny = Tiny::load();
    for cfg in [
        &b"not json"[..],
        br#"{"text_config": {"hidden_act": "relu6"}}"#,
        br#"{"vision_config": {"hidden_size": 30, "num_attention_heads": 4}}"#,
        br#"{"vision_config": {"image_size": 224, "patch_size": 30}}"#,
        br#"{"projection_dim": 0}"#,
    ] {
        let files = HfFiles {
            config: cfg,
            ..tiny.files()
        };
        assert_eq!(
            code(ClipModel::from_hf(&files)),
            "InvalidConfig",
            "{}",
            String::from_utf8_lossy(cfg)
        );
    }
}

/// Rewrites a converted file with one metadata value replaced and optional extra tensors.
fn rewrite(bytes: &[u8], key: &str, value: Option<&str>, extra: Vec<(String, QTensor)>) -> Vec<u8> {
    let mut cur = std::io::Cursor::new(bytes);
    let content = gguf_file::Content::read(&mut cur).expect("read");
    let mut meta: Vec<(String, gguf_file::Value)> = content
        .metadata
        .iter()
        .filter(|(k, _)| k.as_str() != key)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if let Some(v) = value {
        meta.push((key.to_string(), gguf_file::Value::String(v.to_string())));
    }
    let mut tensors: Vec<(String, QTensor)> = content
        .tensor_infos
        .keys()
        .map(|n| {
            let t = content.tensor(&mut cur, n, &Device::Cpu).expect("tensor");
            (n.clone(), t)
        })
        .collect();
    tensors.extend(extra);
    let m: Vec<(&str, &gguf_file::Value)> = meta.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let t: Vec<(&str, &QTensor)> = tensors.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let mut out = std::io::Cursor::new(Vec::new());
    gguf_file::write(&mut out, &m, &t).expect("write");
    out.into_inner()
}

#[test]
fn an_unknown_quantization_is_unsupported() {
    assert_eq!(
        Quantization::parse("q3_k").unwrap_err().code(),
        "UnsupportedQuantization"
    );
    let tiny = Tiny::load();
    let bytes = tiny.gguf(Quantization::F16, Towers::Text);
    let declared = rewrite(&bytes, "clipsearch.quantization", Some("q2_k"), vec![]);
    assert_eq!(
        code(ClipModel::from_gguf(&declared)),
        "UnsupportedQuantization"
    );
    let src = Tensor::ones(256, candle_core::DType::F32, &Device::Cpu).expect("ones");
    let k = QTensor::quantize(&src, GgmlDType::Q6K).expect("q6k");
    let with_k = rewrite(&bytes, "", None, vec![("extra.q6k".into(), k)]);
    assert_eq!(
        code(ClipModel::from_gguf(&with_k)),
        "UnsupportedQuantization"
    );
}

#[test]
fn a_gguf_without_our_metadata_is_an_invalid_model() {
    let tiny = Tiny::load();
    let bytes = tiny.gguf(Quantization::F16, Towers::Vision);
    let no_cfg = rewrite(&bytes, "clipsearch.config_json", None, vec![]);
    assert_eq!(code(ClipModel::from_gguf(&no_cfg)), "InvalidModel");
    let other = rewrite(&bytes, "general.architecture", Some("llama"), vec![]);
    assert_eq!(code(ClipModel::from_gguf(&other)), "InvalidModel");
    let bad_cfg = rewrite(&bytes, "clipsearch.config_json", Some("{]"), vec![]);
    assert_eq!(code(ClipModel::from_gguf(&bad_cfg)), "InvalidConfig");
}

#[test]
fn a_gguf_missing_a_tensor_names_it() {
    let tiny = Tiny::load();
    let bytes = tiny.gguf(Quantization::Q8_0, Towers::Both);
    let mut cur = std::io::Cursor::new(&bytes[..]);
    let content = gguf_file::Content::read(&mut cur).expect("read");
    let drop = "vision_model.post_layernorm.bias";
    assert!(content.tensor_infos.contains_key(drop));
    let meta: Vec<(&str, &gguf_file::Value)> = content
        .metadata
        .iter()
        .map(|(k, v)| (k.as_str(), v))
        .collect();
    let tensors: Vec<(String, QTensor)> = content
        .tensor_infos
        .keys()
        .filter(|n| n.as_str() != drop)
        .map(|n| {
            (
                n.clone(),
                content.tensor(&mut cur, n, &Device::Cpu).expect("t"),
            )
        })
        .collect();
    let t: Vec<(&str, &QTensor)> = tensors.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let mut out = std::io::Cursor::new(Vec::new());
    gguf_file::write(&mut out, &meta, &t).expect("write");
    assert_eq!(
        ClipModel::from_gguf(&out.into_inner()).unwrap_err(),
        Error::MissingTensor(drop.into())
    );
}

#[test]
fn a_text_model_without_a_tokenizer_cannot_become_a_pipeline() {
    let tiny = Tiny::load();
    let files = HfFiles {
        tokenizer_json: None,
        ..tiny.files()
    };
    let model = ClipModel::from_hf(&files).expect("the model itself loads");
    assert_eq!(Clip::new(model).unwrap_err().code(), "TokenizerError");
    let files = HfFiles {
        tokenizer_json: Some(b"{\"not\": \"a tokenizer\"}"),
        ..tiny.files()
    };
    assert_eq!(Clip::from_hf(&files).unwrap_err().code(), "TokenizerError");
}

#[test]
fn converting_a_tower_the_source_lacks_is_refused() {
    let tiny = Tiny::load();
    let text_only = support::edit_safetensors(&tiny.weights, |m| {
        m.retain(|k, _| !k.starts_with("vision_model.") && k != "visual_projection.weight");
    });
    let files = HfFiles {
        weights: &text_only,
        ..tiny.files()
    };
    let m = ClipModel::from_hf(&files).expect("a text-only HF model loads");
    assert_eq!(m.info().towers, Towers::Text);
    let opts = ConvertOptions {
        quantization: Quantization::Q8_0,
        towers: Towers::Vision,
        name: None,
    };
    assert_eq!(
        convert(&files, &opts).unwrap_err(),
        Error::TowerNotLoaded("vision")
    );
}

#[test]
fn bad_ids_and_pixel_buffers_are_invalid_arguments() {
    let tiny = Tiny::load();
    let m = ClipModel::from_hf(&tiny.files()).expect("load");
    let long: Vec<u32> = (0..78).map(|_| 320).collect();
    for ids in [&[][..], &[49406, 49408], &long[..]] {
        assert_eq!(
            m.embed_text_ids(ids).unwrap_err().code(),
            "InvalidArgument",
            "{ids:?}"
        );
    }
    assert_eq!(
        m.embed_pixels(&[0.0; 100], 1).unwrap_err().code(),
        "InvalidArgument"
    );
    assert_eq!(
        m.embed_pixels(&vec![0.0; 3 * 224 * 224], 2)
            .unwrap_err()
            .code(),
        "InvalidArgument"
    );
    assert_eq!(
        m.embed_pixels(&[], 0).unwrap_err().code(),
        "InvalidArgument"
    );
}

#[test]
fn the_empty_text_is_embedded_as_bos_eos_and_ids_after_the_first_eos_are_ignored() {
    let tiny = Tiny::load();
    let m = ClipModel::from_hf(&tiny.files()).expect("load");
    let empty = m.embed_text_ids(&[49406, 49407]).expect("empty");
    assert_eq!(empty.len(), 32);
    let padded = m
        .embed_text_ids(&[49406, 49407, 320, 1125, 49407])
        .expect("padded");
    assert!(support::cosine(&empty, &padded) > 0.99999);
    let other = m.embed_text_ids(&[49406, 320, 49407]).expect("other");
    assert!(support::cosine(&empty, &other) < 0.9999);
}
