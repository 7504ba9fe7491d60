"""Fixtures of the config-check tests: real source files (parquet, gzipped jsonl)."""

import gzip
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest


@pytest.fixture(scope="session")
def corpora(tmp_path_factory) -> Path:
    """A parquet corpus (text, url), a gzipped jsonl corpus (content, id) and an empty dir."""
    root = tmp_path_factory.mktemp("corpora")
    (root / "parquet").mkdir()
    pq.write_table(pa.table({"text": ["a document", "another"], "url": ["u1", "u2"]}),
                   root / "parquet/part-00000.parquet")
    (root / "jsonl").mkdir()
    with gzip.open(root / "jsonl/part-00000.jsonl.gz", "wt") as f:
        f.write('{"content": "def f(): pass", "id": 1}\n{"content": "x = 1", "id": 2}\n')
    (root / "empty").mkdir()
    return root
