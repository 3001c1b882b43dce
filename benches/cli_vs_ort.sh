#!/bin/bash
# clipsearch index vs onnxruntime, same random ViT-B/32, 2 threads, 3 runs each, interleaved per precision.
BIN=${BIN:-target/release/clipsearch}
for q in q8_0 f32; do
  for r in 1 2 3; do
    for set in 1 104; do
      rm -rf /tmp/bench-out.parquet /tmp/bench-out.parquet.parts
      s=$(date +%s.%N)
      $BIN index /tmp/bench-$set --model /tmp/vitb32-$q.gguf -o /tmp/bench-out.parquet --jobs 2 -q > /dev/null || echo FAIL
      e=$(date +%s.%N)
      echo "{\"engine\": \"clipsearch index\", \"precision\": \"$q\", \"run\": $r, \"images\": $set, \"seconds\": $(echo "$e - $s" | bc)}"
    done
  done
done
/work/benchvenv-ort/bin/python benches/ort_vision.py bench /tmp/vitb32-onnx /tmp/bench-104 --threads 2 --runs 3 2>&1 | grep -v WARNING
