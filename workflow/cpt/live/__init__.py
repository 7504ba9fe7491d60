"""Live views of training beside metrics.jsonl: TensorBoard and W&B sinks on rank 0, and the W&B sync
on the login node. A failing live view never stops training."""
