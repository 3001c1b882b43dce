"""hnswlib on the same vectors as `examples/bench_index.rs`, for a side-by-side figure.

    cargo run --release --example bench_index -- --n 10000 --npy /tmp/bench10k.npy
    python benches/bench_hnswlib.py /tmp/bench10k.npy --n 10000 --ef-construction 64 --ef-search 64

The .npy holds the normalised base vectors followed by the queries (float32 [n + q, d]).
Exact neighbours are computed with numpy (inner product = cosine on normalised vectors).
"""

import argparse
import statistics
import time

import hnswlib
import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("npy")
    ap.add_argument("--n", type=int, required=True)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--m", type=int, default=16, help="hnswlib M (instant-distance fixes M=32 on layer 0 as 2*M)")
    ap.add_argument("--ef-construction", type=int, default=64)
    ap.add_argument("--ef-search", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()

    data = np.load(a.npy)
    base, queries = data[: a.n], data[a.n :]
    dim = base.shape[1]
    truth = np.argsort(-(queries @ base.T), axis=1, kind="stable")[:, : a.k]

    builds, p50s, p99s, recalls = [], [], [], []
    for run in range(a.runs):
        index = hnswlib.Index(space="ip", dim=dim)
        index.init_index(max_elements=a.n, ef_construction=a.ef_construction, M=a.m, random_seed=run)
        index.set_num_threads(a.threads)
        t = time.perf_counter()
        index.add_items(base, np.arange(a.n))
        builds.append(time.perf_counter() - t)
        index.set_ef(max(a.ef_search, a.k))
        index.set_num_threads(1)
        lat, found = [], 0
        for q, tr in zip(queries, truth):
            t = time.perf_counter()
            labels, _ = index.knn_query(q[None, :], k=a.k)
            lat.append((time.perf_counter() - t) * 1e3)
            found += len(set(labels[0].tolist()) & set(tr.tolist()))
        lat.sort()
        p50s.append(lat[len(lat) // 2])
        p99s.append(lat[round((len(lat) - 1) * 0.99)])
        recalls.append(found / (a.k * len(queries)))
        print(f"run {run}: build {builds[-1]:.2f} s, p50 {p50s[-1]:.3f} ms, p99 {p99s[-1]:.3f} ms, recall {recalls[-1]:.4f}")
    print(
        f"MEDIAN hnswlib {hnswlib.__version__ if hasattr(hnswlib, '__version__') else ''} n={a.n} M={a.m} "
        f"efC={a.ef_construction} ef={a.ef_search}: build {statistics.median(builds):.2f} s | "
        f"p50 {statistics.median(p50s):.3f} ms p99 {statistics.median(p99s):.3f} ms | "
        f"recall@{a.k} {statistics.median(recalls):.4f}"
    )


if __name__ == "__main__":
    main()
