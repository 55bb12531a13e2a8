"""What storing and resuming a run needs, and nothing of gslib: names (hashes), files, checkpoints, RNG states,
the device.

- :func:`canonical_json`, :func:`digest`: the text and the short SHA-256 that name a run or a trunk by its
  settings (the same in every process and Python version; never Python's ``hash()``).
- :func:`write_atomic`, :func:`save_checkpoint`: a file appears whole or not at all (written to
  ``<name>.tmp``, synced, renamed by :func:`replace_atomically`, the one implementation of both), so a reader
  or a killed run never sees half a file.
- :func:`resume`: a checkpoint back into the objects that wrote it, with the global RNG states
  (:func:`rng_states`, :func:`set_rng_states`; :func:`seed_everything` seeds them).
- :func:`default_device`: CUDA when there is one (this process's GPU under ``torchrun``), else the CPU.
  Nothing in gslib assumes a GPU. :func:`cpu_threads`: torch's CPU thread count for a block (float sums, so
  a run's bits, depend on it).
- :class:`WorkClock`: the seconds a run's records give for its training and its test, without the time the
  process stood stopped.

It imports nothing from gslib, so every module may use it.
"""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import random
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch

# ----------------------------------------------------------------------------------------------------
# Names
# ----------------------------------------------------------------------------------------------------


def canonical_json(obj) -> str:
    """Sorted keys, no spaces, floats by repr: the same text in every process and Python version.
    A dataclass counts as its ``dataclasses.asdict``."""
    if dataclasses.is_dataclass(obj):
        obj = dataclasses.asdict(obj)
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False)


def digest(*objs, length: int = 12) -> str:
    """First ``length`` hex digits of the SHA-256 of the objects' canonical JSON (never Python's hash())."""
    text = canonical_json([json.loads(canonical_json(o)) for o in objs])
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def tree_digest(root, exclude: tuple[str, ...] = (), length: int = 16) -> str:
    """First ``length`` hex digits of the SHA-256 over every file below ``root`` (sorted by relative path:
    each path and its bytes' SHA-256), leaving out the relative paths in ``exclude``. Two folders get the
    same digest exactly when they hold the same files with the same bytes."""
    root = Path(root)
    total = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        relative = path.relative_to(root).as_posix()
        if relative in exclude:
            continue
        total.update(f"{relative}\0{hashlib.sha256(path.read_bytes()).hexdigest()}\n".encode())
    return total.hexdigest()[:length]


# ----------------------------------------------------------------------------------------------------
# Files and checkpoints
# ----------------------------------------------------------------------------------------------------


def replace_atomically(path, write: Callable[[Path], None]) -> None:
    """``write(tmp)`` the file at ``path.tmp``, sync it to the disk, then rename it to ``path``: a reader
    (or a killed run) finds the previous file or the new one, whole."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    write(tmp)
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)


def write_atomic(path, data: bytes | str) -> None:
    """Write ``data`` (text as UTF-8) to ``path`` atomically (:func:`replace_atomically`)."""
    replace_atomically(path, lambda tmp: tmp.write_bytes(data.encode() if isinstance(data, str) else data))


def save_checkpoint(path, state: dict) -> None:
    """``torch.save(state)`` to ``path`` atomically: a killed run leaves the previous checkpoint whole."""
    replace_atomically(path, lambda tmp: torch.save(state, tmp))


def rng_states() -> dict:
    """The global RNG states: torch, Python, NumPy and (when there is one) CUDA."""
    states = {"torch": torch.get_rng_state(), "python": random.getstate(), "numpy": np.random.get_state()}
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def set_rng_states(states: dict) -> None:
    """Restore what :func:`rng_states` returned."""
    torch.set_rng_state(states["torch"])
    random.setstate(states["python"])
    np.random.set_state(states["numpy"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's global RNGs."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def resume(checkpoint: Path, key: str, device, **stateful) -> dict:
    """Load ``checkpoint`` (written with ``"hash": key``), restore the global RNG states (its ``"rng"``) and
    the ``state_dict`` of each keyword's object from the entry of that name; returns the whole state."""
    state = torch.load(checkpoint, map_location=device, weights_only=False)
    if state["hash"] != key:
        raise RuntimeError(f"{checkpoint} belongs to another setting ({state['hash']} != {key})")
    for name, obj in stateful.items():
        obj.load_state_dict(state[name])
    set_rng_states(state["rng"])
    return state


# ----------------------------------------------------------------------------------------------------
# Device
# ----------------------------------------------------------------------------------------------------


def default_device() -> torch.device:
    """CUDA when there is one (the GPU of ``LOCAL_RANK`` under torchrun, else GPU 0), otherwise the CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return torch.device("cpu")


@contextlib.contextmanager
def cpu_threads(count: int | None) -> Iterator[None]:
    """``torch.set_num_threads(count)`` for the block, the caller's count restored after; None leaves it as it
    is. The count changes the order of float sums inside torch's CPU kernels, so a run's loss curve (and its
    detections) depend on it: training and detecting again reproduce a record only with its count."""
    before = torch.get_num_threads()
    if count:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class WorkClock:
    """Wall seconds of work, step by step, without the time the process stood stopped (a queue paused by
    SIGSTOP while a benchmark runs, a suspended machine): such a pause lands whole in one step.

    ``tick()`` after each step (a training iteration, a test image) adds the time since the previous tick
    (or since ``restart()``, called after untimed work such as writing a checkpoint). A step longer than
    ``pause_factor`` times the mean step so far, and than ``min_pause`` seconds, counts as the mean step; its
    excess goes to ``paused``. ``seconds`` and ``steps`` may start from a resumed run's."""

    def __init__(self, seconds: float = 0.0, steps: int = 0, pause_factor: float = 50.0, min_pause: float = 10.0):
        self.seconds, self.steps, self.paused = float(seconds), int(steps), 0.0
        self.pause_factor, self.min_pause = pause_factor, min_pause
        self.last = time.perf_counter()

    def restart(self) -> None:
        self.last = time.perf_counter()

    def tick(self) -> float:
        """Count the step that just ended; returns the seconds counted for it."""
        now = time.perf_counter()
        step, self.last = now - self.last, now
        if self.steps:
            mean = self.seconds / self.steps
            if step > max(self.pause_factor * mean, self.min_pause):
                self.paused += step - mean
                step = mean
        self.seconds += step
        self.steps += 1
        return step
