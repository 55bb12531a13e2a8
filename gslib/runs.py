"""The runs the notebooks need, declared once, and the queue that trains the missing ones.

:data:`NOTEBOOK_RUNS` lists, per notebook and per part of it (a table or a figure), the experiments it reads
(names for :func:`gslib.experiments.experiment`, or :class:`~gslib.experiments.Experiment` configs) with their
number of seeds per profile. The notebooks take their detectors and seeds from it (:func:`notebook_detectors`,
:func:`notebook_seeds`) and read their runs through :func:`notebook_run`, so a notebook and the queue cannot
disagree on what is needed.

    python -m gslib runs --list [--notebook 03] [--profile default] [--json]   # what is stored, what is left
    python -m gslib runs [--notebook 03] [--profile default]                   # train and evaluate the rest

A run is *stored* (trained and evaluated: ``metrics.json`` and ``evaluation.json``), *trained* (not
evaluated), *partial* (a checkpoint only: killed mid-training) or *missing*. Without ``--list`` the queue
trains and evaluates every run that is not stored, in order (part by part, and within a part seed 0 of every
experiment, then seed 1, ...: stopped early, it leaves whole tables and whole seeds to pair), in one process,
through :func:`gslib.study.evaluated_run`. It is resumable: killed, it resumes the interrupted run from its
checkpoint on the next start.

Workers: ``--workers N`` runs N queues side by side, each on ``cpu_threads // N`` threads, taking the runs in the
same order; a run is trained by the worker that holds its lock (:func:`claimed`), the others pass on to the
next. On this 2-core CPU two 1-thread workers train 1.54x the iterations per second of one 2-thread process
(FPN-finest-sampling, 150 iterations each, measured side by side: 52 ms per iteration in each worker, 40 ms
alone), because the detector's small convolutions keep two threads of one process waiting on each other. Each
run records the thread count it trained on (gslib.train), which its loss curve depends on.

Estimates of CPU time come from what the stored runs of the same profile measured: the median
``train_seconds`` (metrics.json) and ``inference_seconds`` (evaluation.json) of the runs of the same
experiment. An experiment with none is trained for a measured one's median times the ratio of their ms per
iteration in the profile's ``bench train`` or ``bench mining`` output (bench/train.json: RetinaFace and Table
13's two-stage rows; bench/mining.json: Table 9a's methods), and otherwise priced from all the profile's runs.
Runs are read in the runs folder and in the committed results/ (so a fresh retrain into results/fresh/ is
estimated from the committed runs).
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import fcntl
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

from gslib import anchors
from gslib.datasets import ensure_data
from gslib.experiments import (
    PROFILES,
    REG_LOSSES,
    TABLE3,
    TABLE6,
    TABLE9A_METHODS,
    TABLE13,
    Experiment,
    Profile,
    experiment,
    is_complete,
    run_dir,
    scheduled,
    variant,
)
from gslib.paths import REPO, RESULTS, results_dir
from gslib.pretrain import TRUNK, pretrained_trunk, trunk_dir
from gslib.stages import stage_evaluation
from gslib.store import cpu_threads
from gslib.study import EVALUATION, evaluated_run
from gslib.train import CHECKPOINT, METRICS

# Seeds of a headline comparison per profile: 5 in default (with 3 the Student-t interval of a mean
# difference, t = 4.30, was wider than the differences to decide), 3 in paper (100 epochs each), 2 in smoke
# (the least that gives an interval).
SEEDS = {"smoke": 2, "default": 5, "paper": 3}
# Seeds of every other detector (issue 10: at least 3).
FEWER_SEEDS = {"smoke": 2, "default": 3, "paper": 3}

# Fig. 6: N per image (RS) and per group (GS), 1/4 to 2x the default (1024 and 256): a span of 8x.
N_RS, N_GS = (256, 512, 1024, 2048), (64, 128, 256, 512)
# The longer-training check: the profile's schedule times these factors (epochs and learning-rate steps).
SCHEDULES = (1.0, 2.0, 4.0)

# notebook -> {part (a table or figure): [(experiment name or config, {profile: seeds}[, schedule factor])]}.
# The queue trains part by part, and within a part seed 0 of every experiment first, then seed 1, ...: stopped
# early, it leaves whole tables, and within the last one whole seeds, to compare. A schedule factor (default 1)
# trains the entry at that multiple of the profile's epochs (experiments.scheduled).
NOTEBOOK_RUNS: dict[str, dict[str, list[tuple]]] = {
    "01": {},  # the anchor distributions of Fig. 2: nothing trained
    # Table 1: FPN against one layer with FPN's anchor distribution (the headline: 5 seeds), then FPN-single
    # on each map at each stride; P2 at stride 4 is FPN-finest.
    "02": {"Table 1": [("FPN", SEEDS), ("FPN-finest-stride", SEEDS), ("FPN-finest", SEEDS),
                       *((f"FPN-single-{m}", FEWER_SEEDS) for m in ("P2-s8", "P3-s8", "P2-s16", "P3-s16", "P4-s16"))]},
    "03": {
        "Table 3": [(name, SEEDS) for name in TABLE3],
        # GS on and off on each map: {P2..P5} (FPN), P2 (FPN-finest, in Table 3), P3 / P4 at their own stride,
        # and the trunk's plain maps C2, C3, C4 (RPN) against P2, P3, P4.
        "Table 5": [(variant(base, sampler=s), FEWER_SEEDS) for base in
                    ("FPN", "FPN-single-P3-s8", "FPN-single-P4-s16", "RPN", "FPN-single-C2-s4", "FPN-single-C3-s8")
                    for s in ("RS", "GS")],
        "Table 8": [(variant("FPN-finest-sampling", reg_loss=loss), FEWER_SEEDS) for loss in REG_LOSSES],
        # S: FPN-finest with one anchor scale; M and M+GS are FPN-finest and FPN-finest-sampling (Table 3).
        "Table 7": [(variant("FPN-finest", scales=(s,)), FEWER_SEEDS) for s in anchors.WIDER_SCALES],
        "Fig. 6": [(variant(base, num_samples=n), FEWER_SEEDS) for base, ns in
                   (("FPN", N_RS), ("FPN-finest", N_RS), ("FPN-finest-sampling", N_GS)) for n in ns],
        # Beyond the paper: the headline detectors at 2x and 4x the schedule (1x is Table 3's).
        "Schedule": [(name, FEWER_SEEDS, factor) for factor in SCHEDULES[1:]
                     for name in ("FPN-finest", "FPN-finest-sampling", "FPN-finest-stride")],
    },
    # Fig. 5 and the dilated rows of Table 3, for the trained heads' receptive fields.
    "04": {"Table 3, dilated": [(name, SEEDS) for name in ("FPN-finest", "FPN-finest-DC", "FPN-finest-sampling",
                                                           "FPN-finest-DC-sampling")]},
    # Table 9a: each method (experiments.TABLE9A_METHODS; OHEM with and without its NMS) on FPN and on
    # FPN-finest; 5 seeds where the paper's headline compares them on FPN-finest (WRS vs OHEM, GS vs Focal*).
    "05": {"Table 9a": [(variant(base, **changes),
                         SEEDS if base == "FPN-finest" and m in ("RS", "Focal*", "OHEM", "WRS", "GS", "OHEM, no NMS")
                         else FEWER_SEEDS)
                        for base in ("FPN-finest", "FPN") for m, changes in TABLE9A_METHODS.items()]},
    # Table 13: FPN-finest-sampling, then a second stage, one change per row (each two-stage run also gets its
    # per-stage APs, gslib.stages); 5 seeds for the paper's headline pair, Fast R-CNN with the IoU loss against
    # Grouped Fast R-CNN, and for FPN-finest-sampling, whose 5 are Table 3's (notebook 03) anyway; 3 for the
    # rest. Table 6: RetinaFace-mnet0.25 with its own sampling and with GS (experiments.TABLE6).
    "06": {"Table 13": [(config.name, SEEDS if row in ("FPN-finest-sampling", "+IoU loss", "+GS") else FEWER_SEEDS)
                        for row, config in TABLE13.items()],
           "Table 6": [(name, FEWER_SEEDS) for name in TABLE6]},
}

# The order in which the whole queue (no --notebook) trains the parts: the parts that decide the most claims for
# their CPU first. Table 5 (2 claims, 36 runs, 18 of them Table 3's or stored), Table 8 (1 claim, 9 runs), Table 7
# (1, 12), Table 9a (4 claims, 48 runs); then Table 6 (1 claim, 6 runs) and Table 13 (3 claims, 25 runs, 6 of them
# Table 3's), before Fig. 6 (1 claim, 36 runs) and the 2x / 4x schedules (2 claims, 18 runs costing 54 of today's).
# With --notebook, a notebook's parts in their declared order.
QUEUE_ORDER = (("02", "Table 1"), ("03", "Table 3"), ("04", "Table 3, dilated"), ("03", "Table 5"),
               ("03", "Table 8"), ("03", "Table 7"), ("05", "Table 9a"), ("06", "Table 6"), ("06", "Table 13"),
               ("03", "Fig. 6"), ("03", "Schedule"))

STATUSES = ("stored", "trained", "partial", "missing")


class MissingRunError(FileNotFoundError):
    """A notebook asked for a run that is not stored, and was not asked to train it."""


def _config(entry: str | Experiment, seed: int) -> Experiment:
    return experiment(entry, seed=seed) if isinstance(entry, str) else dataclasses.replace(entry, seed=seed)


def _name(entry: str | Experiment) -> str:
    return entry if isinstance(entry, str) else entry.name


def _entries(notebook: str, part: str | None = None) -> list[tuple[str | Experiment, dict[str, int], float]]:
    """The declarations of ``notebook`` (or its ``part``) as ``(entry, seeds, schedule factor)``."""
    parts = NOTEBOOK_RUNS[notebook]
    if part is not None and part not in parts:
        raise KeyError(f"notebook {notebook} has no part {part!r}; its parts: {', '.join(parts)}")
    return [(*e, 1.0)[:3] for name, entries in parts.items() if part in (None, name) for e in entries]


def notebook_detectors(notebook: str, part: str | None = None) -> tuple[str, ...]:
    """The experiment names ``notebook`` (or its ``part``, e.g. "Table 5") reads, in :data:`NOTEBOOK_RUNS`
    order, each once."""
    return tuple(dict.fromkeys(_name(entry) for entry, _, _ in _entries(notebook, part)))


def notebook_config(notebook: str, name: str) -> Experiment:
    """The config (seed 0) that ``notebook`` declares under ``name``."""
    for entry, _, _ in _entries(notebook):
        if _name(entry) == name:
            return _config(entry, 0)
    raise KeyError(f"notebook {notebook} reads no experiment {name!r}; it reads "
                   f"{', '.join(notebook_detectors(notebook))}")


def notebook_seeds(notebook: str, profile: str, name: str | None = None) -> int:
    """The number of seeds of experiment ``name`` of ``notebook`` in ``profile`` (the most any of its parts
    declares: one part's baseline may be another's headline); with no ``name``, that of every experiment of
    the notebook, which must then be one number."""
    counts = {seeds[profile] for entry, seeds, _ in _entries(notebook) if name in (None, _name(entry))}
    if not counts:
        raise KeyError(f"notebook {notebook} reads no experiment {name!r}; it reads "
                       f"{', '.join(notebook_detectors(notebook))}")
    if name is None and len(counts) != 1:
        raise ValueError(f"notebook {notebook}: its experiments have {sorted(counts)} seeds in {profile}; "
                         "ask for one experiment's")
    return max(counts)


def notebook_runs(profile: str, notebook: str | None = None) -> list[tuple[Experiment, Profile]]:
    """The ``(Experiment, Profile)`` of every run ``notebook`` (None: every notebook) needs in ``profile``
    (the profile at the entry's schedule), each once, in queue order (see :data:`NOTEBOOK_RUNS`)."""
    return [(config, prof) for _, config, prof in _planned_configs(profile, notebook)]


def _planned_configs(profile: str, notebook: str | None) -> list[tuple[tuple[str, ...], Experiment, Profile]]:
    """[(the notebooks that read it, config, profile)] without repeats, in queue order."""
    by_run: dict[str, tuple[list[str], Experiment, Profile, tuple[int, int]]] = {}
    declared = [(nb, part) for nb in ([notebook] if notebook else sorted(NOTEBOOK_RUNS)) for part in NOTEBOOK_RUNS[nb]]
    # The whole queue: QUEUE_ORDER's parts, then any part it does not name (none: a test holds them equal).
    parts = declared if notebook else [p for p in QUEUE_ORDER if p in declared] + [p for p in declared
                                                                                   if p not in QUEUE_ORDER]
    for part_index, (nb, part) in enumerate(parts):
        for entry, seeds, factor in _entries(nb, part):
            prof = scheduled(PROFILES[profile], factor)
            for seed in range(seeds[profile]):
                config = _config(entry, seed)
                key = run_dir(config, prof).name
                by_run.setdefault(key, ([], config, prof, (part_index, seed)))[0].append(nb)
    # Stable: part by part (where a run is first met), seed-major within a part, declared order within a seed.
    ordered = sorted(by_run.values(), key=lambda item: item[3])
    return [(tuple(dict.fromkeys(notebooks)), config, prof) for notebooks, config, prof, _ in ordered]


def status(directory: Path) -> str:
    """One of :data:`STATUSES` for the run directory ``directory``."""
    if is_complete(directory):
        return "stored" if (directory / EVALUATION).is_file() else "trained"
    return "partial" if (directory / CHECKPOINT).is_file() else "missing"


def notebook_run(notebook: str, config: Experiment, profile: Profile, train_missing: bool,
                 runs=None) -> tuple[Path, dict]:
    """What a notebook reads: the stored run of ``(config, profile)`` and its evaluation (as
    :func:`gslib.study.evaluated_run` returns them). A run that is not stored is trained and evaluated when
    ``train_missing``; otherwise :class:`MissingRunError` names the command that makes it."""
    directory = run_dir(config, profile, runs)
    if not train_missing and status(directory) != "stored":
        raise MissingRunError(
            f"notebook {notebook} reads {config.name} seed {config.seed} ({profile.name} profile), which is "
            f"{status(directory)} in {directory}: train the notebook's runs first with `make runs NOTEBOOK="
            f"{notebook} PROFILE={profile.name}` (python -m gslib runs --notebook {notebook} --profile "
            f"{profile.name}), or run the notebook with train_missing=True")
    return evaluated_run(config, profile, progress=False, runs=runs)


def label(name: str, factor: float = 1.0) -> str:
    """How a notebook names an entry: its experiment, with the schedule factor when it is not 1 (``FPN-finest
    2x``)."""
    return name if factor == 1 else f"{name} {factor:g}x"


@dataclass
class PartRuns:
    """A notebook part's runs, as :func:`part_runs` reads them. ``runs``: {label: [(run directory,
    evaluation)] by seed} for every entry whose seeds are all stored; ``missing``: the runs that are not
    ("FPN-GS seed 2"); ``total``: how many runs the part declares."""

    notebook: str
    part: str
    runs: dict[str, list[tuple[Path, dict]]]
    missing: list[str]
    total: int

    @property
    def complete(self) -> bool:
        return not self.missing

    @property
    def evaluations(self) -> dict[str, list[dict]]:
        return {name: [ev for _, ev in runs] for name, runs in self.runs.items()}

    def __str__(self) -> str:
        head = f"notebook {self.notebook}, {self.part}: {self.total - len(self.missing)} of {self.total} runs stored"
        if self.complete:
            return head
        return (f"{head}; not yet trained: {', '.join(self.missing[:6])}{', ...' if len(self.missing) > 6 else ''}"
                f". `make runs NOTEBOOK={self.notebook}` trains them; this part is shown once they are stored")


def part_runs(notebook: str, part: str, profile: Profile, train_missing: bool, runs=None) -> PartRuns:
    """The stored runs of ``part`` of ``notebook`` (its declared entries and seeds, each entry's schedule
    factor applied to ``profile``), read through :func:`notebook_run`. With ``train_missing`` the runs that are
    not stored are trained and evaluated here; without it they are listed in ``missing`` (a notebook shows a
    part only when it is complete, and says which runs it waits for)."""
    found, missing, total = {}, [], 0
    for entry, seeds, factor in _entries(notebook, part):
        prof = scheduled(profile, factor)
        configs = [_config(entry, s) for s in range(seeds[profile.name])]
        total += len(configs)
        absent = [c for c in configs if not train_missing and status(run_dir(c, prof, runs)) != "stored"]
        missing += [f"{label(c.name, factor)} seed {c.seed}" for c in absent]
        if not absent:
            found[label(_name(entry), factor)] = [notebook_run(notebook, c, prof, train_missing, runs)
                                                  for c in configs]
    return PartRuns(notebook, part, found, missing, total)


@dataclass
class NotebookRuns:
    """Every part of a notebook as :func:`part_runs` reads it (``parts``), and ``runs``: {label: [(run
    directory, evaluation)] by seed} of every detector whose seeds are all stored in some part, with the most
    seeds any part declares for it. A notebook shows a table or a claim's verdict when the detectors it reads
    are :meth:`ready`, and otherwise the :meth:`waiting` row; :meth:`cost` is what its runs cost."""

    notebook: str
    profile: Profile
    parts: dict[str, PartRuns]
    runs: dict[str, list[tuple[Path, dict]]]
    folder: Path | None = None

    @property
    def evaluations(self) -> dict[str, list[dict]]:
        return {name: [ev for _, ev in runs] for name, runs in self.runs.items()}

    def ready(self, *names: str) -> bool:
        """Whether every detector of ``names`` (labels, :func:`label`) has all its seeds stored."""
        return all(n in self.runs for n in names)

    def waiting(self, claim: str, *names: str) -> dict:
        """The verdict row (:func:`gslib.claims.write_verdicts`) of a claim whose detectors ``names`` are not
        all stored yet, naming those it waits for."""
        missing = [n for n in names if n not in self.runs]
        return {"claim": claim, "verdict": WAITING,
                "ours": f"waiting for the runs of {', '.join(missing[:6])}{' ...' if len(missing) > 6 else ''} "
                        f"(`make runs NOTEBOOK={self.notebook}`)"}

    def cost(self) -> str:
        """How many of the notebook's runs are stored, their CPU time (their records), and the queue's estimate
        for the rest (:func:`plan`)."""
        queue = [r for r in plan(self.profile.name, self.notebook, self.folder) if r.config is not None]
        done = [r for r in queue if r.status == "stored"]
        left = _total([r.left_s for r in queue])
        return (f"{len(done)} of the notebook's {len(queue)} runs are stored: they cost "
                f"{sum(r.cost_s for r in done) / 3600:.2f} CPU-hours (training + test, their records); the queue "
                f"estimates {'?' if left is None else f'{left / 3600:.1f}'} CPU-hours for the rest")

    def __str__(self) -> str:
        return "\n".join([*map(str, self.parts.values()), self.cost()])


WAITING = "not yet tested (runs missing)"


def read_notebook(notebook: str, profile: Profile, train_missing: bool, runs=None) -> NotebookRuns:
    """Every part of ``notebook`` through :func:`part_runs` (with ``train_missing``, what is not stored is
    trained and evaluated here), gathered in a :class:`NotebookRuns`."""
    parts = {part: part_runs(notebook, part, profile, train_missing, runs) for part in NOTEBOOK_RUNS[notebook]}
    found: dict[str, list[tuple[Path, dict]]] = {}
    for part in parts.values():
        for name, seeded in part.runs.items():
            found[name] = max(found.get(name, []), seeded, key=len)
    return NotebookRuns(notebook, profile, parts, found, None if runs is None else Path(runs))


# -- measured costs and the plan ----------------------------------------------------------------------

def _read_seconds(path: Path, key: str) -> float | None:
    return json.loads(path.read_text()).get(key) if path.is_file() else None


def measured_costs(profile: str, folders: list[Path]) -> dict[str, dict[str, list[float]]]:
    """``{experiment name: {"train": [train_seconds], "test": [inference_seconds]}}`` of the runs of
    ``profile`` stored in ``folders`` (a run directory found in two folders counts once)."""
    costs: dict[str, dict[str, list[float]]] = {}
    seen = set()
    for folder in folders:
        for config_file in sorted(Path(folder).glob("*/config.json")):
            run = config_file.parent
            d = json.loads(config_file.read_text())
            if (run.name in seen or "experiment" not in d or d["profile"]["name"] != profile
                    or d["profile"]["epochs"] != PROFILES[profile].epochs):
                continue  # a trunk's config has no "experiment"; a longer schedule is priced from the profile's
            seen.add(run.name)
            cost = costs.setdefault(d["experiment"]["name"], {"train": [], "test": []})
            for kind, path, key in (("train", run / METRICS, "train_seconds"),
                                    ("test", run / EVALUATION, "inference_seconds")):
                seconds = _read_seconds(path, key)
                if seconds is not None:
                    cost[kind].append(seconds)
    return costs


def _median(costs: dict, name: str, kind: str) -> tuple[float | None, str]:
    """The median ``kind`` seconds of ``name``'s runs, else of all runs; and where it comes from."""
    own = costs.get(name, {}).get(kind, [])
    if own:
        return statistics.median(own), f"{name} ({len(own)})"
    every = [s for c in costs.values() for s in c[kind]]
    if every:
        return statistics.median(every), f"all runs ({len(every)})"
    return None, "none measured"


BENCH_TRAIN = Path("bench") / "train.json"  # in a results folder: gslib.bench train's output
BENCH_MINING = Path("bench") / "mining.json"  # gslib.bench mining's: Table 9a's methods per base, side by side


def _side_by_side(profile: str) -> list[tuple[dict[str, float], Path]]:
    """The per-iteration times (ms) measured side by side in the profile's benchmarks, one ``{name: ms}`` per
    measurement: ``bench train``'s ``ms_per_iteration``, and ``bench mining``'s methods of each base."""
    groups = []
    train, mining = results_dir(profile) / BENCH_TRAIN, results_dir(profile) / BENCH_MINING
    if train.is_file():
        groups.append((json.loads(train.read_text()).get("ms_per_iteration", {}), train))
    if mining.is_file():
        groups += [({row["detector"]: row["ms"]["median"] for row in rows.values()}, mining)
                   for rows in json.loads(mining.read_text()).values() if isinstance(rows, dict)]
    return groups


def bench_prices(profile: str, costs: dict) -> dict[str, tuple[float, str]]:
    """Training seconds of the experiments that have no measured run but a per-iteration time in the profile's
    ``bench train`` or ``bench mining`` output (measured side by side): ``{name: (seconds, where from)}``, each
    the median run of the experiment of the same measurement with the most runs, times the ratio of the two
    per-iteration times (the first measurement that names an experiment prices it)."""
    out = {}
    for per_iteration, path in _side_by_side(profile):
        measured = [name for name in per_iteration if costs.get(name, {}).get("train")]
        if not measured:
            continue
        reference = max(measured, key=lambda name: len(costs[name]["train"]))
        own = costs[reference]["train"]
        for name, ms in per_iteration.items():
            if not costs.get(name, {}).get("train") and name not in out:
                ratio = ms / per_iteration[reference]
                out[name] = (statistics.median(own) * ratio,
                             f"{reference} ({len(own)}) x {ratio:.2f} ({path.parent.name}/{path.name}'s ms per "
                             "iteration)")
    return out


@dataclass
class PlannedRun:
    """One row of the queue: a run (``config``; None for the profile's shared pre-trained trunk), its
    directory and status, its whole cost and what is left of it, in CPU seconds (None: nothing measured to
    estimate from), and where the estimate comes from."""

    notebooks: tuple[str, ...]
    config: Experiment | None
    profile: Profile
    directory: Path
    status: str
    cost_s: float | None
    left_s: float | None
    estimate: str

    def row(self) -> dict:
        return {"notebooks": ",".join(self.notebooks), "experiment": self.config.name if self.config else "trunk",
                "seed": self.config.seed if self.config else None, "epochs": self.profile.epochs,
                "run": self.directory.name,
                "status": self.status, "cost_s": self.cost_s, "left_s": self.left_s, "estimate": self.estimate}


def _total(parts: list[float | None]) -> float | None:
    return None if any(p is None for p in parts) else float(sum(parts))


def plan(profile: str, notebook: str | None = None, runs=None) -> list[PlannedRun]:
    """Every run ``notebook`` (None: all) needs in ``profile``, with its status and cost (see the module
    docstring); the profile's shared trunk first when it pre-trains one."""
    p = PROFILES[profile]
    folder = Path(runs) if runs is not None else results_dir(profile) / "runs"
    committed = RESULTS / results_dir(profile).relative_to(results_dir("default")) / "runs"
    folders = [folder] + ([committed] if committed.resolve() != folder.resolve() else [])
    costs = measured_costs(profile, folders)
    priced = bench_prices(profile, costs)
    planned = []
    for notebooks, config, prof in _planned_configs(profile, notebook):
        directory = run_dir(config, prof, runs)
        state = status(directory)
        # Measured at the profile's schedule: training scales with the epochs, testing does not.
        train, train_from = priced.get(config.name) or _median(costs, config.name, "train")
        factor = prof.epochs / p.epochs
        if factor != 1 and train is not None:
            train, train_from = train * factor, f"{train_from} x {factor:g} (the schedule)"
        test, test_from = _median(costs, config.name, "test")
        if state in ("stored", "trained"):
            train, train_from = _read_seconds(directory / METRICS, "train_seconds"), "its record"
        if state == "stored":
            test, test_from = _read_seconds(directory / EVALUATION, "inference_seconds"), "its record"
        left = {"stored": [], "trained": [test], "partial": [train, test], "missing": [train, test]}[state]
        source = train_from if train_from == test_from else f"train: {train_from}; test: {test_from}"
        if state == "partial":
            source += "; at most (it resumes from its checkpoint)"
        planned.append(PlannedRun(notebooks, config, prof, directory, state, _total([train, test]), _total(left),
                                  source))
    if p.pretrain_iterations and planned:
        directory = trunk_dir(p)
        measured = [_read_seconds(f / directory.name / METRICS, "train_seconds") for f in folders]
        seconds = next((s for s in measured if s is not None), None)
        state = "stored" if (directory / TRUNK).is_file() else "missing"
        needed = state == "missing" and any(r.status in ("partial", "missing") for r in planned)
        planned.insert(0, PlannedRun(tuple(sorted({n for r in planned for n in r.notebooks})), None, p, directory,
                                     state, seconds, seconds if needed else 0.0,
                                     ("its record" if seconds is not None else "none measured")
                                     + ("" if needed or state == "stored" else "; needed only to train a run")))
    return planned


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    return f"{seconds:.0f} s" if seconds < 60 else f"{seconds / 60:.1f} min"


def summary(planned: list[PlannedRun]) -> str:
    """The totals of a plan in one paragraph."""
    runs = [r for r in planned if r.config is not None]
    counts = {s: sum(r.status == s for r in runs) for s in STATUSES}
    return (f"{len(runs)} runs: {counts['stored']} stored, {counts['trained']} trained (not evaluated), "
            f"{counts['partial']} partial (checkpoint only), {counts['missing']} missing. CPU time left: "
            f"{_duration(_total([r.left_s for r in planned]))}; all of them from scratch (the trunk included): "
            f"{_duration(_total([r.cost_s for r in planned]))}.")


def describe(planned: list[PlannedRun], profile: str, folder: Path) -> str:
    """The ``--list`` text: one line per run, the totals, and where the estimates come from."""
    if not planned:
        return f"profile {profile}: no runs to list (the notebook trains nothing)"
    table = pd.DataFrame([{**r.row(), "seed": "" if r.config is None else r.config.seed,
                           "cost_s": _duration(r.cost_s), "left_s": _duration(r.left_s)} for r in planned])
    shown = folder.relative_to(REPO) if folder.is_relative_to(REPO) else folder
    return "\n".join([
        f"profile {profile}, runs in {shown}/",
        table.rename(columns={"cost_s": "cost", "left_s": "left", "estimate": "cost from"}).to_string(index=False),
        summary(planned),
        f"Cost of a run not stored: the median train_seconds (metrics.json) + inference_seconds (evaluation.json) "
        f"of the stored {profile} runs of the same experiment, else (training) a measured experiment's times the "
        f"ratio of their ms per iteration in {BENCH_TRAIN} or {BENCH_MINING}, else of all the stored {profile} runs "
        f"(in parentheses: how many), read in {shown}/ and in the committed results; of a stored run: its record."])


# -- the queue ----------------------------------------------------------------------------------------

LOCKS = ".locks"  # in a runs folder: one lock file per run (claimed)


@contextlib.contextmanager
def claimed(directory: Path) -> Iterator[bool]:
    """Whether this process holds the queue's lock on the run ``directory`` for the block: an exclusive,
    non-blocking ``flock`` on ``<runs folder>/.locks/<run>.lock``, which the kernel releases when the process
    dies, so a killed worker leaves no stale lock. Another worker (or another open of the file) gets False."""
    lock = directory.parent / LOCKS / f"{directory.name}.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def train_missing(planned: list[PlannedRun], profile: str, runs=None, progress: bool = True,
                  threads: int | None = None, workers: int = 1, worker: int = 0) -> None:
    """Train and evaluate every run of ``planned`` that is not stored, in order, in this process, with a
    bar over the runs; its ETA scales the estimates by the pace measured so far (shared by ``workers``). A
    two-stage run is also evaluated stage by stage (:func:`gslib.stages.stage_evaluation`, ``stages.json``:
    notebook 06), from the predictions of its evaluation's pass over the validation images. A run another
    worker holds (:func:`claimed`) or has stored meanwhile is passed over. ``threads``: the CPU threads this
    process trains and detects on (None: the profile's); ``worker`` numbers this process's bar."""
    p = PROFILES[profile]
    todo = [r for r in planned if r.status != "stored" and (r.config is not None or r.left_s)]
    left = [r.left_s for r in todo]
    start, done = time.perf_counter(), 0.0
    desc = f"runs ({profile})" + (f", worker {worker + 1} of {workers}" if workers > 1 else "")
    bar = tqdm(todo, desc=desc, unit="run", disable=not progress, position=worker)
    for i, r in enumerate(bar):
        pace = (time.perf_counter() - start) / done if done else 1.0
        rest = _total(left[i:])
        what = f"{r.config.name} seed {r.config.seed}" if r.config else "the shared trunk"
        bar.set_postfix_str(f"{what} ({r.status}); ETA {_duration(None if rest is None else pace * rest / workers)}"
                            " from the estimates")
        if r.config is None:
            pretrained_trunk(p, progress=progress)
            done += left[i] or 0.0
            continue
        with claimed(r.directory) as mine:
            if not mine or status(r.directory) == "stored":
                continue
            with cpu_threads(threads):
                run, _ = evaluated_run(r.config, r.profile, progress=progress, runs=runs, threads=threads)
                if r.config.second_stage:
                    stage_evaluation(run, r.profile, progress=progress)
        done += left[i] or 0.0


def run_workers(args: argparse.Namespace) -> int:
    """``python -m gslib runs --workers N``: the profile's data and shared trunk first (every worker needs
    them), then N child queues (:func:`train_missing` through ``--threads``), each on the profile's
    ``cpu_threads // N`` threads. Returns the worst exit code; a SIGTERM or Ctrl-C stops the children too
    (each run resumes from its checkpoint on the next start)."""
    p = PROFILES[args.profile]
    ensure_data(p)
    if p.pretrain_iterations:
        pretrained_trunk(p, progress=not args.no_progress)
    threads = max(1, (p.cpu_threads or os.cpu_count() or 1) // args.workers)
    command = [sys.executable, "-m", "gslib", "runs", "--profile", args.profile, "--threads", str(threads),
               "--workers", "1"]
    command += ["--notebook", args.notebook] if args.notebook else []
    command += ["--runs", args.runs] if args.runs else []
    command += ["--no-progress"] if args.no_progress else []
    handler = signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))  # to reach `finally`
    children = [subprocess.Popen([*command, "--worker", str(i), "--of", str(args.workers)])
                for i in range(args.workers)]
    try:
        return max(child.wait() for child in children)
    finally:
        for child in children:
            if child.poll() is None:
                child.terminate()
        for child in children:
            child.wait()
        signal.signal(signal.SIGTERM, handler)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, not {value}")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gslib runs", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--notebook", choices=sorted(NOTEBOOK_RUNS), help="only this notebook's runs")
    parser.add_argument("--profile", choices=sorted(PROFILES), default="default")
    parser.add_argument("--list", action="store_true", help="only list the runs, their status and cost")
    parser.add_argument("--json", action="store_true", help="the list as one JSON object")
    parser.add_argument("--runs", help="folder of run directories (default: the profile's results/runs)")
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("--workers", type=_positive, default=1,
                        help="queues side by side, each on the profile's cpu_threads // N threads (default 1)")
    parser.add_argument("--threads", type=_positive, help="CPU threads to train and detect on (default: train on "
                        "the profile's cpu_threads, detect on torch's default)")
    parser.add_argument("--worker", type=int, default=0, help=argparse.SUPPRESS)  # run_workers' child number
    parser.add_argument("--of", type=int, default=1, help=argparse.SUPPRESS)      # and how many there are
    args = parser.parse_args(argv)
    folder = Path(args.runs) if args.runs else results_dir(args.profile) / "runs"
    if args.workers > 1 and not args.list:
        print(describe(plan(args.profile, args.notebook, args.runs), args.profile, folder), flush=True)
        code = run_workers(args)
        print(summary(plan(args.profile, args.notebook, args.runs)))
        return code
    planned = plan(args.profile, args.notebook, args.runs)
    if not args.list:
        if args.of == 1:
            print(describe(planned, args.profile, folder), flush=True)
        train_missing(planned, args.profile, args.runs, progress=not args.no_progress, threads=args.threads,
                      workers=args.of, worker=args.worker)
        if args.of > 1:
            return 0  # run_workers sums up
        planned = plan(args.profile, args.notebook, args.runs)
    if args.json:
        print(json.dumps({"profile": args.profile, "runs_folder": str(folder), "summary": summary(planned),
                          "runs": [r.row() for r in planned]}, indent=1))
    else:
        print(describe(planned, args.profile, folder) if args.list else summary(planned))
    return 0
