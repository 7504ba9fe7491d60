"""The login node's checks, in the order a first day meets them: conda, modules, account, paths and
where the conda envs live, Hugging Face token, the DTN cluster and the route to it, the queue. Each
returns one Outcome; none raises."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from cpt.preflight.outcome import Outcome, failed, passed
from cpt.preflight.site import Site

ENV_SH = "source profiles/frontier/env.sh"


def conda_version(site: Site) -> Outcome:
    """Snakemake 9's conda deployment refuses a conda older than its MIN_CONDA_VER (24.7.1)."""
    from packaging.version import InvalidVersion, Version
    from snakemake.deployment.conda import MIN_CONDA_VER

    miniforge, _ = site.expand(site.sources["conda"]["miniforge"])
    fix = (f"install Miniforge in Project Home (README: Frontier setup): bash Miniforge3-Linux-x86_64.sh -b -p "
           f"{miniforge}, then {ENV_SH} (it puts {miniforge}/bin first); or load a miniforge3 module whose conda "
           f"is >= {MIN_CONDA_VER} in env.sh and sources.yaml")
    code, out = site.run(["conda", "--version"])
    if code:
        return failed("conda", f"`conda --version` failed: {out}", fix)
    where = shutil.which("conda", path=site.env.get("PATH"))
    try:
        too_old = Version(out.split()[-1]) < Version(MIN_CONDA_VER)
    except (InvalidVersion, IndexError):
        return failed("conda", f"`conda --version` printed {out!r}, not a version", fix)
    if too_old:
        return failed("conda", f"{where} is {out}; Snakemake 9 needs conda >= {MIN_CONDA_VER}", fix)
    return passed("conda", f"{out} at {where} (>= {MIN_CONDA_VER})")


def modules_loaded(site: Site) -> Outcome:
    """Every module env.sh loads (profiles/frontier/sources.yaml) is in Lmod's LOADEDMODULES."""
    loaded = [m for m in site.env.get("LOADEDMODULES", "").split(":") if m]
    wanted = [m["name"] for m in site.sources["modules"]]
    # an unversioned name (rccl-net-plugin) is satisfied by the default version Lmod chose
    missing = [w for w in wanted if not any(m == w or ("/" not in w and m.startswith(w + "/")) for m in loaded)]
    if missing:
        return failed("modules", f"not loaded: {' '.join(missing)}",
                      f"{ENV_SH} in this shell; if a module load fails there, `module avail <name>` and update "
                      "env.sh with profiles/frontier/sources.yaml")
    return passed("modules", " ".join(wanted))


def account(site: Site) -> Outcome:
    """sbatch -A comes from slurm.account_env; Orion and Project Home paths use the lowercase id."""
    name = site.config["slurm"]["account_env"]
    value = site.env.get(name, "")
    if not value:
        return failed("account", f"{name} is unset (sbatch -A and the project paths come from it)",
                      f"export {name}=<project id, lowercase> before {ENV_SH}")
    if value != value.lower():
        return failed("account", f"{name}={value}: the paths built from it ($PROJWORK/{value}, /ccs/proj/{value}) "
                      "do not exist; OLCF's paths use the lowercase id", f"export {name}={value.lower()}")
    return passed("account", f"{name}={value}")


def paths(site: Site) -> list[tuple[str, str]]:
    """(what, path as configured) of every area the run writes from the login node or its jobs."""
    pack = (site.config["slurm"]["launch"].get("stage_env") or {}).get("pack")
    found = [("workdir (results/)", str(site.cwd)), ("HF_HOME (hub cache)", "$HF_HOME"),
             ("conda envs (SNAKEMAKE_CONDA_PREFIX)", "$SNAKEMAKE_CONDA_PREFIX")]
    return found + ([("packed training env", str(Path(pack).parent))] if pack else [])


def writable(site: Site, what: str, configured: str) -> Outcome:
    """A file can be created (and removed) in `configured` or its nearest existing ancestor."""
    name = f"writable {what}"
    path, missing = site.expand(configured)
    if missing:
        return failed(name, f"{configured}: {', '.join(missing)} unset", f"{ENV_SH} (with CPT_ACCOUNT exported)")
    existing = Path(path)
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    try:
        with tempfile.NamedTemporaryFile(dir=existing, prefix=".cpt-preflight-"):
            pass
    except OSError as err:
        return failed(name, f"{path}: cannot create a file in {existing} ({err.strerror})",
                      "check the project id (CPT_ACCOUNT), the group permissions and the quota (`lfs quota`, "
                      "`df -h /ccs/proj/<id>`)")
    return passed(name, path)


def conda_placement(site: Site) -> Outcome:
    """Conda envs outside Orion: a file no job imported within the purge window is deleted."""
    prefix = site.env.get("SNAKEMAKE_CONDA_PREFIX")
    if not prefix:
        return failed("conda envs placement", "SNAKEMAKE_CONDA_PREFIX is unset (Snakemake would put the envs in "
                      "the workdir's .snakemake/, on Orion)", ENV_SH)
    if site.purged(Path(prefix)):
        return failed("conda envs placement", f"SNAKEMAKE_CONDA_PREFIX={prefix} is on Orion, purged file by file "
                      f"after {site.config['slurm']['planner']['purge_days']:g} days unread",
                      "unset it and source profiles/frontier/env.sh (Project Home: $CPT_PROJECT_HOME/cpt/conda-envs)")
    return passed("conda envs placement", f"{prefix} (not purged)")


def hf_token(site: Site) -> Outcome:
    """The token outside Orion: env.sh moves HF_HOME to scratch, and huggingface_hub looks for the token
    there unless HF_TOKEN_PATH says otherwise."""
    days = site.config["slurm"]["planner"]["purge_days"]
    exported = [k for k in site.sources["jobs_scrub"]["unset"] if site.env.get(k)]
    if exported:
        return failed("HF token", f"{' and '.join(exported)} exported: the Slurm plugin submits with --export=ALL, "
                      "so every job's environment would hold it", f"unset {' '.join(exported)}; keep the token in "
                      "the file at HF_TOKEN_PATH (`hf auth login`), which downloads and publishing read")
    where = site.env.get("HF_TOKEN_PATH")
    if not where:
        return failed("HF token", "HF_TOKEN_PATH is unset: huggingface_hub would look in $HF_HOME/token on Orion, "
                      f"which purges files unread for {days:g} days", ENV_SH)
    token = Path(where)
    if site.purged(token):
        return failed("HF token", f"HF_TOKEN_PATH={token} is on Orion (purged after {days:g} days unread)",
                      "keep it in the home directory: export HF_TOKEN_PATH=$HOME/.cache/huggingface/token")
    try:
        readable = bool(token.read_text().strip())
    except OSError as err:
        readable, why = False, err.strerror
    else:
        why = "empty"
    if not readable:
        return failed("HF token", f"{token}: {why} (the gated Llama download and publishing need it)",
                      f"`hf auth login` after {ENV_SH} writes it there (a token that can read meta-llama)")
    return passed("HF token", f"{token} (not purged)")


def clusters(site: Site) -> list[Outcome]:
    """Each extra Slurm cluster of the config (OLCF's DTN) answers `sinfo -M` and has its partitions."""
    found = []
    for cluster, spec in site.config["slurm"].get("clusters", {}).items():
        name = f"cluster {cluster}"
        code, out = site.run(["sinfo", "-M", cluster, "-h", "-o", "%P"])
        if code:
            found.append(failed(name, f"`sinfo -M {cluster}` failed: {out}",
                                "ask help@olcf.ornl.gov under which name a login node reaches it, then set "
                                "slurm.clusters in config.yaml (download_source runs there)"))
            continue
        have = {line.strip().rstrip("*") for line in out.splitlines() if line.strip() and ":" not in line}
        missing = [p for p in spec["partitions"] if p not in have]
        if missing:
            found.append(failed(name, f"no partition {', '.join(missing)} on {cluster} (it has: "
                                f"{', '.join(sorted(have)) or 'none'})",
                                f"name one of those in slurm.clusters.{cluster}.partitions"))
            continue
        found.append(passed(name, f"answers; partitions {', '.join(sorted(have))}"))
        found.append(route(site, cluster, next(iter(spec["partitions"]))))
    return found


def route(site: Site, cluster: str, partition: str) -> Outcome:
    """A job can be submitted there from here, with this account (sbatch --test-only submits nothing)."""
    account = site.env.get(site.config["slurm"]["account_env"], "")
    argv = ["sbatch", "-M", cluster, "-p", partition, *(["-A", account] if account else []), "-N", "1", "-t", "1",
            "--test-only", "--wrap=true"]
    code, out = site.run(argv)
    if code:
        return failed(f"route {cluster}", f"`{' '.join(argv)}` failed: {out}",
                      f"check the account and slurm.clusters.{cluster}; OLCF documents only `sbatch -M frontier "
                      f"--export=NONE` from a DTN, so ask help@olcf.ornl.gov how a login node submits to {cluster}")
    return passed(f"route {cluster}", out.splitlines()[-1] if out else "sbatch --test-only accepted")


def queue(site: Site) -> Outcome:
    """Jobs already queued plus what the profile submits at once must stay under OLCF's per-user limit."""
    limits = site.sources["queue"]
    code, out = site.run(["squeue", "--me", "-h", "-o", "%i"])
    if code:
        return failed("queue", f"`squeue --me` failed: {out}", "rerun on a Frontier login node")
    queued = sum(1 for line in out.splitlines() if line.strip() and ":" not in line)
    jobs, limit = int(site.profile["jobs"]), int(limits["queued_jobs_per_user"])
    text = f"{queued} of your jobs queued, the profile submits up to {jobs}, OLCF allows {limit} per user"
    if queued + jobs > limit:
        return failed("queue", text + ": submissions past the limit are refused",
                      "scancel what you do not need (squeue --me), or lower `jobs` in profiles/frontier/config.yaml")
    return passed("queue", text)


def run(site: Site) -> list[Outcome]:
    return [conda_version(site), modules_loaded(site), account(site),
            *(writable(site, what, path) for what, path in paths(site)), conda_placement(site),
            hf_token(site), *clusters(site),
            queue(site)]
