# Report stage: the results table (HTML, Markdown, CSV, LaTeX) and plots, also in the
# `snakemake --report` page: the HTML table and the config digest in its caption, inline.
from cpt.digest import config_digest
from cpt.report.training import TRAINING_PLOTS


rule report_tables:
    """Tables and plots of every evaluated step; missing or failed results are listed, not fatal."""
    input:
        eval_results(),
    output:
        html=report(
            f"{REPORT_DIR}/results.html",
            caption="../report/results.rst",
            category="Results",
            labels={"table": "HTML"},
        ),
        markdown=report(f"{REPORT_DIR}/results.md", category="Results", labels={"table": "Markdown"}),
        csv=report(f"{REPORT_DIR}/results.csv", category="Results", labels={"table": "CSV"}),
        latex=report(f"{REPORT_DIR}/results.tex", category="Results", labels={"table": "LaTeX"}),
        training=[
            report(
                f"{REPORT_DIR}/plots/{name}.png",
                category="Training",
                labels={"plot": name},
            )
            for name in TRAINING_PLOTS
        ],
        metrics=[
            report(
                f"{REPORT_DIR}/plots/metric-{name}.png",
                category="Evaluation",
                labels={"task": name},
            )
            for name in EVAL_TASKS
        ],
    log:
        f"{RUN_DIR}/logs/report.log",
    localrule: True
    conda:
        "../../envs/eval.yaml"
    params:
        run_dir=lambda w, output: str(Path(output.markdown).parents[1]),
        steps=",".join(map(str, EVAL_STEPS)),
        tasks=" ".join(f"--task {name}={t['metric']}" for name, t in EVAL_TASKS.items()),
        tokens_per_step=SETTINGS.global_batch_rows * config["data"]["seq_len"],
        loss_bin_steps=config["report"]["loss_bin_steps"],
        coarse_bin_steps=config["report"]["coarse_bin_steps"],
        # the run's whole config, as one number the tables print: a config edit redraws them
        config_digest=config_digest(config),
        out_dir=lambda w, output: str(Path(output.markdown).parent),
    shell:
        "python -m cpt.report --run-dir {params.run_dir} --steps {params.steps} {params.tasks}"
        " --tokens-per-step {params.tokens_per_step} --loss-bin-steps {params.loss_bin_steps}"
        " --coarse-bin-steps {params.coarse_bin_steps} --config-digest {params.config_digest}"
        " --out-dir {params.out_dir} > {log} 2>&1"
