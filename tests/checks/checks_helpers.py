"""Config overlays as a user writes them, over the reference and the demo config."""

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
BASES = {"ref": [ROOT / "config.yaml"], "demo": [ROOT / "config.yaml", ROOT / "configs/demo.yaml"]}


def overlay_paths(tmp_path: Path, base: str, overlay: str, corpora: Path) -> list[str]:
    """The base config files plus `overlay` (YAML; {corpora} replaced) written as a file."""
    path = tmp_path / "overlay.yaml"
    path.write_text(overlay.replace("{corpora}", str(corpora)))
    yaml.safe_load(path.read_text())  # the overlay itself must be valid YAML
    return [str(p) for p in BASES[base]] + [str(path)]
