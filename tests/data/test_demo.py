"""The embedded demo: deterministic, in the real sources' layouts, and a loadable HF model."""

import json

import pyarrow.parquet as pq
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from cpt.atomic import sha256_file
from cpt.demo.__main__ import build


def hashes(root):
    return {str(p.relative_to(root)): sha256_file(p) for p in sorted(root.rglob("*")) if p.is_file()}


def test_build_is_deterministic(demo_dir, tmp_path):
    build(tmp_path / "again")
    assert hashes(tmp_path / "again") == hashes(demo_dir)


def test_sources_use_the_real_layouts(demo_dir):
    sources = demo_dir / "sources"
    for component in ("dclm_crossdeduped", "fwe3", "dolma-cc_crossdeduped-filtered", "zyda_crossdeduped-filtered"):
        files = sorted((sources / "zyda-2/data" / component).glob("*.parquet"))
        assert len(files) == 2
        assert {"text", "source"} <= set(pq.read_schema(files[0]).names)
    finemath = pq.read_table(next((sources / "finemath/finemath-3plus").glob("*.parquet")))
    assert {"url", "text", "score", "int_score"} <= set(finemath.column_names) and finemath.num_rows == 1500
    row = json.loads(next((sources / "the-stack-v2-smol/contents").glob("*.jsonl")).read_text().splitlines()[0])
    assert {"repo_name", "files"} <= set(row)
    assert {"blob_id", "path", "language", "content"} <= set(row["files"][0])
    total = sum(p.stat().st_size for p in sources.rglob("*") if p.is_file())
    assert 1e6 < total < 10e6  # a few MB


def test_base_model_loads_like_a_real_llama(model_dir):
    config = json.loads((model_dir / "config.json").read_text())
    assert config["architectures"] == ["LlamaForCausalLM"]
    rope = config.get("rope_scaling") or config["rope_parameters"]
    assert rope["rope_type"] == "llama3"
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    ids = tokenizer("def f(x): return x")["input_ids"]
    assert ids[0] == config["bos_token_id"] == tokenizer.convert_tokens_to_ids("<|begin_of_text|>")
    assert config["eos_token_id"] == tokenizer.convert_tokens_to_ids("<|end_of_text|>")
    assert tokenizer.decode(ids[1:]) == "def f(x): return x"
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    logits = model(torch.tensor([ids])).logits
    assert logits.shape == (1, len(ids), config["vocab_size"]) and torch.isfinite(logits).all()
