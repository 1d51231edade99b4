"""One writer per run directory: the lock file, its holder, ``--wait``, a killed holder's lock
taken over, and an unwritable or full output folder as one line."""

from __future__ import annotations

import errno
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from disentangle_bench.cli import main
from disentangle_bench.pipeline import running
from disentangle_bench.util.lock import RUN_LOCK_FILE, LockHeldError, exclusive_lock, read_holder

TINY = str(Path(__file__).parent / "configs" / "tiny.gin")
HOLD = """
import sys, time
from disentangle_bench.util.lock import exclusive_lock
with exclusive_lock(sys.argv[1], what="a test"):
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def hold(path: Path, seconds: float) -> subprocess.Popen:
    """Another process holding the lock ``path`` for ``seconds``."""
    process = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(path), str(seconds)], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout.readline().strip() == "held"
    return process


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("bench: error: ")
    return err[0]


def test_a_held_lock_names_its_holder_and_a_killed_holders_lock_is_taken_over(tmp_path):
    lock = tmp_path / "dir" / RUN_LOCK_FILE
    holder = hold(lock, 60)
    try:
        with pytest.raises(LockHeldError) as refused, exclusive_lock(lock, what="dir"):
            pass
        assert refused.value.holder.pid == holder.pid
        assert str(refused.value).startswith(
            f"dir is in use by pid {holder.pid} on {socket.gethostname()} since "
        )
        assert str(refused.value).endswith(f"(lock {lock})")
    finally:
        holder.send_signal(signal.SIGKILL)  # no clean-up runs: the file still names it
        holder.wait()
    assert read_holder(lock).pid == holder.pid
    started = time.monotonic()
    with exclusive_lock(lock, what="dir"):  # the kernel released the dead holder's flock
        assert time.monotonic() - started < 5
        record = json.loads(lock.read_text())
        assert record["pid"] == os.getpid() and record["host"] == socket.gethostname()
    assert lock.exists() and lock.read_text() == ""  # released: emptied, never deleted


def test_wait_blocks_until_the_holder_is_done(tmp_path):
    lock = tmp_path / RUN_LOCK_FILE
    holder = hold(lock, 1.5)
    seen = []
    started = time.monotonic()
    with exclusive_lock(lock, what="dir", wait=True, on_wait=seen.append):
        waited = time.monotonic() - started  # the holder slept 1.5 s after taking the lock
        assert json.loads(lock.read_text())["pid"] == os.getpid()
    holder.wait()
    assert [h.pid for h in seen] == [holder.pid]
    assert waited > 1.0


def test_a_second_bench_run_on_the_same_out_exits_2_naming_the_holder(tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["run", "--gin", TINY, "--out", str(out), "--device", "cpu", "--bind", "train.steps=2"]
    holder = hold(out / RUN_LOCK_FILE, 60)
    try:
        assert main(argv) == 2
        line = one_error_line(capsys)
        assert f"run directory {out} is in use by pid {holder.pid} on " in line
        assert line.endswith(
            f"(lock {out / RUN_LOCK_FILE}); wait for it to finish, or pass --wait to start when it "
            "does"
        )
        assert sorted(p.name for p in out.iterdir()) == [RUN_LOCK_FILE]  # nothing else written
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert main(argv) == 0  # the killed holder's lock is taken over
    assert (out / "results.json").is_file()
    capsys.readouterr()

    holder = hold(out / RUN_LOCK_FILE, 2)
    assert main([*argv, "--wait"]) == 0
    holder.wait()
    assert f"waiting for pid {holder.pid} on " in capsys.readouterr().out


def test_bench_run_holds_the_lock_while_it_writes_and_releases_it(tmp_path, monkeypatch):
    out = tmp_path / "out"
    seen = []

    def probe(run, registry, run_dir, device):
        with pytest.raises(LockHeldError) as refused, exclusive_lock(out / RUN_LOCK_FILE, what="x"):
            pass
        seen.append(refused.value.holder.pid)
        raise KeyboardInterrupt

    monkeypatch.setattr(running, "execute_run", probe)
    with pytest.raises(KeyboardInterrupt):
        running.run_experiment([TINY], out_dir=out, device="cpu")
    assert seen == [os.getpid()]
    with exclusive_lock(out / RUN_LOCK_FILE, what="x", wait=False):
        pass  # released when the run stopped


def test_an_unusable_out_is_one_line_before_anything_is_written(tmp_path, monkeypatch, capsys):
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    base = ["run", "--gin", TINY, "--device", "cpu"]
    assert main([*base, "--out", str(a_file)]) == 2
    assert one_error_line(capsys) == (
        f"bench: error: --out {a_file} is a file, not a directory; choose another --out"
    )
    below = a_file / "out"
    assert main([*base, "--out", str(below)]) == 2
    line = one_error_line(capsys)
    assert line.startswith(
        f"bench: error: cannot create the lock file {below / RUN_LOCK_FILE} of run directory "
        f"{below}: "
    )
    assert "a-file" in line and a_file.read_text() == "x"

    def full(path, text):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(running, "atomic_write_text", full)
    out = tmp_path / "out"
    assert main([*base, "--out", str(out)]) == 2
    assert one_error_line(capsys) == (
        f"bench: error: cannot write the runs in {out}: {out / 'config.gin'}: No space left on "
        "device: the disk is full"
    )


@pytest.mark.skipif(os.geteuid() == 0, reason="chmod does not stop root")
def test_a_read_only_out_is_one_line(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir(mode=0o500)
    try:
        assert main(["run", "--gin", TINY, "--device", "cpu", "--out", str(out)]) == 2
    finally:
        out.chmod(0o700)
    line = one_error_line(capsys)
    assert f"cannot create the lock file {out / RUN_LOCK_FILE}" in line
    assert "Permission denied" in line


def test_the_sweep_worker_uses_the_same_lock(tmp_path, monkeypatch):
    from disentangle_bench.sweeping import worker

    calls = []

    def recorder(path, **options):
        calls.append((Path(path), options))
        raise LockHeldError("held", None)

    monkeypatch.setattr(worker, "exclusive_lock", recorder)
    with pytest.raises(LockHeldError):
        worker.run_in_this_process(tmp_path / "run")
    assert calls == [(tmp_path / "run" / ".lock", {"what": "run run", "wait": True})]
