"""Training stage: a compact HSDP x TP Llama trainer on torch-native pieces.

Entry point: `python -m cpt.train` (one segment, under torchrun or srun); every module here
runs on the ranks. The Slurm chain that starts it is cpt.chain; the HF <-> checkpoint
conversions are cpt.convert.
"""
