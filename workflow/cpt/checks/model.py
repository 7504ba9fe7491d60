"""Tensor parallelism and the context against the model's shape.

TP shards attention heads and KV heads across its ranks and, with sequence
parallelism, the sequence too, so tp must divide all three; the context must fit
the model's positions. The shape comes from the downloaded config.json when it is
there, else from slurm.planner.model (the finding says which); the trainer checks
the downloaded model again when it starts.
"""

from __future__ import annotations

from cpt.checks.findings import Findings
from cpt.shape import model_shape
from cpt.settings import ConfigError


def check(config: dict, findings: Findings) -> None:
    try:
        shape, shape_from = model_shape(config)
    except ConfigError as err:
        findings.error_from(err)
        return
    if shape_from.startswith("config"):
        hub = config["model"].get("hub")
        source = f"{hub['repo_id']}@{hub['revision']}" if hub else "the model"
        findings.pend("model.hub", f"{config['model']['base_dir']}/config.json is not there yet (heads, positions "
                                   f"checked on slurm.planner.model); download_model fetches {source} on the login "
                                   "node")
    tp, seq_len = config["train"]["parallel"]["tp"], config["data"]["seq_len"]
    sizes = {"num_attention_heads": shape.get("num_attention_heads"),
             "num_key_value_heads": shape.get("num_key_value_heads", shape.get("num_attention_heads")),
             "data.seq_len": seq_len}
    broken = {name: n for name, n in sizes.items() if n is not None and n % tp}
    if broken:
        most = max(tp, config["slurm"]["launch"]["tasks_per_node"])
        common = [d for d in range(1, most + 1) if all(n % d == 0 for n in sizes.values() if n is not None)]
        findings.error("train.parallel.tp", tp,
                       f"tp must divide {', '.join(f'{k}={v}' for k, v in broken.items())} (model shape from "
                       f"{shape_from})", f"set tp to one of {', '.join(map(str, common))}")
    positions = shape.get("max_position_embeddings")
    if positions is None:
        findings.pend("data.seq_len", f"max_position_embeddings is not in {shape_from}; the trainer checks it")
    elif seq_len > positions:
        findings.error("data.seq_len", seq_len, f"exceeds the model's max_position_embeddings={positions} "
                                                f"(from {shape_from})",
                       f"set data.seq_len <= {positions}")
