# Source once per Frontier login session, before `snakemake --profile frontier`:
#   source profiles/frontier/env.sh
# Jobs inherit this environment (the Slurm plugin submits with --export=ALL). Settings
# that only make sense inside a job are in job-env.sh, which every rule's bash reads
# through BASH_ENV. Follows OLCF's PyTorch-on-Frontier guidance; adjust versions here.

module load PrgEnv-gnu rocm craype-accel-amd-gfx90a

# RCCL over Slingshot-11 needs the aws-ofi-rccl plugin (libfabric cxi provider).
: "${AWS_OFI_RCCL_DIR:?set AWS_OFI_RCCL_DIR to your aws-ofi-rccl build (its lib/ holds librccl-net.so)}"
export LD_LIBRARY_PATH="${AWS_OFI_RCCL_DIR}/lib:${LD_LIBRARY_PATH}"
export NCCL_SOCKET_IFNAME=hsn0 GLOO_SOCKET_IFNAME=hsn0
export NCCL_NET_GDR_LEVEL=3     # GPU-direct RDMA; remove if collectives hang
export NCCL_CROSS_NIC=1
export FI_CXI_ATS=0
export FI_CXI_DEFAULT_CQ_SIZE=131072
export FI_CXI_DISABLE_HOST_REGISTER=1
export FI_MR_CACHE_MONITOR=userfaultfd

# HF cache on the shared filesystem: the login node fills it, compute nodes read it.
export HF_HOME="${HF_HOME:-${MEMBERWORK:?MEMBERWORK is unset: not on an OLCF system?}/${CPT_ACCOUNT:?export CPT_ACCOUNT=<project>}/hf}"

export BASH_ENV="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/job-env.sh"
