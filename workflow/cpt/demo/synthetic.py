"""Synthetic inputs for the trainer's tests and benchmarks: a random HF Llama dir
(llama3 RoPE scaling active within short contexts) and packed shards of
learnable token rows with their manifest, in the data stage's formats."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import torch

from cpt.atomic import sha256_file
from cpt.data.formats import MANIFEST_FORMAT, packed_schema

SEQ_LEN = 32
VOCAB = 128


def make_model_dir(path: Path, *, dim: int = 64, layers: int = 2, heads: int = 4, kv_heads: int = 2,
                   vocab: int = VOCAB, max_positions: int = 256, tied: bool = False, seed: int = 0) -> Path:
    """A random Llama saved by transformers, plus a word-level tokenizer.json (hashed by the manifest check)."""
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=vocab, hidden_size=dim, intermediate_size=2 * dim, num_hidden_layers=layers,
                         num_attention_heads=heads, num_key_value_heads=kv_heads, max_position_embeddings=max_positions,
                         rope_theta=10000.0, tie_word_embeddings=tied, bos_token_id=0, eos_token_id=1,
                         rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                       "high_freq_factor": 4.0, "original_max_position_embeddings": 16})
    LlamaForCausalLM(config).save_pretrained(path)
    Tokenizer(WordLevel({f"t{i}": i for i in range(vocab)}, unk_token="t0")).save(str(path / "tokenizer.json"))
    return path


def make_data(path: Path, model_dir: Path, *, rows: int = 96, seq_len: int = SEQ_LEN, shards: int = 2,
              vocab: int = VOCAB, seed: int = 0) -> Path:
    """Packed shards of learnable (repeating) token rows and their manifest.json."""
    rng = np.random.default_rng(seed)
    (path / "mixed").mkdir(parents=True, exist_ok=True)
    entries = []
    per_shard = -(-rows // shards)
    for i in range(shards):
        n = min(per_shard, rows - i * per_shard)
        starts = rng.integers(0, vocab, size=(n, 1))
        tokens = ((starts + np.arange(seq_len + 1) * rng.integers(1, 4, size=(n, 1))) % vocab).astype(np.uint32)
        array = pa.FixedSizeListArray.from_arrays(pa.array(tokens.ravel(), pa.uint32()), seq_len + 1)
        file = path / "mixed" / f"shard-{i:05d}.arrow"
        with pa.OSFile(str(file), "wb") as sink, pa.ipc.new_file(sink, packed_schema(seq_len)) as writer:
            writer.write_table(pa.table({"tokens": array}, schema=packed_schema(seq_len)), max_chunksize=16)
        entries.append({"path": f"mixed/{file.name}", "rows": n, "sha256": sha256_file(file)})
    manifest = {"format": MANIFEST_FORMAT, "seq_len": seq_len,
                "tokenizer_sha256": sha256_file(model_dir / "tokenizer.json"),
                "rows": rows, "rows_needed": rows, "shards": entries, "sources": {}}
    (path / "manifest.json").write_text(json.dumps(manifest))
    return path / "manifest.json"
