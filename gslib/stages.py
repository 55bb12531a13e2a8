"""The two stages of a Table 13 detector evaluated apart (Sec. 6.3): the first stage alone, the second alone, and
their ensemble (the detector's output, what ``evaluation.json`` scores).

``stage_evaluation(run, profile)`` evaluates the three by the official WIDER FACE protocol and stores
``stages.json`` in the run directory (committed with the run's records, as ``diagnostics.json``; the prediction
folders ``predictions/stages/<stage>/`` are not):

    {"ap": {"first": {...}, "second": {...}, "output": {...}}, "images": 500, "inference_seconds": 71.2}

each ``ap`` as ``evaluation.json``'s (easy, medium, hard, all and the @S keys). Its predictions are those of the
pass :func:`gslib.study.evaluate_run` made (which writes every stage of a two-stage detector, one pass per image
and pyramid scale), and ``inference_seconds`` is that pass's; where they are missing (a run evaluated before, or
its predictions deleted), it detects again with the profile's test settings for all three
(:func:`gslib.inference.predict_stages`) and times that pass. A second call reads ``stages.json`` back. A run
without a second stage has nothing to split: :class:`ValueError`. ``evaluation.json`` itself is left as
:func:`gslib.study.evaluate_run` wrote it; ``ap["output"]`` equals its ``ap`` (the same detections).

``swapped_selection(run, profile)`` evaluates the detector's output with the *other* test-time proposal cut
(:func:`gslib.fast_rcnn.select_proposals`): a Grouped Fast R-CNN tested with the global top K, a Fast R-CNN with
the top K of every reference-scale group (eq. 4). With ``evaluation.json`` it separates what grouping does in
training from what it does at test. Stored as ``proposal_selection.json``:

    {"grouped": false, "ap": {...}, "images": 500, "inference_seconds": 64.0, "cpu_threads": 1}

(``grouped``: the cut used for these APs, the opposite of the detector's own).
"""
from __future__ import annotations

import json
from pathlib import Path

from gslib.data.wider import read_wider_mat
from gslib.evaluate.wider import evaluate_wider
from gslib.experiments import Profile, read_config
from gslib.inference import STAGES, detection_threads, predict_folder, predict_stages, test_workers
from gslib.store import WorkClock, default_device, write_atomic
from gslib.study import EVALUATION, GROUND_TRUTH, STAGE_PREDICTIONS, VAL_IMAGES
from gslib.train import autocast_dtype_for, load_trained

STAGES_FILE = "stages.json"
SWAPPED_FILE = "proposal_selection.json"
SWAPPED_PREDICTIONS = Path("predictions") / "swapped_selection"
# The test-time proposal cuts (select_proposals' ``grouped``), by name.
CUTS = {False: "global top K", True: "top K per group"}


def stage_aps(final: Path, by_scale: Path, gt, scales) -> dict[str, float]:
    """AP of one prediction pair as ``evaluation.json`` keeps it: easy / medium / hard / all of ``final``, the
    "@S" keys of ``by_scale``, 0 for a sub-detector of ``scales`` without detections."""
    aps = {k: v.ap for k, v in evaluate_wider(final, gt).items() if not k.startswith("@")}
    aps.update({k: v.ap for k, v in evaluate_wider(by_scale, gt).items() if "@" in k})
    for scale in scales:
        for key in (f"@{scale}", *(f"{subset}@{scale}" for subset in ("easy", "medium", "hard"))):
            aps.setdefault(key, 0.0)
    return {k: float(v) for k, v in aps.items()}


def _two_stage_config(run: Path, why: str):
    """The run's Experiment; ValueError, saying ``why`` it matters, when it has no second stage."""
    config, _ = read_config(run)
    if not config.second_stage:
        raise ValueError(f"{run}: {config.name} has no second stage: {why}")
    return config


def stage_evaluation(run: Path, profile: Profile, progress: bool = False) -> dict:
    """The per-stage evaluation of the two-stage run ``run`` (see the module docstring), computed once from
    its weights and stored as ``stages.json``."""
    run = Path(run)
    path = run / STAGES_FILE
    if path.is_file():
        return json.loads(path.read_text())
    config = _two_stage_config(run, "its evaluation.json is its only stage")
    gt = read_wider_mat(profile.path(GROUND_TRUTH))
    # evaluate_run's pass: the output in run/predictions, the other stages beside it.
    folders = {stage: (run / STAGE_PREDICTIONS / stage / "final", run / STAGE_PREDICTIONS / stage / "by_scale")
               for stage in STAGES if stage != "output"}
    folders["output"] = (run / "predictions" / "final", run / "predictions" / "by_scale")
    evaluation = run / EVALUATION
    if all(f.is_dir() for pair in folders.values() for f in pair) and evaluation.is_file():
        seconds = json.loads(evaluation.read_text())["inference_seconds"]
    else:
        device = default_device()
        detector = load_trained(run, device)
        clock = WorkClock()  # without the time the process stood stopped
        folders = predict_stages(detector, profile.path(VAL_IMAGES), [im.name for im in gt.images],
                                 run / STAGE_PREDICTIONS, STAGES, progress=progress, clock=clock,
                                 workers=test_workers(device),
                                 autocast_dtype=autocast_dtype_for(profile, device),  # the training's precision
                                 scales=profile.test_scales, max_side=profile.test_max_side,
                                 pre_nms_top_k=profile.pre_nms_top_n, nms_threshold=profile.nms_thresh)
        seconds = clock.seconds
    aps = {stage: stage_aps(final, by_scale, gt, config.scales) for stage, (final, by_scale) in folders.items()}
    result = {"ap": aps, "images": len(gt.images), "inference_seconds": round(seconds, 2)}
    write_atomic(path, json.dumps(result, indent=1) + "\n")
    return result


def swapped_selection(run: Path, profile: Profile, progress: bool = False) -> dict:
    """The two-stage run's output with the other test-time proposal cut (see the module docstring), computed
    once from its weights and stored as ``proposal_selection.json``."""
    run = Path(run)
    path = run / SWAPPED_FILE
    if path.is_file():
        return json.loads(path.read_text())
    config = _two_stage_config(run, "so no proposals to select")
    gt = read_wider_mat(profile.path(GROUND_TRUTH))
    device = default_device()
    detector = load_trained(run, device)
    detector.grouped = not detector.grouped
    clock = WorkClock()  # without the time the process stood stopped
    workers = test_workers(device)
    final, by_scale = predict_folder(detector, profile.path(VAL_IMAGES), [im.name for im in gt.images],
                                     run / SWAPPED_PREDICTIONS, progress=progress, clock=clock, workers=workers,
                                     autocast_dtype=autocast_dtype_for(profile, device),  # the training's
                                     scales=profile.test_scales, max_side=profile.test_max_side,
                                     pre_nms_top_k=profile.pre_nms_top_n, nms_threshold=profile.nms_thresh)
    result = {"grouped": detector.grouped, "ap": stage_aps(final, by_scale, gt, config.scales),
              "images": len(gt.images), "inference_seconds": round(clock.seconds, 2),
              "cpu_threads": detection_threads(device, workers)}
    write_atomic(path, json.dumps(result, indent=1) + "\n")
    return result


def by_test_cut(runs: list[tuple[Path, dict]], profile: Profile) -> dict[str, list[dict]]:
    """A two-stage row's evaluations per seed under each test-time proposal cut (:data:`CUTS`): its own (its
    ``evaluation.json``) and the other (:func:`swapped_selection`), ``{cut: [evaluation per seed]}``, each as
    :func:`gslib.study.seed_table` reads it. runs: ``[(run directory, evaluation)]``, seed by seed."""
    swapped = [swapped_selection(run, profile) for run, _ in runs]
    other = {s["grouped"] for s in swapped}
    if len(other) != 1:
        raise ValueError(f"the runs of one row select their proposals differently: {[run for run, _ in runs]}")
    other = other.pop()
    return {CUTS[not other]: [evaluation for _, evaluation in runs],
            CUTS[other]: [{**evaluation, "ap": s["ap"]} for s, (_, evaluation) in zip(swapped, runs)]}
