#!/usr/bin/env python3
"""Rebuilds BENCHMARKS.md from benches/RESULTS-*.md (each: figures and the commands that produced
them), demoting their headings one level. Usage: python3 scripts/assemble-benchmarks.py"""
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ORDER = ["model", "kernels", "ortweb", "multi", "index", "ingest", "npm", "cli", "table", "demo"]
HEAD = """# Benchmarks

Every figure with the command that produced it, assembled from `benches/RESULTS-*.md` by
`scripts/assemble-benchmarks.py`. **Caveat:** all figures were measured on a 2-core machine shared
with concurrent builds by other agents (the load is given in each section). Ratios measured in
the same run (ours vs. a peer) are meaningful; absolute times are upper bounds.

## Browser package size (`make wasm`: release, LTO; the simd128 and the relaxed-SIMD module, each downloaded alone; printed by `scripts/build-wasm.sh`)
"""


def demote(text: str) -> str:
    out, fenced = [], False
    for line in text.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        if not fenced and line.startswith("#"):
            line = "#" + line
        out.append(line)
    return "\n".join(out)


parts = [HEAD]
size = ROOT / "benches" / "SIZE.txt"
if size.exists():
    parts.append("\n".join("    " + l for l in size.read_text().splitlines()) + "\n")
for name in ORDER:
    f = ROOT / "benches" / f"RESULTS-{name}.md"
    if f.exists():
        parts.append(demote(f.read_text()) + "\n")
(ROOT / "BENCHMARKS.md").write_text("\n".join(parts))
print(f"BENCHMARKS.md: {sum(p.count(chr(10)) for p in parts)} lines")
