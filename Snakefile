# Continual pretraining of an LLM: data -> train -> eval -> report.
# A table of contents: stages live in workflow/rules/, logic in workflow/cpt/.
#   snakemake --profile frontier            the whole run on Frontier (target: report)
#   snakemake data|train|evaluate|report    one stage (and what it needs)
#   snakemake plan                          tokens, segments, node-hours, memory; queue checks
#   snakemake sweep                         measure the fastest modelled layouts before the run
#   snakemake status                        where the run stands: segments, loss, ETA, evals, disk
#   snakemake publish | wandb_sync          checkpoints to the HF hub; offline W&B data to wandb.ai
#   snakemake -n                            the DAG, without running anything
from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/eval.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/plan.smk"
include: "workflow/rules/status.smk"
include: "workflow/rules/cleanup.smk"
include: "workflow/rules/publish.smk"
include: "workflow/rules/sweep.smk"


rule data:
    """Tokenized and mixed training data with its manifest; consumed data emptied as data.cleanup says."""
    input:
        manifest_path(),
        cleanup_outputs(),


rule train:
    """The whole chain of training segments, up to the final step's checkpoint."""
    input:
        segment_checkpoints(),
        stage_cleanup(),


rule evaluate:
    """lm-eval results of step 0, every eval.every steps and the final step, for every task."""
    input:
        eval_results(),
        stage_cleanup(),


rule sweep:
    """The candidate layouts measured on the run's nodes: results/<run>/sweep/table.md, table.csv, plot.png."""
    input:
        rules.sweep_table.output,


rule cleanup:
    """Empty consumed raw sources and tokenized shards, as data.cleanup switches on."""
    input:
        cleanup_outputs(),


rule report:
    """Results table (HTML, Markdown, CSV, LaTeX) and plots under results/<run>/report/; with
    publish.hf set, every selected step on the hub too."""
    default_target: True
    input:
        rules.report_tables.output,
        stage_cleanup(),
        publish_receipts(),
