"""main on a hub (tests/publish/mini_hub.py, real HTTP) never goes back to an older step: main is read
fresh at one commit and moved only from it (parent_commit); a late retry of an older step, or one that
loses a race with a newer step's job, leaves main alone. The base model's license files travel with
every revision and are never deleted."""

import json

import pytest
from mini_hub import start_hub

from cpt.publish.hub import PublishError, publish
from cpt.publish.plan import STATE_FILE

LICENSE = {"LICENSE": b"LLAMA 3.1 COMMUNITY LICENSE AGREEMENT\n",
           "USE_POLICY.md": b"# Llama 3.1 Acceptable Use Policy\n"}


@pytest.fixture
def hub(monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_test")
    handler, url, server = start_hub()
    yield handler, {"repo_id": "me/cpt-demo", "endpoint": url, "retries": 2, "backoff_seconds": 0.01,
                    "license_files": list(LICENSE)}
    server.shutdown()


def export(tmp_path, step: int, license_files=True):
    out = tmp_path / f"step-{step}"
    out.mkdir()
    (out / "model.safetensors").write_bytes(b"weights of step %d" % step)
    for name, data in LICENSE.items() if license_files else ():
        (out / name).write_bytes(data)
    return out


def state(step: int) -> dict[str, bytes]:
    return {STATE_FILE: json.dumps({"step": step}).encode()}


def main_step(handler) -> int:
    return json.loads(handler.commits[handler.heads["main"]][STATE_FILE])["step"]


def test_a_late_retry_of_an_older_step_leaves_main(tmp_path, hub):
    handler, settings = hub
    publish(export(tmp_path, 7000), 7000, settings, state(7000))
    plan, commits = publish(export(tmp_path, 3500), 3500, settings, state(3500))
    assert main_step(handler) == 7000 and set(commits) == {"step-00003500"}
    files = handler.commits[handler.heads["step-00003500"]]
    assert files["model.safetensors"] == b"weights of step 3500" and files["LICENSE"] == LICENSE["LICENSE"]


def test_losing_the_race_to_a_newer_step_leaves_main_with_it(tmp_path, hub):
    """Step 7000 reads main (nothing published), then step 10500's job commits first: the hub refuses
    7000's commit (its parent is gone), 7000 reads main again and leaves it."""
    handler, settings = hub
    handler.before_main_commit = lambda: handler.apply("main", {**state(10500), **LICENSE})
    plan, commits = publish(export(tmp_path, 7000), 7000, settings, state(7000))
    assert main_step(handler) == 10500 and "main" not in commits and commits["step-00007000"]


def test_license_files_are_required_and_kept(tmp_path, hub):
    handler, settings = hub
    with pytest.raises(PublishError, match=r"lacks LICENSE, USE_POLICY.md \(publish.hf.license_files\).*download_"):
        publish(export(tmp_path, 3500, license_files=False), 3500, settings, state(3500))
    handler.apply("main", LICENSE)                      # e.g. added by hand on the hub
    publish(export(tmp_path, 7000, license_files=False), 7000, {**settings, "license_files": []}, state(7000))
    assert set(LICENSE) <= set(handler.commits[handler.heads["main"]]) and main_step(handler) == 7000
