# Config validation and the paths every stage shares. Logic lives in workflow/cpt.
import sys
from pathlib import Path

from snakemake.utils import validate

validate(config, workflow.source_path("../schemas/config.schema.yaml"))

# The package is installed (pip install -e .); running from a bare checkout works too.
sys.path.insert(0, str(Path(workflow.basedir) / "workflow"))
from cpt import settings

SETTINGS = settings.load(config)
RUN_DIR = SETTINGS.run_dir
PY = "python -m"


def manifest_path():
    return f"{RUN_DIR}/data/manifest.json"
