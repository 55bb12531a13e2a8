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
"""
from __future__ import annotations

import json
from pathlib import Path

from gslib.data.wider import read_wider_mat
from gslib.evaluate.wider import evaluate_wider
from gslib.experiments import Profile, read_config
from gslib.inference import STAGES, predict_stages, test_workers
from gslib.store import WorkClock, default_device, write_atomic
from gslib.study import EVALUATION, GROUND_TRUTH, STAGE_PREDICTIONS, VAL_IMAGES
from gslib.train import autocast_dtype_for, load_trained

STAGES_FILE = "stages.json"


def stage_aps(final: Path, by_scale: Path, gt, scales) -> dict[str, float]:
    """AP of one prediction pair as ``evaluation.json`` keeps it: easy / medium / hard / all of ``final``, the
    "@S" keys of ``by_scale``, 0 for a sub-detector of ``scales`` without detections."""
    aps = {k: v.ap for k, v in evaluate_wider(final, gt).items() if not k.startswith("@")}
    aps.update({k: v.ap for k, v in evaluate_wider(by_scale, gt).items() if "@" in k})
    for scale in scales:
        for key in (f"@{scale}", *(f"{subset}@{scale}" for subset in ("easy", "medium", "hard"))):
            aps.setdefault(key, 0.0)
    return {k: float(v) for k, v in aps.items()}


def stage_evaluation(run: Path, profile: Profile, progress: bool = False) -> dict:
    """The per-stage evaluation of the two-stage run ``run`` (see the module docstring), computed once from
    its weights and stored as ``stages.json``."""
    run = Path(run)
    path = run / STAGES_FILE
    if path.is_file():
        return json.loads(path.read_text())
    config, _ = read_config(run)
    if not config.second_stage:
        raise ValueError(f"{run}: {config.name} has no second stage; its evaluation.json is its only stage")
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
