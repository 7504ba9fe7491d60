"""Tokenize one shard: reader -> tokenizer -> Arrow, and every bad input it must refuse."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from tokenizers import Tokenizer

from data_helpers import read_json
from cpt.atomic import sha256_file
from cpt.data import shards
from cpt.data.formats import DocumentShard
from cpt.data.download import download_arguments, ensure_files, write_listing
from cpt.data.listing import SourceError, list_files
from cpt.data.tokenize import tokenize_shard

TEXTS = ["The quick brown fox.", "Jumps over\nthe lazy dog.", "Ünïcödé – text ✓", "x" * 600]


def make_source(tmp_path: Path, fmt: str, rows: list[dict], files: int = 1, **extra) -> dict:
    root = tmp_path / "src"
    root.mkdir(exist_ok=True)
    for part in range(files):
        mine = rows[part::files]
        if fmt == "parquet":
            pq.write_table(pa.Table.from_pylist(mine), root / f"part{part}.parquet")
        else:
            (root / f"part{part}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in mine))
    return {"local_dir": str(root), "glob": f"*.{fmt}", "format": fmt, "text_field": "text", "id_field": None,
            "encoding_errors": "strict", "weight": 1.0, **extra}


def run(tmp_path, source, model_dir, shard=0, shards=1, seq_len=64, name="s"):
    listing = tmp_path / "listing.txt"
    write_listing(listing, source["local_dir"], ensure_files(name, source))
    out = tmp_path / "out" / f"{shard:05d}.arrow"
    stats = tokenize_shard(name, source, str(listing), shard, shards, str(model_dir), seq_len, str(out), batch_size=3)
    return out, stats


@pytest.mark.parametrize("fmt", ["parquet", "jsonl"])
def test_documents_are_bos_text_eos(tmp_path, model_dir, fmt):
    source = make_source(tmp_path, fmt, [{"text": t, "url": f"u{i}"} for i, t in enumerate(TEXTS)], id_field="url")
    out, stats = run(tmp_path, source, model_dir)
    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    config = json.loads((model_dir / "config.json").read_text())
    shard = DocumentShard(out)
    assert len(shard) == len(TEXTS) == stats["rows"]
    for i, text in enumerate(TEXTS):
        expected = [config["bos_token_id"]] + tokenizer.encode(text, add_special_tokens=False).ids + [
            config["eos_token_id"]]
        assert shard.document(i).tolist() == expected
    table = pa.ipc.open_file(pa.memory_map(str(out))).read_all()
    assert table.schema.field("tokens").type == pa.list_(pa.uint32())
    assert table.column("id").to_pylist() == [f"u{i}" for i in range(len(TEXTS))]
    assert set(table.column("source").to_pylist()) == {"s"}
    sidecar = read_json(f"{out}.json")
    assert sidecar["tokens"] == sum(len(shard.document(i)) for i in range(len(shard)))
    assert sidecar["sha256"] == sha256_file(out)
    assert sidecar["tokenizer_sha256"] == sha256_file(model_dir / "tokenizer.json")
    assert sidecar["long_documents"] == 1  # the 600-char line exceeds seq_len=64 tokens
    assert sidecar["text_bytes"] == sum(len(t.encode()) for t in TEXTS)


def test_shards_split_files_by_bytes(tmp_path, model_dir):
    """Every file in exactly one shard, each shard's files in listing order, sizes balanced."""
    rows = [{"text": f"document number {i} " * (1 + i % 5)} for i in range(12)]
    source = make_source(tmp_path, "parquet", rows, files=4)
    seen, files = [], []
    for shard in range(3):
        out, stats = run(tmp_path, source, model_dir, shard=shard, shards=3)
        assert stats["files"] == sorted(stats["files"])
        files += stats["files"]
        seen += pa.ipc.open_file(pa.memory_map(str(out))).read_all().column("id").to_pylist()
    assert sorted(files) == list_files(source)
    assert len(seen) == len(set(seen)) == 12
    # more shards than files: an empty but valid shard
    out, stats = run(tmp_path, source, model_dir, shard=5, shards=6)
    assert stats["rows"] == 0 and len(DocumentShard(out)) == 0


def test_byte_split_keeps_the_largest_shard_near_the_mean():
    """Files of 1..16 units for 8 shards (as a source with between S and 2S files of uneven size): the
    round-robin split's largest shard holds 1.4x the mean, the byte split's at most 1.2x; both in order."""
    sizes = [(f"f{i:02d}", 1 + (i * 7) % 16) for i in range(16)]
    total = sum(b for _, b in sizes)
    round_robin = max(sum(b for _, b in sizes[shard::8]) for shard in range(8)) * 8 / total
    assert round_robin == pytest.approx(24 / 17)
    assert shards.largest_over_mean(sizes, 8) <= 1.2
    split = shards.split(sizes, 8)
    assert sorted(f for files in split for f in files) == [p for p, _ in sizes]
    assert all(files == sorted(files) for files in split)
    assert shards.split(sizes, 8) == split                            # every job computes the same split


def test_stack_v2_rows_become_one_document_per_repository(tmp_path, model_dir):
    files = [{"path": "a.py", "content": "print(1)\n"}, {"path": "b/c.py", "content": "x = 2\n"}]
    source = make_source(tmp_path, "jsonl", [{"repo_name": "org/repo", "files": files}], adapter="stack_v2_repo",
                         id_field="repo_name")
    out, _ = run(tmp_path, source, model_dir)
    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    assert tokenizer.decode(DocumentShard(out).document(0).tolist()) == "# a.py\nprint(1)\n\n\n# b/c.py\nx = 2\n"


# --- bad input: a clear error naming file and field, and no output that looks complete ---

def assert_no_output(tmp_path):
    out_dir = tmp_path / "out"
    assert not out_dir.exists() or not any(out_dir.iterdir()), list(out_dir.iterdir())


def test_missing_files(tmp_path, model_dir):
    source = make_source(tmp_path, "parquet", [{"text": "a"}])
    source["glob"] = "*.nothing"
    with pytest.raises(SourceError, match=r"no file matches data\.sources\.s\.glob"):
        run(tmp_path, source, model_dir)


@pytest.mark.parametrize("fmt", ["parquet", "jsonl"])
def test_wrong_text_field(tmp_path, model_dir, fmt):
    source = make_source(tmp_path, fmt, [{"content": "a"}])
    with pytest.raises(SourceError, match=r"part0\.\w+.*'text'.*data\.sources\.s\.text_field") as err:
        run(tmp_path, source, model_dir)
    assert "content" in str(err.value)  # lists the fields that do exist
    assert_no_output(tmp_path)


def test_corrupt_parquet(tmp_path, model_dir):
    source = make_source(tmp_path, "parquet", [{"text": "a"}])
    path = Path(source["local_dir"]) / "part0.parquet"
    path.write_bytes(path.read_bytes()[:-30])
    with pytest.raises(SourceError, match=r"part0\.parquet: not a readable parquet file"):
        run(tmp_path, source, model_dir)
    assert_no_output(tmp_path)


def test_corrupt_jsonl(tmp_path, model_dir):
    source = make_source(tmp_path, "jsonl", [{"text": "a"}, {"text": "b"}])
    path = Path(source["local_dir"]) / "part0.jsonl"
    path.write_text(path.read_text() + '{"text": "trunc\n')
    with pytest.raises(SourceError, match=r"part0\.jsonl line 3: not valid JSON"):
        run(tmp_path, source, model_dir)
    assert_no_output(tmp_path)


def test_non_utf8_bytes(tmp_path, model_dir):
    source = make_source(tmp_path, "jsonl", [{"text": "a"}])
    path = Path(source["local_dir"]) / "part0.jsonl"
    path.write_bytes(b'{"text": "caf\xe9"}\n' + path.read_bytes())
    with pytest.raises(SourceError, match=r"part0\.jsonl line 1: bytes that are not UTF-8.*encoding_errors"):
        run(tmp_path, source, model_dir)
    assert_no_output(tmp_path)
    source["encoding_errors"] = "replace"
    _, stats = run(tmp_path, source, model_dir)
    assert stats["rows"] == 2


def test_empty_text_is_skipped_and_counted_out(tmp_path, model_dir):
    source = make_source(tmp_path, "parquet", [{"text": ""}, {"text": "kept"}])
    _, stats = run(tmp_path, source, model_dir)
    assert stats["rows"] == 1


def test_download_only_when_no_local_files(tmp_path):
    calls = []
    source = {"local_dir": str(tmp_path / "dl"), "glob": "data/*.parquet",
              "hub": {"repo_id": "Zyphra/Zyda-2", "revision": "main", "allow_patterns": ["data/x/*"]}}

    def fake_snapshot_download(**kwargs):  # stands in for the hub, which this machine cannot reach
        calls.append(kwargs)
        (Path(kwargs["local_dir"]) / "data").mkdir(parents=True)
        (Path(kwargs["local_dir"]) / "data" / "a.parquet").write_bytes(b"x")

    assert ensure_files("dclm", source, snapshot=fake_snapshot_download) == ["data/a.parquet"]
    assert calls == [{"repo_id": "Zyphra/Zyda-2", "repo_type": "dataset", "revision": "main",
                      "allow_patterns": ["data/x/*"], "local_dir": str(tmp_path / "dl")}]
    ensure_files("dclm", source, snapshot=fake_snapshot_download)
    assert len(calls) == 1  # files exist now: no second download


def test_download_arguments_of_the_reference_sources():
    import yaml

    config = yaml.safe_load((Path(__file__).resolve().parents[2] / "config.yaml").read_text())
    args = {name: download_arguments(s) for name, s in config["data"]["sources"].items()}
    assert args["fineweb_edu"]["repo_id"] == "Zyphra/Zyda-2" and args["fineweb_edu"]["repo_type"] == "dataset"
    assert args["fineweb_edu"]["allow_patterns"] == ["data/fwe3/**"]
    assert args["finemath"]["repo_id"] == "HuggingFaceTB/finemath"
    assert args["stack_v2"]["repo_id"] == "bigcode/the-stack-v2-train-smol-ids"


def peak_threads(command: list[str], env: dict) -> int:
    """The largest Threads count /proc shows for a running process, sampled every 10 ms."""
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak = 0
    while process.poll() is None:
        try:
            status = Path(f"/proc/{process.pid}/status").read_text()
            peak = max(peak, int(status.split("Threads:")[1].split()[0]))
        except (FileNotFoundError, IndexError, ProcessLookupError):
            pass
        time.sleep(0.01)
    assert process.returncode == 0
    return peak


def test_a_one_core_job_runs_no_node_sized_pools(tmp_path, model_dir):
    """The job's thread count, read from /proc while it runs: with its pools capped to its one
    core it runs fewer threads than the same job with the pools left at their defaults."""
    source = make_source(tmp_path, "parquet", [{"text": f"word{i} " * 200} for i in range(2000)])
    listing = tmp_path / "listing.txt"
    write_listing(listing, source["local_dir"], ensure_files("s", source))
    args = ["--name", "s", "--spec", json.dumps(source), "--paths-file", str(listing), "--shard", "0", "--shards",
            "1", "--model-dir", str(model_dir), "--seq-len", "64", "--threads", "1", "--out"]
    env = {k: v for k, v in os.environ.items() if k not in ("RAYON_NUM_THREADS", "TOKENIZERS_PARALLELISM")}
    capped = peak_threads([sys.executable, "-m", "cpt.data.tokenize", *args, str(tmp_path / "a.arrow")], env)
    uncapped = peak_threads([sys.executable, "-c", "import sys, cpt.data.tokenize as t; t.cap_threads = "
                             "lambda n: None; t.main(sys.argv[1:])", *args, str(tmp_path / "b.arrow")], env)
    assert capped < uncapped, (capped, uncapped)
    assert DocumentShard(tmp_path / "a.arrow").document(0).tolist() == DocumentShard(
        tmp_path / "b.arrow").document(0).tolist()


def test_parquet_rows_not_utf8_or_empty_are_counted_skips(tmp_path, model_dir):
    """One bad row costs that row, not the file: skipped, counted in the stats, logged."""
    root = tmp_path / "src"
    root.mkdir()
    text = pa.array([b"good text", b"", b"bad \xff\xfe bytes", b"more text"], pa.binary()).view(pa.string())
    pq.write_table(pa.table({"text": text}), root / "part0.parquet")
    source = {"local_dir": str(root), "glob": "*.parquet", "format": "parquet", "text_field": "text",
              "id_field": None, "encoding_errors": "skip", "weight": 1.0}
    out, stats = run(tmp_path, source, model_dir)
    assert stats["rows"] == 2 and stats["skipped_documents"] == 2
    assert len(DocumentShard(out)) == 2
    source["encoding_errors"] = "strict"
    with pytest.raises(SourceError, match=r"part0\.parquet row 2 field 'text': bytes that are not UTF-8"):
        run(tmp_path, source, model_dir)
