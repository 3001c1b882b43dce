"""Interop of clipsearch's exported tables with the tools that consume them.

Runs the built CLI (env CLIPSEARCH_BIN, default target/debug/clipsearch): synth-table makes a
seeded table, export writes Qdrant / NPY / Parquet, import reads a table written by pyarrow.
"""

import json
import os
import subprocess
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = os.environ.get("CLIPSEARCH_BIN", str(ROOT / "target" / "debug" / "clipsearch"))
N, DIM, SEED = 600, 64, 42


def run(*args):
    p = subprocess.run([BIN, *map(str, args)], capture_output=True, text=True)
    assert p.returncode == 0, f"{args}: exit {p.returncode}\n{p.stderr}"
    return p


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    d = tmp_path_factory.mktemp("tables")
    t = d / "synth.parquet"
    print(f"seed {SEED}")
    run("synth-table", "--n", N, "--dim", DIM, "--seed", SEED, "--clusters", 8, "-o", t)
    return t


def test_pandas_reads_ids_and_equal_length_float32_embeddings(table):
    df = pd.read_parquet(table)
    assert len(df) == N
    assert list(df.columns[:2]) == ["locator", "embedding"]
    assert df["locator"].is_unique
    lens = {len(e) for e in df["embedding"]}
    assert lens == {DIM}
    assert all(isinstance(e, np.ndarray) and e.dtype == np.float32 for e in df["embedding"])
    # The shape an embedding upload takes: a (N, DIM) float32 matrix stacks without copying rules.
    m = np.stack(df["embedding"].to_numpy())
    assert m.shape == (N, DIM) and m.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(m, axis=1), 1.0, atol=1e-5)
    assert set(df.columns) >= {"cluster", "label", "score", "even", "tags"}
    assert df["cluster"].dtype == np.int64
    assert df["even"].dtype == bool


def test_file_metadata_records_model_and_provenance(table):
    md = pq.read_metadata(table).metadata
    assert md[b"clipsearch.model_key"] == b"synthetic"
    assert md[b"clipsearch.dim"] == str(DIM).encode()
    assert md[b"clipsearch.normalization"] == b"l2"
    for k in [b"clipsearch.model_name", b"clipsearch.quantization", b"clipsearch.preprocessing",
              b"clipsearch.version", b"clipsearch.created_at"]:
        assert k in md
    schema = pq.read_schema(table)
    t = schema.field("embedding").type
    assert pa.types.is_fixed_size_list(t) and t.list_size == DIM
    assert t.value_type == pa.float32()
    assert schema.metadata[b"clipsearch.model_key"] == b"synthetic"


def test_numpy_loads_the_npy_and_ids_line_up(table, tmp_path):
    run("export", "--table", table, "--to", "npy", "-o", tmp_path)
    m = np.load(tmp_path / "embeddings.npy")
    assert m.dtype == np.float32 and m.shape == (N, DIM)
    idx = json.loads((tmp_path / "items.json").read_text())
    df = pd.read_parquet(table)
    assert idx["ids"] == list(df["locator"])
    np.testing.assert_array_equal(m, np.stack(df["embedding"].to_numpy()))
    assert [x["cluster"] for x in idx["metadata"]] == list(df["cluster"])


def load_into_qdrant(table, out_dir):
    """Exports `table` as Qdrant request bodies and loads them into an in-process Qdrant, as the
    README's curl loop does against a server. Returns the client and the upsert bodies."""
    from qdrant_client import QdrantClient, models

    run("export", "--table", table, "--to", "qdrant", "-o", out_dir)
    create = json.loads((out_dir / "create_collection.json").read_text())
    client = QdrantClient(":memory:")
    client.create_collection(
        "photos",
        vectors_config=models.VectorParams(
            size=create["vectors"]["size"],
            distance=models.Distance(create["vectors"]["distance"]),
        ),
    )
    bodies = [json.loads(l) for l in (out_dir / "points.ndjson").read_text().splitlines()]
    for b in bodies:
        client.upsert("photos", points=[models.PointStruct(**p) for p in b["points"]], wait=True)
    return client, bodies


def test_qdrant_local_returns_the_exact_cosine_top10(table, tmp_path):
    client, bodies = load_into_qdrant(table, tmp_path)
    assert all(len(b["points"]) <= 256 for b in bodies)
    assert client.count("photos").count == N

    points = [p for b in bodies for p in b["points"]]
    ids = [p["payload"]["locator"] for p in points]
    for p in points:
        assert p["id"] == str(uuid.uuid5(uuid.NAMESPACE_URL, p["payload"]["locator"]))
    m = np.array([p["vector"] for p in points], dtype=np.float32)
    rng = np.random.default_rng(SEED)
    print(f"query seed {SEED}")
    qs = m[rng.choice(N, 20, replace=False)] + rng.normal(0, 0.05, (20, DIM)).astype(np.float32)
    for q in qs:
        qn = q / np.linalg.norm(q)
        scores = (m / np.linalg.norm(m, axis=1, keepdims=True)) @ qn
        exact = [ids[i] for i in np.argsort(-scores, kind="stable")[:10]]
        res = client.query_points("photos", query=q.tolist(), limit=10, with_payload=True)
        got = [r.payload["locator"] for r in res.points]
        assert got == exact


def test_a_table_written_by_pyarrow_imports(tmp_path):
    rng = np.random.default_rng(7)
    v = rng.normal(size=(5, 16))
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    v[3, 2] = np.nan
    t = pa.table({
        "id": ["a", "b", "c", "d", "a"],
        "embedding": pa.array(list(v), type=pa.list_(pa.float64())),
        "caption": ["cat", "dog", None, "x", "cat again"],
        "n": pa.array([1, 2, 3, 4, 5], type=pa.int32()),
    })
    src = tmp_path / "foreign.parquet"
    pq.write_table(t, src)
    out = tmp_path / "ours.parquet"
    p = run("import", "--table", src, "--model-key", "m1", "--dim", 16, "-o", out)
    summary = json.loads(p.stdout)
    assert summary["imported"] == 3 and summary["rejected"] == 2
    assert "InvalidVector" in p.stderr
    df = pd.read_parquet(out)
    assert list(df["id"]) == ["a", "b", "c"]
    assert df.loc[0, "caption"] == "cat again"  # the last duplicate wins
    np.testing.assert_array_equal(df.loc[1, "embedding"], v[1].astype(np.float32))
    assert pq.read_metadata(out).metadata[b"clipsearch.model_key"] == b"m1"
    # The wrong model is refused.
    bad = subprocess.run([BIN, "import", "--table", str(out), "--model-key", "m2", "--dim", "16",
                          "-o", str(tmp_path / "x.parquet")], capture_output=True, text=True)
    assert bad.returncode == 3  # input/model error (README: CLI exit codes)
    assert json.loads(bad.stderr.strip().splitlines()[-1])["error"] == "ModelMismatch"


def test_parquet_reexport_with_several_id_columns(table, tmp_path):
    out = tmp_path / "two_ids.parquet"
    run("export", "--table", table, "--to", "parquet", "--id-column", "locator",
        "--id-column", "label", "-o", out)
    df = pd.read_parquet(out)
    assert list(df.columns[:3]) == ["locator", "label", "embedding"]
    orig = pd.read_parquet(table)
    assert list(df["label"]) == list(orig["label"])


def test_qdrant_returns_the_same_top10_as_clipsearch_for_20_queries(table, tmp_path):
    """The collection moves to Qdrant without re-embedding: for 20 items, Qdrant's top 10
    neighbours of the item's vector are `clipsearch search --id` ("more like this") results."""
    client, bodies = load_into_qdrant(table, tmp_path)
    points = {p["payload"]["locator"]: p for b in bodies for p in b["points"]}
    rng = np.random.default_rng(SEED + 1)
    print(f"query seed {SEED + 1}")
    for item in rng.choice(sorted(points), 20, replace=False):
        ours = [json.loads(l) for l in
                run("search", "--table", table, "--id", item, "-k", 10).stdout.splitlines()]
        res = client.query_points("photos", query=points[item]["vector"], limit=11,
                                  with_payload=True)
        theirs = [r for r in res.points if r.payload["locator"] != item][:10]
        assert [h["id"] for h in ours] == [r.payload["locator"] for r in theirs], item
        for h, r in zip(ours, theirs):
            assert abs(h["score"] - r.score) < 1e-5
