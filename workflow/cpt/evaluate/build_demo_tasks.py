"""Build the data of the demo's multiple-choice tasks, deterministically.

The demo tasks are lm-eval task YAMLs shipped in demo_tasks/ with their data
beside them, so the demo evaluates offline through lm-eval's include_path the
same way the real tasks do. Their data is generated from a fixed seed, so the
committed files can be checked against the generator (`--check`).

    python -m cpt.evaluate.build_demo_tasks            # rewrite the data files
    python -m cpt.evaluate.build_demo_tasks --check    # exit 1 if they differ
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

from cpt.atomic import atomic_path

TASKS_DIR = Path(__file__).parent / "demo_tasks"
SEED = 20240501
SPLITS = {"train": 16, "test": 48}
NUMBER_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
                "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen"]


def arith_example(rng: random.Random) -> dict:
    """'What is a plus b?' with the sum among three wrong answers near it."""
    a, b = rng.randint(1, 20), rng.randint(1, 20)
    answer = a + b
    wrong = rng.sample([n for n in range(max(answer - 6, 0), answer + 7) if n != answer], 3)
    choices = wrong + [answer]
    rng.shuffle(choices)
    return {"question": f"What is {a} plus {b}?", "choices": [str(c) for c in choices],
            "label": choices.index(answer)}


def count_example(rng: random.Random) -> dict:
    """A run of number words; the next one is among three other number words."""
    length = rng.randint(2, 5)
    start = rng.randint(0, len(NUMBER_WORDS) - length - 1)
    answer = NUMBER_WORDS[start + length]
    wrong = rng.sample([w for w in NUMBER_WORDS if w != answer], 3)
    choices = wrong + [answer]
    rng.shuffle(choices)
    return {"context": " ".join(NUMBER_WORDS[start:start + length]), "choices": choices,
            "label": choices.index(answer)}


GENERATORS = {"cpt_demo_arith": arith_example, "cpt_demo_count": count_example}


def build(task: str) -> str:
    """The task's data file content: {split: [rows]}, stable across runs and platforms."""
    rng = random.Random(f"{SEED}:{task}")
    data = {split: [GENERATORS[task](rng) for _ in range(n)] for split, n in SPLITS.items()}
    return json.dumps(data, indent=1) + "\n"


def data_path(task: str) -> Path:
    return TASKS_DIR / f"{task}.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args(argv)
    stale = []
    for task in GENERATORS:
        content, path = build(task), data_path(task)
        if args.check:
            if not path.exists() or path.read_text() != content:
                stale.append(path)
            continue
        with atomic_path(path) as tmp:
            tmp.write_text(content)
    if stale:
        print(f"stale demo task data: {', '.join(map(str, stale))}; "
              "rebuild with `python -m cpt.evaluate.build_demo_tasks`", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
