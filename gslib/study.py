"""What a notebook asks for: a trained *and evaluated* run, reused when it exists.

``evaluated_run(config, profile)`` trains the run if needed (:func:`gslib.experiments.get_run`), detects
faces on the validation images with the profile's test settings (:mod:`gslib.inference`), evaluates them
with the official WIDER FACE protocol (:mod:`gslib.evaluate.wider`) and stores in the run directory:

- ``predictions/final`` and ``predictions/by_scale`` (official prediction folders, 6th column = anchor scale),
- ``evaluation.json``: AP of easy / medium / hard / all and @S, the inference time,
- ``counts_<subset>.npz``: per-image counts for the paired bootstrap over images (:mod:`gslib.stats`).

A second call reads them back. Validation data sits in the profile's ``data_root`` in the official
layout: ``WIDER_val/images`` and ``eval_tools/ground_truth`` (the four .mat files).
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from gslib.experiments import Experiment, Profile, get_run, write_atomic
from gslib.stats import mean_interval

EVALUATION = "evaluation.json"
VAL_IMAGES = "WIDER_val/images"
GROUND_TRUTH = "eval_tools/ground_truth"


def evaluate_run(run: Path, profile: Profile, progress: bool = True) -> dict:
    """Detect on the validation set and evaluate (see the module docstring); returns evaluation.json."""
    from gslib.data.wider import read_wider_mat
    from gslib.evaluate.wider import evaluate_wider, evaluate_wider_per_image
    from gslib.inference import predict_folder
    from gslib.train import load_trained

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    detector = load_trained(run, device)
    gt = read_wider_mat(profile.path(GROUND_TRUTH))
    start = time.perf_counter()
    final, by_scale = predict_folder(detector, profile.path(VAL_IMAGES), [im.name for im in gt.images],
                                     run / "predictions", scales=profile.test_scales,
                                     max_side=profile.test_max_side, pre_nms_top_k=profile.pre_nms_top_n,
                                     nms_threshold=profile.nms_thresh, progress=progress)
    seconds = time.perf_counter() - start
    aps = {k: v.ap for k, v in evaluate_wider(final, gt).items() if not k.startswith("@")}
    aps.update({k: v.ap for k, v in evaluate_wider(by_scale, gt).items() if k.startswith("@")})
    for subset in ("easy", "medium", "hard", "all"):
        tp, proposals, faces = evaluate_wider_per_image(final, gt, subset)
        np.savez_compressed(run / f"counts_{subset}.npz", tp=tp, proposals=proposals, faces=faces)
    result = {"ap": {k: float(v) for k, v in aps.items()}, "images": len(gt.images),
              "inference_seconds": round(seconds, 2)}
    write_atomic(run / EVALUATION, json.dumps(result, indent=1) + "\n")
    return result


def evaluated_run(config: Experiment, profile: Profile, progress: bool = True,
                  runs=None) -> tuple[Path, dict]:
    """The run directory of ``(config, profile)`` and its evaluation, each computed only when missing.
    ``runs``: where run directories live (default ``results/runs``, see :func:`gslib.experiments.run_dir`)."""
    run = get_run(config, profile, progress=progress, runs=runs)
    path = run / EVALUATION
    result = json.loads(path.read_text()) if path.is_file() else evaluate_run(run, profile, progress)
    result["train_seconds"] = json.loads((run / "metrics.json").read_text())["train_seconds"]
    return run, result


def counts(run: Path, subset: str = "all") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The per-image counts stored by :func:`evaluate_run`: (true_positives, proposals, faces)."""
    z = np.load(run / f"counts_{subset}.npz")
    return z["tp"], z["proposals"], z["faces"]


def seed_table(results: dict[str, list[dict]], columns=("easy", "medium", "hard", "all")) -> pd.DataFrame:
    """{detector: [evaluation per seed]} -> one row per detector: mean AP and 95% interval per column
    (Student t over seeds), plus the mean training time."""
    rows = []
    for name, runs in results.items():
        row = {"detector": name, "seeds": len(runs)}
        for c in columns:
            mean, lo, hi = mean_interval([r["ap"][c] for r in runs])
            row[c] = mean
            row[f"{c} 95% CI"] = f"[{lo:.3f}, {hi:.3f}]"
        row["train s"] = float(np.mean([r["train_seconds"] for r in runs]))
        rows.append(row)
    return pd.DataFrame(rows)
