# Data stage: list (or download) sources -> tokenize shards -> mix plan -> mixed shards -> manifest.
import json
import os

DATA_DIR = f"{RUN_DIR}/data"
SOURCES = SETTINGS.sources

wildcard_constraints:
    source="|".join(SOURCES),
    shard=r"\d{5}",


def source_spec(source):
    """What a source's listing and tokenize jobs depend on: everything but its weight."""
    return json.dumps({k: v for k, v in SOURCES[source].items() if k not in ("weight", "shards")}, sort_keys=True)


def source_files(wildcards):
    """The source's local files, so changing one reruns that source's jobs only; a source with files
    still to fetch (hub, Stack-v2 contents) waits for its download job (kept as input once it ran)."""
    from cpt.data.listing import list_files, needs_download

    spec = SOURCES[wildcards.source]
    files = [f"{spec['local_dir']}/{f}" for f in list_files(spec)]
    marker = f"{DATA_DIR}/sources/{wildcards.source}.download.json"
    if needs_download(spec) or os.path.exists(marker):
        files.append(marker)
    return files


def tokenized_stats(source):
    return [f"{DATA_DIR}/tokenized/{source}/{shard:05d}.arrow.json" for shard in range(SOURCES[source]["shards"])]


def mixed_stats():
    return [f"{DATA_DIR}/mixed/{shard:05d}.arrow.json" for shard in range(SETTINGS.mixed_shards)]


rule download_source:
    """Bulk download of a hub source and the Stack-v2 contents (TBs): a job on the data-transfer nodes
    under the frontier profile (slurm.resources.download_source), resumable (finished files are kept)."""
    output:
        f"{DATA_DIR}/sources/{{source}}.download.json",
    params:
        spec=lambda w: source_spec(w.source),
    log:
        f"{RUN_DIR}/logs/download_source/{{source}}.log",
    resources:
        **rule_resources("download_source"),
    conda:
        "../../envs/data.yaml"
    shell:
        "{PY} cpt.data.sources --name {wildcards.source} --spec {params.spec:q} --download-only --out {output}"
        " > {log} 2>&1"


rule list_source:
    """The source's file listing (login node, small); the files are there once download_source ran."""
    input:
        source_files,
    output:
        listing=f"{DATA_DIR}/sources/{{source}}.txt",
        fingerprint=f"{DATA_DIR}/sources/{{source}}.txt.json",
    params:
        spec=lambda w: source_spec(w.source),
    log:
        f"{RUN_DIR}/logs/list_source/{{source}}.log",
    localrule: True
    conda:
        "../../envs/data.yaml"
    shell:
        "{PY} cpt.data.sources --name {wildcards.source} --spec {params.spec:q} --out {output.listing} > {log} 2>&1"


rule tokenize:
    """One shard of a source (datatrove rank = shard): Arrow rows of BOS + tokens + EOS."""
    input:
        listing=f"{DATA_DIR}/sources/{{source}}.txt",
        fingerprint=f"{DATA_DIR}/sources/{{source}}.txt.json",
        tokenizer=rules.download_model.output.tokenizer,
        model_config=rules.download_model.output.config,
    output:
        arrow=f"{DATA_DIR}/tokenized/{{source}}/{{shard}}.arrow",
        stats=f"{DATA_DIR}/tokenized/{{source}}/{{shard}}.arrow.json",
    params:
        spec=lambda w: source_spec(w.source),
        shards=lambda w: SOURCES[w.source]["shards"],
        model_dir=BASE_DIR,
        seq_len=config["data"]["seq_len"],
        batch_size=config["data"]["tokenize"]["batch_size"],
    resources:
        **rule_resources("tokenize"),
    log:
        f"{RUN_DIR}/logs/tokenize/{{source}}/{{shard}}.log",
    conda:
        "../../envs/data.yaml"
    shell:
        "{PY} cpt.data.tokenize --name {wildcards.source} --spec {params.spec:q} --paths-file {input.listing}"
        " --shard $((10#{wildcards.shard})) --shards {params.shards} --model-dir {params.model_dir}"
        " --seq-len {params.seq_len} --batch-size {params.batch_size} --threads {threads} --out {output.arrow}"
        " > {log} 2>&1"


rule mix_plan:
    """The fan-in: every tokenized shard's stats -> each mixed shard's documents per source."""
    input:
        stats=[path for source in SOURCES for path in tokenized_stats(source)],
        tokenizer=rules.download_model.output.tokenizer,
    output:
        f"{DATA_DIR}/mix/plan.json",
    params:
        settings=json.dumps({
            "weights": SETTINGS.weights,
            "seed": config["data"]["mix"]["seed"],
            "weighting": config["data"]["mix"]["weighting"],
            "seq_len": config["data"]["seq_len"],
            "shard_rows": [SETTINGS.shard_rows(i) for i in range(SETTINGS.mixed_shards)],
            "rows_needed": SETTINGS.rows_needed,
        }),
    resources:
        **rule_resources("mix_plan"),
    log:
        f"{RUN_DIR}/logs/mix_plan.log",
    conda:
        "../../envs/data.yaml"
    shell:
        "{PY} cpt.data.mix plan --stats {input.stats} --tokenizer {input.tokenizer}"
        " --settings {params.settings:q} --out {output} > {log} 2>&1"


rule mix_shard:
    """The fan-out: one packed shard of seq_len + 1 token rows, from the plan alone."""
    input:
        f"{DATA_DIR}/mix/plan.json",
    output:
        arrow=f"{DATA_DIR}/mixed/{{shard}}.arrow",
        stats=f"{DATA_DIR}/mixed/{{shard}}.arrow.json",
    resources:
        **rule_resources("mix_shard"),
    log:
        f"{RUN_DIR}/logs/mix_shard/{{shard}}.log",
    conda:
        "../../envs/data.yaml"
    shell:
        "{PY} cpt.data.mix shard --plan {input} --index $((10#{wildcards.shard})) --out {output.arrow} > {log} 2>&1"


rule manifest:
    """Shard list with rows and hashes, row and token shares, epochs: what the trainer reads."""
    input:
        plan=f"{DATA_DIR}/mix/plan.json",
        stats=mixed_stats(),
    output:
        manifest_path(),
    resources:
        **rule_resources("manifest"),
    log:
        f"{RUN_DIR}/logs/manifest.log",
    conda:
        "../../envs/data.yaml"
    shell:
        "{PY} cpt.data.mix manifest --plan {input.plan} --stats {input.stats} --out {output} > {log} 2>&1"
