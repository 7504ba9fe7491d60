"""A tiny Llama base model dir in HF format, so later stages import the demo
exactly like the real Llama-3.1-8B: config.json (llama3 RoPE scaling),
model.safetensors, tokenizer.json with Llama-3's BOS/EOS tokens."""

from __future__ import annotations

from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

from cpt.atomic import atomic_dir

BOS, EOS = "<|begin_of_text|>", "<|end_of_text|>"

# the demo flavor of the model; Llama-3.1-8B is the same class with other numbers
TINY_LLAMA = dict(hidden_size=128, intermediate_size=384, num_hidden_layers=4, num_attention_heads=4,
                  num_key_value_heads=2, max_position_embeddings=1024, rope_theta=500000.0, rms_norm_eps=1e-5,
                  rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                "high_freq_factor": 4.0, "original_max_position_embeddings": 128},
                  tie_word_embeddings=False)


def train_tokenizer(texts: list[str], vocab_size: int = 4096) -> Tokenizer:
    """Byte-level BPE like Llama-3's, with its BOS/EOS names; BOS prepended on encode."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[BOS, EOS], show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator(texts, trainer)
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A {BOS} $B", special_tokens=[(BOS, tokenizer.token_to_id(BOS))])
    return tokenizer


def save_base_model(out: Path, tokenizer: Tokenizer, seed: int = 0) -> None:
    """Write the HF dir atomically: a random tiny LlamaForCausalLM and the tokenizer."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    config = LlamaConfig(vocab_size=tokenizer.get_vocab_size(), bos_token_id=tokenizer.token_to_id(BOS),
                         eos_token_id=tokenizer.token_to_id(EOS), **TINY_LLAMA)
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config).to(torch.float32)
    with atomic_dir(out) as tmp:
        model.save_pretrained(tmp)
        PreTrainedTokenizerFast(tokenizer_object=tokenizer, bos_token=BOS, eos_token=EOS).save_pretrained(tmp)
