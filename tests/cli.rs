//! The native CLI, run as a process: `index` (folders, manifests, HTTP, resume, shards, bad
//! inputs), `search`, `export` / `import`, and the exit codes of the README.
//!
//! Uses the tiny random-weight model `models/tiny-clip.gguf` and fixture images; HTTP cases run
//! against a small server inside the test process.
#![cfg(not(target_arch = "wasm32"))]

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clipsearch::table::{import_parquet, ImportOptions};
use clipsearch::Item;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_clipsearch");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn model() -> String {
    format!("{ROOT}/models/tiny-clip.gguf")
}

/// The entry of `models/manifest.json` describing the committed model file `file`.
fn manifest_entry(file: &str) -> Value {
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(format!("{ROOT}/models/manifest.json")).unwrap())
            .unwrap();
    let entry = manifest["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["file"] == file)
        .cloned();
    entry.unwrap_or_else(|| panic!("{file} is listed in models/manifest.json"))
}

fn fixture(rel: &str) -> PathBuf {
    Path::new(ROOT).join("tests/fixtures").join(rel)
}

/// Eight distinct small fixture images.
const IMAGES: [&str; 8] = [
    "model/gradient.jpg",
    "model/noise.png",
    "model/checker.png",
    "textimg/images/gray_300x200.jpg",
    "textimg/images/palette_160x120.png",
    "textimg/images/lossy_240x180.webp",
    "textimg/images/rgb_110x70.bmp",
    "textimg/images/anim_180x120.gif",
];

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .output()
        .expect("the CLI binary runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).to_string()
}

fn ok(args: &[&str]) -> Output {
    let out = run(args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{args:?}\nstdout: {}\nstderr: {}",
        text(&out.stdout),
        text(&out.stderr)
    );
    out
}

/// The last stdout line as JSON (the summary).
fn summary(out: &Output) -> Value {
    let s = text(&out.stdout);
    let line = s.lines().last().expect("a summary line");
    serde_json::from_str(line).expect("summary is JSON")
}

/// stderr lines that are JSON objects.
fn stderr_json(out: &Output) -> Vec<Value> {
    text(&out.stderr)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn read_table(p: &Path) -> Vec<Item> {
    let data = std::fs::read(p).expect("table exists");
    import_parquet(data, &ImportOptions::default())
        .expect("table imports")
        .items
}

fn by_id(items: Vec<Item>) -> BTreeMap<String, Item> {
    items.into_iter().map(|i| (i.id.clone(), i)).collect()
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (na * nb)
}

/// A folder with the fixture images in nested sub-folders.
fn image_folder(dir: &Path) -> Vec<String> {
    let mut ids = Vec::new();
    for (i, rel) in IMAGES.iter().enumerate() {
        let name = Path::new(rel)
            .file_name()
            .unwrap()
            .to_string_lossy()
            .to_string();
        let sub = if i % 3 == 0 {
            "a/b".to_string()
        } else if i % 3 == 1 {
            "c".into()
        } else {
            String::new()
        };
        let d = dir.join(&sub);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::copy(fixture(rel), d.join(&name)).unwrap();
        ids.push(if sub.is_empty() {
            name
        } else {
            format!("{sub}/{name}")
        });
    }
    ids.sort();
    ids
}

#[test]
fn index_embeds_a_folder_recursively_with_relative_path_ids() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("photos");
    let mut ids = image_folder(&dir);
    // Not an image: skipped. An image without an extension: found by its signature.
    std::fs::write(dir.join("README.txt"), "not an image").unwrap();
    std::fs::copy(fixture("model/checker.png"), dir.join("c/no_extension")).unwrap();
    ids.push("c/no_extension".into());
    ids.sort();
    let out = tmp.path().join("t.parquet");
    let o = ok(&[
        "index",
        dir.to_str().unwrap(),
        "--model",
        &model(),
        "-o",
        out.to_str().unwrap(),
    ]);
    let s = summary(&o);
    assert_eq!(s["rows"], 9);
    assert_eq!(s["embedded"], 9);
    assert_eq!(s["failed"], 0);
    assert_eq!(s["skipped_non_images"], 1);
    let items = read_table(&out);
    let got: Vec<String> = items.iter().map(|i| i.id.clone()).collect();
    assert_eq!(got, ids, "rows are sorted by id, ids are relative paths");
    for it in &items {
        let n: f32 = it.embedding.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((n - 1.0).abs() < 1e-4, "{} norm {n}", it.id);
    }
    assert!(
        !tmp.path().join("t.parquet.parts").exists(),
        "parts are merged and removed"
    );
    // The table records the model: the browser's import checks it.
    let t = import_parquet(std::fs::read(&out).unwrap(), &ImportOptions::default()).unwrap();
    assert_eq!(t.space.model_key, s["model_key"].as_str().unwrap());
    assert_eq!(t.id_column, "locator");
}

#[test]
fn cli_embeddings_of_fixture_images_match_the_golden_values_within_the_parity_tolerance() {
    // Same goldens and tolerance as the browser parity test (tests/web_model.rs: q8_0 GGUF,
    // cosine >= 0.999 against transformers).
    let golden: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("model/golden.json")).unwrap())
            .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("g");
    std::fs::create_dir_all(&dir).unwrap();
    for f in ["gradient.jpg", "noise.png", "checker.png"] {
        std::fs::copy(fixture(&format!("model/{f}")), dir.join(f)).unwrap();
    }
    let out = tmp.path().join("g.parquet");
    ok(&[
        "index",
        dir.to_str().unwrap(),
        "--model",
        &model(),
        "-o",
        out.to_str().unwrap(),
        "-q",
    ]);
    let items = by_id(read_table(&out));
    let images = golden["images"].as_array().unwrap();
    assert_eq!(images.len(), 3);
    for img in images {
        let file = img["file"].as_str().unwrap();
        let want: Vec<f32> = img["embedding"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap() as f32)
            .collect();
        let c = cosine(&items[file].embedding, &want);
        assert!(c >= 0.999, "{file}: cosine {c} < 0.999");
    }
}

#[test]
fn a_corrupt_image_is_reported_with_its_reason_exit_1_and_nothing_else_is_lost() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("photos");
    let ids = image_folder(&dir);
    std::fs::write(
        dir.join("corrupt.jpg"),
        b"\xff\xd8\xff\xe0 this is not really a jpeg",
    )
    .unwrap();
    let png = std::fs::read(fixture("model/noise.png")).unwrap();
    std::fs::write(dir.join("c/truncated.png"), &png[..png.len() / 3]).unwrap();
    let out = tmp.path().join("t.parquet");
    let args = [
        "index",
        dir.to_str().unwrap(),
        "--model",
        &model(),
        "-o",
        out.to_str().unwrap(),
    ];
    let o = run(&args);
    assert_eq!(o.status.code(), Some(1), "stderr: {}", text(&o.stderr));
    let fails: HashMap<String, String> = stderr_json(&o)
        .into_iter()
        .filter(|v| v.get("failed").is_some())
        .map(|v| {
            (
                v["failed"].as_str().unwrap().to_string(),
                v["error"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(fails.len(), 2, "{fails:?}");
    assert!(
        ["ImageDecode", "NotAnImage"].contains(&fails["corrupt.jpg"].as_str()),
        "{fails:?}"
    );
    assert_eq!(fails["c/truncated.png"], "ImageDecode");
    let got: Vec<String> = read_table(&out).into_iter().map(|i| i.id).collect();
    assert_eq!(got, ids, "every good image is in the table");
    // A rerun skips what is done and reports the same failures again.
    let o = run(&args);
    assert_eq!(o.status.code(), Some(1));
    let s = summary(&o);
    assert_eq!(s["skipped_existing"], 8);
    assert_eq!(s["embedded"], 0);
    assert_eq!(s["failed"], 2);
}

/// A manifest of local paths with metadata (CSV).
fn csv_manifest(dir: &Path) -> PathBuf {
    let mut csv = String::from("id,url,kind,year\n");
    for (i, rel) in IMAGES.iter().enumerate() {
        let kind = if i % 2 == 0 { "photo" } else { "chart" };
        csv.push_str(&format!(
            "img-{i},{},{kind},{}\n",
            fixture(rel).display(),
            2000 + i
        ));
    }
    let p = dir.join("m.csv");
    std::fs::write(&p, csv).unwrap();
    p
}

/// `clipsearch index` of [`csv_manifest`] into `dir/t.parquet`.
fn indexed_csv_table(dir: &Path) -> PathBuf {
    let m = csv_manifest(dir);
    let t = dir.join("t.parquet");
    ok(&[
        "index",
        m.to_str().unwrap(),
        "--model",
        &model(),
        "-o",
        t.to_str().unwrap(),
        "-q",
    ]);
    t
}

#[test]
fn two_shards_concatenated_equal_one_unsharded_run() {
    let tmp = tempfile::tempdir().unwrap();
    let m = csv_manifest(tmp.path());
    let m = m.to_str().unwrap();
    let full = tmp.path().join("full.parquet");
    ok(&[
        "index",
        m,
        "--model",
        &model(),
        "-o",
        full.to_str().unwrap(),
        "-q",
    ]);
    let mut union: BTreeMap<String, Item> = BTreeMap::new();
    let mut sizes = Vec::new();
    for i in 0..2 {
        let p = tmp.path().join(format!("s{i}.parquet"));
        let shard = format!("{i}/2");
        let o = ok(&[
            "index",
            m,
            "--model",
            &model(),
            "-o",
            p.to_str().unwrap(),
            "--shard",
            &shard,
            "-q",
        ]);
        assert_eq!(summary(&o)["shard"], shard);
        let items = read_table(&p);
        sizes.push(items.len());
        for it in items {
            assert!(
                union.insert(it.id.clone(), it).is_none(),
                "shards are disjoint"
            );
        }
    }
    assert!(
        sizes.iter().all(|n| *n > 0),
        "both shards get items: {sizes:?}"
    );
    let full = by_id(read_table(&full));
    assert_eq!(full.len(), IMAGES.len());
    assert_eq!(
        union.keys().collect::<Vec<_>>(),
        full.keys().collect::<Vec<_>>()
    );
    for (id, it) in &full {
        let u = &union[id];
        let a: Vec<u32> = it.embedding.iter().map(|x| x.to_bits()).collect();
        let b: Vec<u32> = u.embedding.iter().map(|x| x.to_bits()).collect();
        assert_eq!(a, b, "{id}: bit-identical embeddings");
        assert_eq!(it.metadata, u.metadata, "{id}: same metadata");
    }
    assert_eq!(full["img-3"].metadata["kind"], "chart");
    assert_eq!(full["img-3"].metadata["year"], "2003");
}

/// What the test HTTP server answers for a path.
#[derive(Clone)]
struct Server {
    port: u16,
    hang: Arc<AtomicBool>,
    flaky_hits: Arc<AtomicUsize>,
}

/// Reads one request's head (up to the blank line) from `c`.
fn read_request(c: &mut TcpStream) -> String {
    let mut buf = Vec::new();
    let mut b = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        match c.read(&mut b) {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&b[..n]),
        }
    }
    String::from_utf8_lossy(&buf).to_string()
}

fn respond(mut s: TcpStream, status: &str, body: &[u8]) {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = s.write_all(head.as_bytes());
    let _ = s.write_all(body);
}

/// Serves `/ok.png`, `/hang.png` (never answers while `hang` is set), `/expired.png` (S3's 403
/// "Request has expired"), `/denied.png` (403), `/missing.png` (404), `/flaky.png` (503 once,
/// then the image).
fn server() -> Server {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let srv = Server {
        port: l.local_addr().unwrap().port(),
        hang: Arc::new(AtomicBool::new(true)),
        flaky_hits: Arc::new(AtomicUsize::new(0)),
    };
    let png = std::fs::read(fixture("model/noise.png")).unwrap();
    let s2 = srv.clone();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in l.incoming() {
            let Ok(mut c) = conn else { continue };
            let req = read_request(&mut c);
            let path = req
                .split_whitespace()
                .nth(1)
                .unwrap_or("/")
                .split('?')
                .next()
                .unwrap_or("/")
                .to_string();
            match path.as_str() {
                "/hang.png" if s2.hang.load(Ordering::SeqCst) => held.push(c),
                "/ok.png" | "/hang.png" => respond(c, "200 OK", &png),
                "/expired.png" => respond(c, "403 Forbidden", b"<?xml version=\"1.0\"?><Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>"),
                "/denied.png" => respond(c, "403 Forbidden", b"<Error><Code>SignatureDoesNotMatch</Code></Error>"),
                "/flaky.png" => {
                    if s2.flaky_hits.fetch_add(1, Ordering::SeqCst) == 0 {
                        respond(c, "503 Service Unavailable", b"slow down")
                    } else {
                        respond(c, "200 OK", &png)
                    }
                }
                _ => respond(c, "404 Not Found", b"<Error><Code>NoSuchKey</Code></Error>"),
            }
        }
    });
    srv
}

#[test]
fn an_interrupted_run_resumes_without_losing_or_redoing_finished_items() {
    let srv = server();
    let tmp = tempfile::tempdir().unwrap();
    // Four local images, one URL that hangs until the process is killed, three more images.
    let mut lines = Vec::new();
    for (i, rel) in IMAGES.iter().enumerate().take(7) {
        if i == 4 {
            lines.push(format!(
                r#"{{"url": "http://127.0.0.1:{}/hang.png?X-Amz-Signature=SECRETSIG", "n": {i}}}"#,
                srv.port
            ));
        }
        lines.push(format!(
            r#"{{"id": "img-{i}", "url": "{}", "n": {i}}}"#,
            fixture(rel).display()
        ));
    }
    let m = tmp.path().join("m.jsonl");
    std::fs::write(&m, lines.join("\n")).unwrap();
    let out = tmp.path().join("t.parquet");
    let args = [
        "index",
        m.to_str().unwrap(),
        "--model",
        &model(),
        "-o",
        out.to_str().unwrap(),
        "--jobs",
        "1",
        "--chunk-size",
        "2",
        "--timeout",
        "120",
    ];
    let mut child = Command::new(BIN)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let parts = tmp.path().join("t.parquet.parts");
    let second = parts.join("part-000001.parquet");
    let t0 = Instant::now();
    while !second.exists() {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "two parts within a minute"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run blocks on the hanging URL"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // A real interruption: SIGKILL while the third chunk waits on the network.
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!out.exists(), "no output before the end");
    let mut done: Vec<String> = Vec::new();
    for e in std::fs::read_dir(&parts).unwrap() {
        let p = e.unwrap().path();
        assert!(
            p.extension().is_some_and(|x| x == "parquet"),
            "only whole parts: {p:?}"
        );
        done.extend(read_table(&p).into_iter().map(|i| i.id));
    }
    done.sort();
    assert_eq!(done, ["img-0", "img-1", "img-2", "img-3"]);

    // Rerun with the server answering: only the rest is embedded.
    srv.hang.store(false, Ordering::SeqCst);
    let o = ok(&args);
    let s = summary(&o);
    assert_eq!(s["skipped_existing"], 4);
    assert_eq!(s["embedded"], 4);
    assert_eq!(s["rows"], 8);
    let items = by_id(read_table(&out));
    let url_id = format!("http://127.0.0.1:{}/hang.png", srv.port);
    assert!(
        items.contains_key(&url_id),
        "the URL's id is its locator: {:?}",
        items.keys()
    );
    assert_eq!(items[&url_id].metadata["n"], 4);
    assert!(!parts.exists());
    assert!(!String::from_utf8_lossy(&std::fs::read(&out).unwrap()).contains("SECRETSIG"));
}

#[test]
fn http_errors_are_typed_retried_when_transient_and_never_show_the_query_string() {
    let srv = server();
    srv.hang.store(false, Ordering::SeqCst);
    let tmp = tempfile::tempdir().unwrap();
    let q = "X-Amz-Credential=AKIDSECRET&X-Amz-Signature=SECRETSIG";
    let url = |p: &str| format!("http://127.0.0.1:{}/{p}?{q}", srv.port);
    let mut csv = String::from("url,caption\n");
    for p in [
        "ok.png",
        "expired.png",
        "denied.png",
        "missing.png",
        "flaky.png",
    ] {
        csv.push_str(&format!("{},{p}\n", url(p)));
    }
    let m = tmp.path().join("urls.csv");
    std::fs::write(&m, csv).unwrap();
    let out = tmp.path().join("t.parquet");
    let o = run(&[
        "index",
        m.to_str().unwrap(),
        "--model",
        &model(),
        "-o",
        out.to_str().unwrap(),
        "--retries",
        "2",
        "--retry-backoff-ms",
        "10",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let all = format!("{}{}", text(&o.stdout), text(&o.stderr));
    assert!(!all.contains("SECRET"), "a query string leaked: {all}");
    let fails: HashMap<String, String> = stderr_json(&o)
        .into_iter()
        .filter(|v| v.get("failed").is_some())
        .map(|v| {
            (
                v["failed"].as_str().unwrap().to_string(),
                v["error"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let id = |p: &str| format!("http://127.0.0.1:{}/{p}", srv.port);
    assert_eq!(fails[&id("expired.png")], "UrlExpired");
    assert_eq!(fails[&id("denied.png")], "AccessDenied");
    assert_eq!(fails[&id("missing.png")], "NotFound");
    assert_eq!(fails.len(), 3, "{fails:?}");
    assert_eq!(
        srv.flaky_hits.load(Ordering::SeqCst),
        2,
        "a 503 is retried once"
    );
    let items = by_id(read_table(&out));
    assert_eq!(
        items.keys().cloned().collect::<Vec<_>>(),
        [id("flaky.png"), id("ok.png")]
    );
    assert!(!String::from_utf8_lossy(&std::fs::read(&out).unwrap()).contains("SECRET"));
}

#[test]
fn bad_manifest_lines_are_reported_and_the_other_lines_are_embedded() {
    let tmp = tempfile::tempdir().unwrap();
    let g = fixture("model/gradient.jpg");
    let c = fixture("model/checker.png");
    let m = tmp.path().join("m.jsonl");
    std::fs::write(
        &m,
        format!(
            "{{\"id\": \"a\", \"url\": \"{}\"}}\n{{\"id\": \"b\", \"url\": oops}}\n{{\"id\": \"c\"}}\n\n{{\"id\": \"a\", \"url\": \"{}\"}}\n{{\"url\": \"{}\", \"tags\": [\"x\", \"y\"]}}\n",
            g.display(),
            c.display(),
            c.display()
        ),
    )
    .unwrap();
    let out = tmp.path().join("t.parquet");
    let o = run(&[
        "index",
        m.to_str().unwrap(),
        "--model",
        &model(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    let fails: Vec<Value> = stderr_json(&o)
        .into_iter()
        .filter(|v| v.get("failed").is_some())
        .collect();
    let ids: Vec<&str> = fails
        .iter()
        .map(|v| v["failed"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["line 2", "line 3", "a"], "{fails:?}");
    assert!(fails.iter().all(|v| v["error"] == "InvalidData"));
    assert!(fails[2]["message"]
        .as_str()
        .unwrap()
        .contains("duplicate id"));
    let items = by_id(read_table(&out));
    let path_id = c.display().to_string();
    assert_eq!(
        items.keys().cloned().collect::<Vec<_>>(),
        [path_id.clone(), "a".to_string()]
    );
    assert_eq!(
        items[&path_id].metadata["tags"],
        serde_json::json!(["x", "y"])
    );

    // A CSV row with the wrong number of fields.
    let m = tmp.path().join("m.csv");
    std::fs::write(
        &m,
        format!("id,url\nx,{}\ny,{},extra\n", g.display(), c.display()),
    )
    .unwrap();
    let out = tmp.path().join("t2.parquet");
    let o = run(&[
        "index",
        m.to_str().unwrap(),
        "--model",
        &model(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let f: Vec<Value> = stderr_json(&o)
        .into_iter()
        .filter(|v| v.get("failed").is_some())
        .collect();
    assert_eq!(f.len(), 1);
    assert_eq!(f[0]["failed"], "line 3");
    assert_eq!(read_table(&out).len(), 1);
}

#[test]
fn missing_model_input_or_table_exit_3_with_a_typed_error_and_bad_usage_exits_2() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("p");
    image_folder(&dir);
    let out = tmp.path().join("t.parquet");
    let code_of = |o: &Output| {
        stderr_json(o)
            .last()
            .map(|v| v["error"].as_str().unwrap_or("").to_string())
    };

    let o = run(&[
        "index",
        dir.to_str().unwrap(),
        "--model",
        "/nonexistent/model.gguf",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(3));
    assert_eq!(code_of(&o).as_deref(), Some("IoError"));
    assert!(!out.exists());

    let bad_model = tmp.path().join("bad.gguf");
    std::fs::write(&bad_model, b"GGUF but not really").unwrap();
    let o = run(&[
        "index",
        dir.to_str().unwrap(),
        "--model",
        bad_model.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(3));
    assert_eq!(code_of(&o).as_deref(), Some("InvalidModel"));

    let o = run(&[
        "index",
        "/nonexistent/folder",
        "--model",
        &model(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(3));

    let o = run(&["search", "--table", "/nonexistent/t.parquet", "--id", "x"]);
    assert_eq!(o.status.code(), Some(3));
    assert_eq!(code_of(&o).as_deref(), Some("IoError"));

    let not_parquet = tmp.path().join("x.parquet");
    std::fs::write(&not_parquet, b"nope").unwrap();
    let o = run(&[
        "search",
        "--table",
        not_parquet.to_str().unwrap(),
        "--id",
        "x",
    ]);
    assert_eq!(o.status.code(), Some(3));
    assert_eq!(code_of(&o).as_deref(), Some("InvalidData"));

    // Usage: no query, --text without --model, a bad shard.
    assert_eq!(
        run(&["search", "--table", "t.parquet"]).status.code(),
        Some(2)
    );
    assert_eq!(
        run(&["search", "--table", "t.parquet", "--text", "cat"])
            .status
            .code(),
        Some(2)
    );
    let o = run(&[
        "index",
        dir.to_str().unwrap(),
        "--model",
        &model(),
        "-o",
        out.to_str().unwrap(),
        "--shard",
        "2/2",
    ]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn search_by_text_image_and_id_prints_json_lines_filtered_and_thresholded() {
    let tmp = tempfile::tempdir().unwrap();
    let t = indexed_csv_table(tmp.path());
    let t = t.to_str().unwrap();
    let lines = |o: &Output| -> Vec<Value> {
        text(&o.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };

    // More like this: the item itself is excluded, scores descend.
    let hits = lines(&ok(&["search", "--table", t, "--id", "img-0", "-k", "3"]));
    assert_eq!(hits.len(), 3);
    assert!(hits.iter().all(|h| h["id"] != "img-0"));
    let scores: Vec<f64> = hits.iter().map(|h| h["score"].as_f64().unwrap()).collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");
    assert!(hits[0]["metadata"]["kind"].is_string());

    // Image query: the same file is the best hit, and the only one above 0.9999.
    let img = fixture(IMAGES[2]);
    let hits = lines(&ok(&[
        "search",
        "--table",
        t,
        "--model",
        &model(),
        "--image",
        img.to_str().unwrap(),
        "--min-score",
        "0.9999",
    ]));
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert_eq!(hits[0]["id"], "img-2");

    // Text query with filters: sugar and JSON.
    let hits = lines(&ok(&[
        "search",
        "--table",
        t,
        "--model",
        &model(),
        "--text",
        "a photo of a cat",
        "--filter",
        "kind=chart",
        "-k",
        "10",
    ]));
    assert_eq!(hits.len(), 4);
    assert!(hits.iter().all(|h| h["metadata"]["kind"] == "chart"));
    let f = r#"{"must": [{"key": "kind", "match": {"value": "photo"}}], "mustNot": [{"key": "year", "match": {"any": ["2000", "2002"]}}]}"#;
    let hits = lines(&ok(&[
        "search",
        "--table",
        t,
        "--model",
        &model(),
        "--text",
        "x",
        "--filter",
        f,
    ]));
    let mut ids: Vec<&str> = hits.iter().map(|h| h["id"].as_str().unwrap()).collect();
    ids.sort();
    assert_eq!(ids, ["img-4", "img-6"]);

    // Unknown id, bad filter.
    let o = run(&["search", "--table", t, "--id", "nope"]);
    assert_eq!(o.status.code(), Some(3));
    assert_eq!(stderr_json(&o)[0]["error"], "UnknownId");
    let o = run(&[
        "search",
        "--table",
        t,
        "--id",
        "img-0",
        "--filter",
        "{\"must\": 3}",
    ]);
    assert_eq!(o.status.code(), Some(3));
    assert_eq!(stderr_json(&o)[0]["error"], "InvalidFilter");

    // A table of another model: the query model is refused.
    let other = tmp.path().join("synth.parquet");
    ok(&[
        "synth-table",
        "--n",
        "20",
        "--dim",
        "32",
        "-o",
        other.to_str().unwrap(),
    ]);
    let o = run(&[
        "search",
        "--table",
        other.to_str().unwrap(),
        "--model",
        &model(),
        "--text",
        "cat",
    ]);
    assert_eq!(o.status.code(), Some(3));
    assert_eq!(stderr_json(&o).last().unwrap()["error"], "ModelMismatch");
}

#[test]
fn export_and_import_round_trip_through_npy_qdrant_and_a_saved_collection() {
    let tmp = tempfile::tempdir().unwrap();
    let t = indexed_csv_table(tmp.path());
    let original = read_table(&t);
    let ts = t.to_str().unwrap();

    let npy = tmp.path().join("npy");
    ok(&[
        "export",
        "--table",
        ts,
        "--to",
        "npy",
        "-o",
        npy.to_str().unwrap(),
    ]);
    let header = std::fs::read(npy.join("embeddings.npy")).unwrap();
    let h = String::from_utf8_lossy(&header[..128.min(header.len())]).to_string();
    assert!(
        h.contains("'<f4'")
            && h.contains(&format!(
                "({}, {})",
                original.len(),
                original[0].embedding.len()
            )),
        "{h}"
    );
    let idx: Value =
        serde_json::from_str(&std::fs::read_to_string(npy.join("items.json")).unwrap()).unwrap();
    let ids: Vec<&str> = idx["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        original.iter().map(|i| i.id.as_str()).collect::<Vec<_>>()
    );

    let qd = tmp.path().join("qdrant");
    ok(&[
        "export",
        "--table",
        ts,
        "--to",
        "qdrant",
        "-o",
        qd.to_str().unwrap(),
    ]);
    let create: Value =
        serde_json::from_str(&std::fs::read_to_string(qd.join("create_collection.json")).unwrap())
            .unwrap();
    assert_eq!(create["vectors"]["size"], original[0].embedding.len());
    let points = std::fs::read_to_string(qd.join("points.ndjson")).unwrap();
    assert_eq!(points.lines().count(), 1);

    // Saved collection (the browser's Collection.toBytes()) and back, positional FILE.
    let col = tmp.path().join("c.clipsearch");
    ok(&[
        "export",
        "--table",
        ts,
        "--to",
        "collection",
        "-o",
        col.to_str().unwrap(),
    ]);
    assert!(std::fs::read(&col)
        .unwrap()
        .starts_with(clipsearch::index::MAGIC));
    let back = tmp.path().join("back.parquet");
    let o = ok(&[
        "import",
        col.to_str().unwrap(),
        "-o",
        back.to_str().unwrap(),
    ]);
    assert_eq!(summary(&o)["imported"], original.len());
    // A collection stores every vector re-normalised (Collection::upsert), which may move the
    // last bit of a float: ids and metadata survive exactly, values within 1e-6.
    let back_items = read_table(&back);
    assert_eq!(back_items.len(), original.len());
    for (b, o) in back_items.iter().zip(&original) {
        assert_eq!((&b.id, &b.metadata), (&o.id, &o.metadata));
        let d = b
            .embedding
            .iter()
            .zip(&o.embedding)
            .map(|(x, y)| (x - y).abs())
            .fold(0f32, f32::max);
        assert!(d <= 1e-6, "{}: max difference {d}", b.id);
    }
    // Parquet re-export (import of our own table) keeps every float bit.
    let again = tmp.path().join("again.parquet");
    ok(&["import", ts, "-o", again.to_str().unwrap()]);
    assert_eq!(
        read_table(&again),
        original,
        "ids, metadata and every float bit survive"
    );

    // The wrong model key is refused with exit 3; --strict with rejected rows exits 1.
    let o = run(&[
        "import",
        col.to_str().unwrap(),
        "--model-key",
        "other",
        "--dim",
        "32",
        "-o",
        back.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(3));
    assert_eq!(stderr_json(&o).last().unwrap()["error"], "ModelMismatch");
}

/// A static "Hub" on 127.0.0.1 serving `models/<name>/*` at
/// `/test-org/<name>/resolve/main/<file>` for the committed `tiny-clip` and `tiny-multilingual`
/// (and `tiny-multilingual-pth`: the latter with `pytorch_model.bin` weights from
/// `tests/fixtures/multilingual-pth/` instead of safetensors), like huggingface.co's
/// `resolve/main/` paths; records the paths asked for and any
/// `Authorization` header.
fn static_hub() -> (String, Arc<std::sync::Mutex<Vec<String>>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://127.0.0.1:{}", l.local_addr().unwrap().port());
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen2 = seen.clone();
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(mut c) = conn else { continue };
            let req = read_request(&mut c);
            let path = req.split_whitespace().nth(1).unwrap_or("/").to_string();
            let auth = req
                .lines()
                .find(|l| l.to_ascii_lowercase().starts_with("authorization:"))
                .map(|l| format!(" [auth:{}]", l["authorization:".len()..].trim()))
                .unwrap_or_default();
            seen2.lock().unwrap().push(format!("{path}{auth}"));
            let file = ["tiny-clip", "tiny-multilingual", "tiny-multilingual-pth"]
                .iter()
                .find_map(|name| {
                    let f = path.strip_prefix(&format!("/test-org/{name}/resolve/main/"))?;
                    if f.contains("..") {
                        return None;
                    }
                    if *name != "tiny-multilingual-pth" {
                        return Some(Path::new(ROOT).join("models").join(name).join(f));
                    }
                    // An older sentence-transformers repository: PyTorch pickles only.
                    if f.ends_with("pytorch_model.bin") {
                        Some(
                            Path::new(ROOT)
                                .join("tests/fixtures/multilingual-pth")
                                .join(f),
                        )
                    } else if f.ends_with(".safetensors") {
                        None
                    } else {
                        Some(Path::new(ROOT).join("models/tiny-multilingual").join(f))
                    }
                });
            match file.and_then(|f| std::fs::read(f).ok()) {
                Some(body) => respond(c, "200 OK", &body),
                None => respond(c, "404 Not Found", b"Entry not found"),
            }
        }
    });
    (url, seen)
}

#[test]
fn download_fetches_a_model_from_hf_endpoint_and_it_converts_to_the_committed_model() {
    let (hub, seen) = static_hub();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("tiny-clip");
    let o = Command::new(BIN)
        .args([
            "download",
            "test-org/tiny-clip",
            "-o",
            out.to_str().unwrap(),
        ])
        .env("HF_ENDPOINT", &hub)
        .env("HF_TOKEN", "hf_secret_token")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "stderr: {}", text(&o.stderr));
    for f in [
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "preprocessor_config.json",
        "tokenizer_config.json",
        "vocab.json",
        "merges.txt",
    ] {
        let want = std::fs::read(Path::new(ROOT).join("models/tiny-clip").join(f)).unwrap();
        assert_eq!(
            std::fs::read(out.join(f)).unwrap(),
            want,
            "{f} byte for byte"
        );
    }
    let leftovers: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".part"))
        .collect();
    assert!(leftovers.is_empty(), "no .part files left");
    let asked = seen.lock().unwrap().clone();
    assert!(asked
        .iter()
        .all(|p| p.starts_with("/test-org/tiny-clip/resolve/main/")));
    assert!(asked
        .iter()
        .all(|p| p.ends_with("[auth:Bearer hf_secret_token]")));
    assert!(
        !text(&o.stdout).contains("hf_secret_token"),
        "the token is never printed"
    );

    // Converting the download gives the committed model's key.
    let gguf = dir.path().join("tiny.gguf");
    let c = ok(&[
        "convert",
        out.to_str().unwrap(),
        "-o",
        gguf.to_str().unwrap(),
        "--quant",
        "q8_0",
    ]);
    let summary: Value = serde_json::from_slice(&c.stdout).unwrap();
    let tiny = manifest_entry("tiny-clip.gguf");
    assert_eq!(summary["model_key"], tiny["modelKey"]);
    // ... and embeds like it.
    let a = ok(&["embed-text", "--model", gguf.to_str().unwrap(), "a dog"]);
    let b = ok(&["embed-text", "--model", &model(), "a dog"]);
    assert_eq!(text(&a.stdout), text(&b.stdout));
}

#[test]
fn download_fetches_a_sentence_transformers_tower_with_its_modules_and_it_converts_with_space() {
    let (hub, _) = static_hub();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("mclip");
    let o = Command::new(BIN)
        .args([
            "download",
            "test-org/tiny-multilingual",
            "-o",
            out.to_str().unwrap(),
            "--endpoint",
            &hub,
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "stderr: {}", text(&o.stderr));
    for f in [
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
        "modules.json",
        "sentence_bert_config.json",
        "1_Pooling/config.json",
        "2_Dense/config.json",
        "2_Dense/model.safetensors",
    ] {
        let want = std::fs::read(Path::new(ROOT).join("models/tiny-multilingual").join(f)).unwrap();
        assert_eq!(
            std::fs::read(out.join(f)).unwrap(),
            want,
            "{f} byte for byte"
        );
    }
    let gguf = dir.path().join("mclip.gguf");
    let c = ok(&[
        "convert",
        out.to_str().unwrap(),
        "-o",
        gguf.to_str().unwrap(),
        "--quant",
        "q8_0",
        "--space",
        &model(),
    ]);
    let summary: Value = serde_json::from_slice(&c.stdout).unwrap();
    let committed = manifest_entry("tiny-multilingual.gguf");
    assert_eq!(summary["model_key"], committed["modelKey"]);
    assert_eq!(summary["space"], committed["space"]);
}

#[test]
fn a_repository_with_pytorch_model_bin_only_downloads_and_converts_to_the_same_model() {
    let (hub, _) = static_hub();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("mclip");
    let o = Command::new(BIN)
        .args(["download", "test-org/tiny-multilingual-pth", "-o"])
        .arg(&out)
        .args(["--endpoint", &hub])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "stderr: {}", text(&o.stderr));
    assert!(out.join("pytorch_model.bin").is_file());
    assert!(out.join("2_Dense/pytorch_model.bin").is_file());
    assert!(!out.join("model.safetensors").exists());
    let gguf = dir.path().join("mclip.gguf");
    let c = ok(&[
        "convert",
        out.to_str().unwrap(),
        "-o",
        gguf.to_str().unwrap(),
        "--space",
        &model(),
    ]);
    let summary: Value = serde_json::from_slice(&c.stdout).unwrap();
    let committed = manifest_entry("tiny-multilingual.gguf");
    // The key hashes the weights: the pickles hold exactly the safetensors' tensors.
    assert_eq!(summary["model_key"], committed["modelKey"]);
    // A corrupt pickle is a typed error naming the file, not a panic.
    std::fs::write(out.join("pytorch_model.bin"), b"not a zip").unwrap();
    let bad = Command::new(BIN)
        .args(["convert"])
        .arg(&out)
        .args(["-o", gguf.to_str().unwrap(), "--space", &model()])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(3));
    let err = text(&bad.stderr);
    assert!(
        err.contains("InvalidModel") && err.contains("pytorch_model.bin"),
        "{err}"
    );
}

#[test]
fn download_of_a_missing_repository_or_a_bad_name_is_a_typed_error() {
    let (hub, _) = static_hub();
    let dir = tempfile::tempdir().unwrap();
    let o = Command::new(BIN)
        .args(["download", "test-org/no-such-model", "-o"])
        .arg(dir.path())
        .env("HF_ENDPOINT", &hub)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3));
    let e: Value = serde_json::from_slice(o.stderr.trim_ascii()).unwrap();
    assert_eq!(e["error"], "NotFound", "{e}");
    assert!(e["message"]
        .as_str()
        .unwrap()
        .contains("no-such-model/resolve/main/config.json"));
    assert!(!dir.path().join("config.json").exists());

    let o = Command::new(BIN)
        .args(["download", "../../etc", "-o"])
        .arg(dir.path())
        .env("HF_ENDPOINT", &hub)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3));
    let e: Value = serde_json::from_slice(o.stderr.trim_ascii()).unwrap();
    assert_eq!(e["error"], "InvalidArgument", "{e}");
}
