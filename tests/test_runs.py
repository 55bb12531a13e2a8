"""The run queue (gslib.runs): what the notebooks need, its status and cost, the notebook's read, and a
queue killed with SIGKILL that resumes the interrupted run from its checkpoint on the next start."""
import json
import os

import pytest
from killing import kill_at_stall, run_to_end

from gslib import runs
from gslib.experiments import SMOKE, TABLE3, TABLE13, experiment, run_dir
from gslib.paths import results_dir
from gslib.study import EVALUATION

WORKER = r"""
import sys

import gslib.train as engine
from gslib import runs
from gslib.store import cpu_threads

calls = []
batch_loss = engine.batch_loss
engine.batch_loss = lambda *args, **kwargs: calls.append(1) or batch_loss(*args, **kwargs)
with cpu_threads(2):  # the worker's own count, not the process's, trains and detects
    runs.train_missing(runs.plan("smoke", "03")[:3], "smoke", progress=False, threads=1, workers=2,
                       worker=int(sys.argv[1]))
print(f"iterations trained: {len(calls)}")
"""

CHILD = r"""
import sys
from pathlib import Path

from killing import stall_at_call

import gslib.train as engine
from gslib import runs

at, marker = int(sys.argv[1]) or None, Path(sys.argv[2])
calls = stall_at_call(engine, "batch_loss", at, marker)  # iteration `at` of the queue starts: sleep there
runs.train_missing(runs.plan("smoke", "03")[:3], "smoke", progress=False)  # the trunk and two runs
print(f"iterations trained: {len(calls)}")
"""


@pytest.fixture
def results(tmp_path, monkeypatch):
    """An empty results root for this test and its child processes (gslib.paths.results_dir), and an empty
    stand-in for the committed results that the estimates also read."""
    monkeypatch.setenv("GSLIB_RESULTS", str(tmp_path / "results"))
    monkeypatch.setattr(runs, "RESULTS", tmp_path / "committed")
    return tmp_path / "results"


def test_notebook_03_declares_every_table_and_the_queue_trains_part_by_part(monkeypatch):
    assert runs.notebook_detectors("03", "Table 3") == tuple(TABLE3)
    assert [runs.notebook_seeds("03", p, "FPN-finest") for p in ("smoke", "default", "paper")] == [2, 5, 3]
    # Declared at 3 seeds in Table 8 (LS-IoU is its default loss) but 5 in Table 3: the larger count.
    assert runs.notebook_seeds("03", "default", "FPN-finest-sampling") == 5
    assert runs.notebook_seeds("03", "default", "FPN-GS") == 3
    assert {"FPN-single-C3-s8", "FPN-single-C3-s8-GS", "RPN-GS"} <= set(runs.notebook_detectors("03", "Table 5"))
    assert runs.notebook_config("05", "FPN-OHEM").sampler == "OHEM"
    with pytest.raises(KeyError, match="no part 'Table 4'"):
        runs.notebook_detectors("03", "Table 4")
    assert runs.notebook_runs("smoke", "01") == []
    monkeypatch.setitem(runs.NOTEBOOK_RUNS, "03", {"Table 3": [("FPN-finest", {"smoke": 2}), ("FPN", {"smoke": 2})],
                                                   "Table 8": [("RPN", {"smoke": 2}), ("FPN", {"smoke": 1})]})
    queue = runs.notebook_runs("smoke", "03")
    # Part by part, seed-major within a part; each run once, where it is first declared; the smoke profile.
    assert [(c.name, c.seed) for c, _ in queue] == [("FPN-finest", 0), ("FPN", 0), ("FPN-finest", 1), ("FPN", 1),
                                                     ("RPN", 0), ("RPN", 1)]
    assert all(p is SMOKE for _, p in queue)


def test_the_whole_queue_orders_every_declared_part_once():
    declared = [(nb, part) for nb in sorted(runs.NOTEBOOK_RUNS) for part in runs.NOTEBOOK_RUNS[nb]]
    assert sorted(runs.QUEUE_ORDER) == sorted(declared) and len(set(runs.QUEUE_ORDER)) == len(declared)
    queue = [(c.name, p.epochs) for c, p in runs.notebook_runs("default")]
    # Table 9a (notebook 05), then notebook 06's Tables 6 and 13, then Fig. 6 and the longer schedules.
    first = {name: queue.index(next(q for q in queue if q[0] == name)) for name in
             ("FPN-finest-OHEM", "FPN-N256", "RetinaFace", "FPN-finest-S16", "FPN-GS",
              "FPN-finest-sampling+Grouped-Fast-R-CNN")}
    assert first["FPN-GS"] < first["FPN-finest-S16"] < first["FPN-finest-OHEM"] < first["RetinaFace"]
    assert first["RetinaFace"] < first["FPN-finest-sampling+Grouped-Fast-R-CNN"] < first["FPN-N256"]
    assert first["FPN-N256"] < queue.index(("FPN-finest", 18.0))


def test_notebook_02_asks_for_seeds_per_detector():
    assert runs.notebook_detectors("02")[:3] == ("FPN", "FPN-finest-stride", "FPN-finest")
    assert runs.notebook_seeds("02", "default", "FPN") == 5
    assert runs.notebook_seeds("02", "default", "FPN-single-P3-s8") == 3
    with pytest.raises(ValueError, match=r"\[3, 5\] seeds in default; ask for one experiment's"):
        runs.notebook_seeds("02", "default")
    assert runs.notebook_seeds("02", "smoke") == 2  # one count in smoke
    with pytest.raises(KeyError, match="reads no experiment 'RPN'"):
        runs.notebook_seeds("02", "default", "RPN")


def test_a_run_shared_by_two_notebooks_is_queued_once(monkeypatch):
    monkeypatch.setitem(runs.NOTEBOOK_RUNS, "02", {"Table 1": [("FPN-finest-stride", {"smoke": 1}),
                                                               ("FPN", {"smoke": 1})]})
    queue = [(c.name, c.seed, p.epochs) for c, p in runs.notebook_runs("smoke")]
    assert queue.count(("FPN-finest-stride", 0, SMOKE.epochs)) == 1 and ("FPN", 0, SMOKE.epochs) in queue
    assert len(queue) == len(set(queue))  # and at 2x and 4x the schedule, other runs


def _fake_run(directory, train_seconds=None, inference_seconds=None, checkpoint=False, name="FPN-finest"):
    directory.mkdir(parents=True)
    (directory / "config.json").write_text(json.dumps({"experiment": {"name": name},
                                                       "profile": {"name": "smoke", "epochs": SMOKE.epochs}}))
    if train_seconds is not None:
        (directory / "metrics.json").write_text(json.dumps({"train_seconds": train_seconds, "cpu_threads": 2}))
    if inference_seconds is not None:
        (directory / EVALUATION).write_text(json.dumps({"inference_seconds": inference_seconds}))
    if checkpoint:
        (directory / "checkpoint.pt").write_bytes(b"")


def test_status_and_estimates_come_from_the_stored_runs(tmp_path, results, monkeypatch):
    monkeypatch.setitem(runs.NOTEBOOK_RUNS, "03", {"Table 3": [(n, {"smoke": 2}) for n in (
        "FPN-finest", "FPN-finest-sampling", "FPN-finest-stride")]})
    folder = tmp_path / "runs"
    directory = {(c.name, c.seed): run_dir(c, SMOKE, folder) for c, _ in runs.notebook_runs("smoke", "03")}
    _fake_run(directory["FPN-finest", 0], 100.0, 20.0)                        # stored
    _fake_run(directory["FPN-finest", 1], 300.0)                              # trained, not evaluated
    _fake_run(directory["FPN-finest-sampling", 0], checkpoint=True, name="FPN-finest-sampling")  # partial
    planned = {(r.config.name, r.config.seed): r for r in runs.plan("smoke", "03", folder) if r.config}
    assert {k: r.status for k, r in planned.items()} == {
        ("FPN-finest", 0): "stored", ("FPN-finest", 1): "trained", ("FPN-finest-sampling", 0): "partial",
        ("FPN-finest-stride", 0): "missing", ("FPN-finest-sampling", 1): "missing", ("FPN-finest-stride", 1): "missing"}
    assert planned["FPN-finest", 0].left_s == 0 and planned["FPN-finest", 0].cost_s == 120.0
    assert planned["FPN-finest", 1].left_s == 20.0  # evaluation only, at the median of FPN-finest's
    # No FPN-finest-sampling run measured: the medians of all runs (train 100, 300 -> 200; test 20).
    assert planned["FPN-finest-sampling", 0].left_s == 220.0
    assert "all runs (2)" in planned["FPN-finest-sampling", 0].estimate
    text = runs.describe(runs.plan("smoke", "03", folder), "smoke", folder)
    assert "1 stored, 1 trained (not evaluated), 1 partial (checkpoint only), 3 missing" in text
    assert "median train_seconds" in text


def test_an_experiment_never_trained_is_priced_from_the_bench_per_iteration_ratio(tmp_path, results, monkeypatch):
    monkeypatch.setitem(runs.NOTEBOOK_RUNS, "06", {"Table 6": [(n, {"smoke": 1}) for n in (
        "FPN-finest", "FPN-finest-sampling", "RetinaFace", "FPN-finest-stride")]})
    folder = tmp_path / "runs"
    _fake_run(folder / "a", 100.0, 20.0)
    _fake_run(folder / "b", 300.0, 20.0)
    _fake_run(folder / "c", 250.0, 20.0, name="FPN-finest-sampling")

    def train_estimates():
        return {r.config.name: (r.left_s, r.estimate) for r in runs.plan("smoke", "06", folder) if r.config}

    before = train_estimates()
    assert before["RetinaFace"] == (250.0 + 20.0, "all runs (3)")  # no bench file: the median of all runs
    bench = results_dir("smoke") / runs.BENCH_TRAIN
    bench.parent.mkdir(parents=True)
    bench.write_text(json.dumps({"ms_per_iteration": {"FPN-finest": 30.0, "FPN-finest-sampling": 31.0,
                                                      "RetinaFace": 60.0}}))
    after = train_estimates()
    # From the measured experiment with the most runs (FPN-finest: median 200 s) times 60 / 30; testing is
    # priced as before; an experiment the bench did not time is priced as before.
    assert after["RetinaFace"][0] == 2 * 200.0 + 20.0
    assert after["RetinaFace"][1] == ("train: FPN-finest (2) x 2.00 (bench/train.json's ms per iteration); "
                                      "test: all runs (3)")
    assert after["FPN-finest-stride"] == before["FPN-finest-stride"]
    assert after["FPN-finest-sampling"] == before["FPN-finest-sampling"]  # its own run, not the bench's
    # bench mining's methods of each base price the runs it timed, from that base's measured runs.
    timed = {"RS": {"detector": "FPN-finest", "ms": {"median": 20.0}},
             "OHEM": {"detector": "FPN-finest-stride", "ms": {"median": 50.0}}}
    (results_dir("smoke") / runs.BENCH_MINING).write_text(json.dumps({"profile": "smoke", "FPN-finest": timed}))
    mined = train_estimates()
    assert mined["FPN-finest-stride"][0] == 2.5 * 200.0 + 20.0
    assert mined["FPN-finest-stride"][1].startswith("train: FPN-finest (2) x 2.50 (bench/mining.json's")
    assert mined["RetinaFace"] == after["RetinaFace"]  # bench train named it first


def test_a_notebook_without_train_missing_names_the_make_command(results):
    with pytest.raises(runs.MissingRunError, match="make runs NOTEBOOK=03 PROFILE=smoke"):
        runs.notebook_run("03", experiment("FPN-finest", seed=0), SMOKE, train_missing=False)
    assert not (results / "smoke" / "runs").exists()  # nothing was trained


@pytest.mark.skipif(os.name != "posix", reason="SIGKILL of a child process needs POSIX")
def test_a_killed_queue_resumes_the_interrupted_run_from_its_checkpoint(tmp_path, results):
    # (The child process reads the declared queue: its first runs are Table 3's RPN and FPN-finest, seed 0.)
    first, second = [r for r in runs.plan("smoke", "03")[:3] if r.config]
    checkpoint = first.directory / "checkpoint.pt"
    # Killed at the start of iteration 5 of the first run, after its checkpoint of iteration 3.
    saw = kill_at_stall(CHILD, ["5", str(tmp_path / "stalled")], checkpoint, tmp_path / "stalled",
                        tmp_path / "killed.log")
    assert saw == SMOKE.checkpoint_every == 3
    statuses = [r.status for r in runs.plan("smoke", "03")[:3]]
    assert statuses == ["stored", "partial", "missing"]  # the trunk, the interrupted run, the next one
    last = run_to_end(CHILD, ["0", str(tmp_path / "unused")], tmp_path / "resumed.log")
    per_run = json.loads((first.directory / "metrics.json").read_text())["iterations"]
    assert last == f"iterations trained: {per_run - 3 + per_run}"  # the first run resumed at iteration 3
    assert [r.status for r in runs.plan("smoke", "03")[:3]] == ["stored", "stored", "stored"]
    assert (second.directory / EVALUATION).is_file()


def test_a_longer_schedule_is_its_own_run_priced_from_the_profiles(tmp_path, results, monkeypatch):
    from gslib.experiments import scheduled

    twice = scheduled(SMOKE, 2.0)
    assert twice.epochs == 2 * SMOKE.epochs and twice.lr_steps == tuple(2 * s for s in SMOKE.lr_steps)
    assert twice.name == SMOKE.name and twice.hash() != SMOKE.hash() and scheduled(SMOKE, 1.0) is SMOKE
    with pytest.raises(ValueError, match="must be positive"):
        scheduled(SMOKE, 0)
    monkeypatch.setitem(runs.NOTEBOOK_RUNS, "03", {"Table 3": [("FPN-finest", {"smoke": 1})],
                                                   "Schedule": [("FPN-finest", {"smoke": 1}, 2.0)]})
    folder = tmp_path / "runs"
    (one, p1), (two, p2) = runs.notebook_runs("smoke", "03")
    assert one == two and p1 is SMOKE and p2 == twice and run_dir(one, p1, folder) != run_dir(two, p2, folder)
    _fake_run(run_dir(one, SMOKE, folder), 100.0, 20.0)
    planned = [r for r in runs.plan("smoke", "03", folder) if r.config]
    assert [r.status for r in planned] == ["stored", "missing"] and planned[1].profile == twice
    assert planned[1].left_s == 2 * 100.0 + 20.0 and "x 2 (the schedule)" in planned[1].estimate
    assert planned[1].row()["epochs"] == 2 * SMOKE.epochs


def test_part_runs_shows_a_part_only_when_every_run_is_stored(tmp_path, results, monkeypatch):
    monkeypatch.setitem(runs.NOTEBOOK_RUNS, "03", {"Table 3": [("FPN-finest", {"smoke": 2}),
                                                               ("FPN-finest-sampling", {"smoke": 1})],
                                                   "Schedule": [("FPN-finest", {"smoke": 1}, 2.0)]})
    folder = tmp_path / "runs"
    for seed in (0, 1):
        _fake_run(run_dir(experiment("FPN-finest", seed=seed), SMOKE, folder), 10.0, 2.0)
    (run_dir(experiment("FPN-finest", seed=0), SMOKE, folder) / EVALUATION).write_text(
        json.dumps({"ap": {"all": 0.5}, "inference_seconds": 2.0}))
    (run_dir(experiment("FPN-finest", seed=1), SMOKE, folder) / EVALUATION).write_text(
        json.dumps({"ap": {"all": 0.6}, "inference_seconds": 2.0}))
    part = runs.part_runs("03", "Table 3", SMOKE, train_missing=False, runs=folder)
    assert not part.complete and part.total == 3 and part.missing == ["FPN-finest-sampling seed 0"]
    assert [ev["ap"]["all"] for ev in part.evaluations["FPN-finest"]] == [0.5, 0.6]  # the complete entry is read
    assert "2 of 3 runs stored" in str(part) and "make runs NOTEBOOK=03" in str(part)
    # A longer schedule is its own run, labelled with its factor.
    later = runs.part_runs("03", "Schedule", SMOKE, train_missing=False, runs=folder)
    assert later.missing == ["FPN-finest 2x seed 0"] and later.runs == {}
    assert runs.label("FPN-finest", 4.0) == "FPN-finest 4x" and runs.label("FPN-finest") == "FPN-finest"


def test_read_notebook_gathers_the_parts_and_says_what_a_claim_waits_for(tmp_path, results, monkeypatch):
    # FPN-finest: 2 seeds in Table 3, 1 in Fig. 6 (all stored): the most seeds; FPN-finest-sampling: none.
    monkeypatch.setitem(runs.NOTEBOOK_RUNS, "03", {"Table 3": [("FPN-finest", {"smoke": 2}),
                                                               ("FPN-finest-sampling", {"smoke": 1})],
                                                   "Fig. 6": [("FPN-finest", {"smoke": 1})]})
    folder = tmp_path / "runs"
    for seed, ap in ((0, 0.5), (1, 0.6)):
        directory = run_dir(experiment("FPN-finest", seed=seed), SMOKE, folder)
        _fake_run(directory, 60.0, 30.0)
        (directory / EVALUATION).write_text(json.dumps({"ap": {"all": ap}, "inference_seconds": 30.0}))
    stored = runs.read_notebook("03", SMOKE, train_missing=False, runs=folder)
    assert set(stored.parts) == {"Table 3", "Fig. 6"} and stored.parts["Fig. 6"].complete
    assert [ev["ap"]["all"] for ev in stored.evaluations["FPN-finest"]] == [0.5, 0.6]
    assert stored.ready("FPN-finest") and not stored.ready("FPN-finest", "FPN-finest-sampling")
    row = stored.waiting("gs-all", "FPN-finest", "FPN-finest-sampling")
    assert row["claim"] == "gs-all" and row["verdict"] == runs.WAITING
    assert "FPN-finest-sampling" in row["ours"] and "FPN-finest," not in row["ours"] and "NOTEBOOK=03" in row["ours"]
    # 2 of 3 stored at 90 s each: 0.05 CPU-hours; the missing one priced at the stored runs' median (0.025 h).
    assert stored.cost() == ("2 of the notebook's 3 runs are stored: they cost 0.05 CPU-hours (training + test, "
                             "their records); the queue estimates 0.0 CPU-hours for the rest")
    assert str(stored).endswith(stored.cost()) and "Fig. 6: 1 of 1 runs stored" in str(stored)


def test_notebook_06_declares_table13_and_table6_and_the_queue_splits_the_stages(tmp_path, monkeypatch):
    assert runs.notebook_detectors("06", "Table 13") == tuple(c.name for c in TABLE13.values())
    assert runs.notebook_detectors("06", "Table 6") == ("RetinaFace", "RetinaFace-sampling", "RetinaFace-IoU35",
                                                        "RetinaFace-IoU35-sampling")
    seeds = {name: runs.notebook_seeds("06", "default", name) for name in runs.notebook_detectors("06")}
    headline = {"FPN-finest-sampling", TABLE13["+IoU loss"].name, TABLE13["+GS"].name}
    assert all(seeds[n] == (5 if n in headline else 3) for n in seeds), seeds
    # The queue evaluates a two-stage run stage by stage after its evaluation; a one-stage run only as before.
    done = []
    monkeypatch.setattr(runs, "evaluated_run", lambda config, profile, progress, runs, threads: (
        tmp_path / config.name, {}))
    monkeypatch.setattr(runs, "stage_evaluation", lambda run, profile, progress: done.append(run.name))
    planned = [r for r in runs.plan("smoke", "06", tmp_path) if r.config and r.config.seed == 0]
    runs.train_missing(planned, "smoke", tmp_path, progress=False)
    assert done == [c.name for c in TABLE13.values() if c.second_stage]


def test_a_claimed_run_is_not_claimed_again_until_released(tmp_path):
    directory = tmp_path / "runs" / "FPN-finest-0123456789ab"
    with runs.claimed(directory) as first, runs.claimed(directory) as second:
        assert first and not second
    with runs.claimed(directory) as again:
        assert again
    assert not directory.exists()  # the lock lives beside the runs: claiming makes no run directory
    assert (tmp_path / "runs" / runs.LOCKS / f"{directory.name}.lock").is_file()


@pytest.mark.skipif(os.name != "posix", reason="flock needs POSIX")
def test_two_workers_side_by_side_train_each_run_once_on_their_threads(tmp_path, results):
    from killing import start_child

    from gslib.pretrain import pretrained_trunk

    pretrained_trunk(SMOKE, progress=False)  # as run_workers does before starting them: both need it
    logs = [tmp_path / f"worker{i}.log" for i in range(2)]
    children = [start_child(WORKER, [str(i)], open(log, "wb")) for i, log in enumerate(logs)]
    assert [child.wait(timeout=600) for child in children] == [0, 0], [log.read_text() for log in logs]
    trained = [int(log.read_text().strip().splitlines()[-1].split(": ")[1]) for log in logs]
    first, second = [r for r in runs.plan("smoke", "03")[:3] if r.config]
    records = [json.loads((r.directory / "metrics.json").read_text()) for r in (first, second)]
    assert sum(trained) == sum(m["iterations"] for m in records)  # no run trained twice
    assert all(m["cpu_threads"] == 1 for m in records)
    assert all(json.loads((r.directory / EVALUATION).read_text())["cpu_threads"] == 1 for r in (first, second))
    assert [r.status for r in runs.plan("smoke", "03")[:3]] == ["stored"] * 3


def test_run_workers_makes_the_shared_files_first_then_splits_the_threads(tmp_path, monkeypatch):
    made, commands = [], []

    class Child:
        def __init__(self, command):
            commands.append(command)

        def wait(self):
            return 0

        def poll(self):
            return 0
    monkeypatch.setattr(runs, "ensure_data", lambda profile: made.append("data"))
    monkeypatch.setattr(runs, "pretrained_trunk", lambda profile, progress: made.append("trunk"))
    monkeypatch.setattr(runs.subprocess, "Popen", Child)
    args = runs.argparse.Namespace(profile="default", workers=2, notebook="05", runs=None, no_progress=True)
    assert runs.run_workers(args) == 0
    assert made == ["data", "trunk"] and len(commands) == 2
    for i, command in enumerate(commands):
        text = " ".join(command)
        assert "--threads 1" in text and "--notebook 05" in text and f"--worker {i} --of 2" in text
    with pytest.raises(SystemExit):
        runs.main(["--workers", "0"])
