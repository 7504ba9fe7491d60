"""Preflights: what breaks the first time the run meets Frontier, caught before it costs an allocation.

login (profiles/frontier/preflight.sh -> python -m cpt.preflight): the login node's software, paths,
token, Slurm clusters and queue, one line per check, "ok ..." or "FAIL: what; fix: ...".
"""
