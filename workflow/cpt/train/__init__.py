"""Training stage: a compact HSDP x TP Llama trainer on torch-native pieces.

Entry points: `python -m cpt.train` (one segment, under torchrun or srun),
`python -m cpt.train.import_base` (step 0 from a HF dir) and
`python -m cpt.train.export` (a checkpoint as a HF dir).
"""
