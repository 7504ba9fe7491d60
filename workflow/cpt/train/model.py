"""Native Llama (3.x) in plain torch, knowing nothing of parallelism.

Module names follow Hugging Face's LlamaForCausalLM minus its `model.` prefix,
so importing and exporting a HF dir is a rename, never a reshape. Sizes come
from the HF config.json, so the tiny demo model and Llama-3.1-8B are two
configs of the same class.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class ModelArgs:
    dim: int
    n_layers: int
    n_heads: int
    n_kv_heads: int
    head_dim: int
    ffn_dim: int
    vocab_size: int
    norm_eps: float
    rope_theta: float
    max_seq_len: int
    rope_scaling: dict | None = None  # HF's llama3 block (factor, low/high_freq_factor, original context)
    tie_embeddings: bool = False

    @classmethod
    def from_hf_config(cls, hf: dict) -> "ModelArgs":
        # transformers >= 5 nests rope settings under rope_parameters; Meta's own
        # config.json (and transformers 4) use rope_theta + rope_scaling.
        rope = dict(hf.get("rope_parameters") or hf.get("rope_scaling") or {})
        theta = rope.pop("rope_theta", hf.get("rope_theta", 10000.0))
        rope_type = rope.get("rope_type", rope.get("type", "default"))
        if rope_type not in ("default", "llama3"):
            raise ValueError(f"config.json: rope type {rope_type!r} is not supported (only default and llama3)")
        return cls(
            dim=hf["hidden_size"],
            n_layers=hf["num_hidden_layers"],
            n_heads=hf["num_attention_heads"],
            n_kv_heads=hf.get("num_key_value_heads") or hf["num_attention_heads"],
            head_dim=hf.get("head_dim") or hf["hidden_size"] // hf["num_attention_heads"],
            ffn_dim=hf["intermediate_size"],
            vocab_size=hf["vocab_size"],
            norm_eps=hf["rms_norm_eps"],
            rope_theta=float(theta),
            max_seq_len=hf["max_position_embeddings"],
            rope_scaling=rope if rope_type == "llama3" else None,
            tie_embeddings=bool(hf.get("tie_word_embeddings", False)),
        )

    def num_params(self, *, embeddings: bool = True) -> int:
        attn = self.dim * self.head_dim * (2 * self.n_heads + 2 * self.n_kv_heads)
        block = attn + 3 * self.dim * self.ffn_dim + 2 * self.dim
        emb = self.vocab_size * self.dim * (1 if self.tie_embeddings else 2)
        return self.n_layers * block + self.dim + (emb if embeddings else 0)

    def flops_per_token(self, seq_len: int) -> float:
        """Training FLOPs per token for MFU: 6 x matmul params plus attention.

        Attention counts 12*L*H*Dh*T, ignoring the causal mask's halving, as
        PaLM and torchtitan do, so MFU figures compare across codebases.
        """
        dense = self.num_params(embeddings=False) + self.vocab_size * self.dim
        return 6 * dense + 12 * self.n_layers * self.n_heads * self.head_dim * seq_len


def rope_inv_freq(args: ModelArgs) -> torch.Tensor:
    """Inverse RoPE frequencies with Llama-3.1's long-context scaling, computed as HF does (fp32)."""
    dim = args.head_dim
    inv_freq = 1.0 / (args.rope_theta ** (torch.arange(0, dim, 2, dtype=torch.int64).float() / dim))
    if args.rope_scaling is None:
        return inv_freq
    s = args.rope_scaling
    factor, low, high = s["factor"], s["low_freq_factor"], s["high_freq_factor"]
    old_len = s["original_max_position_embeddings"]
    wavelen = 2 * math.pi / inv_freq
    scaled = torch.where(wavelen > old_len / low, inv_freq / factor, inv_freq)
    smooth = (old_len / wavelen - low) / (high - low)
    smoothed = (1 - smooth) * scaled / factor + smooth * scaled
    medium = ~(wavelen < old_len / high) & ~(wavelen > old_len / low)
    return torch.where(medium, smoothed, scaled)


def rope_cache(args: ModelArgs, seq_len: int) -> torch.Tensor:
    """cos and sin per position, stacked: (2, seq_len, head_dim)."""
    freqs = torch.outer(torch.arange(seq_len, dtype=torch.float32), rope_inv_freq(args))
    emb = torch.cat([freqs, freqs], dim=-1)
    return torch.stack([emb.cos(), emb.sin()])


def apply_rope(x: torch.Tensor, rope: torch.Tensor) -> torch.Tensor:
    """HF's rotate-half convention, so HF q/k weights need no permutation."""
    cos, sin = rope[0, : x.shape[1], None, :], rope[1, : x.shape[1], None, :]
    x1, x2 = x.chunk(2, dim=-1)
    rotated = torch.cat([-x2, x1], dim=-1)
    return (x.float() * cos + rotated.float() * sin).type_as(x)


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.float()
        h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * h.type_as(x)


class Attention(nn.Module):
    def __init__(self, args: ModelArgs, repeat_kv: bool = False):
        super().__init__()
        self.head_dim = args.head_dim
        # repeat_kv: expand K/V to the query heads (as HF does) instead of SDPA's enable_gqa,
        # for devices whose fused kernels refuse GQA (cpt.train.attention chooses).
        self.repeat_kv = repeat_kv
        self.q_proj = nn.Linear(args.dim, args.n_heads * args.head_dim, bias=False)
        self.k_proj = nn.Linear(args.dim, args.n_kv_heads * args.head_dim, bias=False)
        self.v_proj = nn.Linear(args.dim, args.n_kv_heads * args.head_dim, bias=False)
        self.o_proj = nn.Linear(args.n_heads * args.head_dim, args.dim, bias=False)

    def forward(self, x: torch.Tensor, rope: torch.Tensor) -> torch.Tensor:
        bs, seq, _ = x.shape
        # -1 heads: under tensor parallelism each rank holds a slice of the heads.
        q = self.q_proj(x).view(bs, seq, -1, self.head_dim)
        k = self.k_proj(x).view(bs, seq, -1, self.head_dim)
        v = self.v_proj(x).view(bs, seq, -1, self.head_dim)
        q, k = apply_rope(q, rope), apply_rope(k, rope)
        if self.repeat_kv:
            groups = q.shape[2] // k.shape[2]
            k, v = k.repeat_interleave(groups, dim=2), v.repeat_interleave(groups, dim=2)
        out = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2),
                                             is_causal=True, enable_gqa=not self.repeat_kv)
        return self.o_proj(out.transpose(1, 2).reshape(bs, seq, -1))


class MLP(nn.Module):
    def __init__(self, args: ModelArgs):
        super().__init__()
        self.gate_proj = nn.Linear(args.dim, args.ffn_dim, bias=False)
        self.up_proj = nn.Linear(args.dim, args.ffn_dim, bias=False)
        self.down_proj = nn.Linear(args.ffn_dim, args.dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class Block(nn.Module):
    def __init__(self, args: ModelArgs, repeat_kv: bool = False):
        super().__init__()
        self.input_layernorm = RMSNorm(args.dim, args.norm_eps)
        self.self_attn = Attention(args, repeat_kv)
        self.post_attention_layernorm = RMSNorm(args.dim, args.norm_eps)
        self.mlp = MLP(args)

    def forward(self, x: torch.Tensor, rope: torch.Tensor) -> torch.Tensor:
        h = x + self.self_attn(self.input_layernorm(x), rope)
        return h + self.mlp(self.post_attention_layernorm(h))


class Llama(nn.Module):
    def __init__(self, args: ModelArgs, seq_len: int, *, repeat_kv: bool = False):
        super().__init__()
        self.args, self.seq_len = args, seq_len
        self.embed_tokens = nn.Embedding(args.vocab_size, args.dim)
        # A ModuleDict keyed "0", "1", ... keeps HF's layer names and lets
        # parallelize.py replace blocks (compiled, checkpoint-wrapped) in place.
        self.layers = nn.ModuleDict({str(i): Block(args, repeat_kv) for i in range(args.n_layers)})
        self.norm = RMSNorm(args.dim, args.norm_eps)
        self.lm_head = nn.Linear(args.dim, args.vocab_size, bias=False)
        if args.tie_embeddings:
            self.tie_embeddings()
        # Not persistent: derived from the config, so checkpoints hold only weights.
        self.register_buffer("rope", rope_cache(args, seq_len), persistent=False)

    def tie_embeddings(self) -> None:
        """One parameter for the input embedding and the output head (Llama-3.2-1B/3B).
        TP and to_empty replace parameters module by module, so they call this again."""
        self.lm_head.weight = self.embed_tokens.weight

    def init_buffers(self) -> None:
        """Recompute the RoPE table after materializing a meta-device model, and restore the
        embedding tie: to_empty gives each module its own plain tensor (DTensors keep it)."""
        self.rope = rope_cache(self.args, self.seq_len).to(self.rope.device)
        if self.args.tie_embeddings:
            self.tie_embeddings()

    def init_weights(self, std: float = 0.02) -> None:
        """Random init for tests and benchmarks; training starts from an imported base model."""
        for name, param in self.named_parameters():
            if name.endswith("layernorm.weight") or name == "norm.weight":
                nn.init.ones_(param)
            else:
                nn.init.normal_(param, std=std)

    def forward(self, tokens: torch.Tensor, head=None) -> torch.Tensor:
        """Logits; or, given `head(lm_head, hidden)`, what it returns: the trainer passes its
        chunked loss so the whole batch's logits never exist (cpt/train/loss.py)."""
        h = self.embed_tokens(tokens)
        for block in self.layers.values():
            h = block(h, self.rope)
        h = self.norm(h)
        return self.lm_head(h) if head is None else head(self.lm_head, h)
