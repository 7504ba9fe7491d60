# Storage policy for consumed data (data.cleanup): empty a source's raw files once all its
# tokenized shards exist, and the tokenized shards once the manifest (every mixed shard) does.
# Paths and mtimes stay, so nothing reruns; see workflow/cpt/data/cleanup.py for why not temp().


rule cleanup_raw:
    """Empty a source's downloaded files: every tokenized shard of it is written."""
    input:
        listing=f"{DATA_DIR}/sources/{{source}}.txt",
        groups=lambda w: tokenized_groups(w.source),
    output:
        f"{DATA_DIR}/cleanup/raw/{{source}}.json",
    log:
        f"{RUN_DIR}/logs/cleanup/raw/{{source}}.log",
    localrule: True
    conda:
        "../../envs/data.yaml"
    params:
        local_dir=lambda w: SOURCES[w.source]["local_dir"],
    shell:
        "python -m cpt.data.cleanup raw --listing {input.listing} --local-dir {params.local_dir}"
        " --out {output} > {log} 2>&1"


rule cleanup_tokenized:
    """Empty every tokenized shard: the manifest stands for every mixed shard written."""
    input:
        manifest_path(),
    output:
        f"{DATA_DIR}/cleanup/tokenized.json",
    log:
        f"{RUN_DIR}/logs/cleanup/tokenized.log",
    localrule: True
    conda:
        "../../envs/data.yaml"
    params:
        tokenized=f"{DATA_DIR}/tokenized",
    shell:
        "python -m cpt.data.cleanup tokenized --dir {params.tokenized} --out {output} > {log} 2>&1"
