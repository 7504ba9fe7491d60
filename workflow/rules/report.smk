# Report stage: the results table (Markdown, CSV, LaTeX) and plots, also in `snakemake --report`.
from cpt.report.training import TRAINING_PLOTS

REPORT_DIR = f"{RUN_DIR}/report"


def report_page():
    return f"{REPORT_DIR}/results.md"


rule report_tables:
    """Tables and plots of every evaluated step; missing or failed results are listed, not fatal."""
    input:
        eval_results(),
    output:
        markdown=report(report_page(), category="Results", labels={"table": "Markdown"}),
        csv=report(f"{REPORT_DIR}/results.csv", category="Results", labels={"table": "CSV"}),
        latex=report(f"{REPORT_DIR}/results.tex", category="Results", labels={"table": "LaTeX"}),
        training=[report(f"{REPORT_DIR}/plots/{name}.png", category="Training", labels={"plot": name})
                  for name in TRAINING_PLOTS],
        metrics=[report(f"{REPORT_DIR}/plots/metric-{name}.png", category="Evaluation", labels={"task": name})
                 for name in EVAL_TASKS],
    params:
        steps=",".join(map(str, EVAL_STEPS)),
        tasks=" ".join(f"--task {name}={t['metric']}" for name, t in EVAL_TASKS.items()),
        tokens_per_step=SETTINGS.global_batch_rows * config["data"]["seq_len"],
        bins=config["report"],
    log:
        f"{RUN_DIR}/logs/report.log",
    localrule: True
    conda:
        "../../envs/eval.yaml"
    shell:
        "{PY} cpt.report --run-dir {RUN_DIR} --steps {params.steps} {params.tasks}"
        " --tokens-per-step {params.tokens_per_step} --loss-bin-steps {params.bins[loss_bin_steps]}"
        " --coarse-bin-steps {params.bins[coarse_bin_steps]} --out-dir {REPORT_DIR} > {log} 2>&1"
