#!/bin/bash
# Stage a packed Python environment (conda-pack or tar of a venv, .tar.gz) onto the local
# storage of every node of this Slurm job, so that 512 ranks import torch from NVMe instead
# of Lustre/NFS (OLCF's sbcast + conda-pack recipe for large Python jobs: "NVMe > Orion >> NFS").
#   stage-env.sh PACK DEST      then run DEST/bin/python on every node
# cpt.cluster.launcher puts this before the training srun when slurm.launch.stage_env is set.
set -euo pipefail
pack=$1 dest=$2
nodes=${SLURM_JOB_NUM_NODES:?stage-env.sh runs inside a Slurm job (SLURM_JOB_NUM_NODES is unset)}
if [ ! -f "$pack" ]; then
    echo "stage-env: $pack not found; build it once on the login node (README: Frontier setup," \
         "packed training environment) or set slurm.launch.stage_env: null" >&2
    exit 2
fi
start=$(date +%s)
mkdir -p "$(dirname "$dest")"
# OLCF: a failed sbcast can leave partial files that later fail in confusing ways, so stop here.
if ! sbcast -pf "$pack" "$dest.tar.gz"; then
    echo "stage-env: sbcast $pack -> $dest.tar.gz failed on some node; stopping before the ranks start" >&2
    exit 3
fi
unzip=gzip
command -v pigz > /dev/null && unzip=pigz
# One task per node unpacks; conda-unpack (conda-pack's) fixes the prefixes baked into the env.
srun --nodes="$nodes" --ntasks-per-node=1 bash -c "set -e; rm -rf '$dest'; mkdir -p '$dest'
    tar --use-compress-program=$unzip -xf '$dest.tar.gz' -C '$dest'; rm -f '$dest.tar.gz'
    if [ -f '$dest/bin/conda-unpack' ]; then '$dest/bin/python' '$dest/bin/conda-unpack'; fi"
echo "stage-env: $pack -> $dest on $nodes node(s) in $(( $(date +%s) - start )) s" >&2
