#!/usr/bin/env bash
# Login-node preflight, after `source profiles/frontier/env.sh`, from the workdir: one line per
# check, "ok ..." or "FAIL: what; fix: ...", exit 1 on any FAIL. Arguments: config files (default
# config.yaml), as snakemake gets them. The checks: python -m cpt.preflight (workflow/cpt/preflight).
exec python -m cpt.preflight --profile "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)" "$@"
