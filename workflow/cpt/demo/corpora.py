"""Six small offline corpora in the on-disk layout of the real sources.

Text comes from what every Python install carries: the help topics of
pydoc_data (prose), docstrings and comments of the standard library (prose and
code), its packages as repositories (code), plus generated arithmetic word
problems (math). Files are sorted and randomness seeded, so a build is
deterministic for a given Python version.
"""

from __future__ import annotations

import ast
import hashlib
import json
import random
import sysconfig
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from cpt.atomic import atomic_path

STDLIB = Path(sysconfig.get_paths()["stdlib"])
# the stdlib packages that become demo "repositories" and prose sources
PACKAGES = ["asyncio", "collections", "concurrent", "email", "html", "http", "importlib", "json", "logging",
            "multiprocessing", "sqlite3", "tomllib", "unittest", "urllib", "wsgiref", "xml", "xmlrpc", "zoneinfo"]


def _modules(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.py") if "test" not in p.parts and "__pycache__" not in p.parts)


def _docstrings(path: Path) -> list[str]:
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (SyntaxError, UnicodeDecodeError):
        return []
    nodes = [tree] + [n for n in ast.walk(tree) if isinstance(n, (ast.ClassDef, ast.FunctionDef))]
    return [doc for n in nodes if (doc := ast.get_docstring(n)) and len(doc) > 40]


def help_topics() -> list[str]:
    """DCLM stand-in: web-like prose, the interpreter's help topics in groups of paragraphs."""
    from pydoc_data.topics import topics

    docs = []
    for name in sorted(topics):
        paragraphs = [p.strip() for p in topics[name].split("\n\n") if p.strip()]
        docs += ["\n\n".join(paragraphs[i:i + 6]) for i in range(0, len(paragraphs), 6)]
    return docs


def module_docs() -> list[str]:
    """FineWeb-Edu stand-in: educational prose, a few docstrings of a top-level stdlib module each."""
    return ["\n\n".join(docs[i:i + 5]) for path in sorted(STDLIB.glob("*.py"))
            for docs in [_docstrings(path)] for i in range(0, len(docs), 5)]


def package_comments() -> list[str]:
    """Dolma stand-in: the comment lines of each package module."""
    docs = []
    for path in _modules(STDLIB / "email") + _modules(STDLIB / "http") + _modules(STDLIB / "logging"):
        lines = [line.strip()[1:].strip() for line in path.read_text(encoding="utf-8").splitlines()
                 if line.strip().startswith("#") and len(line.strip()) > 3]
        if len(lines) > 3:
            docs.append("\n".join(lines))
    return docs


def package_docstrings() -> list[str]:
    """Zyda stand-in: docstrings of package modules."""
    return ["\n\n".join(docs) for pkg in ("json", "urllib", "xml", "wsgiref", "importlib")
            for path in _modules(STDLIB / pkg) if (docs := _docstrings(path))]


def stack_v2_rows(files_per_repo: int = 3, max_chars: int = 3000) -> list[dict]:
    """Stack-v2 smol-ids rows (a repository and its files), contents already fetched.

    Each stdlib package is cut into small "repositories" of a few truncated files,
    so that code documents are not orders of magnitude longer than prose ones.
    """
    rows = []
    for pkg in PACKAGES:
        modules = _modules(STDLIB / pkg)
        for part in range(0, len(modules), files_per_repo):
            files = []
            for path in modules[part:part + files_per_repo]:
                content = path.read_text(encoding="utf-8")[:max_chars]
                files.append({"blob_id": hashlib.sha1(content.encode()).hexdigest(),
                              "path": str(path.relative_to(STDLIB / pkg)), "language": "Python",
                              "length_bytes": len(content.encode()), "src_encoding": "UTF-8", "content": content})
            name = f"python-{pkg}-{part // files_per_repo}"
            rows.append({"repo_name": f"demo/{name}", "repo_url": f"https://github.com/demo/{name}",
                         "gha_language": "Python", "num_files": len(files), "files": files})
    return rows


def word_problems(count: int = 1500, seed: int = 0) -> list[dict]:
    """FineMath stand-in: arithmetic word problems with worked solutions."""
    rng = random.Random(seed)
    names = ["Ada", "Alan", "Grace", "Edsger", "Barbara", "Donald", "Frances", "John", "Margaret", "Ken"]
    things = ["apples", "books", "marbles", "coins", "stamps", "pencils", "shells", "cards"]
    rows = []
    for i in range(count):
        who, other, thing = rng.choice(names), rng.choice(names), rng.choice(things)
        a, b, c = rng.randint(2, 90), rng.randint(2, 40), rng.randint(2, 9)
        text = (f"Problem. {who} has {a} {thing}. {other} gives {who} {b} more {thing}, and then {who} "
                f"shares them equally among {c} friends, keeping the remainder.\n"
                f"Solution. After the gift {who} has {a} + {b} = {a + b} {thing}. Dividing by {c}: "
                f"{a + b} = {c} x {(a + b) // c} + {(a + b) % c}. Each friend gets {(a + b) // c} {thing} "
                f"and {who} keeps {(a + b) % c}.\nAnswer: {(a + b) // c}")
        score = rng.uniform(3.0, 5.0)
        rows.append({"url": f"https://math.example/problem/{i}", "text": text, "token_count": len(text.split()),
                     "score": score, "int_score": int(score), "language": "en"})
    return rows


def _zyda_rows(texts: list[str], component: str) -> list[dict]:
    return [{"text": t, "source": component, "filtering_features": json.dumps({"quality": 1.0}),
             "source_other": json.dumps({"index": i})} for i, t in enumerate(texts)]


def _split(rows: list, parts: int) -> list[list]:
    return [rows[i::parts] for i in range(parts)]


def write_parquet(path: Path, rows: list[dict]) -> None:
    with atomic_path(path) as tmp:
        pq.write_table(pa.Table.from_pylist(rows), tmp, row_group_size=256)


def write_jsonl(path: Path, rows: list[dict]) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text("".join(json.dumps(row, sort_keys=True) + "\n" for row in rows))


def build_sources(out: Path) -> dict[str, int]:
    """Write the six corpora under out/; returns documents per source."""
    zyda = out / "zyda-2" / "data"
    components = {"dclm": ("dclm_crossdeduped", help_topics()), "fineweb_edu": ("fwe3", module_docs()),
                  "dolma": ("dolma-cc_crossdeduped-filtered", package_comments()),
                  "zyda": ("zyda_crossdeduped-filtered", package_docstrings())}
    counts = {}
    for name, (component, texts) in components.items():
        for part, rows in enumerate(_split(_zyda_rows(texts, component), 2)):
            write_parquet(zyda / component / f"shard_{part:05d}.parquet", rows)
        counts[name] = len(texts)
    stack = stack_v2_rows()
    for part, rows in enumerate(_split(stack, 2)):
        write_jsonl(out / "the-stack-v2-smol" / "contents" / f"part_{part:05d}.jsonl", rows)
    counts["stack_v2"] = len(stack)
    math_rows = word_problems()
    write_parquet(out / "finemath" / "finemath-3plus" / "train-00000-of-00001.parquet", math_rows)
    counts["finemath"] = len(math_rows)
    return counts


def all_text(out: Path) -> list[str]:
    """Every text of the built corpora, for training the demo tokenizer."""
    texts = []
    for path in sorted(out.rglob("*.parquet")):
        texts += pq.read_table(path, columns=["text"]).column("text").to_pylist()
    for path in sorted(out.rglob("*.jsonl")):
        for line in path.read_text().splitlines():
            texts += [f["content"] for f in json.loads(line)["files"]]
    return texts
