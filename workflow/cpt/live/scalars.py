"""What every live view plots of a metrics.jsonl record."""

from __future__ import annotations

# The x axes: every other number of a record is a scalar against them.
AXES = ("step", "tokens_seen")


def scalars(record: dict) -> dict[str, float]:
    """A record's plottable values (MFU is None where the device's peak is unknown)."""
    return {key: float(value) for key, value in record.items() if key not in AXES and value is not None}
