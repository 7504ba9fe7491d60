"""Everything under `results/<run>/`: where each output lives (paths), which checkpoints
belong to the run (lineage), and the one reader of the trainer's metrics.jsonl (metrics).
Torch-free: the Snakefile, the chain, status, report and plan all read it."""
