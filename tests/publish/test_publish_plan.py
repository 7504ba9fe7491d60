"""The publish plan: which files go to which revision, what is skipped or deleted; the card."""

import json
import subprocess

import pytest

from cpt.publish.card import eval_results, model_card
from cpt.publish.plan import FileEntry, git_blob_sha1, plan_step, published_steps, same_content


def lfs(path, size, sha):
    return FileEntry(path, size, sha256=sha)


def small(path, data: bytes):
    return FileEntry(path, len(data), sha256=f"sha-of-{data!r}", git_sha1=git_blob_sha1(data))


LOCAL = {"model.safetensors": lfs("model.safetensors", 100, "w2"), "config.json": small("config.json", b"{}"),
         "README.md": small("README.md", b"card 2")}


def test_git_blob_id_is_the_one_git_computes(tmp_path):
    data = b"{\"hidden_size\": 64}\n"
    (tmp_path / "f").write_bytes(data)
    git = subprocess.check_output(["git", "hash-object", str(tmp_path / "f")], text=True).strip()
    assert git_blob_sha1(data) == git


def test_same_content_uses_sha256_for_lfs_and_the_blob_id_otherwise():
    assert same_content(LOCAL["model.safetensors"], FileEntry("model.safetensors", 100, sha256="w2", git_sha1="x"))
    assert not same_content(LOCAL["model.safetensors"], FileEntry("model.safetensors", 100, sha256="w1"))
    assert not same_content(LOCAL["model.safetensors"], FileEntry("model.safetensors", 99, sha256="w2"))
    assert same_content(LOCAL["config.json"], FileEntry("config.json", 2, git_sha1=git_blob_sha1(b"{}")))
    assert not same_content(LOCAL["config.json"], FileEntry("config.json", 2, git_sha1=git_blob_sha1(b"[]")))
    assert not same_content(LOCAL["config.json"], None)


def test_first_publish_goes_to_its_branch_and_main():
    plan = plan_step(3500, LOCAL, remote_branch=None, remote_main={".gitattributes": small(".gitattributes", b"*")},
                     main_step=None)
    assert plan.summary() == {
        "step-00003500": {"upload": ["README.md", "config.json", "model.safetensors"], "skip": [], "delete": []},
        "main": {"upload": ["README.md", "config.json", "model.safetensors"], "skip": [], "delete": []}}


def test_a_new_branch_starts_from_main_so_unchanged_files_are_skipped_and_stale_ones_deleted():
    main = {"model.safetensors": lfs("model.safetensors", 100, "w1"), "config.json": small("config.json", b"{}"),
            "model-00002-of-00002.safetensors": lfs("model-00002-of-00002.safetensors", 5, "old"),
            ".gitattributes": small(".gitattributes", b"*")}
    plan = plan_step(7000, LOCAL, remote_branch=None, remote_main=main, main_step=3500)
    branch, on_main = plan.revisions
    assert (branch.revision, on_main.revision) == ("step-00007000", "main")
    for revision in plan.revisions:
        assert revision.upload == ["README.md", "model.safetensors"]
        assert revision.skip == ["config.json"]
        assert revision.delete == ["model-00002-of-00002.safetensors"]  # .gitattributes is the hub's own


def test_a_rerun_after_a_failure_uploads_only_what_is_missing():
    partial = {"config.json": LOCAL["config.json"], "model.safetensors": LOCAL["model.safetensors"]}
    plan = plan_step(7000, LOCAL, remote_branch=partial, remote_main={}, main_step=10500)
    assert [r.revision for r in plan.revisions] == ["step-00007000"]  # main stays on the newer step 10500
    assert plan.revisions[0].upload == ["README.md"] and plan.revisions[0].skip == ["config.json", "model.safetensors"]


def test_a_finished_step_published_again_changes_nothing():
    plan = plan_step(7000, LOCAL, remote_branch=dict(LOCAL), remote_main=dict(LOCAL), main_step=7000)
    assert all(r.empty for r in plan.revisions) and len(plan.revisions) == 2


def test_published_steps_follow_every_and_include_the_final_step():
    evaluated = [0, 3500, 7000, 10500, 12000]
    assert published_steps(None, evaluated, 3500) == [3500, 7000, 10500, 12000]
    assert published_steps(7000, evaluated, 3500) == [7000, 12000]
    with pytest.raises(ValueError, match="publish.hf.every .5000. is not a multiple of eval.every"):
        published_steps(5000, evaluated, 3500)


FACTS = {"run": "llama31-8b-cpt", "base_model": "meta-llama/Llama-3.1-8B", "mix": {"dclm": 0.4, "fineweb_edu": 0.6},
         "weighting": "rows", "seq_len": 8192, "tokens_per_step": 11010048, "config_digest": "0123456789abcdef"}


def test_card_names_base_model_mix_tokens_digest_and_the_results_written_so_far(tmp_path):
    assert "No evaluation has finished yet" in model_card(3500, FACTS, eval_results(tmp_path / "none"))
    for step, task, value, status in ((0, "MMLU", 0.634, "ok"), (3500, "MMLU", 0.61, "ok"),
                                      (3500, "ARC-C", 0.5, "failed")):
        path = tmp_path / f"step-{step:08d}" / f"{task}.json"
        path.parent.mkdir(exist_ok=True)
        path.write_text(json.dumps({"status": status, "step": step, "name": task, "value": value}))
    card = model_card(3500, FACTS, eval_results(tmp_path))
    assert "base_model: meta-llama/Llama-3.1-8B" in card
    assert "38,535,168,000 tokens seen" in card  # 3500 x 11,010,048
    assert "`0123456789abcdef`" in card and "| dclm | 40.00% |" in card
    assert "| 0 | 63.4 |" in card and "| 3,500 (this revision) | 61.0 |" in card
    assert "ARC-C" not in card  # a failed eval is not a result


def test_card_carries_the_llama_license_datasets_and_attribution():
    import yaml

    from cpt.publish.plan import KEEP_REMOTE

    facts = {**FACTS, "license": "llama3.1", "attribution": "Built with Llama",
             "datasets": ["HuggingFaceTB/finemath", "Zyphra/Zyda-2"]}
    card = model_card(3500, facts, {})
    header = yaml.safe_load(card.split("---")[1])
    assert header["license"] == "llama3.1" and header["datasets"] == ["HuggingFaceTB/finemath", "Zyphra/Zyda-2"]
    assert "**Built with Llama**" in card.split("---", 2)[2][:200]     # prominently: right under the title
    assert {"LICENSE", "USE_POLICY.md"} <= KEEP_REMOTE      # a publish never deletes them


def test_the_base_model_download_brings_its_license_files():
    from cpt.hub import snapshot_arguments

    hub = {"repo_id": "meta-llama/Llama-3.1-8B", "allow_patterns": ["*.json", "*.safetensors"]}
    assert snapshot_arguments(hub, "m", "model")["allow_patterns"] == ["*.json", "*.safetensors", "LICENSE*",
                                                                       "USE_POLICY*"]
    assert snapshot_arguments(hub, "d", "dataset")["allow_patterns"] == ["*.json", "*.safetensors"]
