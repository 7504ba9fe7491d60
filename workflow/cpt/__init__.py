"""Continual pretraining of Llama models: data -> train -> eval -> report.

Each stage is a subpackage with command-line entry points that the Snakemake
rules in workflow/rules/ call; see README.md for the architecture.
"""
