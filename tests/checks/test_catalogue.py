"""A catalogue of realistic config mistakes, as overlays on the reference and the demo config:
each must stop the config loader (what the controller runs at `snakemake -n`) with an error
that names the key, in at most five lines."""

import pytest
from checks_helpers import overlay_paths

from cpt.checks import ConfigErrors
from cpt.checks.config import load_config

OWN_SOURCE = """
data:
  sources:
    mine: {{local_dir: {dir}, glob: "{glob}", format: {fmt}, text_field: {field}, weight: 0.1}}
"""


def own_source(dir: str, glob: str = "*.parquet", fmt: str = "parquet", field: str = "text") -> str:
    """A user's own local corpus (no hub entry) added to the mix."""
    return OWN_SOURCE.format(dir=dir, glob=glob, fmt=fmt, field=field)


TASKS_REF = "eval:\n  tasks:\n    - {{name: T, task: {task}, metric: {metric}}}\n"

CATALOGUE = [
    # schema: misspelled, mistyped, out of range
    ("ref", "trian: {steps: 10}\n", "trian"),
    ("demo", "train: {stpes: 10}\n", "train.stpes"),
    ("ref", "data: {seq_len: 8k}\n", "data.seq_len"),
    ("demo", "train: {parallel: {tp: 0}}\n", "train.parallel.tp"),
    ("demo", "data: {mix: {weighting: documents}}\n", "data.mix.weighting"),
    ("demo", "train: {optimizer: {lr: 0}}\n", "train.optimizer.lr"),
    ("ref", "slurm: {resources: {train_segment: {hours: 24h}}}\n", "slurm.resources.train_segment.hours"),
    ("ref", "data: {sources: {dclm: {format: csv}}}\n", "data.sources.dclm.format"),
    ("ref", "eval: {tasks: [{name: MMLU, task: mmlu, metirc: acc}]}\n", "eval.tasks[0].metirc"),
    # the schedule against train.steps
    ("ref", "train: {steps: 600000}\n", "train.steps"),
    ("demo", "train: {steps: 400}\n", "train.steps"),
    ("ref", "train: {schedule: {warmup_steps: 600000}}\n", "train.schedule.warmup_steps"),
    ("demo", "train: {schedule: {warmup_steps: 400}}\n", "train.schedule.warmup_steps"),
    # the mesh against the Slurm request and the queue policy
    ("ref", "train: {parallel: {dp_replicate: 1, dp_shard: 125, tp: 4}}\n", "train.parallel"),   # 500 ranks, 63 nodes
    ("ref", "slurm: {launch: {tasks_per_node: 4}}\n", "slurm.launch.tasks_per_node"),
    ("ref", "train: {parallel: {dp_shard: 8, tp: 16}}\n", "train.parallel.tp"),                  # TP across nodes
    ("ref", "train: {parallel: {dp_replicate: 4}}\n", "train.parallel"),                         # 128 nodes > 64
    ("ref", "slurm: {resources: {train_segment: {hours: 25}}}\n", "slurm.resources.train_segment.hours"),
    ("ref", "slurm: {resources: {tokenize: {partition: debug}}}\n", "slurm.resources.tokenize.partition"),
    ("demo", "slurm: {resources: {eval_task: {hours: 3}}}\n", "slurm.resources.eval_task.hours"),
    # TP against the model's heads, KV heads and the context; the context against its positions
    ("ref", "train: {parallel: {dp_shard: 64, tp: 3}}\n", "train.parallel.tp"),
    ("ref", "slurm: {planner: {model: {num_key_value_heads: 6}}}\n", "train.parallel.tp"),
    ("demo", "data: {seq_len: 130}\ntrain: {parallel: {tp: 4}}\n", "train.parallel.tp"),
    ("ref", "data: {seq_len: 262144}\n", "data.seq_len"),
    # lm-eval tasks and metrics (lm-eval's registry; the demo's shipped tasks)
    ("ref", TASKS_REF.format(task="winogrand", metric="acc"), "eval.tasks[0].task"),
    ("ref", TASKS_REF.format(task="mmlu", metric="acc_norm"), "eval.tasks[0].metric"),
    ("ref", TASKS_REF.format(task="hellaswag", metric="accuracy"), "eval.tasks[0].metric"),
    ("demo", TASKS_REF.format(task="cpt_demo_count", metric="exact_match"), "eval.tasks[0].metric"),
    ("demo", TASKS_REF.format(task="cpt_demo", metric="acc"), "eval.tasks[0].task"),            # a tag
    ("ref", "eval: {every: 3000}\n", "eval.every"),
    ("demo", "eval: {tasks: [{name: A, task: cpt_demo_arith}, {name: A, task: cpt_demo_count}]}\n",
     "eval.tasks[1].name"),
    ("ref", "eval: {include_path: [/nonexistent/lm-eval-tasks]}\n", "eval.include_path[0]"),
    # local sources: directory, glob, text field, format
    ("ref", own_source("/nonexistent/corpus"), "data.sources.mine.local_dir"),
    ("demo", own_source("{corpora}/empty"), "data.sources.mine.glob"),
    ("ref", own_source("{corpora}/parquet", field="content"), "data.sources.mine.text_field"),
    ("demo", own_source("{corpora}/jsonl", glob="*.jsonl.gz", fmt="jsonl"), "data.sources.mine.text_field"),
    ("ref", own_source("{corpora}/jsonl", glob="*.jsonl.gz"), "data.sources.mine.format"),
    ("demo", "data: {sources: {finemath: {local_dir: '{corpora}/jsonl', glob: '*.gz', format: jsonl}}}\n",
     "data.sources.finemath.text_field"),
    # weights and the mix size
    ("ref", "data: {sources: {dolma: {weight: 0}}}\n", "data.sources.dolma.weight"),
    ("demo", "data: {mix: {max_tokens: 100}}\n", "data.mix.max_tokens"),
]


@pytest.mark.parametrize("base,overlay,key", CATALOGUE, ids=[f"{b}:{k}:{i}" for i, (b, _, k) in enumerate(CATALOGUE)])
def test_mistake_is_named_by_key(tmp_path, corpora, base, overlay, key):
    with pytest.raises(ConfigErrors) as caught:
        load_config(overlay_paths(tmp_path, base, overlay, corpora))
    keys = [e.key for e in caught.value.errors]
    assert key in keys, str(caught.value)
    assert all(len(e.render().splitlines()) <= 5 for e in caught.value.errors)
    assert key in str(caught.value) and "overlay.yaml" in str(caught.value)


def test_catalogue_covers_both_configs_with_30_mistakes():
    assert len(CATALOGUE) >= 30
    assert {base for base, _, _ in CATALOGUE} == {"ref", "demo"}
