"""A training process killed with SIGKILL mid-way resumes, in a new process, to the same bits as a run that
never stopped (CPU): every tensor of the final model, the optimizer's momentum, the loss history and
metrics.json except its wall-clock fields.

The killed run is a real ``gslib.train.train`` in a child process. So that the kill lands where the test
says, whatever the machine's speed, the child stalls (sleeps; no number is changed) at one point and
signals it with a marker file; the test waits for a checkpoint before the end, then for the marker, then
sends SIGKILL. Two kill points:

* ``mid-iteration``: at the start of iteration 5, after the checkpoint of iteration 3; the update of
  iteration 4 is lost and must be redone.
* ``mid-checkpoint-write``: while ``checkpoint.pt.tmp`` of iteration 6 is half written (the child's
  ``torch.save`` writes through a file that stops after its first bytes); ``checkpoint.pt`` of iteration 3
  must stay whole and the half file must not load.

The resumed run is a second child process (a fresh interpreter, as a restarted job); the run that never
stopped is trained in the test's process.
"""
import dataclasses
import json
import os

import pytest
import torch
from killing import kill_at_stall, run_to_end

from gslib.experiments import SMOKE, experiment
from gslib.store import canonical_json
from gslib.train import train

pytestmark = pytest.mark.skipif(os.name != "posix", reason="SIGKILL of a child process needs POSIX")

TIMING_KEYS = {"train_seconds", "paused_seconds", "iterations_per_second", "ms_per_iteration"}
CHECKPOINT_EVERY = 3
TOTAL = 12  # 4 images, 2 per batch: 2 iterations per epoch, 6 epochs; checkpoints after 3, 6, 9, 12
# The child: argv = config JSON, profile JSON, run dir, mode ("mid-iteration", "mid-checkpoint-write",
# "resume"), marker file. Stalling only sleeps; the numbers are gslib's own.
CHILD = r"""
import json, sys
from pathlib import Path

from killing import stall_at_call, stall_in_second_save

import gslib.train as engine
from gslib.experiments import Experiment, Profile, from_dict

config = from_dict(Experiment, json.loads(sys.argv[1]))
profile = from_dict(Profile, json.loads(sys.argv[2]))
run_dir, mode, marker = Path(sys.argv[3]), sys.argv[4], Path(sys.argv[5])
# Iteration 5 starts; the checkpoint is of iteration 3.
calls = stall_at_call(engine, "batch_loss", 5 if mode == "mid-iteration" else None, marker)
if mode == "mid-checkpoint-write":
    stall_in_second_save(marker)  # the second checkpoint, of iteration 6
engine.train(config, profile, run_dir, progress=False)
print(f"iterations trained: {len(calls)}")
"""


@pytest.fixture(scope="module")
def data_root(smoke_train_set):
    return smoke_train_set


def kill_profile(root):
    """The smoke profile's small real detector on 4 generated images, 128 x 128 crops; an lr step at epoch 2
    and a 2-iteration warm-up, so the scheduler's state matters too."""
    return dataclasses.replace(SMOKE, data_root=str(root), synth_profile=None, max_train_images=4,
                               images_per_batch=2, jitter_scales=(2.0,), max_side=128, epochs=TOTAL / 2,
                               lr_steps=(2.0,), warmup_iterations=2, checkpoint_every=CHECKPOINT_EVERY,
                               cpu_threads=1)


CONFIG = experiment("FPN-finest-DC-WRS", seed=3)  # GS+WRS: sampling draws from the (seed, epoch, index) streams


@pytest.fixture(scope="module")
def straight(data_root, tmp_path_factory):
    """The run that never stopped, in this process: its directory."""
    out = tmp_path_factory.mktemp("straight")
    threads = torch.get_num_threads()
    try:
        train(CONFIG, kill_profile(data_root), out, progress=False)
    finally:
        torch.set_num_threads(threads)  # train() sets the profile's thread count and leaves it
    return out


def child_args(profile, run_dir, mode, marker) -> list[str]:
    return [canonical_json(CONFIG), canonical_json(profile), str(run_dir), mode, str(marker)]


@pytest.mark.parametrize("kill_point", ["mid-iteration", "mid-checkpoint-write"])
def test_sigkilled_run_resumes_bit_identically(kill_point, data_root, straight, tmp_path):
    profile = kill_profile(data_root)
    run = tmp_path / "killed"
    checkpoint, tmp = run / "checkpoint.pt", run / "checkpoint.pt.tmp"
    marker, log_path = tmp_path / "stalled", tmp_path / "child.log"

    # 1. Train in a child process; SIGKILL it once a checkpoint before the end exists and the child is at
    # the kill point.
    first = kill_at_stall(CHILD, child_args(profile, run, kill_point, marker), checkpoint, marker, log_path)
    assert first == CHECKPOINT_EVERY < TOTAL

    # 2. What the killed run left: no metrics.json, a whole checkpoint of iteration 3 (the work after it
    # is lost); at the mid-write kill, a half-written .tmp that does not load.
    assert not (run / "metrics.json").exists()
    left = torch.load(checkpoint, map_location="cpu", weights_only=False)
    assert left["iteration"] == CHECKPOINT_EVERY and len(left["history"]) == CHECKPOINT_EVERY
    assert {"model", "optimizer", "scheduler", "scaler", "rng", "hash"} <= left.keys()
    if kill_point == "mid-checkpoint-write":
        assert tmp.is_file() and 0 < tmp.stat().st_size
        with pytest.raises(Exception):  # noqa: B017 -- torch raises RuntimeError or EOFError on a cut zip
            torch.load(tmp, map_location="cpu", weights_only=False)
        assert {p.name for p in run.iterdir()} == {"config.json", "checkpoint.pt", "checkpoint.pt.tmp"}
    else:
        assert {p.name for p in run.iterdir()} == {"config.json", "checkpoint.pt"}

    # 3. Resume in a fresh process to the end.
    trained = run_to_end(CHILD, child_args(profile, run, "resume", tmp_path / "unused"), tmp_path / "resume.log")
    assert trained == f"iterations trained: {TOTAL - CHECKPOINT_EVERY}"  # it resumed, not started over
    assert {p.name for p in run.iterdir()} == {"config.json", "metrics.json", "checkpoint.pt"}

    # 4. Bit-identical to the run that never stopped.
    a = torch.load(straight / "checkpoint.pt", map_location="cpu", weights_only=False)
    b = torch.load(checkpoint, map_location="cpu", weights_only=False)
    assert a["iteration"] == b["iteration"] == TOTAL
    assert a["model"].keys() == b["model"].keys()
    differ = [k for k in a["model"] if a["model"][k].dtype != b["model"][k].dtype
              or not torch.equal(a["model"][k], b["model"][k])]
    assert not differ, f"{len(differ)} of {len(a['model'])} tensors differ, e.g. {differ[:5]}"
    moved = [k for k in a["model"] if not torch.equal(a["model"][k], left["model"][k])]
    assert len(moved) > 10  # the iterations after the kill changed the weights: the equality is not vacuous
    state_a, state_b = a["optimizer"]["state"], b["optimizer"]["state"]
    assert state_a.keys() == state_b.keys()
    assert all(torch.equal(state_a[k]["momentum_buffer"], state_b[k]["momentum_buffer"]) for k in state_a)
    assert a["scheduler"] == b["scheduler"]
    assert a["history"] == b["history"] and len(a["history"]) == TOTAL
    # Regression: the DataLoader drew from the global RNG when its iterator was made, so a resumed run
    # ended one draw ahead; it has its own generator now.
    assert torch.equal(a["rng"]["torch"], b["rng"]["torch"])

    ma = json.loads((straight / "metrics.json").read_text())
    mb = json.loads((run / "metrics.json").read_text())
    assert ma["iterations"] == mb["iterations"] == TOTAL
    assert ma["loss"] == mb["loss"]
    assert {k: v for k, v in ma.items() if k not in TIMING_KEYS} == \
        {k: v for k, v in mb.items() if k not in TIMING_KEYS}
