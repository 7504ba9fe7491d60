import pytest


@pytest.fixture(scope="session")
def full_config() -> dict:
    """config.yaml validated with the schema's defaults, as the workflow sees it."""
    from cpt.checks.config import load_config
    from workflow_run import ROOT

    return load_config([str(ROOT / "config.yaml")])
