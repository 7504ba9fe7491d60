"""What the controller's config checks cost at every `snakemake -n`: schema + every check
(cpt.checks.load) against snakemake.utils.validate alone (what common.smk ran before), each
in a fresh process as a dry run pays it (imports included); and the lm-eval task index read
from its cache against building lm-eval's TaskManager, which the index replaces.

    python benchmarks/config_checks.py [--runs 3] [--task-manager] [config.yaml [configs/demo.yaml ...]]
"""

import argparse
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOAD = """
import sys, time, yaml
from snakemake.utils import update_config
config = {{}}
for path in {paths!r}:
    update_config(config, yaml.safe_load(open(path)))
start = time.perf_counter()
{body}
print(time.perf_counter() - start)
"""
CASES = {
    "snakemake validate (before)": "from snakemake.utils import validate\n"
                                   f"validate(config, {str(ROOT / 'workflow/schemas/config.schema.yaml')!r})",
    "cpt.checks.load (after)": "from cpt import checks\nchecks.load(config, 'bench')",
    "task index from cache": "from cpt.checks import task_index\nfrom cpt.evaluate.run import DEMO_TASKS\n"
                             "task_index.load([DEMO_TASKS])",
    "lm-eval TaskManager": "from cpt.evaluate.run import task_manager\ntask_manager()",
}


def seconds(paths: list[str], body: str) -> float:
    out = subprocess.run([sys.executable, "-c", LOAD.format(paths=paths, body=body)], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    return float(out.split()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("configs", nargs="*", default=["config.yaml"])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--task-manager", action="store_true", help="also time TaskManager (~11 s a run)")
    args = parser.parse_args()
    names = [n for n in CASES if args.task_manager or n != "lm-eval TaskManager"]
    times = {name: [] for name in names}
    for _ in range(args.runs):  # interleaved, so load on the machine hits every case alike
        for name in names:
            times[name].append(seconds(args.configs, CASES[name]))
    median = {name: statistics.median(t) for name, t in times.items()}
    print(f"config {' + '.join(args.configs)}; median of {args.runs} fresh processes, imports included")
    for name in names:
        print(f"  {name:<30} {median[name]:7.3f} s")
    before, after = median["snakemake validate (before)"], median["cpt.checks.load (after)"]
    print(f"checks / validate: {after / before:.2f}x")
    if args.task_manager:
        print(f"task index / TaskManager: {median['task index from cache'] / median['lm-eval TaskManager']:.4f}x")


if __name__ == "__main__":
    main()
