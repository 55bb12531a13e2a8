"""A trunk pre-training killed with SIGKILL mid-way resumes, in a new process, to the same bits as one that
never stopped (CPU): every tensor of trunk.pt and metrics.json except train_seconds; the checkpoint is gone
at the end.

The killed run is a real ``gslib.pretrain.pretrain`` (smoke profile, 12 iterations, a checkpoint every 4) in
a child process. So that the kill lands where the test says, whatever the machine's speed, the child stalls
(sleeps; no number is changed) at one point and signals it with a marker file; the test waits for a
checkpoint, then for the marker, then sends SIGKILL. Two kill points:

* ``mid-iteration``: at the start of iteration 6, after the checkpoint of iteration 4; the update of
  iteration 5 is lost and must be redone.
* ``mid-checkpoint-write``: while ``pretrain_checkpoint.pt.tmp`` of iteration 8 is half written; the
  checkpoint of iteration 4 must stay whole, and the resumed run must delete the half file.

The resumed run is a second child process (a fresh interpreter, as a restarted job); the run that never
stopped is trained in the test's process.
"""
import dataclasses
import json
import os

import pytest
import torch
from killing import kill_at_stall, run_to_end

from gslib.experiments import PROFILES
from gslib.pretrain import CHECKPOINT, TRUNK, pretrain, pretraining
from gslib.store import canonical_json

pytestmark = pytest.mark.skipif(os.name != "posix", reason="SIGKILL of a child process needs POSIX")

CHECKPOINT_EVERY = 4
TOTAL = 12  # checkpoints after 4 and 8 (none after 12: trunk.pt follows)

# The child: argv = Pretraining JSON, profile JSON, directory, mode ("mid-iteration", "mid-checkpoint-write",
# "resume"), marker file. Stalling only sleeps; the numbers are gslib's own.
CHILD = r"""
import json, sys
from pathlib import Path

from killing import stall_at_call, stall_in_second_save

import gslib.pretrain as pre
from gslib.experiments import Profile, from_dict

cfg = from_dict(pre.Pretraining, json.loads(sys.argv[1]))
profile = from_dict(Profile, json.loads(sys.argv[2]))
directory, mode, marker = Path(sys.argv[3]), sys.argv[4], Path(sys.argv[5])
checkpoint_every = int(sys.argv[6])
# Iteration 6 starts; the checkpoint is of iteration 4. Training batches only (validation crops are not flipped).
calls = stall_at_call(pre, "crop_batch", 6 if mode == "mid-iteration" else None, marker,
                      counted=lambda *args, **kwargs: kwargs.get("flip", True))
if mode == "mid-checkpoint-write":
    stall_in_second_save(marker)  # the second checkpoint, of iteration 8
pre.pretrain(cfg, directory, profile, progress=False, checkpoint_every=checkpoint_every)
print(f"iterations trained: {len(calls)}")
"""


def kill_setting(root):
    """The smoke profile on the 6 generated images, 12 iterations: the cosine schedule moves every step."""
    profile = dataclasses.replace(PROFILES["smoke"], data_root=str(root), synth_profile=None)
    return dataclasses.replace(pretraining(profile), iterations=TOTAL), profile


@pytest.fixture(scope="module")
def straight(smoke_train_set, tmp_path_factory):
    """The pre-training that never stopped, in this process: its directory."""
    out = tmp_path_factory.mktemp("straight") / "trunk"
    cfg, profile = kill_setting(smoke_train_set)
    threads = torch.get_num_threads()
    try:
        pretrain(cfg, out, profile, progress=False, checkpoint_every=CHECKPOINT_EVERY)
    finally:
        torch.set_num_threads(threads)  # pretrain() sets the profile's thread count and leaves it
    return out


def child_args(root, directory, mode, marker) -> list[str]:
    cfg, profile = kill_setting(root)
    return [canonical_json(cfg), canonical_json(profile), str(directory), mode, str(marker), str(CHECKPOINT_EVERY)]


@pytest.mark.parametrize("kill_point", ["mid-iteration", "mid-checkpoint-write"])
def test_sigkilled_pretraining_resumes_bit_identically(kill_point, smoke_train_set, straight, tmp_path):
    directory = tmp_path / "trunk"
    checkpoint, tmp = directory / CHECKPOINT, directory / (CHECKPOINT + ".tmp")
    marker, log_path = tmp_path / "stalled", tmp_path / "child.log"

    # 1. Pre-train in a child process; SIGKILL it once a checkpoint exists and the child is at the kill point.
    args = child_args(smoke_train_set, directory, kill_point, marker)
    assert kill_at_stall(CHILD, args, checkpoint, marker, log_path) == CHECKPOINT_EVERY

    # 2. What the killed run left: a whole checkpoint of iteration 4 and, at the mid-write kill, a half .tmp.
    left = torch.load(checkpoint, map_location="cpu", weights_only=False)
    assert left["iteration"] == CHECKPOINT_EVERY and len(left["losses"]) == CHECKPOINT_EVERY
    assert {"model", "optimizer", "scheduler", "generator", "rng", "correct", "seen", "seconds"} <= left.keys()
    expected = {CHECKPOINT, CHECKPOINT + ".tmp"} if kill_point == "mid-checkpoint-write" else {CHECKPOINT}
    assert {p.name for p in directory.iterdir()} == expected
    if kill_point == "mid-checkpoint-write":
        assert 0 < tmp.stat().st_size
        with pytest.raises(Exception):  # noqa: B017 -- torch raises RuntimeError or EOFError on a cut zip
            torch.load(tmp, map_location="cpu", weights_only=False)

    # 3. Resume in a fresh process to the end.
    args = child_args(smoke_train_set, directory, "resume", tmp_path / "unused")
    trained = run_to_end(CHILD, args, tmp_path / "resume.log")
    assert trained == f"iterations trained: {TOTAL - CHECKPOINT_EVERY}"  # it resumed, not started over
    # The checkpoint and the half-written file are gone.
    assert {p.name for p in directory.iterdir()} == {"config.json", "metrics.json", TRUNK}

    # 4. Bit-identical to the run that never stopped.
    a = torch.load(straight / TRUNK, weights_only=True)
    b = torch.load(directory / TRUNK, weights_only=True)
    assert a.keys() == b.keys()
    differ = [k for k in a if a[k].dtype != b[k].dtype or not torch.equal(a[k], b[k])]
    assert not differ, f"{len(differ)} of {len(a)} tensors differ, e.g. {differ[:5]}"
    at_kill = {k.removeprefix("trunk."): v for k, v in left["model"].items()}
    moved = [k for k in a if not torch.equal(a[k], at_kill[k])]
    assert len(moved) > 10  # the iterations after the kill changed the weights: the equality is not vacuous
    ma = json.loads((straight / "metrics.json").read_text())
    mb = json.loads((directory / "metrics.json").read_text())
    assert ma["iterations"] == mb["iterations"] == TOTAL
    assert {k: v for k, v in ma.items() if k != "train_seconds"} == \
        {k: v for k, v in mb.items() if k != "train_seconds"}
    assert (straight / "config.json").read_bytes() == (directory / "config.json").read_bytes()
