"""Where the runs of a study execute: local worker processes, or Ray tasks on a cluster.

Both start one worker process per run attempt (:mod:`disentangle_bench.sweeping.worker`); an
executor only starts attempts and reports how each ended (exit status 0 = finished). Retries are
the scheduler's (:mod:`disentangle_bench.sweeping.sweep`), so both executors fail the same way:
a crashed or killed worker fails its attempt, never the study.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from disentangle_bench.util.errors import BenchError, ConfigError

EXECUTORS = ("local", "ray")
WORKER_LOG = "worker.log"
RAY_TASK_PID_FILE = "ray_task.pid"


class ClusterError(BenchError):
    """A Ray cluster that cannot be reached or started, or Ray that is not installed."""


@dataclass
class Finished:
    handle: Any
    exit_code: int | None  # None: the worker vanished (killed, node lost)
    detail: str


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Linux: the worker gets SIGKILL when the process that started it dies (no orphans)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def worker_command(run_dir: Path, device: str, attempt: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "disentangle_bench.sweeping.worker",
        str(run_dir),
        "--device",
        device,
        "--attempt",
        str(attempt),
    ]


def start_worker(run_dir: Path, device: str, attempt: int, env: dict[str, str]) -> subprocess.Popen:
    log = open(run_dir / WORKER_LOG, "ab")  # noqa: SIM115 - closed by the child's exit
    log.write(f"--- attempt {attempt} ---\n".encode())
    log.flush()
    try:
        return subprocess.Popen(
            worker_command(run_dir, device, attempt),
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **env},
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
        )
    finally:
        log.close()


def visible_gpus() -> list[str]:
    """The CUDA devices this process may use, as CUDA_VISIBLE_DEVICES entries."""
    import torch

    if not torch.cuda.is_available():
        return []
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    if listed:
        return [d.strip() for d in listed.split(",") if d.strip()][: torch.cuda.device_count()]
    return [str(i) for i in range(torch.cuda.device_count())]


class LocalExecutor:
    """Parallel worker processes: one per visible GPU (pinned with CUDA_VISIBLE_DEVICES), or
    ``jobs`` CPU workers sharing the cores (``OMP_NUM_THREADS`` = cores // jobs)."""

    name = "local"

    def __init__(self, jobs: int | None = None, device: str = "auto") -> None:
        self.gpus = visible_gpus() if device in ("auto", "cuda") else []
        self.capacity = jobs or max(1, len(self.gpus))
        if self.capacity < 1:
            raise ConfigError(f"--jobs must be a positive integer, got {jobs}")
        self.device = device
        self._slots: dict[int, subprocess.Popen | None] = {i: None for i in range(self.capacity)}
        threads = max(1, (os.cpu_count() or 1) // self.capacity)
        self._cpu_env = {"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}

    def describe(self) -> str:
        if self.gpus:
            return f"local: {self.capacity} workers on GPUs {','.join(self.gpus)}"
        return f"local: {self.capacity} CPU workers"

    def start(self, run_dir: Path, attempt: int) -> Any:
        slot = next(i for i, p in self._slots.items() if p is None)
        env = dict(self._cpu_env)
        if self.gpus:
            env = {"CUDA_VISIBLE_DEVICES": self.gpus[slot % len(self.gpus)]}
        process = start_worker(run_dir, self.device, attempt, env)
        self._slots[slot] = process
        return process

    def wait(self, timeout: float) -> list[Finished]:
        deadline = time.monotonic() + timeout
        while True:
            done = []
            for slot, process in self._slots.items():
                if process is not None and process.poll() is not None:
                    self._slots[slot] = None
                    code = process.returncode
                    detail = f"signal {-code}" if code < 0 else f"exit status {code}"
                    done.append(Finished(process, code, detail))
            if done or time.monotonic() >= deadline:
                return done
            time.sleep(0.05)

    def close(self) -> None:
        for process in self._slots.values():
            if process is not None and process.poll() is None:
                process.terminate()
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    process.kill()


def _ray_attempt(run_dir: str, device: str, attempt: int) -> int:
    """The body of a Ray task: write the task's pid, run one worker process, return its status."""
    from disentangle_bench.util.files import atomic_write_text

    path = Path(run_dir)
    atomic_write_text(path / RAY_TASK_PID_FILE, f"{os.getpid()} {attempt}\n")
    process = start_worker(path, device, attempt, {})
    return process.wait()


def check_reachable(address: str, timeout: float = 5.0) -> None:
    """Fail fast on an address whose host:port does not accept connections."""
    if address == "auto":
        return
    hostport = address.split("://", 1)[-1].rstrip("/")
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise ClusterError(f"Ray address {address!r} is not host:port (or ray://host:port, auto)")
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as error:
        raise ClusterError(f"Ray cluster at {address} is unreachable: {error}") from None


class RayExecutor:
    """Each attempt one Ray task (``max_retries=0``: retries are the scheduler's) asking for one
    GPU (``gpus_per_run``) when the cluster has GPUs, else one CPU. ``address`` None starts a
    local cluster with ``jobs`` CPUs; otherwise it connects. Run directories must be on storage
    every node sees, and every node needs this package installed."""

    name = "ray"

    def __init__(
        self,
        address: str | None = None,
        jobs: int | None = None,
        device: str = "auto",
        gpus_per_run: float = 1.0,
    ) -> None:
        if address is not None:
            check_reachable(address)
        try:
            import ray
        except ImportError:
            raise ClusterError(
                "the ray executor needs Ray: pip install 'disentangle-bench[ray]'"
            ) from None
        self.ray = ray
        try:
            if address is None:
                ray.init(
                    num_cpus=jobs or os.cpu_count(),
                    include_dashboard=False,
                    log_to_driver=False,
                    configure_logging=False,
                )
            else:
                ray.init(address=address, log_to_driver=False, configure_logging=False)
        except Exception as error:  # ray raises ConnectionError, RuntimeError, ValueError ...
            raise ClusterError(f"cannot start or join a Ray cluster: {error}") from None
        resources = ray.cluster_resources()
        self.gpus = float(resources.get("GPU", 0.0)) if device != "cpu" else 0.0
        if self.gpus > 0:
            options = {"num_gpus": gpus_per_run, "num_cpus": 1}
            slots = int(self.gpus / gpus_per_run)
        else:
            options = {"num_gpus": 0, "num_cpus": 1}
            slots = int(resources.get("CPU", 1))
        self.capacity = max(1, min(jobs, slots) if jobs else slots)
        self.device = device
        self._remote = ray.remote(max_retries=0, **options)(_ray_attempt)
        self._pending: dict[Any, Any] = {}

    def describe(self) -> str:
        kind = f"{self.gpus:g} GPUs" if self.gpus else "CPUs"
        return f"ray: {self.capacity} concurrent tasks on {kind}"

    def start(self, run_dir: Path, attempt: int) -> Any:
        ref = self._remote.remote(str(run_dir), self.device, attempt)
        self._pending[ref] = run_dir
        return ref

    def wait(self, timeout: float) -> list[Finished]:
        if not self._pending:
            return []
        ready, _ = self.ray.wait(list(self._pending), num_returns=1, timeout=timeout)
        done = []
        for ref in ready:
            self._pending.pop(ref)
            try:
                code = int(self.ray.get(ref))
                detail = f"signal {-code}" if code < 0 else f"exit status {code}"
                done.append(Finished(ref, code, detail))
            except Exception as error:  # WorkerCrashedError, NodeDiedError, RayTaskError
                done.append(Finished(ref, None, f"{type(error).__name__}: ray task lost"))
        return done

    def close(self) -> None:
        for ref in self._pending:
            self.ray.cancel(ref, force=True)
        self.ray.shutdown()


def make_executor(
    name: str, *, jobs: int | None, device: str, ray_address: str | None
) -> LocalExecutor | RayExecutor:
    if name == "local":
        if ray_address is not None:
            raise ConfigError("--ray-address needs --executor ray")
        return LocalExecutor(jobs, device)
    if name == "ray":
        return RayExecutor(ray_address, jobs, device)
    raise ConfigError(f"unknown executor {name!r}; expected one of {', '.join(EXECUTORS)}")
