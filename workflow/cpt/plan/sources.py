"""What the mix draws from each source: tokens per step, tokens, documents and epochs per source."""

from __future__ import annotations

from cpt.settings import ConfigError, global_batch_rows


def tokens_per_step(config: dict) -> int:
    """Sequences of all DP ranks x context: 64 x 21 x 8192 = 11,010,048 for the reference run."""
    return global_batch_rows(config) * config["data"]["seq_len"]


def source_sizes(config: dict, manifest: dict | None) -> tuple[dict[str, dict], str]:
    """Documents and tokens available per source: counted by a manifest, else config estimates."""
    estimates = config["slurm"]["planner"].get("sources", {})
    if manifest is not None:   # counted; download bytes are the cards' still
        return ({name: {"documents": s["available_documents"], "tokens": s["available_tokens"],
                        "bytes": estimates.get(name, {}).get("bytes", 0)}
                 for name, s in manifest["sources"].items()}, "manifest")
    missing = sorted(set(config["data"]["sources"]) - set(estimates))
    if missing:
        raise ConfigError(f"slurm.planner.sources has no size estimate for {', '.join(missing)}; "
                          f"add {{documents: N, tokens: N, bytes: N}} for each (from the dataset's card), "
                          f"or pass --manifest of a finished mix")
    return {name: _estimate(name, spec, estimates[name]) for name, spec in config["data"]["sources"].items()}, \
        "config estimate"


def _estimate(name: str, spec: dict, estimate: dict) -> dict:
    """A source's size estimate; Stack-v2 in repo mode counts repositories as its documents."""
    if spec.get("content_fetch", {}).get("documents") != "repo":
        return estimate
    if "repositories" not in estimate:
        raise ConfigError(f"data.sources.{name}.content_fetch.documents is repo but slurm.planner.sources.{name} "
                          f"has no `repositories` count; add it (the smol-ids row count) or use documents: file")
    return {**estimate, "documents": estimate["repositories"]}


def mix_usage(weights: dict[str, float], sizes: dict[str, dict], total_tokens: float, weighting: str) -> dict:
    """Tokens, documents and epochs each source contributes to `total_tokens` of training.

    rows: weights are document shares, so a source's token share follows its mean
    document length; tokens: weights are token shares directly."""
    per_doc = {name: sizes[name]["tokens"] / sizes[name]["documents"] for name in weights}
    if weighting == "rows":
        documents = total_tokens / sum(weights[n] * per_doc[n] for n in weights)
        tokens = {n: weights[n] * documents * per_doc[n] for n in weights}
    else:
        tokens = {n: weights[n] * total_tokens for n in weights}
    return {n: {"weight": weights[n], "tokens": tokens[n], "token_share": tokens[n] / total_tokens,
                "documents": tokens[n] / per_doc[n], "epochs": tokens[n] / sizes[n]["tokens"]}
            for n in weights}
