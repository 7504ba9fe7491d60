"""Evaluation stage: pick the model dir of a step, run lm-eval per (step, task), prefetch datasets."""
