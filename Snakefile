# Continual pretraining of an LLM: data -> train -> eval -> report.
# A table of contents: stages live in workflow/rules/, logic in workflow/cpt/.
#   snakemake --profile frontier            the whole run on Frontier
#   snakemake data|train|evaluate|report    one stage (and what it needs)
#   snakemake -n                            the DAG, without running anything
from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"


rule data:
    """Tokenized and mixed training data with its manifest."""
    input:
        manifest_path(),
    default_target: True
