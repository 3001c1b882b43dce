//! Embedding tables: Parquet, Qdrant and NPY export, Parquet import.

use arrow_array::builder::{Float64Builder, ListBuilder, StringBuilder};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema};
use clipsearch::table::{
    export_parquet, import_parquet, qdrant_create_collection, qdrant_point_id, write_npy,
    write_qdrant_points, ExportOptions, ImportOptions, QDRANT_BATCH,
};
use clipsearch::{Error, Item, Metadata, SpaceInfo};
use serde_json::{json, Value};
use std::sync::Arc;

fn space(dim: usize) -> SpaceInfo {
    SpaceInfo {
        model_key: "clip-b32-q8-abc123".into(),
        model_name: "openai/clip-vit-base-patch32".into(),
        dim,
        quantization: "q8_0".into(),
    }
}

fn meta(v: Value) -> Metadata {
    match v {
        Value::Object(m) => m,
        _ => Metadata::new(),
    }
}

/// Seeded unit vectors (SplitMix64), the seed printed.
fn unit_vectors(n: usize, dim: usize, seed: u64) -> Vec<Vec<f32>> {
    println!("seed {seed}");
    let mut s = seed;
    let mut next = move || {
        s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = s;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64 - 0.5
    };
    (0..n)
        .map(|_| {
            let v: Vec<f64> = (0..dim).map(|_| next()).collect();
            let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
            v.iter().map(|x| (x / norm) as f32).collect()
        })
        .collect()
}

/// Items with awkward values: -0.0, subnormals, large integers, unicode, nested JSON.
fn awkward_items() -> Vec<Item> {
    let mut vs = unit_vectors(4, 8, 7);
    vs[0][1] = -0.0;
    vs[1][2] = 1.0e-40; // subnormal
    vs[2][3] = -f32::MIN_POSITIVE / 4.0; // negative subnormal
    vec![
        Item {
            id: "s3://b/cats/1.jpg".into(),
            embedding: vs[0].clone(),
            metadata: meta(json!({
                "caption": "ünïcödé 猫 🐱 \"quoted\"",
                "big": i64::MAX,
                "neg": i64::MIN,
                "score": 0.1,
                "flag": true,
                "tags": ["a", "ß"],
                "nums": [1.5, -0.0, 2.0e-308],
                "mixed": "text",
                "obj": {"a": [1, {"b": null}], "c": "d"},
                "dataset": "pets",
            })),
        },
        Item {
            id: "s3://b/cats/2 ü.jpg".into(),
            embedding: vs[1].clone(),
            metadata: meta(json!({
                "caption": "",
                "big": 9_007_199_254_740_993_i64,
                "score": 1e300,
                "flag": false,
                "tags": [],
                "nums": [],
                "mixed": 3,
                "huge": u64::MAX,
                "dataset": "pets",
            })),
        },
        Item {
            id: "local/dog.png".into(),
            embedding: vs[2].clone(),
            metadata: meta(json!({"score": -2.5e-310, "mixed": [1, "x"], "dataset": "dogs"})),
        },
        Item {
            id: "日本/写真.jpg".into(),
            embedding: vs[3].clone(),
            metadata: Metadata::new(),
        },
    ]
}

fn assert_bits_equal(a: &[Item], b: &[Item]) {
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(b) {
        assert_eq!(x.id, y.id);
        assert_eq!(x.metadata, y.metadata, "metadata of {}", x.id);
        let xb: Vec<u32> = x.embedding.iter().map(|f| f.to_bits()).collect();
        let yb: Vec<u32> = y.embedding.iter().map(|f| f.to_bits()).collect();
        assert_eq!(xb, yb, "embedding bits of {}", x.id);
    }
}

#[test]
fn parquet_round_trip_preserves_ids_metadata_and_float_bits() {
    let items = awkward_items();
    let bytes = export_parquet(&items, &space(8), &ExportOptions::default()).unwrap();
    let t = import_parquet(bytes, &ImportOptions::default()).unwrap();
    assert!(t.rejected.is_empty(), "{:?}", t.rejected);
    assert!(t.skipped_columns.is_empty());
    assert!(t.model_recorded);
    assert_eq!(t.space, space(8));
    assert_bits_equal(&items, &t.items);
}

#[test]
fn several_id_columns_take_extra_ids_from_metadata_and_round_trip() {
    let items = awkward_items();
    let opts = ExportOptions {
        id_columns: vec!["path".into(), "dataset".into()],
        ..ExportOptions::default()
    };
    let bytes = export_parquet(&items, &space(8), &opts).unwrap();
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
        bytes::Bytes::from(bytes.clone()),
    )
    .unwrap();
    let names: Vec<String> = reader
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(&names[..3], &["path", "dataset", "embedding"]);
    assert_eq!(names.iter().filter(|n| *n == "dataset").count(), 1);
    let t = import_parquet(bytes, &ImportOptions::default()).unwrap();
    assert_bits_equal(&items, &t.items);
}

#[test]
fn an_extra_id_column_missing_from_all_metadata_is_refused() {
    let items = awkward_items();
    let opts = ExportOptions {
        id_columns: vec!["locator".into(), "tenant".into()],
        ..ExportOptions::default()
    };
    let err = export_parquet(&items, &space(8), &opts).unwrap_err();
    assert_eq!(err.code(), "InvalidArgument");
}

#[test]
fn export_refuses_vectors_of_the_wrong_dimension() {
    let items = awkward_items();
    let err = export_parquet(&items, &space(9), &ExportOptions::default()).unwrap_err();
    assert_eq!(
        err,
        Error::DimensionMismatch {
            expected: 9,
            found: 8
        }
    );
}

#[test]
fn file_metadata_records_the_space_and_provenance() {
    let opts = ExportOptions {
        created_at: Some("2026-11-21T22:00:00Z".into()),
        ..ExportOptions::default()
    };
    let bytes = export_parquet(&awkward_items(), &space(8), &opts).unwrap();
    let r = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
        bytes::Bytes::from(bytes),
    )
    .unwrap();
    let kv: std::collections::HashMap<String, String> = r
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .unwrap()
        .iter()
        .map(|k| (k.key.clone(), k.value.clone().unwrap_or_default()))
        .collect();
    assert_eq!(kv["clipsearch.model_key"], "clip-b32-q8-abc123");
    assert_eq!(kv["clipsearch.model_name"], "openai/clip-vit-base-patch32");
    assert_eq!(kv["clipsearch.dim"], "8");
    assert_eq!(kv["clipsearch.quantization"], "q8_0");
    assert_eq!(kv["clipsearch.normalization"], "l2");
    assert_eq!(kv["clipsearch.version"], clipsearch::VERSION);
    assert_eq!(kv["clipsearch.created_at"], "2026-11-21T22:00:00Z");
    assert!(kv["clipsearch.preprocessing"].contains("224"));
    let emb = r.schema().field_with_name("embedding").unwrap().clone();
    assert!(
        matches!(emb.data_type(), DataType::FixedSizeList(f, 8) if f.data_type() == &DataType::Float32)
    );
}

#[test]
fn large_exports_are_written_in_row_groups() {
    let vs = unit_vectors(20_000, 4, 11);
    let items: Vec<Item> = vs
        .into_iter()
        .enumerate()
        .map(|(i, v)| Item {
            id: format!("id{i}"),
            embedding: v,
            metadata: meta(json!({"i": i})),
        })
        .collect();
    let bytes = export_parquet(&items, &space(4), &ExportOptions::default()).unwrap();
    let r = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
        bytes::Bytes::from(bytes.clone()),
    )
    .unwrap();
    let groups: Vec<i64> = r
        .metadata()
        .row_groups()
        .iter()
        .map(|g| g.num_rows())
        .collect();
    assert_eq!(groups, vec![8192, 8192, 20_000 - 2 * 8192]);
    let t = import_parquet(bytes, &ImportOptions::default()).unwrap();
    assert_bits_equal(&items, &t.items);
}

fn presigned_items() -> Vec<Item> {
    let url = "https://photos.s3.eu-west-1.amazonaws.com/a/1.jpg?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIA%2F&X-Amz-Signature=deadbeef";
    let mut vs = unit_vectors(2, 4, 3);
    vec![
        Item {
            id: url.into(),
            embedding: vs.remove(0),
            metadata: meta(json!({
                "source": url,
                "all": [url, "plain"],
                "nested": {"u": url},
                "bare": "X-Amz-Signature=deadbeef",
            })),
        },
        Item {
            id: "s3://photos/a/2.jpg".into(),
            embedding: vs.remove(0),
            metadata: meta(json!({"source": "https://example.com/x.jpg"})),
        },
    ]
}

fn assert_clean(bytes: &[u8], what: &str) {
    let text = String::from_utf8_lossy(bytes).to_ascii_lowercase();
    assert!(!text.contains("x-amz-"), "{what} contains X-Amz- text");
    assert!(!text.contains("deadbeef"), "{what} contains the signature");
}

#[test]
fn exports_never_contain_a_presigned_query_string() {
    let items = presigned_items();
    let s = space(4);
    let o = ExportOptions::default();
    let pq = export_parquet(&items, &s, &o).unwrap();
    assert_clean(&pq, "parquet");
    let mut q = Vec::new();
    write_qdrant_points(&items, &s, &o, &mut q).unwrap();
    assert_clean(&q, "qdrant");
    let (mut npy, mut ids) = (Vec::new(), Vec::new());
    write_npy(&items, &s, &o, &mut npy, &mut ids).unwrap();
    assert_clean(&ids, "npy ids");
    // The redacted values are still there (scheme, host and path).
    let t = import_parquet(pq, &ImportOptions::default()).unwrap();
    assert_eq!(
        t.items[0].id,
        "https://photos.s3.eu-west-1.amazonaws.com/a/1.jpg"
    );
    assert_eq!(
        t.items[0].metadata["all"],
        json!(["https://photos.s3.eu-west-1.amazonaws.com/a/1.jpg", "plain"])
    );
    assert_eq!(t.items[0].metadata["bare"], json!("[redacted]"));
    assert_eq!(
        t.items[1].metadata["source"],
        json!("https://example.com/x.jpg")
    );
}

#[test]
fn import_rejects_a_table_from_another_model() {
    let bytes = export_parquet(&awkward_items(), &space(8), &ExportOptions::default()).unwrap();
    let mut other = space(8);
    other.model_key = "another-model".into();
    let err = import_parquet(
        bytes.clone(),
        &ImportOptions {
            expected: Some(other),
            ..ImportOptions::default()
        },
    )
    .unwrap_err();
    assert_eq!(
        err,
        Error::ModelMismatch {
            expected: "another-model".into(),
            found: "clip-b32-q8-abc123".into()
        }
    );
    let err = import_parquet(
        bytes,
        &ImportOptions {
            expected: Some(space(16)),
            ..ImportOptions::default()
        },
    )
    .unwrap_err();
    assert_eq!(
        err,
        Error::DimensionMismatch {
            expected: 16,
            found: 8
        }
    );
}

#[test]
fn corrupt_bytes_are_invalid_data() {
    let mut bytes = export_parquet(&awkward_items(), &space(8), &ExportOptions::default()).unwrap();
    for e in [
        import_parquet(b"not parquet at all".to_vec(), &ImportOptions::default()).unwrap_err(),
        import_parquet(bytes[..bytes.len() / 2].to_vec(), &ImportOptions::default()).unwrap_err(),
        import_parquet(Vec::new(), &ImportOptions::default()).unwrap_err(),
    ] {
        assert_eq!(e.code(), "InvalidData", "{e}");
    }
    // Garbage in the middle (the column data) must give an error or rejected rows, never a panic.
    let mid = bytes.len() / 3;
    for b in &mut bytes[mid..mid + 64] {
        *b ^= 0x5a;
    }
    let _ = import_parquet(bytes, &ImportOptions::default());
}

/// A foreign table made with arrow directly: `id` strings, `embedding` as `List<Float64>`.
fn foreign_table(rows: &[(Option<&str>, Option<Vec<f64>>)]) -> Vec<u8> {
    let mut ids = StringBuilder::new();
    let mut emb = ListBuilder::new(Float64Builder::new());
    for (id, v) in rows {
        ids.append_option(*id);
        match v {
            Some(v) => {
                for x in v {
                    emb.values().append_value(*x);
                }
                emb.append(true);
            }
            None => emb.append(false),
        }
    }
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, true),
        Field::new(
            "embedding",
            DataType::List(Arc::new(Field::new("item", DataType::Float64, true))),
            true,
        ),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(ids.finish()) as ArrayRef,
            Arc::new(emb.finish()) as ArrayRef,
        ],
    )
    .unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(Vec::new(), schema, None).unwrap();
    w.write(&batch).unwrap();
    w.into_inner().unwrap()
}

#[test]
fn import_reports_bad_rows_and_the_last_duplicate_wins() {
    let bytes = foreign_table(&[
        (Some("a"), Some(vec![1.0, 0.0, 0.0])),
        (Some("b"), Some(vec![0.0, f64::NAN, 1.0])),
        (Some("c"), Some(vec![0.0, 1.0])),
        (None, Some(vec![0.0, 1.0, 0.0])),
        (Some("d"), None),
        (Some("e"), Some(vec![0.0, 0.0, 0.0])),
        (Some("a"), Some(vec![0.0, 0.0, 1.0])),
        (Some("f"), Some(vec![0.0, 1.0, 0.0])),
    ]);
    let t = import_parquet(bytes, &ImportOptions::default()).unwrap();
    assert!(!t.model_recorded);
    assert_eq!(t.space.dim, 3);
    let ids: Vec<&str> = t.items.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(ids, ["a", "f"]);
    assert_eq!(t.items[0].embedding, vec![0.0, 0.0, 1.0]);
    let got: Vec<(usize, Option<&str>, &str)> = t
        .rejected
        .iter()
        .map(|r| (r.row, r.id.as_deref(), r.reason.code()))
        .collect();
    assert_eq!(
        got,
        vec![
            (1, Some("b"), "InvalidVector"),
            (2, Some("c"), "DimensionMismatch"),
            (3, None, "InvalidData"),
            (4, Some("d"), "InvalidData"),
            (5, Some("e"), "InvalidVector"),
            (0, Some("a"), "InvalidData"),
        ]
    );
}

#[test]
fn foreign_tables_import_against_an_expected_space_and_can_be_normalised() {
    let bytes = foreign_table(&[
        (Some("x"), Some(vec![3.0, 4.0])),
        (Some("y"), Some(vec![0.0, 2.0])),
    ]);
    let t = import_parquet(
        bytes.clone(),
        &ImportOptions {
            expected: Some(space(2)),
            normalize: true,
            ..ImportOptions::default()
        },
    )
    .unwrap();
    assert_eq!(t.space, space(2));
    assert_eq!(t.items[0].embedding, vec![0.6, 0.8]);
    assert_eq!(t.items[1].embedding, vec![0.0, 1.0]);
    // Without a recorded dimension, rows of another length are rejected one by one.
    let t = import_parquet(
        bytes,
        &ImportOptions {
            expected: Some(space(3)),
            ..ImportOptions::default()
        },
    )
    .unwrap();
    assert!(t.items.is_empty());
    assert_eq!(t.rejected.len(), 2);
    assert_eq!(t.rejected[0].reason.code(), "DimensionMismatch");
}

#[test]
fn qdrant_bodies_hold_at_most_256_points_with_uuid5_ids() {
    let vs = unit_vectors(600, 4, 5);
    let items: Vec<Item> = vs
        .into_iter()
        .enumerate()
        .map(|(i, v)| Item {
            id: format!("s3://b/{i}.jpg"),
            embedding: v,
            metadata: meta(json!({"n": i})),
        })
        .collect();
    assert_eq!(
        qdrant_create_collection(&space(4)),
        r#"{"vectors":{"size":4,"distance":"Cosine"}}"#
    );
    let mut out = Vec::new();
    let n = write_qdrant_points(&items, &space(4), &ExportOptions::default(), &mut out).unwrap();
    assert_eq!(n, 600);
    let text = String::from_utf8(out).unwrap();
    let bodies: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let sizes: Vec<usize> = bodies
        .iter()
        .map(|b| b["points"].as_array().unwrap().len())
        .collect();
    assert_eq!(
        sizes,
        vec![QDRANT_BATCH, QDRANT_BATCH, 600 - 2 * QDRANT_BATCH]
    );
    let p = &bodies[1]["points"][3];
    let item = &items[QDRANT_BATCH + 3];
    assert_eq!(p["payload"]["locator"], json!(item.id));
    assert_eq!(p["payload"]["n"], json!(QDRANT_BATCH + 3));
    assert_eq!(p["id"], json!(qdrant_point_id(&item.id).to_string()));
    let v: Vec<f32> = p["vector"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect();
    assert_eq!(v, item.embedding);
    // Python: uuid.uuid5(uuid.NAMESPACE_URL, "s3://b/cats/1.jpg")
    assert_eq!(
        qdrant_point_id("s3://b/cats/1.jpg").to_string(),
        "4f2af9d9-51ee-5d96-8e77-f88318873d12"
    );
}

#[test]
fn npy_export_is_a_float32_matrix_with_ids_in_the_same_order() {
    let items = awkward_items();
    let (mut npy, mut idx) = (Vec::new(), Vec::new());
    let n = write_npy(
        &items,
        &space(8),
        &ExportOptions::default(),
        &mut npy,
        &mut idx,
    )
    .unwrap();
    assert_eq!(n, 4);
    assert_eq!(&npy[..8], b"\x93NUMPY\x01\x00");
    let hlen = u16::from_le_bytes([npy[8], npy[9]]) as usize;
    assert_eq!((10 + hlen) % 64, 0);
    let header = std::str::from_utf8(&npy[10..10 + hlen]).unwrap();
    assert!(header.contains("'descr': '<f4'") && header.contains("'shape': (4, 8)"));
    let data = &npy[10 + hlen..];
    assert_eq!(data.len(), 4 * 8 * 4);
    for (r, item) in items.iter().enumerate() {
        for (c, x) in item.embedding.iter().enumerate() {
            let o = (r * 8 + c) * 4;
            let got = u32::from_le_bytes([data[o], data[o + 1], data[o + 2], data[o + 3]]);
            assert_eq!(got, x.to_bits());
        }
    }
    let doc: Value = serde_json::from_slice(&idx).unwrap();
    let ids: Vec<&str> = doc["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(ids, items.iter().map(|i| i.id.as_str()).collect::<Vec<_>>());
    assert_eq!(doc["metadata"][0], Value::Object(items[0].metadata.clone()));
    assert_eq!(doc["clipsearch"]["model_key"], json!("clip-b32-q8-abc123"));
}
