# Source once per Frontier login session, before `snakemake --profile frontier`:
#   export CPT_ACCOUNT=<project>; source profiles/frontier/env.sh
# Jobs inherit this environment (the Slurm plugin submits with --export=ALL). Settings that
# only make sense inside a job are in job-env.sh, read by every rule's bash through BASH_ENV.
# Each value's reason and OLCF source: profiles/frontier/sources.yaml (a test keeps the two equal).

# ROCm 7.2 = the torch wheel's (envs/train.yaml); CPE 26.03 is non-default, hence LD_LIBRARY_PATH.
# rccl-net-plugin: OLCF's build of upstream aws-ofi-nccl for the loaded rocm (load after it).
module load PrgEnv-gnu/8.7.0 cpe/26.03 rocm/7.2.0 rccl-net-plugin craype-accel-amd-gfx90a miniforge3/23.11.0-0
export LD_LIBRARY_PATH="${CRAY_LD_LIBRARY_PATH}:${LD_LIBRARY_PATH}"

# RCCL on Slingshot (OLCF's list for the aws-ofi-nccl plugin; rccl-net-plugin sets most of
# these too: set here so a job gets them whatever the module version sets).
export NCCL_SOCKET_IFNAME=hsn0,hsn1,hsn2,hsn3   # all four NICs; OLCF: try hsn0 alone only if it hangs
export NCCL_CROSS_NIC=1
export NCCL_NET_GDR_LEVEL=PHB
export HSA_FORCE_FINE_GRAIN_PCIE=1
export FI_MR_CACHE_MONITOR=kdreg2               # never memhooks: deadlocks with the plugin
export FI_CXI_DISABLE_HOST_REGISTER=1
export FI_CXI_DEFAULT_CQ_SIZE=131072
export FI_CXI_DEFAULT_TX_SIZE=2048
export FI_CXI_RX_MATCH_MODE=hybrid
export FI_CXI_RDZV_PROTO=alt_read               # with sbatch --network=disable_rdzv_get (train_segment)
export FI_CXI_RDZV_EAGER_SIZE=0
export FI_CXI_RDZV_THRESHOLD=0
export FI_CXI_RDZV_GET_MIN=0

# HF cache on Orion: the login node fills it, compute nodes read it.
export HF_HOME="${HF_HOME:-${MEMBERWORK:?MEMBERWORK is unset: not on an OLCF system?}/${CPT_ACCOUNT:?export CPT_ACCOUNT=<project>}/hf}"

# The HF token stays in the home directory (not purged): with HF_HOME on scratch, huggingface_hub
# would look for it there.
export HF_TOKEN_PATH="${HF_TOKEN_PATH:-${HOME}/.cache/huggingface/token}"

# Project Home: NFS, never purged, read/write on compute nodes. Snakemake 9 refuses conda older than
# 24.7.1 and the miniforge3/23.11.0-0 module's conda is 23.11: a Miniforge installed there once
# (README: Frontier setup) goes first on PATH.
export CPT_PROJECT_HOME="${CPT_PROJECT_HOME:-/ccs/proj/${CPT_ACCOUNT}}"
if [ -x "${CPT_PROJECT_HOME}/cpt/miniforge3/bin/conda" ]; then
    export PATH="${CPT_PROJECT_HOME}/cpt/miniforge3/bin:${PATH}"
fi
# Where Snakemake creates the rules' conda envs (read by snakemake itself, not by the profile, so that
# an unset variable stops here instead of naming a directory '$PROJWORK'): Project Home, not Orion.
export SNAKEMAKE_CONDA_PREFIX="${SNAKEMAKE_CONDA_PREFIX:-${CPT_PROJECT_HOME}/cpt/conda-envs}"

export BASH_ENV="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/job-env.sh"
