#!/usr/bin/env python3
"""Make the tiny random-weight CLIP in models/tiny-clip/ and the golden fixtures in
tests/fixtures/model/.

Run from the repository root with the reference venv (torch + transformers 5):

    /work/refvenv/bin/python models/make_tiny_model.py

Then build the demo's default GGUF with OUR converter (not this script):

    cargo run --release -- convert models/tiny-clip -o models/tiny-clip.gguf --quant q8_0

What it makes
-------------
* models/tiny-clip/: a Hugging Face `CLIPModel` in the HF layout (config.json,
  model.safetensors in float16, tokenizer files copied from models/clip-tokenizer/,
  preprocessor_config.json with the CLIP defaults). Real vocabulary (49408), real maximum
  length (77), real image size (224) and patch (32); tiny widths (hidden 32, 2 layers, 2 heads,
  intermediate 64, projection 32). The text tower uses `quick_gelu` (as OpenAI CLIP) and the
  vision tower uses `gelu` (erf), so both activations are covered. `text_config.projection_dim`
  is deliberately stale (512): the real projection size is the top-level `projection_dim`.
* EVERY tensor is re-drawn from a seeded torch generator (seed 20261121): the default init
  leaves biases at 0 and LayerNorm weights at 1, which would hide loader bugs (a missing bias,
  a swapped norm). Weights are then rounded to float16 once, and the reference below runs in
  float32 on those rounded weights, so the f16 file is the exact reference.
* tests/fixtures/model/golden.json: normalised `get_text_features` for varied strings (empty,
  accents, CJK, emoji, > 77 tokens, ...) with the ids the HF tokenizer produced
  (truncation=True, max_length=77; each string run alone, unpadded), and normalised
  `get_image_features` for three generated images, with the HF pixel tensors.
* tests/fixtures/model/*.png|jpg: the generated test images;
  tests/fixtures/model/pixels_<name>.f32: the full HF pixel tensor (1x3x224x224, f32 LE) of
  two of them, so parity can be checked on pixels before/without our preprocessing.

Which image processor is the reference
--------------------------------------
transformers 5 has a torchvision "fast" processor (`CLIPImageProcessorFast`) and the PIL one
(`CLIPImageProcessor`). `AutoProcessor.from_pretrained(dir)` picks whichever the
`preprocessor_config.json` / install selects; we record `type(processor.image_processor)` in
golden.json (transformers 5.23 names the PIL one `CLIPImageProcessorPil`). We load with `use_fast=False`, i.e. the PIL processor (PIL bicubic
resize), because that is the processor the published CLIP checkpoints were evaluated with and
the one `CLIPProcessor` loads when torchvision is not installed; images are opened with
`transformers.image_utils.load_image` (EXIF transpose, RGB).
"""
import json
import os
import shutil
import sys

import numpy as np
import torch
from PIL import Image

from transformers import AutoProcessor, CLIPConfig, CLIPModel
from transformers.image_utils import load_image

SEED = 20261121
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "models", "tiny-clip")
TOK = os.path.join(ROOT, "models", "clip-tokenizer")
FIX = os.path.join(ROOT, "tests", "fixtures", "model")

TEXTS = [
    "",
    "a photo of a cat",
    "A DOG running on the BEACH!!!",
    "café crème brûlée, naïve façade",
    "東京の夜景と富士山",
    "🐶 dog 🐕‍🦺 emoji 🎉",
    "1234 5678.90 3.14159 -42",
    "https://example.com/path?q=cats&x=1",
    "  spaces   everywhere\tand\ttabs  ",
    " ".join(["the quick brown fox jumps over the lazy dog"] * 12),
    "<|endoftext|> is a special token",
]


def build_config():
    return CLIPConfig(
        text_config=dict(
            vocab_size=49408,
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=2,
            max_position_embeddings=77,
            hidden_act="quick_gelu",
            layer_norm_eps=1e-5,
            projection_dim=512,  # stale on purpose: the top-level value is the real one
            bos_token_id=49406,
            eos_token_id=49407,
            pad_token_id=49407,
        ),
        vision_config=dict(
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=2,
            image_size=224,
            patch_size=32,
            num_channels=3,
            hidden_act="gelu",
            layer_norm_eps=1e-5,
            projection_dim=512,
        ),
        projection_dim=32,
    )


def perturb(model, gen):
    with torch.no_grad():
        for name, p in model.named_parameters():
            shape = p.shape
            r = torch.randn(shape, generator=gen, dtype=torch.float32)
            if "layer_norm" in name or "layrnorm" in name or "layernorm" in name:
                v = (1.0 + 0.2 * r) if name.endswith("weight") else 0.2 * r
            elif name.endswith("bias"):
                v = 0.1 * r
            elif name == "logit_scale":
                v = torch.full(shape, 2.6592)
            elif p.dim() >= 2:
                fan_in = int(np.prod(shape[1:]))
                v = r / np.sqrt(fan_in)
            else:
                v = 0.5 * r  # class embedding
            if "embedding" in name and p.dim() == 2:
                v = 0.5 * r
            p.copy_(v.half().float())


def make_images():
    rng = np.random.default_rng(SEED)
    imgs = {}
    # Photo-like: smooth colour gradients + low-amplitude noise, landscape, JPEG.
    h, w = 240, 320
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    r = 255 * (x / w)
    g = 255 * (0.5 + 0.5 * np.sin(y / 23.0))
    b = 255 * (y / h) * (1 - x / w)
    a = np.stack([r, g, b], -1) + rng.normal(0, 12, (h, w, 3))
    imgs["gradient.jpg"] = Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))
    # Portrait noise with blobs, PNG.
    h, w = 300, 200
    a = rng.integers(0, 256, (h, w, 3)).astype(np.float32)
    y, x = np.mgrid[0:h, 0:w]
    blob = ((x - 120) ** 2 + (y - 90) ** 2) < 50 ** 2
    a[blob] = [220, 40, 30]
    imgs["noise.png"] = Image.fromarray(a.astype(np.uint8))
    # Small square with checkerboard and a circle, PNG, upscaled by the processor.
    h, w = 150, 150
    y, x = np.mgrid[0:h, 0:w]
    a = np.zeros((h, w, 3), np.uint8)
    a[((x // 15) + (y // 15)) % 2 == 0] = [250, 250, 240]
    a[((x - 75) ** 2 + (y - 75) ** 2) < 40 ** 2] = [20, 120, 200]
    imgs["checker.png"] = Image.fromarray(a)
    return imgs


def main():
    torch.manual_seed(SEED)
    gen = torch.Generator().manual_seed(SEED)
    cfg = build_config()
    model = CLIPModel(cfg).eval()
    perturb(model, gen)

    os.makedirs(OUT, exist_ok=True)
    model.half().save_pretrained(OUT, safe_serialization=True)
    model.float()
    for f in ["tokenizer.json", "vocab.json", "merges.txt", "tokenizer_config.json"]:
        shutil.copy(os.path.join(TOK, f), os.path.join(OUT, f))
    pre = {
        "crop_size": {"height": 224, "width": 224},
        "do_center_crop": True,
        "do_convert_rgb": True,
        "do_normalize": True,
        "do_rescale": True,
        "do_resize": True,
        "image_mean": [0.48145466, 0.4578275, 0.40821073],
        "image_processor_type": "CLIPImageProcessor",
        "image_std": [0.26862954, 0.26130258, 0.27577711],
        "resample": 3,
        "rescale_factor": 0.00392156862745098,
        "size": {"shortest_edge": 224},
        "processor_class": "CLIPProcessor",
    }
    with open(os.path.join(OUT, "preprocessor_config.json"), "w") as f:
        json.dump(pre, f, indent=2, sort_keys=True)
        f.write("\n")

    # Reload from disk, in float32, exactly as a user would.
    model = CLIPModel.from_pretrained(OUT, dtype=torch.float32).eval()
    proc = AutoProcessor.from_pretrained(OUT, use_fast=False)
    print("image processor:", type(proc.image_processor).__name__, file=sys.stderr)

    os.makedirs(FIX, exist_ok=True)
    golden = {
        "generator": "models/make_tiny_model.py",
        "seed": SEED,
        "transformers": __import__("transformers").__version__,
        "torch": torch.__version__,
        "image_processor": type(proc.image_processor).__name__,
        "texts": [],
        "images": [],
    }
    with torch.no_grad():
        for t in TEXTS:
            enc = proc.tokenizer(t, truncation=True, max_length=77)
            ids = enc["input_ids"]
            out = model.get_text_features(input_ids=torch.tensor([ids]))
            feat = out.pooler_output if hasattr(out, "pooler_output") else out
            feat = torch.nn.functional.normalize(feat, dim=-1)[0]
            golden["texts"].append({"text": t, "ids": ids, "embedding": feat.tolist()})
        for name, img in make_images().items():
            path = os.path.join(FIX, name)
            if name.endswith(".jpg"):
                img.save(path, quality=90)
            else:
                img.save(path)
            pil = load_image(path)
            pv = proc(images=pil, return_tensors="pt")["pixel_values"]
            out = model.get_image_features(pixel_values=pv)
            feat = out.pooler_output if hasattr(out, "pooler_output") else out
            feat = torch.nn.functional.normalize(feat, dim=-1)[0]
            entry = {
                "file": name,
                "embedding": feat.tolist(),
                "pixel_shape": list(pv.shape),
                "pixel_sum": float(pv.double().sum()),
                "pixel_abs_sum": float(pv.double().abs().sum()),
                "pixel_first": pv.flatten()[:16].tolist(),
            }
            if name in ("gradient.jpg", "noise.png"):
                pf = "pixels_" + name.rsplit(".", 1)[0] + ".f32"
                pv.numpy().astype("<f4").tofile(os.path.join(FIX, pf))
                entry["pixels_file"] = pf
            golden["images"].append(entry)
    with open(os.path.join(FIX, "golden.json"), "w") as f:
        json.dump(golden, f, ensure_ascii=False)
        f.write("\n")
    print("wrote", OUT, "and", FIX, file=sys.stderr)


if __name__ == "__main__":
    main()
