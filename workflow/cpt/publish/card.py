"""The model card (README.md) of a published step: what was trained, from what, and how it scores.

Eval results are read when the card is written, not declared as inputs: a result
that arrives later is picked up by the next publish job's card, and never makes a
finished publish job out of date.
"""

from __future__ import annotations

from pathlib import Path

from cpt.digest import config_digest
from cpt.report.results import finished
from cpt.settings import global_batch_rows


def eval_results(results_dir: Path) -> dict[int, dict[str, float]]:
    """step -> {task: value} of the finished (status ok) results written so far."""
    table: dict[int, dict[str, float]] = {}
    for record in finished(results_dir):
        table.setdefault(record["step"], {})[record["name"]] = record["value"]
    return table


def model_card(step: int, facts: dict, results: dict[int, dict[str, float]]) -> str:
    tokens = step * facts["tokens_per_step"]
    mix = "\n".join(f"| {name} | {weight:.2%} |" for name, weight in facts["mix"].items())
    tasks = sorted({task for scores in results.values() for task in scores})
    if tasks:
        rows = "\n".join(f"| {s:,}{' (this revision)' if s == step else ''} | "
                         + " | ".join(f"{100 * results[s][t]:.1f}" if t in results[s] else "" for t in tasks) + " |"
                         for s in sorted(results))
        evals = f"| step | {' | '.join(tasks)} |\n|---|{'---|' * len(tasks)}\n{rows}"
    else:
        evals = "No evaluation has finished yet; a later publish refreshes this card."
    header = [f"base_model: {facts['base_model']}"]
    if facts.get("license"):
        header.append(f"license: {facts['license']}")
    if facts.get("datasets"):
        header.append("datasets:\n" + "\n".join(f"- {name}" for name in facts["datasets"]))
    attribution = f"**{facts['attribution']}**\n\n" if facts.get("attribution") else ""
    newline = "\n"
    return f"""---
{newline.join(header)}
library_name: transformers
tags: [continual-pretraining, cpt]
---

# {facts['run']}: step {step:,}

{attribution}
Continual pretraining of [{facts['base_model']}](https://huggingface.co/{facts['base_model']}),
step {step:,}: {tokens:,} tokens seen ({facts['tokens_per_step']:,} per step, context {facts['seq_len']:,}).
Each step has its own branch (`step-{step:08d}`); `main` follows the newest published step.

Config digest: `{facts['config_digest']}` (cpt.digest.config_digest of the run's whole config).

## Data mix ({facts['weighting']}-weighted)

| source | weight |
|---|---|
{mix}

## Evaluation (lm-evaluation-harness, accuracy %, results available when this card was written)

{evals}
"""


def card_facts(config: dict) -> dict:
    """What a card says of the run, from its config (read at publish time: a card edit republishes nothing)."""
    return {
        "run": config["run"],
        "base_model": config["model"].get("hub", {}).get("repo_id", config["model"]["base_dir"]),
        "mix": {name: source["weight"] for name, source in config["data"]["sources"].items()},
        "weighting": config["data"]["mix"]["weighting"],
        "seq_len": config["data"]["seq_len"],
        "tokens_per_step": global_batch_rows(config) * config["data"]["seq_len"],
        "config_digest": config_digest(config),
        "license": config["publish"].get("hf", {}).get("license"),
        "attribution": config["publish"].get("hf", {}).get("attribution"),
        "datasets": sorted({s["hub"]["repo_id"] for s in config["data"]["sources"].values() if "hub" in s}),
    }
