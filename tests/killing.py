"""What the SIGKILL tests share (test_train_kill.py, test_pretrain_kill.py).

A test runs the real training in a child process (``python -c CHILD``) that stalls at a chosen point: it
writes a marker file and sleeps (no number is changed), so the kill lands where the test says whatever the
machine's speed. The child imports this module (its code starts with :data:`CHILD_PREAMBLE`).

Child side: :func:`stall`, :func:`stall_at_call` (count the calls of a function, stall at the n-th),
:func:`stall_in_second_save` (the second ``torch.save`` writes its first bytes, then stalls: a checkpoint
half written). Parent side: :func:`kill_at_stall` and :func:`run_to_end`.
"""
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
START_TIMEOUT = 120.0  # s, for the child to import torch and write its first checkpoint (about 5 s idle)
STEP_TIMEOUT = 60.0  # s, for each later event the test waits for
RUN_TIMEOUT = 180.0  # s, for the resumed child to finish
CHILD_PREAMBLE = f"import sys; sys.path.insert(0, {str(Path(__file__).resolve().parent)!r})\n"


# -- in the child ------------------------------------------------------------------------------------

def stall(marker: Path):
    """Say "here" through ``marker``, then sleep until killed."""
    Path(marker).write_text("stalled")
    while True:
        time.sleep(1)


def stall_at_call(owner, name: str, at: int | None, marker: Path, counted=lambda *args, **kwargs: True) -> list:
    """Replace ``owner.name`` by a wrapper that counts its calls (those ``counted`` accepts) and stalls at the
    ``at``-th (None: never). Returns the list that grows by one per counted call."""
    original, calls = getattr(owner, name), []

    def counting(*args, **kwargs):
        if counted(*args, **kwargs):
            calls.append(1)
            if len(calls) == at:
                stall(marker)
        return original(*args, **kwargs)
    setattr(owner, name, counting)
    return calls


def stall_in_second_save(marker: Path) -> None:
    """From now on, the second ``torch.save`` writes its first chunk through to the disk, then stalls."""
    save, saves = torch.save, []

    class HalfFile:
        def __init__(self, raw):
            self.raw = raw

        def write(self, data):
            self.raw.write(data)
            self.raw.flush()
            stall(marker)

        def flush(self):
            self.raw.flush()

    def stalling_save(obj, f, *args, **kwargs):
        saves.append(1)
        if len(saves) < 2:
            return save(obj, f, *args, **kwargs)
        with open(f, "wb") as raw:
            return save(obj, HalfFile(raw), *args, **kwargs)
    torch.save = stalling_save


# -- in the test -------------------------------------------------------------------------------------

def start_child(code: str, args: list[str], log):
    return subprocess.Popen([sys.executable, "-c", CHILD_PREAMBLE + code, *args], cwd=REPO, stdout=log,
                            stderr=subprocess.STDOUT)


def child_output(log_path) -> str:
    return Path(log_path).read_text(errors="replace")[-4000:]


def wait_for(condition, timeout, what, proc, log_path):
    """Poll ``condition()`` every 20 ms until it is true; fail naming ``what`` on a timeout or if the child
    exits first."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if proc.poll() is not None:
            pytest.fail(f"the child exited (code {proc.returncode}) before {what}:\n{child_output(log_path)}")
        if time.monotonic() > deadline:
            pytest.fail(f"no {what} after {timeout:.0f} s:\n{child_output(log_path)}")
        time.sleep(0.02)


def checkpoint_iteration(path: Path) -> int | None:
    """The iteration of a whole checkpoint at ``path``, None while there is none (the rename is atomic:
    a file that exists is a complete one)."""
    if not path.is_file():
        return None
    return torch.load(path, map_location="cpu", weights_only=False)["iteration"]


def kill_at_stall(code: str, args: list[str], checkpoint: Path, marker: Path, log_path: Path) -> int:
    """Run the child; once ``checkpoint`` exists and the child has stalled, SIGKILL it. Returns the
    iteration of the first checkpoint the test saw."""
    with open(log_path, "wb") as log:
        proc = start_child(code, args, log)
        try:
            first = wait_for(lambda: checkpoint_iteration(checkpoint), START_TIMEOUT,
                             f"{checkpoint.name} from the child", proc, log_path)
            wait_for(marker.is_file, STEP_TIMEOUT, "the stall at the kill point", proc, log_path)
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=STEP_TIMEOUT)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=STEP_TIMEOUT)
    assert proc.returncode == -signal.SIGKILL, child_output(log_path)
    return first


def run_to_end(code: str, args: list[str], log_path: Path) -> str:
    """Run the child to its end (it must exit 0); returns the last line it printed."""
    with open(log_path, "wb") as log:
        proc = start_child(code, args, log)
        try:
            returncode = proc.wait(timeout=RUN_TIMEOUT)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=STEP_TIMEOUT)
    assert returncode == 0, child_output(log_path)
    return child_output(log_path).strip().splitlines()[-1]
