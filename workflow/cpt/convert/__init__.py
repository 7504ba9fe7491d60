"""Between Hugging Face model dirs and the trainer's DCP checkpoints, one process each (not on
the ranks): `python -m cpt.convert.import_base` makes step 0 from the base model, and
`python -m cpt.convert.export` turns a kept checkpoint into an HF dir for lm-eval and the hub."""
