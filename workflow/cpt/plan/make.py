"""The plan as plain data (make_plan), its warnings, and its text rendering."""

from __future__ import annotations

from pathlib import Path

from cpt.plan.data_stage import check_purge, data_stage, render_data_stage
from cpt.plan.evaluation import evaluation
from cpt.plan import layouts, measured, sweep
from cpt.plan.jobs import check_jobs, download_warnings, plan_jobs
from cpt.plan.memory import largest_micro_batch, memory_per_gcd, param_counts, usable_gb
from cpt.shape import model_shape
from cpt.plan.schedule import schedule, seconds_per_step
from cpt.plan.sources import mix_usage, source_sizes, tokens_per_step
from cpt.plan.storage import storage, storage_warnings
from cpt.rundir.paths import RunDir
from cpt.settings import ConfigError, normalized_weights


def make_plan(config: dict, *, manifest: dict | None = None, metrics: Path | None = None,
              queue_wait_hours: float | None = None, run_dir: Path | None = None,
              trace_memory: bool = False, gpu_benchmark: Path | None = None) -> dict:
    """Every figure of the plan as plain data (the JSON the `plan` rule writes). `run_dir`: an earlier
    run's results, whose logs measure job rates; `trace_memory` adds the traced peak (minutes of CPU at
    full shape); `gpu_benchmark` (default slurm.planner.gpu_benchmark): benchmarks/gpu_train.py's JSON,
    whose step time and memory replace the modelled ones (cpt/plan/measured.py says where).
    A job that cannot fit its request, or memory over HBM, is a ConfigError."""
    step_tokens = tokens_per_step(config)
    total = step_tokens * config["train"]["steps"]
    sizes, sizes_from = source_sizes(config, manifest)
    weights = normalized_weights(config["data"]["sources"])
    shape, shape_from = model_shape(config)
    bench_path = gpu_benchmark or config["slurm"]["planner"].get("gpu_benchmark")
    bench = measured.apply(measured.load(bench_path), bench_path, config, shape) if bench_path else None
    step_s, step_s_from = seconds_per_step(config, metrics, bench)
    wait = config["slurm"]["planner"]["queue_wait_hours"] if queue_wait_hours is None else queue_wait_hours
    plan = {
        "tokens_per_step": step_tokens, "steps": config["train"]["steps"], "total_tokens": total,
        "sources": mix_usage(weights, sizes, total, config["data"]["mix"]["weighting"]), "sources_from": sizes_from,
        "seconds_per_step": step_s, "seconds_per_step_from": step_s_from, "queue_wait_hours": wait,
        "schedule": schedule(config, step_s, wait),
        "params": param_counts(shape)["total"], "model_from": shape_from,
        "memory_gb": memory_per_gcd(config, shape), "gcd_memory_gb": config["slurm"]["node"]["gcd_memory_gb"],
        "memory_usable_gb": usable_gb(config),
        "micro_batch": config["train"].get("micro_batch") or config["train"]["local_batch"],
        "micro_batch_largest_fitting": largest_micro_batch(config, shape),
    }
    plan["jobs"] = plan_jobs(config, sizes, plan["schedule"], plan["params"], run_dir, step_s)
    check_jobs(config, plan["jobs"])
    plan["evaluation"] = evaluation(config, plan["jobs"]["eval_task"]["by_task"])
    plan["data_stage"] = data_stage(config, sizes, plan["jobs"], plan["schedule"], plan["evaluation"])
    check_purge(plan["data_stage"], config)
    plan["storage"] = storage(config, sizes, plan["params"])
    plan["layouts"] = layouts.layouts(config, shape, plan["schedule"]["nodes"], config["train"]["steps"],
                                      (step_s, step_s_from))
    plan["sweep"] = sweep.price(config, plan["layouts"], plan["schedule"]["node_hours"])
    swept = sweep.measured(config, RunDir(run_dir).sweep_table, wait) if run_dir else None
    if swept:
        plan["sweep"]["measured"] = swept
    if bench:
        plan["gpu_benchmark"] = bench
    if trace_memory:
        from cpt.plan.trace import trace_memory as trace  # torch: only when asked
        plan["memory_traced_gb"] = trace(config, shape)
    check_memory(plan)
    plan["warnings"] = warnings(plan, config)
    return plan


def check_memory(plan: dict) -> None:
    """Refuse a config whose modelled or traced peak per GCD exceeds HBM less the headroom."""
    usable, largest, micro = plan["memory_usable_gb"], plan["micro_batch_largest_fitting"], plan["micro_batch"]
    bench = plan.get("gpu_benchmark") or {}
    peaks = {"modelled": plan["memory_gb"]["total"], "traced": plan.get("memory_traced_gb", {}).get("peak", 0),
             "measured": bench.get("memory_gb", 0) if bench.get("same_layout") else 0}
    over = {how: peak for how, peak in peaks.items() if peak > usable}
    if not over:
        return
    what = " and ".join(f"{how} peak {peak:.1f} GB" for how, peak in over.items())
    limit = (f"slurm.node.gcd_memory_gb={plan['gcd_memory_gb']:g} less slurm.planner.memory_headroom "
             f"({usable:.1f} GB usable)")
    model = f" (model: {plan['params'] / 1e9:.2f}B params, shape from {plan['model_from']})"
    if largest is None:
        raise ConfigError(f"memory per GCD: {what} at train.micro_batch={micro} exceeds {limit}, and even "
                          "train.micro_batch=1 does not fit; raise train.parallel.tp or train.parallel.dp_shard, "
                          f"or lower data.seq_len{model}")
    fix = (f"set train.micro_batch to {largest} or less (a divisor of train.local_batch)" if largest < micro else
           f"the modelled peak fits at this micro-batch but the {' and '.join(over)} one does not: lower "
           "train.micro_batch")
    raise ConfigError(f"memory per GCD: {what} at train.micro_batch={micro} exceeds {limit}; {fix}{model}")


def mix_warnings(sources: dict, planner: dict) -> list[str]:
    """Sources the mix repeats more than max_epochs, or whose token share outgrows their weight."""
    found = []
    for name, u in sources.items():
        if u["epochs"] > planner["max_epochs"]:
            found.append(f"source {name} is repeated {u['epochs']:.2f} epochs (over slurm.planner.max_epochs="
                         f"{planner['max_epochs']:g}): the run sees each of its documents that often; lower "
                         f"data.sources.{name}.weight or train.steps if that is not intended")
        if u["token_share"] > planner["max_share_over_weight"] * u["weight"]:
            found.append(f"source {name} takes {u['token_share']:.1%} of the tokens at weight {u['weight']:.2f} "
                         f"(over slurm.planner.max_share_over_weight={planner['max_share_over_weight']:g}x): its "
                         f"documents are long under row weights; check data.sources.{name} (Stack-v2: "
                         f"content_fetch.documents) or data.mix.weighting")
    return found


def warnings(plan: dict, config: dict) -> list[str]:
    """What is allowed but likely wrong: repeated or outsized sources, segments longer than their job,
    long downloads, storage over quota, and the config checks' warnings (cpt.checks:
    schedule, mesh, sources): the plan JSON's `warnings`."""
    from cpt import checks  # cpt.checks reads the model shape through this package

    found = [w.line() for w in checks.run(config).warnings] + mix_warnings(plan["sources"], config["slurm"]["planner"])
    s = plan["schedule"]
    if config["train"]["steps_per_segment"] > s["steps_fitting_one_job"]:
        found.append(f"train.steps_per_segment={config['train']['steps_per_segment']} needs {s['segment_hours']:.1f} h "
                     f"but only {s['steps_fitting_one_job']} steps fit {s['hours']:g} h; each segment will be cut by "
                     f"the time-limit signal and continue in another job ({s['jobs'] - s['segments']} continuation "
                     f"jobs, each with its queue wait, counted in the schedule): lower train.steps_per_segment")
    found += download_warnings(plan["jobs"]["download"], config) + storage_warnings(plan["storage"], config)
    if "gpu_benchmark" in plan:
        found += measured.warnings(plan["gpu_benchmark"], config)
    bill = plan["sweep"]
    if sweep.too_long(config, bill):
        found.append(sweep.too_long(config, bill))
    if bill["share_of_run"] > bill["max_share"]:
        found.append(f"the sweep costs {bill['node_hours']:,.0f} node-hours, {bill['share_of_run']:.2%} of the run's "
                     f"(over sweep.max_share={bill['max_share']:g}): lower sweep.candidates or sweep.steps")
    purge = config["slurm"]["planner"]["purge_days"]
    if s["calendar_days"] > purge:
        found.append(f"the run takes {s['calendar_days']:.0f} days, longer than the {purge:g}-day scratch purge "
                     "(slurm.planner.purge_days): outputs written early and not read again (raw sources, tokenized "
                     "shards, kept checkpoints after their eval, eval results) will be deleted before it ends; "
                     "archive them to Kronos as the README's 'Where data lives' table says")
    return found


def _tokens(n: float) -> str:
    """Token counts at a readable scale: 5.5T, 809.2B, 340.2k."""
    for scale, unit in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if n >= scale:
            return f"{n / scale:,.1f}{unit}"
    return f"{n:,.0f}"


def render(plan: dict, *, all_layouts: bool = False) -> str:
    """The plan as a short text report; `all_layouts`: the ranked candidate layouts, not one line."""
    s, e = plan["schedule"], plan["evaluation"]
    lines = [
        f"tokens per step   {plan['tokens_per_step']:,}",
        f"total             {plan['steps']:,} steps = {_tokens(plan['total_tokens'])} tokens",
        f"sources           ({plan['sources_from']})",
    ]
    lines += [f"  {name:<14} weight {u['weight']:.2f}  {_tokens(u['tokens']):>8} tokens ({u['token_share']:6.1%})"
              f"  {u['epochs']:6.2f} epochs" for name, u in plan["sources"].items()]
    lines += [
        f"step time         {plan['seconds_per_step']:.2f} s ({plan['seconds_per_step_from']})",
        (f"training job      {s['nodes']} nodes x {s['hours']:g} h on {s['partition']} ({s['tasks']} tasks; "
         f"policy limit {s['policy_limit_hours']:g} h): OK"),
        f"segment           {s['segment_hours']:.1f} h of work; {s['steps_fitting_one_job']:,} steps fit one job",
        f"segments          {s['segments']}",
        f"node-hours        {s['node_hours']:,.0f}   GCD-hours {s['gcd_hours']:,.0f}",
        f"calendar          {s['calendar_days']:,.1f} days with {plan['queue_wait_hours']:g} h queue wait per segment",
        (f"evaluation        {e['runs']} lm-eval runs, {e['runs_per_node_job']} at once per node: {e['node_jobs']} "
         f"node jobs, {e['node_hours']:,.0f} node-hours ({e['unpacked_node_hours']:,.0f} at one node per run)"),
        f"memory per GCD    ({plan['params'] / 1e9:.2f}B params, shape from {plan['model_from']})",
    ]
    lines += [f"  {k:<52} {v:7.2f} GB" for k, v in plan["memory_gb"].items() if k != "total"]
    total, hbm, usable = plan["memory_gb"]["total"], plan["gcd_memory_gb"], plan["memory_usable_gb"]
    lines.append(f"  {'total (modelled)':<52} {total:7.2f} GB of {usable:.1f} GB usable ({hbm:g} GB HBM less headroom)")
    traced = plan.get("memory_traced_gb")
    if traced:
        lines.append(f"  {'traced peak (compile off; cpt/plan/trace.py)':<52} {traced['peak']:7.2f} GB "
                     f"(at micro-batch {traced['micro_batch']}, traced in {traced['seconds']:.0f} s)")
        lines += [f"    {k:<50} {v:7.2f} GB" for k, v in traced["by_kind"].items()]
    lines += render_benchmark_memory(plan.get("gpu_benchmark"))
    lines.append(f"micro-batch       {plan['micro_batch']} rows per pass; largest that fits: "
                 f"{plan['micro_batch_largest_fitting']}")
    lines += layouts.render(plan["layouts"]) if all_layouts else [layouts.summary(plan["layouts"])]
    lines += sweep.render(plan["sweep"])
    return "\n".join(lines + render_jobs(plan["jobs"]) + render_data_stage(plan["data_stage"])
                     + render_storage(plan["storage"]))


def render_benchmark_memory(bench: dict | None) -> list[str]:
    """The GPU benchmark's measured peak: the plan's own where its layout is the run's, else a check
    of the model at the benchmark's layout."""
    if not bench:
        return []
    where = "this layout" if bench["same_layout"] else f"its layout, {bench['gpus']} GPU x {bench['local_batch']} rows"
    return [f"  {'measured peak (max_memory_allocated), ' + bench['gpu']:<52} {bench['memory_gb']:7.2f} GB "
            f"(at {where}; modelled there {bench['memory_modelled_gb']:.2f} GB, "
            f"{bench['memory_model_error']:+.1%}; {bench['file']})"]


def render_storage(bill: dict) -> list[str]:
    """Each kind's size and the footprint after each stage; the peak against the quota."""
    kinds = ("raw", "tokenized", "mixed", "checkpoints", "exports")
    c = bill["checkpoints"]
    return ["storage (TB)      " + "  ".join(f"{k} {bill[k + '_tb']:.2f}" for k in kinds),
            f"  checkpoints     {c['full']} with optimizer state, {c['weights_only']} weights only",
            "  after           " + "  ".join(f"{k} {v:.1f}" for k, v in bill["timeline_tb"].items()),
            f"  peak            {bill['total_tb']:.1f} TB of {bill['quota_tb']:g} TB quota "
            f"({'fits' if bill['total_tb'] <= bill['quota_tb'] else 'OVER QUOTA'})"]


def render_jobs(jobs: dict) -> list[str]:
    """The jobs table: count, estimated vs requested hours, nodes, partition, and the rate's origin."""
    lines = [f"jobs              {'count':>6} {'est. h':>8} {'req. h':>7} {'nodes':>5}  partition  rate",
             *(f"  {rule:<15} {j['count']:>6,} {j['hours_estimated']:>8.2f} "
               f"{j['hours_requested']:>7g} {j['nodes']:>5}  "
               f"{j['partition']:<9}  {_rate(j)}" for rule, j in jobs.items())]
    return lines


def _rate(job: dict) -> str:
    """The rate behind an estimate and whether it was measured or configured."""
    if "by_task" in job:
        return ", ".join(f"{name} {t['rate']['value']:.3g} samples/s ({t['rate']['from'].split(' ')[0]})"
                         for name, t in job["by_task"].items())
    if "rate" in job:
        return f"{job['rate']['value']:,.3g} {job['rate']['unit']} ({job['rate']['from'].split(' ')[0]})"
    return "seconds per step (above)"
