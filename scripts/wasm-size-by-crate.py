#!/usr/bin/env python3
"""Attributes a wasm module's code section to crates by function name (the `name` section that
rustc writes): each function counts for the first crate, in the priority list, whose name occurs in
its (mangled) symbol. Generic code instantiated for a crate's types counts for that crate.

Usage: python3 scripts/wasm-size-by-crate.py [target/wasm32-unknown-unknown/release/clipsearch.wasm]
(run it on cargo's output, before wasm-bindgen and wasm-opt, which drop or merge names)."""
import collections
import sys

PRIO = ["parquet", "arrow", "thrift", "snap", "candle", "gemm", "tokenizers", "fancy_regex",
        "regex", "zune", "png", "jpeg", "gif", "webp", "image", "instant_distance", "postcard",
        "uuid", "sha2", "url", "idna", "half", "serde_json", "serde", "futures", "js_sys",
        "web_sys", "wasm_bindgen", "clipsearch", "hashbrown", "alloc", "core", "std"]


def leb(b, i):
    r = s = 0
    while True:
        x = b[i]
        i += 1
        r |= (x & 0x7F) << s
        s += 7
        if x < 0x80:
            return r, i


def main(path):
    data = open(path, "rb").read()
    i, secs = 8, []
    while i < len(data):
        sid = data[i]
        size, i = leb(data, i + 1)
        secs.append((sid, i, size))
        i += size
    nimports, names, sizes = 0, {}, {}
    for sid, off, size in secs:
        if sid == 2:  # imports: count imported functions (they take the first indices)
            j = off
            n, j = leb(data, j)
            for _ in range(n):
                for _ in range(2):
                    ln, j = leb(data, j)
                    j += ln
                kind = data[j]
                j += 1
                if kind == 0:
                    _, j = leb(data, j)
                    nimports += 1
                elif kind == 1:
                    j += 1
                    fl, j = leb(data, j)
                    _, j = leb(data, j)
                    if fl & 1:
                        _, j = leb(data, j)
                elif kind == 2:
                    fl, j = leb(data, j)
                    _, j = leb(data, j)
                    if fl & 1:
                        _, j = leb(data, j)
                elif kind == 3:
                    j += 2
        elif sid == 0:
            j = off
            ln, j = leb(data, j)
            if data[j:j + ln] != b"name":
                continue
            j += ln
            while j < off + size:
                sub = data[j]
                ssz, j = leb(data, j + 1)
                if sub == 1:
                    n, k = leb(data, j)
                    for _ in range(n):
                        idx, k = leb(data, k)
                        ln, k = leb(data, k)
                        names[idx] = data[k:k + ln].decode("utf8", "replace")
                        k += ln
                j += ssz
        elif sid == 10:
            j = off
            n, j = leb(data, j)
            for f in range(n):
                sz, j2 = leb(data, j)
                sizes[nimports + f] = sz + (j2 - j)
                j = j2 + sz
    agg = collections.Counter()
    for idx, sz in sizes.items():
        nm = names.get(idx, "")
        agg[next((k for k in PRIO if k in nm), "other")] += sz
    total = sum(sizes.values())
    print(f"{path}: {len(data)} bytes, code section {total} bytes in {len(sizes)} functions")
    for k, v in agg.most_common():
        print(f"  {k:18s}{v:10d}  {100 * v / total:5.1f}%")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "target/wasm32-unknown-unknown/release/clipsearch.wasm")
