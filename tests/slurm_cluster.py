"""A throw-away single-node SLURM cluster (munged + slurmctld + slurmd) for the real SLURM test.

Everything lives in one temporary folder: the munge key and socket, slurm.conf (cons_tres, no
accounting), state and spool folders, logs. Ports are free ones picked at start, so it does not
collide with a real cluster on the same machine. Clients (sbatch, squeue, scancel) find it through
SLURM_CONF in ``env``. ``stop()`` kills exactly the daemons it started, by pid.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

DAEMONS = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "srun", "sinfo", "scancel")


def missing_tools() -> list[str]:
    """The SLURM/munge executables not on PATH (or in /usr/sbin)."""
    path = f"{os.environ.get('PATH', '')}:/usr/sbin:/sbin"
    return [d for d in DAEMONS if shutil.which(d, path=path) is None]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _which(name: str) -> str:
    return shutil.which(name, path=f"{os.environ.get('PATH', '')}:/usr/sbin:/sbin") or name


class SlurmCluster:
    """Start with ``start()``; ``env`` is the environment for clients; always call ``stop()``."""

    def __init__(self, root: Path, cpus: int = 2, memory_mb: int = 8000) -> None:
        self.root = Path(root)
        self.cpus, self.memory_mb = cpus, memory_mb
        self.procs: dict[str, subprocess.Popen] = {}
        self.env = dict(os.environ)

    def _write_config(self) -> Path:
        r = self.root
        for d in ("state", "spool", "munge", "log"):
            (r / d).mkdir(parents=True, exist_ok=True)
        os.chmod(r / "munge", 0o700)
        key = r / "munge" / "munge.key"
        key.write_bytes(os.urandom(1024))
        os.chmod(key, 0o400)
        host = socket.gethostname().split(".")[0]
        conf = r / "slurm.conf"
        conf.write_text(f"""\
ClusterName=sagrtest
SlurmctldHost={host}(127.0.0.1)
SlurmctldPort={_free_port()}
SlurmdPort={_free_port()}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket={r}/munge/munge.socket
CredType=cred/munge
StateSaveLocation={r}/state
SlurmdSpoolDir={r}/spool
SlurmctldPidFile={r}/slurmctld.pid
SlurmdPidFile={r}/slurmd.pid
SlurmctldLogFile={r}/log/slurmctld.log
SlurmdLogFile={r}/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
SchedulerType=sched/backfill
MpiDefault=none
ReturnToService=2
MinJobAge=3600
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
KillWait=5
Waittime=0
NodeName=sagrnode NodeAddr=127.0.0.1 NodeHostname={host} CPUs={self.cpus} RealMemory={self.memory_mb} State=UNKNOWN
PartitionName=gpu Nodes=sagrnode Default=YES MaxTime=INFINITE State=UP
PartitionName=cpu Nodes=sagrnode MaxTime=INFINITE State=UP
""")
        return conf

    def start(self, timeout: float = 60) -> None:
        """munged, then slurmctld, then slurmd (all in the foreground, so their pids are ours); wait for the node."""
        conf = self._write_config()
        r = self.root
        self.env["SLURM_CONF"] = str(conf)
        # snakemake-executor-plugin-slurm-jobstep strips every SLURM_* variable, SLURM_CONF included,
        # before its nested srun; a real cluster's config sits at the default path. This srun shim,
        # first on the PATH that sbatch exports to the job, points srun back at this cluster.
        (r / "bin").mkdir(exist_ok=True)
        shim = r / "bin" / "srun"
        shim.write_text(f'#!/bin/sh\nSLURM_CONF={conf} exec {_which("srun")} "$@"\n')
        shim.chmod(0o755)
        self.env["PATH"] = f"{r / 'bin'}:{self.env.get('PATH', '')}"
        log = open(r / "log" / "daemons.out", "ab")
        self.procs["munged"] = subprocess.Popen(
            [
                _which("munged"),
                "--foreground",
                "--force",
                f"--key-file={r}/munge/munge.key",
                f"--socket={r}/munge/munge.socket",
                f"--pid-file={r}/munge/munged.pid",
                f"--log-file={r}/log/munged.log",
                f"--seed-file={r}/munge/munged.seed",
            ],
            stdout=log,
            stderr=log,
        )
        self._wait(lambda: (r / "munge" / "munge.socket").exists(), timeout, "munged socket")
        self.procs["slurmctld"] = subprocess.Popen(
            [_which("slurmctld"), "-D", "-i", "-f", str(conf)], env=self.env, stdout=log, stderr=log
        )
        self.procs["slurmd"] = subprocess.Popen(
            [_which("slurmd"), "-D", "-f", str(conf), "-N", "sagrnode"], env=self.env, stdout=log, stderr=log
        )
        self._wait(self._node_idle, timeout, "node sagrnode idle")

    def _node_idle(self) -> bool:
        out = subprocess.run(
            [_which("sinfo"), "-h", "-N", "-o", "%T"], env=self.env, capture_output=True, text=True
        )
        return out.returncode == 0 and out.stdout.strip().startswith("idle")

    def _wait(self, ready, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            dead = [n for n, p in self.procs.items() if p.poll() is not None]
            if dead or time.monotonic() > deadline:
                raise RuntimeError(
                    f"SLURM test cluster: {what} not ready ({'exited: ' + ', '.join(dead) if dead else 'timeout'})"
                    f"\n{self.logs()}"
                )
            time.sleep(0.2)

    def logs(self) -> str:
        """The tail of every daemon log, for failure messages."""
        parts = []
        for f in sorted((self.root / "log").glob("*")):
            parts.append(f"--- {f.name}\n" + f.read_text(errors="replace")[-2000:])
        return "\n".join(parts)

    def stop(self) -> None:
        """Cancel what is left in the queue, then kill each daemon this object started, by pid."""
        if "slurmctld" in self.procs and self.procs["slurmctld"].poll() is None:
            subprocess.run(
                [_which("scancel"), "--user", str(os.getuid())], env=self.env, capture_output=True, timeout=30
            )
        for name in ("slurmd", "slurmctld", "munged"):
            proc = self.procs.get(name)
            if proc is None or proc.poll() is not None:
                continue
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
