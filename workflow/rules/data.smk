# Data stage: list (or download) sources -> tokenize shards -> mix plan -> mixed shards -> manifest.
# The base model's files come first: its tokenizer tokenizes, its config checks seq_len.


wildcard_constraints:
    source="|".join(SOURCES),
    shard=r"\d{5}",


rule download_model:
    """The HF base model (login node; gated repos need HF_TOKEN). Skipped when the dir exists."""
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
    """One shard of a source (datatrove rank = shard): Arrow rows of BOS + tokens + EOS."""
    input:
        listing=f"{DATA_DIR}/sources/{{source}}.txt",
        fingerprint=f"{DATA_DIR}/sources/{{source}}.txt.json",
        tokenizer=rules.download_model.output.tokenizer,
        model_config=rules.download_model.output.config,
    output:
        arrow=f"{DATA_DIR}/tokenized/{{source}}/{{shard}}.arrow",
        stats=f"{DATA_DIR}/tokenized/{{source}}/{{shard}}.arrow.json",
    log:
        f"{RUN_DIR}/logs/tokenize/{{source}}/{{shard}}.log",
    conda:
        "../../envs/data.yaml"
    resources:
        **rule_resources("tokenize"),
    params:
        spec=lambda w: source_spec(w.source),
        shards=lambda w: SOURCES[w.source]["shards"],
        model_dir=lambda w, input: str(Path(input.model_config).parent),
        seq_len=config["data"]["seq_len"],
        batch_size=config["data"]["tokenize"]["batch_size"],
    shell:
        "python -m cpt.data.tokenize --name {wildcards.source} --spec {params.spec:q}"
        " --paths-file {input.listing} --shard $((10#{wildcards.shard})) --shards {params.shards}"
        " --model-dir {params.model_dir} --seq-len {params.seq_len} --batch-size {params.batch_size}"
        " --threads {threads} --out {output.arrow} > {log} 2>&1"


rule mix_plan:
    """The fan-in: every tokenized shard's stats -> each mixed shard's documents per source."""
    input:
        stats=[path for source in SOURCES for path in tokenized_stats(source)],
        tokenizer=rules.download_model.output.tokenizer,
    output:
        f"{DATA_DIR}/mix/plan.json",
    log:
        f"{RUN_DIR}/logs/mix_plan.log",
    conda:
        "../../envs/data.yaml"
    resources:
        **rule_resources("mix_plan"),
    params:
        settings=mix_settings(),
    shell:
        "python -m cpt.data.mix plan --stats {input.stats} --tokenizer {input.tokenizer}"
        " --settings {params.settings:q} --out {output} > {log} 2>&1"


rule mix_shard:
    """The fan-out: one packed shard of seq_len + 1 token rows, from the plan alone."""
    input:
        f"{DATA_DIR}/mix/plan.json",
    output:
        arrow=f"{DATA_DIR}/mixed/{{shard}}.arrow",
        stats=f"{DATA_DIR}/mixed/{{shard}}.arrow.json",
    log:
        f"{RUN_DIR}/logs/mix_shard/{{shard}}.log",
    conda:
        "../../envs/data.yaml"
    resources:
        **rule_resources("mix_shard"),
    shell:
        "python -m cpt.data.mix shard --plan {input} --index $((10#{wildcards.shard}))"
        " --out {output.arrow} > {log} 2>&1"


rule manifest:
    """Shard list with rows and hashes, row and token shares, epochs: what the trainer reads."""
    input:
        plan=f"{DATA_DIR}/mix/plan.json",
        stats=mixed_stats(),
    output:
        manifest_path(),
    log:
        f"{RUN_DIR}/logs/manifest.log",
    conda:
        "../../envs/data.yaml"
    resources:
        **rule_resources("manifest"),
    shell:
        "python -m cpt.data.mix manifest --plan {input.plan} --stats {input.stats}" " --out {output} > {log} 2>&1"
