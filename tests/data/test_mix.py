"""Mix plan -> shards -> manifest on synthetic tokenized sources."""

from pathlib import Path

import numpy as np
import pytest

from benchmark_module import load_benchmark
from data_helpers import read_json, write_tokenized
from cpt.data.formats import ManifestError, PackedShard, manifest_shard_paths, verify_manifest
from cpt.atomic import write_json
from cpt.data import mix
from cpt.data.extents import ReadCount
from cpt.data.mix import MixError, SourceStream, make_manifest, make_plan, mix_shard

EOS = 1


def synthetic_sources(tmp_path, sizes: dict[str, tuple[int, int]], seed=0) -> dict[str, list[str]]:
    """Per source (documents, mean length): documents of random length ending in EOS, two shards each.

    Token values encode (source, document, position) so tests can trace every token back.
    """
    rng = np.random.default_rng(seed)
    stats = {}
    for s_index, (name, (count, mean)) in enumerate(sizes.items()):
        docs = []
        for d in range(count):
            length = max(2, int(rng.exponential(mean)))
            doc = (s_index + 1) * 10_000_000 + d * 1000 + np.arange(length) % 1000
            doc[-1] = EOS
            docs.append(doc)
        stats[name] = [str(write_tokenized(tmp_path / "tok", name, docs[half::2], shard=half)) for half in (0, 1)]
    return stats


def run_mix(tmp_path, sources, weights, *, seed=7, weighting="rows", seq_len=32, shard_rows=(200, 200, 100),
            out="mix", block_documents=1) -> tuple[dict, Path]:
    plan = make_plan(sources, weights, seed=seed, weighting=weighting, seq_len=seq_len, shard_rows=list(shard_rows),
                     rows_needed=sum(shard_rows), tokenizer_sha256="t" * 64, block_documents=block_documents)
    root = tmp_path / out
    stats = []
    for index in range(len(shard_rows)):
        mix_shard(plan, index, str(root / "mixed" / f"{index:05d}.arrow"))
        stats.append(str(root / "mixed" / f"{index:05d}.arrow.json"))
    manifest = make_manifest(plan, stats, str(root / "manifest.json"))
    return manifest, root / "manifest.json"


SIZES = {"big": (3000, 20), "mid": (800, 60), "small": (40, 10)}
WEIGHTS = {"big": 0.5, "mid": 0.3, "small": 0.2}


def test_row_shares_follow_weights_and_epochs_are_counted(tmp_path):
    sources = synthetic_sources(tmp_path, SIZES)
    manifest, path = run_mix(tmp_path, sources, WEIGHTS, shard_rows=(400, 400, 400))
    for name, weight in WEIGHTS.items():
        assert manifest["sources"][name]["row_share"] == pytest.approx(weight, abs=0.03)
    shares = [s["token_share"] for s in manifest["sources"].values()]
    assert sum(shares) == pytest.approx(1.0) and all(0 < s < 1 for s in shares)
    small = manifest["sources"]["small"]
    # ~0.2 of ~1300 documents drawn from a 40-document source: several epochs
    assert small["epochs"] > 3 and small["epochs_started"] == int(np.ceil(small["epochs"]))
    assert manifest["sources"]["big"]["epochs"] < 1
    assert manifest["rows"] == sum(s["rows"] for s in manifest["shards"])
    assert manifest["tokens"] == manifest["rows"] * 33


def test_token_weighting_matches_token_shares(tmp_path):
    sources = synthetic_sources(tmp_path, SIZES)
    manifest, _ = run_mix(tmp_path, sources, WEIGHTS, weighting="tokens", shard_rows=(400, 400, 400))
    for name, weight in WEIGHTS.items():
        assert manifest["sources"][name]["token_share"] == pytest.approx(weight, abs=0.04)
    assert manifest["sources"]["mid"]["row_share"] < 0.2  # long documents: fewer of them


def test_rows_are_documents_joined_and_cut(tmp_path):
    """Every row holds seq_len+1 tokens; concatenated rows are whole documents in a shuffled order."""
    sources = synthetic_sources(tmp_path, {"a": (300, 50), "b": (300, 50)})
    manifest, path = run_mix(tmp_path, sources, {"a": 0.5, "b": 0.5}, seq_len=16)
    documents = []
    for shard_path in manifest_shard_paths(path, manifest):
        shard = PackedShard(shard_path)
        rows = shard.rows(0, len(shard))
        assert rows.shape == (len(shard), 17) and rows.dtype == np.uint32
        # split the shard back into documents at EOS: each must be a stored document, intact
        stream = rows.reshape(-1)
        ends = np.flatnonzero(stream == EOS)
        documents += np.split(stream[:ends[-1] + 1], ends[:-1] + 1)  # the tail past the last EOS is cut
    for doc in documents:
        base = int(doc[0]) - int(doc[0]) % 1000
        assert (doc[:-1] == base + np.arange(len(doc) - 1)).all()
    # documents longer than a row continue into the next row
    assert max(len(d) for d in documents) > 17
    # not in file order: consecutive documents of a source are not consecutive ids
    ids = [int(d[0]) // 1000 for d in documents]
    assert np.mean(np.diff(ids) == 1) < 0.2


def test_an_epoch_of_blocks_is_a_permutation_of_whole_blocks(tmp_path):
    """Every document once per epoch; stream positions within a block are neighbouring documents;
    the remainder (103 = 6 x 16 + 7) ends the epoch in order; the next epoch is another order."""
    stats = mix.load_source_stats("a", [str(write_tokenized(tmp_path, "a", [np.array([5, EOS])] * n, shard=i))
                                        for i, n in enumerate((50, 53))], "t" * 64)
    stream = SourceStream("a", 1, 9, stats, ReadCount(), block=16)
    files, rows = stream.locate(np.arange(2 * 103, dtype=np.uint64))
    documents = np.where(files == 0, rows, 50 + rows).reshape(2, 103)
    for epoch in documents:
        assert sorted(epoch) == list(range(103))
        blocks = epoch[:96].reshape(6, 16)
        assert (np.diff(blocks, axis=1) == 1).all() and (blocks[:, 0] % 16 == 0).all()
        assert list(epoch[96:]) == list(range(96, 103))
    assert list(documents[0, :96:16]) != sorted(documents[0, :96:16])  # blocks shuffled
    assert list(documents[0, :96:16]) != list(documents[1, :96:16])  # and differently per epoch


def test_blocks_read_as_extents_and_are_shuffled_within_windows(tmp_path, monkeypatch):
    """A sparse mix (a shard takes ~1 document in 40 of each input): with blocks of 16, a few reads
    per block instead of one per document; a source's documents in a window are whole blocks read
    together, in a shuffled order."""
    monkeypatch.setattr(mix, "READ_GAP_BYTES", 0)  # no gap read through: as at the reference's sparsity
    monkeypatch.setattr(mix, "READ_CHUNK_BYTES", 4 * 20 * 40)  # windows of ~40 documents: 3 per shard
    sources = synthetic_sources(tmp_path, {"a": (4000, 20), "b": (4000, 20)})
    shard_rows = (60, 60)
    reads = {}
    for block in (1, 16):
        manifest, path = run_mix(tmp_path, sources, {"a": 0.5, "b": 0.5}, shard_rows=shard_rows,
                                 out=f"block{block}", block_documents=block)
        stats = [read_json(f"{p}.json") for p in manifest_shard_paths(path, manifest)]
        documents = sum(src["documents"] for s in stats for src in s["sources"].values())
        reads[block] = sum(s["reads"]["calls"] for s in stats) / documents
        assert manifest["sources"]["a"]["row_share"] == pytest.approx(0.5, abs=0.1)
    assert reads[1] > 1 and reads[16] < reads[1] / 4, reads
    # the documents of shard 0 in output order: source a's row in its files (2 files: even ids, odd ids)
    stream = PackedShard(tmp_path / "block16" / "mixed" / "00000.arrow").rows(0, 60).reshape(-1)
    starts = stream[np.flatnonzero(stream[:-1] == EOS) + 1]
    ids = (starts[starts // 10_000_000 == 1] % 10_000_000) // 1000
    rows_in_source = np.where(ids % 2 == 0, ids // 2, 2000 + ids // 2)
    window = make_plan(sources, {"a": 0.5, "b": 0.5}, seed=7, weighting="rows", seq_len=32,
                       shard_rows=list(shard_rows), rows_needed=120, tokenizer_sha256="t" * 64,
                       block_documents=16)["window_documents"]
    assert 30 <= window <= 50
    assert np.mean(np.diff(rows_in_source) == 1) < 0.3  # neighbours in a block are not neighbours in the shard
    assert len(np.unique(rows_in_source // 16)) <= len(rows_in_source) / 16 + 3  # whole blocks, not scattered documents


def test_same_seed_same_hashes_other_seed_differs(tmp_path):
    sources = synthetic_sources(tmp_path, SIZES)
    a, _ = run_mix(tmp_path, sources, WEIGHTS, seed=1, out="a")
    b, _ = run_mix(tmp_path, sources, WEIGHTS, seed=1, out="b")
    c, _ = run_mix(tmp_path, sources, WEIGHTS, seed=2, out="c")
    hashes = [[s["sha256"] for s in m["shards"]] for m in (a, b, c)]
    assert hashes[0] == hashes[1]
    assert not set(hashes[0]) & set(hashes[2])


def test_shards_are_independent_jobs(tmp_path):
    """Shard 2 written alone equals shard 2 written after the others."""
    sources = synthetic_sources(tmp_path, SIZES)
    plan = make_plan(sources, WEIGHTS, seed=3, weighting="rows", seq_len=32, shard_rows=[100, 100, 100],
                     rows_needed=300, tokenizer_sha256="t" * 64)
    alone = mix_shard(plan, 2, str(tmp_path / "alone.arrow"))
    for i in range(3):
        mix_shard(plan, i, str(tmp_path / f"all{i}.arrow"))
    assert alone["sha256"] == read_json(tmp_path / "all2.arrow.json")["sha256"]


def test_tokenizer_of_another_model_is_refused(tmp_path):
    sources = synthetic_sources(tmp_path, {"a": (10, 5)})
    write_tokenized(tmp_path / "tok", "a", [np.array([5, 1])], shard=2, tokenizer_sha256="other" + "0" * 59)
    sources["a"].append(str(tmp_path / "tok" / "a" / "00002.arrow.json"))
    with pytest.raises(MixError, match=r"00002\.arrow\.json: field 'tokenizer_sha256'.*rerun the tokenize jobs"):
        make_plan(sources, {"a": 1.0}, seed=0, weighting="rows", seq_len=8, shard_rows=[4], rows_needed=4,
                  tokenizer_sha256="t" * 64)


def test_empty_source_is_refused(tmp_path):
    sources = synthetic_sources(tmp_path, {"a": (10, 5)})
    sources["empty"] = [str(write_tokenized(tmp_path / "tok", "empty", []))]
    with pytest.raises(MixError, match=r"source empty: .*no document.*data\.sources\.empty\.glob"):
        make_plan(sources, {"a": 0.5, "empty": 0.5}, seed=0, weighting="rows", seq_len=8, shard_rows=[4],
                  rows_needed=4, tokenizer_sha256="t" * 64)


def test_manifest_is_checked_against_the_model(tmp_path):
    sources = synthetic_sources(tmp_path, {"a": (50, 5)})
    _, path = run_mix(tmp_path, sources, {"a": 1.0}, seq_len=8, shard_rows=(10,))
    assert verify_manifest(path, seq_len=8, tokenizer_sha256="t" * 64)["rows"] >= 1
    with pytest.raises(ManifestError, match=r"manifest\.json: field 'seq_len' is 8 .* says 16"):
        verify_manifest(path, seq_len=16, tokenizer_sha256="t" * 64)
    with pytest.raises(ManifestError, match=r"field 'tokenizer_sha256'.*another model"):
        verify_manifest(path, seq_len=8, tokenizer_sha256="u" * 64)


def test_heavy_tailed_lengths_still_fill_every_shard_exactly(tmp_path):
    """One 200k-token document among short ones inflates the mean length, so each shard's
    planned documents fall short; the shards read on along their streams and hold their rows."""
    rng = np.random.default_rng(0)
    docs = [np.append(rng.integers(10, 1000, int(rng.integers(20, 200))), EOS) for _ in range(400)]
    docs[17] = np.append(rng.integers(10, 1000, 200_000), EOS)
    sources = {"web": [str(write_tokenized(tmp_path / "tok", "web", docs))]}
    manifest, path = run_mix(tmp_path, sources, {"web": 1.0}, seq_len=127, shard_rows=(40, 40, 40, 40))
    assert [s["rows"] for s in manifest["shards"]] == [40, 40, 40, 40]
    assert manifest["rows"] == 160 and manifest["tokens"] == 160 * 128
    shard_stats = [read_json(path.parent / "mixed" / f"{i:05d}.arrow.json") for i in range(4)]
    assert any(s["top_up_rounds"] > 0 for s in shard_stats)
    for i in range(4):  # every row is tokens of the source's documents, nothing padded
        packed = PackedShard(path.parent / "mixed" / f"{i:05d}.arrow")
        assert len(packed) == 40 and packed.rows(0, 40).min() >= EOS


def test_a_short_mix_is_an_error_unless_max_tokens_asked_for_it(tmp_path):
    sources = synthetic_sources(tmp_path, {"a": (50, 5)})
    plan = make_plan(sources, {"a": 1.0}, seed=0, weighting="rows", seq_len=8, shard_rows=[10], rows_needed=10,
                     tokenizer_sha256="t" * 64)
    stats = mix_shard(plan, 0, str(tmp_path / "m" / "00000.arrow"))
    assert stats["rows"] == 10
    stats["rows"] = 6  # a shard that came out short
    write_json(tmp_path / "m" / "00000.arrow.json", stats)
    with pytest.raises(MixError, match=r"hold 6 rows but training needs 10.*rerun the mix_shard jobs"):
        make_manifest(plan, [str(tmp_path / "m" / "00000.arrow.json")], str(tmp_path / "m" / "manifest.json"))
    plan["rows_needed"] = 20  # data.mix.max_tokens capped the mix below what training needs: a warning
    stats["rows"] = 10
    write_json(tmp_path / "m" / "00000.arrow.json", stats)
    assert make_manifest(plan, [str(tmp_path / "m" / "00000.arrow.json")],
                         str(tmp_path / "m" / "manifest.json"))["rows"] == 10


@pytest.fixture(scope="module")
def mix_io():
    """benchmarks/mix_io.py: the reader before issue 24 (memory maps in the mix's order), instrumented."""
    return load_benchmark("mix_io")


def test_extent_reads_write_the_same_shards_as_memory_maps(tmp_path, mix_io):
    """Byte-identical to the reader before issue 24: several epochs of a small source, a top-up
    round, inputs of many record batches; and each input is read front to back in few calls."""
    rng = np.random.default_rng(1)
    docs = [np.append(rng.integers(10, 1000, int(rng.integers(2, 60))), EOS) for _ in range(3000)]
    docs[5] = np.append(rng.integers(10, 1000, 20_000), EOS)  # heavy tail: a top-up round
    sources = {"web": [str(write_tokenized(tmp_path / "tok", "web", docs[half::2], shard=half, batch_rows=256))
                       for half in (0, 1)],
               **synthetic_sources(tmp_path, {"small": (30, 8)})}
    plan = make_plan(sources, {"web": 0.8, "small": 0.2}, seed=5, weighting="rows", seq_len=63,
                     shard_rows=[60, 60, 60], rows_needed=180, tokenizer_sha256="t" * 64)
    top_ups = 0
    for index in range(3):
        new = mix_io.run_new(plan, index, tmp_path / f"new{index}.arrow")
        old = mix_io.run_old(plan, index, tmp_path / f"old{index}.arrow")
        assert new["sha256"] == old["sha256"]
        stats = read_json(tmp_path / f"new{index}.arrow.json")
        # each of 4 files front to back twice (offsets, then tokens) per round; the memory map jumps back and forth
        assert new["seeks"] <= 8 * (1 + stats["top_up_rounds"]) < old["seeks"] / 10
        assert stats["reads"]["calls"] == new["calls"] and stats["reads"]["calls_per_row"] == new["calls"] / 60
        top_ups += stats["top_up_rounds"]
    assert top_ups > 0 and plan["sources"]["small"]["epochs"] > 2
