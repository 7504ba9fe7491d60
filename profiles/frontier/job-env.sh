# Read by every non-interactive bash (BASH_ENV, set by env.sh); acts only inside a Slurm job
# on Frontier's compute nodes, so the login node and the data-transfer-node jobs (another Slurm
# cluster, sbatch -M) keep internet access for downloads.
# Each value's reason and OLCF source: profiles/frontier/sources.yaml.
if [ -n "${SLURM_JOB_ID:-}" ] && [ "${SLURM_CLUSTER_NAME:-frontier}" = frontier ]; then
    # Multi-node: RCCL must load the OFI plugin or exit (no silent TCP fallback). One node
    # has no network the plugin can use (OLCF), so its collectives stay on sockets/xGMI.
    if [ "${SLURM_JOB_NUM_NODES:-1}" -gt 1 ]; then
        export NCCL_NET=OFI
    else
        export NCCL_NET=Socket
    fi
    # Compute nodes have no internet: never wait on the hub, read the shared HF cache.
    export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1
    # MIOpen's database on node-local storage: no disk I/O errors on shared storage.
    export MIOPEN_USER_DB_PATH="/tmp/miopen-${SLURM_JOB_ID}"
    export MIOPEN_CUSTOM_CACHE_DIR="${MIOPEN_USER_DB_PATH}"
    mkdir -p "${MIOPEN_USER_DB_PATH}"
fi
