"""Native model vs transformers, import to step 0, export back to a HF dir."""

import json

import pytest
import torch
from transformers import AutoModelForCausalLM, LlamaForCausalLM

from cpt.train import checkpoint, hf
from cpt.convert.export import main as export_main
from cpt.convert.import_base import import_base
from cpt.train.model import Llama, ModelArgs, rope_inv_freq
from train_helpers import SEQ_LEN, VOCAB


def native(model_dir, seq_len=SEQ_LEN):
    model = Llama(hf.model_args(model_dir), seq_len)
    model.load_state_dict(hf.load_hf_state_dict(model_dir))
    return model.eval()


def tokens(seq_len=SEQ_LEN):
    return torch.randint(0, VOCAB, (2, seq_len), generator=torch.Generator().manual_seed(1))


def test_rope_scaling_is_active(model_dir):
    args = hf.model_args(model_dir)
    assert args.rope_scaling["rope_type"] == "llama3"
    unscaled = ModelArgs(**{**args.__dict__, "rope_scaling": None})
    assert not torch.allclose(rope_inv_freq(args), rope_inv_freq(unscaled))


def test_logits_match_transformers(model_dir):
    reference = LlamaForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    x = tokens()
    with torch.no_grad():
        torch.testing.assert_close(native(model_dir)(x), reference(x).logits, atol=1e-5, rtol=0)


def test_export_loads_in_transformers(model_dir, tmp_path):
    step0 = import_base(model_dir, tmp_path / "checkpoints")
    assert checkpoint.marker(step0)["step"] == 0
    out = tmp_path / "hf"
    assert export_main(["--checkpoint", str(step0), "--base-dir", str(model_dir), "--out", str(out)]) == 0
    assert {"config.json", "model.safetensors", "tokenizer.json", "generation_config.json"} <= {
        p.name for p in out.iterdir()}
    assert not list(tmp_path.glob(".hf.tmp-*")), "temporary export dir left behind"
    reloaded = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32).eval()
    x = tokens()
    with torch.no_grad():
        torch.testing.assert_close(reloaded(x).logits, native(model_dir)(x), atol=1e-5, rtol=0)


def test_export_refuses_incomplete_checkpoint(model_dir, tmp_path):
    step0 = import_base(model_dir, tmp_path / "checkpoints")
    (step0 / checkpoint.MARKER).unlink()
    with pytest.raises(checkpoint.CheckpointError, match="not a complete checkpoint"):
        hf.export_checkpoint(step0, model_dir, tmp_path / "hf")
    assert not (tmp_path / "hf").exists()


def test_base_dir_errors(model_dir, tmp_path):
    with pytest.raises(hf.HFDirError, match="config.json: missing"):
        hf.model_args(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "gpt2"}))
    with pytest.raises(hf.HFDirError, match="only 'llama'"):
        hf.model_args(tmp_path)
    state = hf.load_hf_state_dict(model_dir)
    state.pop("norm.weight")
    with pytest.raises(hf.HFDirError, match="missing \\['norm.weight'\\]"):
        hf.check_state_dict(state, hf.expected_shapes(model_dir), "x")
