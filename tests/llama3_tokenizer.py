"""A real 128,256-token Llama-3 tokenizer.json for the data tests and benchmark, built from Meta's own.

Meta's reference tokenizer (`llama_models/llama3/tokenizer.model`: base64 tiktoken ranks) ships in
the PyPI wheel `llama-models`; `pip download` fetches it (no HF hub needed) and transformers'
TikTokenConverter turns it into the byte-level BPE tokenizer.json HF publishes with Llama-3
(Split(Llama-3 pattern) + ByteLevel, ignore_merges, the 256 special tokens). The result (17 MB)
is cached under ~/.cache/cpt, never committed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

WHEEL = "llama-models==0.3.0"
MODEL_IN_WHEEL = "llama_models/llama3/tokenizer.model"
# Meta's llama3/tokenizer.py: these first, then reserved tokens up to 256 specials after the ranks
SPECIALS = ["<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>",
            "<|reserved_special_token_1|>", "<|finetune_right_pad_id|>", "<|step_id|>", "<|start_header_id|>",
            "<|end_header_id|>", "<|eom_id|>", "<|eot_id|>", "<|python_tag|>", "<|image|>"]
SPECIALS += [f"<|reserved_special_token_{2 + i}|>" for i in range(256 - len(SPECIALS))]
BOS_ID, EOS_ID = 128000, 128001


def cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "cpt" / "llama3-tokenizer"


def meta_tokenizer_model() -> Path:
    """Meta's tokenizer.model, from the llama-models wheel (downloaded once). Raises
    RuntimeError when the wheel cannot be fetched (no package index reachable)."""
    target = cache_dir() / "tokenizer.model"
    if not target.exists():
        with tempfile.TemporaryDirectory() as tmp:
            done = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", WHEEL, "-d", tmp],
                                  capture_output=True, text=True, timeout=300)
            if done.returncode != 0:
                raise RuntimeError(f"pip download {WHEEL} failed: {done.stderr.strip()[-500:]}")
            wheel = next(Path(tmp).glob("*.whl"))
            target.parent.mkdir(parents=True, exist_ok=True)
            with zipfile.ZipFile(wheel) as archive:
                partial = target.with_suffix(".partial")
                partial.write_bytes(archive.read(MODEL_IN_WHEEL))
                partial.rename(target)
    return target


def llama3_model_dir() -> Path:
    """A model dir (tokenizer.json + config.json with Llama-3's BOS/EOS) for the tokenize stage."""
    model_dir = cache_dir() / "model"
    if not (model_dir / "tokenizer.json").exists():
        from transformers.convert_slow_tokenizer import TikTokenConverter

        tokenizer = TikTokenConverter(str(meta_tokenizer_model()), extra_special_tokens=SPECIALS).converted()
        model_dir.mkdir(parents=True, exist_ok=True)
        (model_dir / "config.json").write_text(json.dumps({"bos_token_id": BOS_ID, "eos_token_id": EOS_ID}))
        partial = model_dir / "tokenizer.json.partial"
        tokenizer.save(str(partial))
        partial.rename(model_dir / "tokenizer.json")
    return model_dir


def meta_reference():
    """Meta's own Tokenizer class semantics: tiktoken over tokenizer.model with Meta's pattern,
    specials encoded as text (its default), no chunking (documents here stay under its 400k limit)."""
    import tiktoken
    from tiktoken.load import load_tiktoken_bpe

    ranks = load_tiktoken_bpe(str(meta_tokenizer_model()))
    pattern = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
               r"|\s*[\r\n]+|\s+(?!\S)|\s+")
    return tiktoken.Encoding("meta-llama3", pat_str=pattern, mergeable_ranks=ranks,
                             special_tokens={t: len(ranks) + i for i, t in enumerate(SPECIALS)})
