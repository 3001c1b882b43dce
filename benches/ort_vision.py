"""onnxruntime beside `clipsearch index` on the same random-weight ViT-B/32 (benches/RESULTS-cli.md).

Two steps, two interpreters (torch lives in the reference venv, onnxruntime in the benchmark venv):

  # 1. export the vision tower (pixel_values -> image_embeds) of a Hugging Face layout directory
  PYTHONPATH=/work/benchvenv-ort/lib/python3.11/site-packages \
    /work/refvenv/bin/python benches/ort_vision.py export /tmp/vitb32 /tmp/vitb32-onnx
  # 2. quantize (int8, dynamic, per-channel weights) and time images/s with N threads
  /work/benchvenv-ort/bin/python benches/ort_vision.py bench /tmp/vitb32-onnx IMG_DIR --threads 2

`bench` decodes and preprocesses every image with the CLIP recipe (PIL bicubic resize of the
shortest side to 224, centre crop, OpenAI mean/std) inside the timed loop, one image per run
call, like `clipsearch index`, and prints one JSON line per (precision, run) and the medians.
"""

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

MEAN = [0.48145466, 0.4578275, 0.40821073]
STD = [0.26862954, 0.26130258, 0.27577711]


def export(hf_dir: Path, out: Path):
    import torch
    from transformers import CLIPVisionModelWithProjection

    out.mkdir(parents=True, exist_ok=True)
    model = CLIPVisionModelWithProjection.from_pretrained(hf_dir, torch_dtype=torch.float32).eval()

    class Wrap(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, pixel_values):
            e = self.m(pixel_values=pixel_values).image_embeds
            return e / e.norm(dim=-1, keepdim=True)

    x = torch.zeros(1, 3, 224, 224)
    torch.onnx.export(Wrap(model), (x,), str(out / "vision_f32.onnx"), input_names=["pixel_values"],
                      output_names=["image_embeds"], opset_version=18,
                      dynamic_axes={"pixel_values": {0: "n"}, "image_embeds": {0: "n"}})
    print(json.dumps({"exported": str(out / "vision_f32.onnx")}))


def preprocess(path):
    import numpy as np
    from PIL import Image

    im = Image.open(path).convert("RGB")
    w, h = im.size
    s = 224 / min(w, h)
    im = im.resize((max(224, round(w * s)), max(224, round(h * s))), Image.BICUBIC)
    w, h = im.size
    left, top = (w - 224) // 2, (h - 224) // 2
    im = im.crop((left, top, left + 224, top + 224))
    a = np.asarray(im, dtype=np.float32) / 255.0
    a = (a - np.array(MEAN, dtype=np.float32)) / np.array(STD, dtype=np.float32)
    return a.transpose(2, 0, 1)[None]


def embed_one(onnx_dir: Path, image: Path):
    """Prints the f32 embedding of one image (to check that both engines run the same model)."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(onnx_dir / "vision_f32.onnx"), providers=["CPUExecutionProvider"])
    print(json.dumps(sess.run(None, {"pixel_values": preprocess(image)})[0][0].tolist()))


def bench(onnx_dir: Path, img_dir: Path, threads: int, runs: int):
    import onnxruntime as ort
    from onnxruntime.quantization import QuantType, quantize_dynamic

    f32 = onnx_dir / "vision_f32.onnx"
    int8 = onnx_dir / "vision_int8.onnx"
    if not int8.exists():
        # The exporter's value_info disagrees with onnx shape inference on the projection
        # (768 vs 512), which the quantizer runs: drop it (shapes are re-inferred).
        import onnx

        m = onnx.load(str(f32))
        del m.graph.value_info[:]
        clean = onnx_dir / "vision_f32_clean.onnx"
        onnx.save(m, str(clean), save_as_external_data=True, location=clean.name + ".data")
        quantize_dynamic(str(clean), str(int8), weight_type=QuantType.QInt8, per_channel=True)
    images = sorted(p for p in img_dir.rglob("*") if p.suffix.lower() in {".jpg", ".jpeg", ".png"})
    results = {}
    for name, path in [("f32", f32), ("int8", int8)]:
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        sess.run(None, {"pixel_values": preprocess(images[0])})  # warm-up
        rates = []
        for r in range(runs):
            t0 = time.perf_counter()
            for p in images:
                sess.run(None, {"pixel_values": preprocess(p)})
            dt = time.perf_counter() - t0
            rates.append(len(images) / dt)
            print(json.dumps({"engine": f"onnxruntime {ort.__version__}", "precision": name,
                              "threads": threads, "run": r, "images": len(images),
                              "images_per_s": round(len(images) / dt, 2)}))
            sys.stdout.flush()
        results[name] = statistics.median(rates)
    print(json.dumps({"median_images_per_s": {k: round(v, 2) for k, v in results.items()},
                      "threads": threads, "cpus": os.cpu_count()}))


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("export")
    e.add_argument("hf_dir", type=Path)
    e.add_argument("out", type=Path)
    b = sub.add_parser("bench")
    b.add_argument("onnx_dir", type=Path)
    b.add_argument("img_dir", type=Path)
    b.add_argument("--threads", type=int, default=2)
    b.add_argument("--runs", type=int, default=3)
    o = sub.add_parser("embed")
    o.add_argument("onnx_dir", type=Path)
    o.add_argument("image", type=Path)
    a = ap.parse_args()
    if a.cmd == "export":
        export(a.hf_dir, a.out)
    elif a.cmd == "embed":
        embed_one(a.onnx_dir, a.image)
    else:
        bench(a.onnx_dir, a.img_dir, a.threads, a.runs)


if __name__ == "__main__":
    main()
