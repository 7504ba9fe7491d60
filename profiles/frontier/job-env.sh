# Read by every non-interactive bash (BASH_ENV, set by env.sh); acts only inside a Slurm job, so
# the login node (downloads, publishing) keeps its environment. The Slurm plugin submits with
# --export=ALL (and refuses --export in slurm_extra): jobs arrive with the login session's.
# Each value's reason and OLCF source: profiles/frontier/sources.yaml.
if [ -n "${SLURM_JOB_ID:-}" ]; then
    # Only the publishing rule (a localrule, on the login node) needs an exported token; jobs that
    # download read the token file at HF_TOKEN_PATH.
    unset HF_TOKEN HUGGING_FACE_HUB_TOKEN
fi
if [ -n "${SLURM_JOB_ID:-}" ] && [ "${SLURM_CLUSTER_NAME:-frontier}" != frontier ]; then
    # A data-transfer-node job (sbatch -M dtn) starts clean, as OLCF's --export=NONE would: Frontier's
    # programming environment (LD_LIBRARY_PATH, modules, RCCL settings) is not the DTN's. Kept: who
    # and where (HOME, USER, LOGNAME, LANG, LC_*, TMPDIR), Slurm's and Snakemake's thread counts,
    # and what the download needs (HF_HOME, HF_TOKEN_PATH); conda's activation then adds its env.
    for cpt_var in $(compgen -e); do
        case "$cpt_var" in
            HOME|USER|LOGNAME|LANG|LC_*|TMPDIR|SLURM_*|*_NUM_THREADS|HF_HOME|HF_TOKEN_PATH) ;;
            *) unset "$cpt_var" ;;
        esac
    done
    unset cpt_var
    export PATH=/usr/local/bin:/usr/bin:/bin
elif [ -n "${SLURM_JOB_ID:-}" ]; then
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
