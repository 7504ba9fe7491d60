# Config validation, the run's paths and the input functions every stage shares; the stage
# files hold rules only (Snakemake's linter wants functions and rules apart). Logic lives in
# workflow/cpt.
import json
import math
import re
import sys
from functools import cache
from pathlib import Path

# The package is installed (pip install -e .); running from a bare checkout works too.
sys.path.insert(0, str(Path(workflow.basedir) / "workflow"))
from cpt import checks, cluster, settings
from cpt.data.group import groups
from cpt.evaluate.steps import covering_segment_end, evaluated_steps, model_dir
from cpt.publish.plan import published_steps
from cpt.rundir.config import write_config
from cpt.rundir.paths import RunDir
from cpt.train.config import TrainConfig

# The schema (defaults filled in) and every login-node check, all errors reported at once,
# before anything is submitted. Jobs re-parse this file: there only the schema runs.
CONFIG_FILES = [
    *(f for f in workflow.configfiles if f not in workflow.overwrite_configfiles),
    *workflow.overwrite_configfiles,
]  # in the order they apply: the Snakefile's, then --configfile
FINDINGS = checks.load(
    config,
    " + ".join(map(str, CONFIG_FILES)) or "the config",
    in_job=not workflow.is_main_process,
)
if FINDINGS.warnings or FINDINGS.pending:
    print(FINDINGS.report(), file=sys.stderr)
SETTINGS = settings.load(config)
RUN = RunDir.of(config)
RUN_DIR = str(RUN.root)
# Settings jobs read at run time without being rerun by them (the chain's, the hub's): see
# cpt.rundir.config. Written by the controller when it starts jobs (onstart: never at a dry run).
CONTROLLER_CONFIG = str(RUN.controller_config)
BASE_DIR = config["model"]["base_dir"]

# data
DATA_DIR = f"{RUN_DIR}/data"
SOURCES = SETTINGS.sources
CLEANUP = config["data"]["cleanup"]
GROUP_SIZE = config["slurm"]["node"]["cores"]  # shards per tokenize or mix job: one process per core

# training: the segment ends are known up front, so a dry run shows the whole chain
TRAIN = config["train"]
TRAIN_DIR = str(RUN.train)
SEGMENT_ENDS = TrainConfig.from_dict(TRAIN).segment_ends()

# evaluation
EVAL = config["eval"]
EVAL_DIR = str(RUN.eval)
EVAL_TASKS = {task["name"]: task for task in EVAL["tasks"]}
EVAL_STEPS = evaluated_steps(EVAL["every"], TRAIN["steps"])
STEP_PATTERN = r"\d{8}"
TASK_PATTERN = "|".join(re.escape(name) for name in EVAL_TASKS)
INCLUDE_ARGS = " ".join(f"--include-path {path}" for path in EVAL["include_path"])
LIMIT_ARGS = "" if EVAL["limit"] is None else f"--limit {EVAL['limit']}"

# report and publishing
REPORT_DIR = str(RUN.report)
PUBLISH_HF = (config.get("publish") or {}).get("hf")
PUBLISH_DIR = str(RUN.publish_dir)


def rule_resources(rule, tasks=None):
    """A rule's Slurm request from config `slurm` (used by Slurm profiles, ignored locally):
    `resources: **rule_resources("tokenize")`. Checked against the queue policy here, at parse
    time, so a request the queue would refuse stops the run before anything is submitted."""
    return cluster.resources(config, rule, tasks)


# ---- data


def manifest_path():
    return f"{DATA_DIR}/manifest.json"


def source_spec(source):
    """What a source's listing and tokenize jobs depend on: everything but its weight."""
    spec = SOURCES[source].items()
    return json.dumps({k: v for k, v in spec if k not in ("weight", "shards")}, sort_keys=True)


def source_files(wildcards):
    """The source's local files, so changing one reruns that source's jobs only; a source with files
    still to fetch (hub, Stack-v2 contents) waits for its download job (kept as input once it ran)."""
    from cpt.data.listing import list_files, needs_download

    spec = SOURCES[wildcards.source]
    files = [f"{spec['local_dir']}/{f}" for f in list_files(spec)]
    marker = str(RUN.download_record(wildcards.source))
    if needs_download(spec) or Path(marker).exists():
        files.append(marker)
    return files


def tokenize_group(source, group):
    """Shard indices of a source's tokenize group (one whole-node job: slurm.node.cores shards)."""
    return groups(SOURCES[source]["shards"], GROUP_SIZE)[int(group)]


def tokenized_groups(source):
    """The records of a source's tokenize jobs: each stands for its group's shards and sidecars."""
    count = len(groups(SOURCES[source]["shards"], GROUP_SIZE))
    return [str(RUN.tokenize_record(source, group)) for group in range(count)]


def tokenized_stats(source):
    shards = range(SOURCES[source]["shards"])
    return [f"{DATA_DIR}/tokenized/{source}/{shard:05d}.arrow.json" for shard in shards]


def mix_group(group):
    """Mixed shard indices of a mix job (one whole-node job: slurm.node.cores shards)."""
    return groups(SETTINGS.mixed_shards, GROUP_SIZE)[int(group)]


def mixed_groups():
    count = len(groups(SETTINGS.mixed_shards, GROUP_SIZE))
    return [str(RUN.mix_record(group)) for group in range(count)]


def mix_settings():
    """What the mix plan is computed from (a change reruns the plan and the shards, not tokenize)."""
    settings = {
        "weights": SETTINGS.weights,
        "seed": config["data"]["mix"]["seed"],
        "weighting": config["data"]["mix"]["weighting"],
        "seq_len": config["data"]["seq_len"],
        "shard_rows": [SETTINGS.shard_rows(i) for i in range(SETTINGS.mixed_shards)],
        "rows_needed": SETTINGS.rows_needed,
        "block_documents": config["data"]["mix"]["block_documents"],
    }
    return json.dumps(settings)


def mixed_stats():
    shards = range(SETTINGS.mixed_shards)
    return [f"{RUN.mixed(shard)}.json" for shard in shards]


@cache
def _downloads():
    from cpt.data.listing import needs_download

    markers = [str(RUN.download_record(source)) for source in SOURCES]
    return [
        ancient(marker)
        for marker, spec in zip(markers, SOURCES.values())
        if needs_download(spec) or Path(marker).exists()
    ]


def every_download(wildcards):
    """Every source's download record (ancient: an order, not a rerun trigger): tokenize holds
    until the last download is done, so no tokenized shard waits out a long one (the purge)."""
    return _downloads()


def raw_cleanup_records():
    """The raw cleanup records data.cleanup.raw switches on: the mix waits for them (storage peak)."""
    return [f"{DATA_DIR}/cleanup/raw/{source}.json" for source in SOURCES] if CLEANUP["raw"] else []


def cleanup_outputs():
    """The cleanup records data.cleanup switches on: every stage target asks for them, so no target
    leaves consumed data on disk past its stage (the plan's storage peak holds whatever is run)."""
    tokenized = [f"{DATA_DIR}/cleanup/tokenized.json"]
    return raw_cleanup_records() + (tokenized if CLEANUP["tokenized"] else [])


def stage_cleanup():
    """What the train, evaluate and report targets ask to clean. While the data stage is to run (no
    manifest yet), all of it, so `snakemake train` from nothing keeps the planned peak. Once the
    manifest exists, only tokenized shards still on disk: the raw cleanup ran before the mix, and
    asking again would make a tree from before the grouped data jobs rebuild its whole data stage."""
    if not Path(manifest_path()).exists():
        return cleanup_outputs()
    tokenized = CLEANUP["tokenized"] and RUN.tokenized_dir.is_dir()
    return [f"{DATA_DIR}/cleanup/tokenized.json"] if tokenized else []


# ---- training


def checkpoint_marker(step):
    """A checkpoint's completion marker: written last, so it stands for the whole dir."""
    return str(RUN.marker(step))


def segment_record(step):
    """What train_segment writes once step `step` is complete and valid (evals depend on it)."""
    return str(RUN.segment_record(step))


def segment_checkpoints():
    """Every segment's record: asking for all of them (not just the last) makes a deleted
    record rerun that segment, which returns at once while its checkpoint is valid."""
    return [segment_record(end) for end in SEGMENT_ENDS]


def previous_segment(wildcards):
    """The record of the segment before this one (the step-0 import's marker for the first)."""
    before = [end for end in SEGMENT_ENDS if end < int(wildcards.step)]
    return segment_record(before[-1]) if before else checkpoint_marker(0)


# ---- evaluation


def export_dir(path):
    """With eval.remove_exports an export is temp(): Snakemake deletes it once every job reading it
    (its step's eval tasks, and any other declared consumer) is done, and re-exports it for a rerun.
    """
    return temp(path) if EVAL["remove_exports"] else path


def eval_results():
    """Every (step, task) results JSON: the evaluate target, and the report's input."""
    return [str(RUN.result(s, name)) for s in EVAL_STEPS for name in EVAL_TASKS]


def eval_model(wildcards):
    """What an eval job reads: the base model's files at step 0, else the step's export."""
    step = int(wildcards.step)
    if step == 0:
        return [f"{BASE_DIR}/config.json", f"{BASE_DIR}/tokenizer.json"]
    return str(model_dir(step, BASE_DIR, RUN))


def eval_node_tasks(wildcards):
    """The eval_step job's tasks as JSON: each task's spec, its results file and its log."""
    step = int(wildcards.step)
    tasks = [
        {**spec, "out": str(RUN.result(step, name)), "log": f"{RUN_DIR}/logs/eval/step-{wildcards.step}/{name}.log"}
        for name, spec in EVAL_TASKS.items()
    ]
    return json.dumps(tasks, sort_keys=True)


def trained_checkpoint(wildcards):
    """The record of the training segment that writes this step's checkpoint (kept: keep_every)."""
    step = int(wildcards.step)
    return segment_record(covering_segment_end(step, TRAIN["steps_per_segment"], TRAIN["steps"]))


# ---- publishing


def publish_receipt(step):
    """Written when a step is on the hub: the storage policy may remove its export after this."""
    return str(RUN.publish_receipt(step))


def publish_receipts():
    """Every selected step's receipt; none when publish.hf is off."""
    if not PUBLISH_HF:
        return []
    steps = published_steps(PUBLISH_HF.get("every"), EVAL_STEPS, EVAL["every"])
    return [publish_receipt(step) for step in steps]


# ---- sweep: candidate layouts measured before the run (cpt/plan/sweep.py)

SWEEP_DIR = str(RUN.sweep)
SWEEP_RANKS = math.prod(TRAIN["parallel"].values())  # every layout keeps the run's ranks and nodes


def sweep_table():
    """The layouts table (computed when a sweep job is in the DAG, not at every parse)."""
    from cpt.plan import sweep

    if "SWEEP_TABLE" not in globals():
        globals()["SWEEP_TABLE"] = sweep.table(config)
    return SWEEP_TABLE


def sweep_records(wildcards):
    """One record per chosen layout: sweep.candidates fastest that fit, and the configured one (refused
    if a job would outlast its walltime request)."""
    from cpt.plan import sweep

    return [str(RUN.sweep_record(sweep.name(row))) for row in sweep.check(config, sweep_table())]


def sweep_train_section(wildcards):
    """The train: section at the layout, as JSON; a layout that does not fit is refused by name."""
    from cpt.plan import sweep

    return json.dumps(sweep.train_section(config, sweep_table(), wildcards.layout))


onstart:
    if workflow.is_main_process:
        write_config(CONTROLLER_CONFIG, config)
