# Read by every non-interactive bash (BASH_ENV, set by env.sh); acts only inside a Slurm
# job, so localrules on the login node keep internet access for downloads.
if [ -n "${SLURM_JOB_ID:-}" ]; then
    # Compute nodes have no internet: never wait on the hub, read the shared HF cache.
    export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1
    # MIOpen's kernel database on node-local storage: no Lustre locking between ranks.
    export MIOPEN_USER_DB_PATH="/tmp/miopen-${SLURM_JOB_ID}"
    export MIOPEN_CUSTOM_CACHE_DIR="${MIOPEN_USER_DB_PATH}"
    mkdir -p "${MIOPEN_USER_DB_PATH}"
fi
