"""Single-file f32 ONNX + int8 dynamic-quantized variants for the onnxruntime-web bench (run.mjs).

  /work/benchvenv-ort/bin/python benches/ortweb/quantize.py /tmp/ortweb/onnx

Input: DIR/vision_f32.onnx (+ .data) from `benches/ort_vision.py export`. Output, in DIR:
  web_f32.onnx        the same graph in one file (onnxruntime-web loads a single buffer)
  web_int8.onnx       quantize_dynamic(per_channel=True, weight_type=QInt8)   (MatMul + Gemm)
  web_uint8.onnx      quantize_dynamic(per_channel=True, weight_type=QUInt8)  (MatMul + Gemm + Conv)
The two usual dynamic int8 flavours: signed weights on the matmuls only (the patch-embedding Conv
stays f32), and unsigned weights on everything including the Conv (ConvInteger). Both run in
onnxruntime-web's wasm backend (checked with run.mjs; cosine to f32 >= 0.9997).
"""

import sys
from collections import Counter
from pathlib import Path

import onnx
from onnxruntime.quantization import QuantType, quantize_dynamic

d = Path(sys.argv[1])
m = onnx.load(str(d / "vision_f32.onnx"))
# The exporter's value_info disagrees with onnx shape inference on the projection (768 vs 512),
# which the quantizer runs: drop it (shapes are re-inferred). Same as benches/ort_vision.py.
del m.graph.value_info[:]
print("ops:", dict(Counter(n.op_type for n in m.graph.node)))
onnx.save(m, str(d / "web_f32.onnx"))
quantize_dynamic(str(d / "web_f32.onnx"), str(d / "web_int8.onnx"), weight_type=QuantType.QInt8,
                 per_channel=True, op_types_to_quantize=["MatMul", "Gemm"])
quantize_dynamic(str(d / "web_f32.onnx"), str(d / "web_uint8.onnx"), weight_type=QuantType.QUInt8,
                 per_channel=True, op_types_to_quantize=["MatMul", "Gemm", "Conv"])
for f in ("web_f32.onnx", "web_int8.onnx", "web_uint8.onnx"):
    q = onnx.load(str(d / f))
    print(f, (d / f).stat().st_size, dict(Counter(n.op_type for n in q.graph.node if "Integer" in n.op_type or "Quantize" in n.op_type)))
