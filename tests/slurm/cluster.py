"""A one-machine Slurm cluster for the tests: slurmctld plus two slurmd fake nodes (n1, n2)
on this host, with partitions named as on Frontier (batch, extended) so the real config's
requests apply. Daemons start directly (no systemd); `down` stops only the daemons `up`
started, by the PIDs it recorded.

    python tests/slurm/cluster.py up [--state DIR]     # installs slurm-wlm + munge if missing (root, apt)
    python tests/slurm/cluster.py down [--state DIR]

Facts this relies on (Debian 12, Slurm 22.05): the Snakemake plugin drops SLURM_CONF
inside jobs, so slurm.conf must be /etc/slurm/slurm.conf; without slurmdbd, sacct fails,
so the profile queries squeue; DefMemPerCPU keeps jobs from each taking a whole node.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

CONF = Path("/etc/slurm/slurm.conf")
STATE = Path("/tmp/cpt-slurm")
NODES = ("n1", "n2")
MARKER = "# written by tests/slurm/cluster.py"


class ClusterError(RuntimeError):
    """The cluster cannot be brought up here; the message says why."""


def unavailable_reason() -> str | None:
    """Why this machine cannot host the cluster, or None."""
    if os.geteuid() != 0:
        return "not root: installing Slurm and starting its daemons needs root"
    if not shutil.which("slurmctld") and not shutil.which("apt-get"):
        return "Slurm is not installed and apt-get is unavailable to install it"
    return None


def install() -> None:
    """slurm-wlm and munge from the distribution, unless already there."""
    if shutil.which("slurmctld") and shutil.which("munged"):
        return
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "slurm-wlm", "munge"]):
        result = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if result.returncode != 0:
            raise ClusterError(f"{' '.join(cmd)} failed: {result.stderr[-2000:]}")


def slurm_conf(state: Path) -> str:
    host = socket.gethostname()
    cpus = os.cpu_count() or 2
    return f"""{MARKER}; state in {state}
ClusterName=cpt
SlurmctldHost={host}(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation={state}/ctld
SlurmdSpoolDir={state}/d/%n
SlurmctldPidFile={state}/slurmctld.pid
SlurmdPidFile={state}/slurmd.%n.pid
SlurmctldLogFile={state}/slurmctld.log
SlurmdLogFile={state}/slurmd.%n.log
SlurmctldPort=6817
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc={state}/jobcomp.txt
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=100
ReturnToService=2
MpiDefault=none
SwitchType=switch/none
NodeName=n[1-2] NodeHostname={host} NodeAddr=127.0.0.1 Port=[17001-17002] CPUs={cpus} RealMemory=2000
PartitionName=batch Nodes=n[1-2] Default=YES MaxTime=INFINITE State=UP
PartitionName=extended Nodes=n[1-2] MaxTime=INFINITE State=UP
"""


def start(name: str, cmd: list[str], pid_file: Path, state: Path, started: dict) -> None:
    """Run a daemon (it forks) and record its PID, from the pid file it writes, under `name`."""
    pid_file.unlink(missing_ok=True)
    subprocess.run(cmd, check=True, capture_output=True)
    for _ in range(100):
        if pid_file.exists() and pid_file.read_text().strip():
            started[name] = started.get(name, []) + [int(pid_file.read_text())]
            (state / "started.json").write_text(json.dumps(started))
            return
        time.sleep(0.05)
    raise ClusterError(f"{' '.join(cmd)} wrote no pid file {pid_file}; see the logs in {state}")


def munged_running() -> bool:
    return subprocess.run(["munge", "-n"], capture_output=True).returncode == 0


def up(state: Path = STATE, timeout: float = 30) -> None:
    """Install if needed, write slurm.conf, start munged (if none runs), slurmctld, two slurmd."""
    reason = unavailable_reason()
    if reason:
        raise ClusterError(reason)
    install()
    if CONF.exists():
        head = CONF.read_text().split("\n", 1)[0]
        if not head.startswith(MARKER):
            raise ClusterError(f"{CONF} exists and was not written by this script; move it away first")
        down(Path(head.split("state in ", 1)[1]))   # a cluster this script started earlier
    for sub in ("ctld", "d/n1", "d/n2"):
        (state / sub).mkdir(parents=True, exist_ok=True)
    CONF.write_text(slurm_conf(state))
    try:
        start_daemons(state)
        wait_idle(state, timeout)
    except Exception:
        down(state)
        raise


def start_daemons(state: Path) -> None:
    """munged (unless one runs), slurmctld, one slurmd per fake node; PIDs to state/started.json."""
    started: dict[str, list[int]] = {}
    if not munged_running():
        for d in ("/run/munge", "/var/log/munge", "/var/lib/munge"):
            Path(d).mkdir(parents=True, exist_ok=True)
            shutil.chown(d, "munge", "munge")
        start("munged", ["runuser", "-u", "munge", "--", "/usr/sbin/munged"], Path("/run/munge/munged.pid"),
              state, started)
    start("slurmctld", ["slurmctld", "-i"], state / "slurmctld.pid", state, started)
    for node in NODES:
        start("slurmd", ["slurmd", "-N", node], state / f"slurmd.{node}.pid", state, started)


def wait_idle(state: Path, timeout: float) -> None:
    deadline, states = time.time() + timeout, ""
    while time.time() < deadline:
        states = subprocess.run(["sinfo", "-h", "-N", "-o", "%N %t"], capture_output=True, text=True).stdout
        if states.count("idle") >= len(NODES):
            return
        time.sleep(0.5)
    raise ClusterError(f"nodes not idle after {timeout} s (sinfo: {states.strip()!r}); see {state}/*.log")


def cancel_jobs(timeout: float = 15) -> None:
    """Cancel every job of the cluster and wait for them: a job's slurmstepd and ranks would
    outlive the daemons (and hold ports) if the cluster stopped under them."""
    ids = subprocess.run(["squeue", "-h", "-o", "%i"], capture_output=True, text=True).stdout.split()
    if not ids:
        return
    subprocess.run(["scancel", "--full", *ids], capture_output=True)
    deadline = time.time() + timeout
    while time.time() < deadline and subprocess.run(["squeue", "-h"], capture_output=True, text=True).stdout.strip():
        time.sleep(0.5)


def down(state: Path = STATE) -> None:
    """Stop the daemons `up` recorded (slurmd, slurmctld, then munged if it started it), and
    remove the slurm.conf it wrote for them."""
    record = state / "started.json"
    if record.exists():
        cancel_jobs()
    if CONF.exists() and CONF.read_text().startswith(f"{MARKER}; state in {state}\n"):
        CONF.unlink()
    if not record.exists():
        return
    started = json.loads(record.read_text())
    for name in ("slurmd", "slurmctld", "munged"):
        for pid in started.get(name, []):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
            for _ in range(100):
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.05)
    record.unlink()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("action", choices=["up", "down"])
    parser.add_argument("--state", type=Path, default=STATE, help="daemons' state, logs and pid files")
    args = parser.parse_args()
    try:
        up(args.state) if args.action == "up" else down(args.state)
    except ClusterError as e:
        print(f"cluster: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
