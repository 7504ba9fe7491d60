"""The package's house rules (STYLE.md): one folder per concern, no import circles between them,
no folder over a fifth of the lines, and the Slurm chain and the run directory torch-free (they
run on the login node and in the chain's batch shell, and the Snakefile imports them)."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "workflow" / "cpt"


def room(module: str) -> str:
    """cpt.chain.job -> chain; cpt.settings -> settings (a top-level module is a room of its own)."""
    return module.split(".")[1]


def imports(path: Path) -> set[str]:
    """Every cpt module `path` imports, at any depth of the file (lazy imports included)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("cpt"):
            found |= {node.module} if node.module != "cpt" else {f"cpt.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("cpt.")}
    return found


def files() -> dict[str, Path]:
    return {".".join(("cpt", *p.relative_to(PACKAGE).with_suffix("").parts)): p for p in PACKAGE.rglob("*.py")}


def room_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for module, path in files().items():
        if module.count(".") == 0:
            continue
        graph.setdefault(room(module), set()).update(room(m) for m in imports(path) if m.count(".") >= 1)
    return {r: deps - {r} for r, deps in graph.items()}


def test_no_circle_between_folders():
    graph = room_graph()
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            assert state.get(nxt) != 1, f"import circle: {' -> '.join([*path, node, nxt])}"
            if nxt not in state:
                visit(nxt, [*path, node])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [])


def test_no_folder_holds_more_than_a_fifth_of_the_lines():
    lines: dict[str, int] = {}
    for module, path in files().items():
        if module.count(".") >= 2:   # inside a folder
            lines[room(module)] = lines.get(room(module), 0) + len(path.read_text().splitlines())
    total = sum(len(p.read_text().splitlines()) for p in files().values())
    over = {name: f"{n / total:.1%}" for name, n in lines.items() if n > total / 5}
    assert not over, f"folders over 20% of {total} lines: {over}; split one concern out"


def test_chain_and_run_directory_are_torch_free():
    for folder in ("chain", "rundir", "checks"):
        for path in (PACKAGE / folder).rglob("*.py"):
            heavy = {name for name in imports(path) if room(name) == "train"}
            text = path.read_text()
            assert "import torch" not in text and not heavy, f"{path} imports torch or the trainer: {heavy}"
