"""Helpers of the eval tests: the demo's tiny base model in a temp dir, and test-only lm-eval tasks."""

from __future__ import annotations

from pathlib import Path

from cpt.demo.base_model import save_base_model, train_tokenizer

# Test-only task YAMLs (a group over the demo tasks), passed as an extra include_path.
TEST_TASKS = Path(__file__).parent / "tasks"
TEXTS = ["Question: What is 3 plus 4?\nAnswer: 7",
         "zero one two three four five six seven eight nine ten eleven twelve",
         "thirteen fourteen fifteen sixteen 0 1 2 3 4 5 6 7 8 9 10 20 30 40"]


def build_tiny_model(out: Path) -> Path:
    """The demo flavor of the base model (random weights) with a small BPE tokenizer."""
    save_base_model(out, train_tokenizer(TEXTS, vocab_size=300))
    return out
