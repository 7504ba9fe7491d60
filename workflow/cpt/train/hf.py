"""Hugging Face Llama dirs <-> native state dicts (see model.py for the names).

Import reads a HF dir's safetensors into native names (fp32 master weights);
export writes a self-contained HF dir (weights in the base model's dtype, its
config, tokenizer and generation files) that transformers loads as is.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from cpt.atomic import atomic_dir
from cpt.train.model import ModelArgs

HF_PREFIX = "model."
WEIGHT_FILES = ("*.safetensors", "model.safetensors.index.json", "*.bin", "pytorch_model.bin.index.json")
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


class HFDirError(ValueError):
    """A base model dir that is missing files or does not describe a Llama."""


def hf_config(base_dir: str | Path) -> dict:
    path = Path(base_dir) / "config.json"
    if not path.is_file():
        raise HFDirError(f"{path}: missing; model.base_dir must be a HF Llama dir "
                         "(config.json, *.safetensors, tokenizer.json)")
    config = json.loads(path.read_text())
    if config.get("model_type") != "llama":
        raise HFDirError(f"{path}: model_type is {config.get('model_type')!r}; only 'llama' is supported")
    return config


def model_args(base_dir: str | Path) -> ModelArgs:
    return ModelArgs.from_hf_config(hf_config(base_dir))


def to_native(name: str) -> str:
    return name.removeprefix(HF_PREFIX)


def to_hf(name: str) -> str:
    return name if name == "lm_head.weight" else HF_PREFIX + name


def load_hf_state_dict(base_dir: str | Path, dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
    """All weights of a HF dir under native names, cast to `dtype`."""
    base = Path(base_dir)
    files = sorted(base.glob("*.safetensors"))
    if not files:
        raise HFDirError(f"{base}: no *.safetensors weights found; convert the model with transformers' "
                         "save_pretrained(safe_serialization=True)")
    state = {}
    for file in files:
        state.update({to_native(k): v.to(dtype) for k, v in load_file(file).items()})
    return state


def check_state_dict(state: dict[str, torch.Tensor], expected: dict[str, torch.Size], where: str) -> None:
    """Refuse missing, unexpected or mis-shaped weights before they reach a checkpoint."""
    missing = sorted(set(expected) - set(state))
    extra = sorted(set(state) - set(expected))
    shapes = [f"{k}: {tuple(state[k].shape)} != {tuple(expected[k])}"
              for k in sorted(set(state) & set(expected)) if state[k].shape != expected[k]]
    if missing or extra or shapes:
        raise HFDirError(f"{where}: weights do not fit the model of config.json "
                         f"(missing {missing[:4]}, unexpected {extra[:4]}, shape mismatches {shapes[:4]})")


def export_hf(state: dict[str, torch.Tensor], base_dir: str | Path, out: str | Path) -> Path:
    """Write native weights as a HF dir next to copies of the base dir's non-weight files.

    Weights take the base model's dtype (bf16 for Llama-3.1), so the export is a
    drop-in replacement for the base dir in any HF tool.
    """
    base, out = Path(base_dir), Path(out)
    config = hf_config(base)
    dtype = DTYPES.get(config.get("dtype") or config.get("torch_dtype") or "float32", torch.float32)
    with atomic_dir(out) as tmp:
        for file in base.iterdir():
            if file.is_file() and not any(file.match(p) for p in WEIGHT_FILES):
                shutil.copy2(file, tmp / file.name)
        if not (tmp / "generation_config.json").exists():
            generation = {k: config[k] for k in ("bos_token_id", "eos_token_id") if k in config}
            (tmp / "generation_config.json").write_text(json.dumps(generation, indent=2) + "\n")
        tied = config.get("tie_word_embeddings", False)
        if tied:
            check_tied(state, base / "config.json")
        tensors = {to_hf(k): v.to(dtype).contiguous() for k, v in state.items()
                   if not (tied and k == "lm_head.weight")}
        save_file(tensors, tmp / "model.safetensors", metadata={"format": "pt"})
    return out


def check_tied(state: dict[str, torch.Tensor], config_path: Path) -> None:
    """A tied model's export stores the embedding once and transformers re-ties the head to it,
    so a head that trained apart from the embedding would be lost without a word: refuse it."""
    head, embed = state.get("lm_head.weight"), state["embed_tokens.weight"]
    if head is not None and not torch.equal(head, embed):
        raise HFDirError(f"{config_path} sets tie_word_embeddings, but the weights' lm_head differs from "
                         f"embed_tokens (max |diff| {(head - embed).abs().max().item():.3g}); the export would drop "
                         "the "
                         "trained head. The checkpoint was trained with an untied head: export it with a config.json "
                         "that sets tie_word_embeddings: false")


def export_checkpoint(checkpoint: str | Path, base_dir: str | Path, out: str | Path) -> Path:
    """A complete training checkpoint as a self-contained HF dir (what evaluation loads)."""
    from cpt.train.checkpoint import load_model_weights

    state = load_model_weights(checkpoint)
    check_state_dict(state, expected_shapes(base_dir), str(checkpoint))
    return export_hf(state, base_dir, out)


def expected_shapes(base_dir: str | Path) -> dict[str, torch.Size]:
    from cpt.train.model import Llama

    with torch.device("meta"):
        model = Llama(model_args(base_dir), seq_len=1)
    return {k: v.shape for k, v in model.state_dict().items()}
