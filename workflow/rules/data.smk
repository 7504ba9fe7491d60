# Data stage: list (or download) sources -> tokenize shards -> mix plan -> mixed shards -> manifest.
# Tokenize and mix jobs each take a group of shards and fill a node with them (cpt.data.group).
# The base model's files come first: its tokenizer tokenizes, its config checks seq_len.


wildcard_constraints:
    source="|".join(SOURCES),
    group=r"\d{3}",


rule download_model:
    """The HF base model (login node; gated repos need the token file, HF_TOKEN_PATH). Skipped when the dir exists."""
    output:
        config=f"{BASE_DIR}/config.json",
        tokenizer=f"{BASE_DIR}/tokenizer.json",
    log:
        f"{RUN_DIR}/logs/download_model.log",
    localrule: True
    conda:
        "../../envs/data.yaml"
    params:
        hub=config["model"].get("hub", {}),
        local_dir=lambda w, output: str(Path(output.config).parent),
    shell:
        "python -m cpt.hub --repo-type model --repo-id {params.hub[repo_id]} --revision {params.hub[revision]}"
        " --allow-patterns {params.hub[allow_patterns]} --local-dir {params.local_dir} > {log} 2>&1"


rule download_source:
    """Bulk download of a hub source and the Stack-v2 contents (TBs): a job on the data-transfer nodes
    under the frontier profile (slurm.resources.download_source), resumable (finished files are kept).
    """
    output:
        f"{DATA_DIR}/sources/{{source}}.download.json",
    log:
        f"{RUN_DIR}/logs/download_source/{{source}}.log",
    conda:
        "../../envs/data.yaml"
    resources:
        **rule_resources("download_source"),
    params:
        spec=lambda w: source_spec(w.source),
    shell:
        "python -m cpt.data.download --name {wildcards.source} --spec {params.spec:q} --download-only"
        " --out {output} > {log} 2>&1"


rule list_source:
    """The source's file listing (login node, small); the files are there once download_source ran."""
    input:
        source_files,
    output:
        listing=f"{DATA_DIR}/sources/{{source}}.txt",
        fingerprint=f"{DATA_DIR}/sources/{{source}}.txt.json",
    log:
        f"{RUN_DIR}/logs/list_source/{{source}}.log",
    localrule: True
    conda:
        "../../envs/data.yaml"
    params:
        spec=lambda w: source_spec(w.source),
    shell:
        "python -m cpt.data.download --name {wildcards.source} --spec {params.spec:q}"
        " --out {output.listing} > {log} 2>&1"


rule tokenize:
    """A group of a source's shards in one whole-node job, one process per core (cpt.data.group):
    per shard, Arrow rows of BOS + tokens + EOS and a stats sidecar; the record lists the shards.
    Held until every download is done, so no tokenized shard waits out a long download (purge).
    """
    input:
        listing=f"{DATA_DIR}/sources/{{source}}.txt",
        fingerprint=f"{DATA_DIR}/sources/{{source}}.txt.json",
        tokenizer=rules.download_model.output.tokenizer,
        model_config=rules.download_model.output.config,
        downloads=every_download,
    output:
        f"{DATA_DIR}/tokenized/{{source}}/group-{{group}}.json",
    log:
        f"{RUN_DIR}/logs/tokenize/{{source}}/group-{{group}}.log",
    conda:
        "../../envs/data.yaml"
    threads: GROUP_SIZE
    resources:
        **rule_resources("tokenize"),
    params:
        spec=lambda w: source_spec(w.source),
        shards=lambda w: SOURCES[w.source]["shards"],
        first=lambda w: tokenize_group(w.source, w.group).start,
        shards_in_group=lambda w: len(tokenize_group(w.source, w.group)),
        out=lambda w: f"{DATA_DIR}/tokenized/{w.source}/{{shard:05d}}.arrow",
        shard_log=lambda w: f"{RUN_DIR}/logs/tokenize/{w.source}/{{shard:05d}}.log",
        model_dir=lambda w, input: str(Path(input.model_config).parent),
        seq_len=config["data"]["seq_len"],
        batch_size=config["data"]["tokenize"]["batch_size"],
    shell:
        "python -m cpt.data.group --workers {threads} --first {params.first} --count {params.shards_in_group}"
        " --log {params.shard_log:q} --record {output} --"
        " python -m cpt.data.tokenize --name {wildcards.source} --spec {params.spec:q} --paths-file {input.listing}"
        " --shard {{shard}} --shards {params.shards} --model-dir {params.model_dir} --seq-len {params.seq_len}"
        " --batch-size {params.batch_size} --threads 1 --out {params.out:q} > {log} 2>&1"


rule mix_plan:
    """The fan-in: every tokenized shard's stats -> each mixed shard's documents per source. Seconds of
    work: on the login node. After the raw cleanup (data.cleanup.raw), so raw and mixed never coexist."""
    input:
        groups=[path for source in SOURCES for path in tokenized_groups(source)],
        cleaned=raw_cleanup_records(),
        tokenizer=rules.download_model.output.tokenizer,
    output:
        f"{DATA_DIR}/mix/plan.json",
    log:
        f"{RUN_DIR}/logs/mix_plan.log",
    localrule: True
    conda:
        "../../envs/data.yaml"
    params:
        stats=[path for source in SOURCES for path in tokenized_stats(source)],
        settings=mix_settings(),
    shell:
        "python -m cpt.data.mix plan --stats {params.stats} --tokenizer {input.tokenizer}"
        " --settings {params.settings:q} --out {output} > {log} 2>&1"


rule mix_shard:
    """The fan-out: a group of packed shards of seq_len + 1 token rows, from the plan alone, in one
    whole-node job, one process per core (cpt.data.group)."""
    input:
        f"{DATA_DIR}/mix/plan.json",
    output:
        f"{DATA_DIR}/mixed/group-{{group}}.json",
    log:
        f"{RUN_DIR}/logs/mix_shard/group-{{group}}.log",
    conda:
        "../../envs/data.yaml"
    threads: GROUP_SIZE
    resources:
        **rule_resources("mix_shard"),
    params:
        first=lambda w: mix_group(w.group).start,
        shards_in_group=lambda w: len(mix_group(w.group)),
        out=lambda w: f"{DATA_DIR}/mixed/{{shard:05d}}.arrow",
        shard_log=lambda w: f"{RUN_DIR}/logs/mix_shard/{{shard:05d}}.log",
    shell:
        "python -m cpt.data.group --workers {threads} --first {params.first} --count {params.shards_in_group}"
        " --log {params.shard_log:q} --record {output} --"
        " python -m cpt.data.mix shard --plan {input} --index {{shard}} --out {params.out:q} > {log} 2>&1"


rule manifest:
    """Shard list with rows and hashes, row and token shares, epochs: what the trainer reads (login node)."""
    input:
        plan=f"{DATA_DIR}/mix/plan.json",
        groups=mixed_groups(),
    output:
        manifest_path(),
    log:
        f"{RUN_DIR}/logs/manifest.log",
    localrule: True
    conda:
        "../../envs/data.yaml"
    params:
        stats=mixed_stats(),
    shell:
        "python -m cpt.data.mix manifest --plan {input.plan} --stats {params.stats} --out {output} > {log} 2>&1"
