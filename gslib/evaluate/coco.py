"""COCO box metrics through pycocotools' COCOeval: AP, AP50, AP75, AP by size, and the average recall
AR^100 / AR^1k by size that Table 2 of the paper reports.

How the numbers are read. ``COCOeval.summarize()`` hard-codes the positions of its ``maxDets`` (it reads
AP at ``maxDets[2]`` and AR by size at ``maxDets[2]`` only), so it cannot give AR^100 and AR^1k from one
run. We run ``evaluate()`` and ``accumulate()`` with ``maxDets = [100, 1000]`` and average
``eval["precision"]`` (T x R x K x A x M) and ``eval["recall"]`` (T x K x A x M) ourselves, exactly as
``summarize``'s inner ``_summarize`` does: the mean over IoU thresholds 0.50:0.95 (and recall thresholds
and categories) of the entries that are not -1.

Empty settings. pycocotools writes -1 where a setting has no ground truth (a category, or a size range
such as "small" with no small object). Such entries are left out of the means, as in ``summarize``; when
every entry of a metric is -1 (no ground truth at all in that range) the metric is undefined and we
report ``nan``, never -1, so every number is either in [0, 1] or nan. With ground truth but no detections
the metric is 0.

Class-agnostic evaluation (``class_agnostic=True``) is pycocotools' proposal mode, ``params.useCats = 0``:
the ground truth and detections of an image are pooled whatever their category.
"""
from __future__ import annotations

import contextlib
import copy
import io
import os
from collections.abc import Iterable, Mapping

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from gslib.data.coco import load_coco, load_coco_results, validate_coco_results

__all__ = ["METRIC_KEYS", "evaluate_coco"]

# Key suffix -> pycocotools area range label (areas in pixels^2: small < 32^2 <= medium < 96^2 <= large).
SIZES = (("", "all"), ("_s", "small"), ("_m", "medium"), ("_l", "large"))
METRIC_KEYS = (
    "AP", "AP50", "AP75", "AP_s", "AP_m", "AP_l",
    *("AR100" + s for s, _ in SIZES),
    *("AR1k" + s for s, _ in SIZES),
)


def evaluate_coco(
    gt: COCO | str | os.PathLike,
    detections: Iterable[Mapping] | str | os.PathLike,
    class_agnostic: bool = False,
    ap_max_dets: int = 100,
    verbose: bool = False,
) -> dict[str, float]:
    """COCO box metrics of ``detections`` against ``gt``.

    gt: a ``COCO`` (e.g. from ``gslib.data.coco.load_coco``) or the path of an instances JSON.
    detections: COCO results records ``{"image_id", "category_id", "bbox": [x, y, w, h], "score"}``, or
        the path of a results JSON. Every image_id (and, per class, every category_id) must be in ``gt``.
    class_agnostic: ignore categories (``useCats = 0``).
    ap_max_dets: detections per image for the AP metrics (COCO's standard is 100).
    verbose: let pycocotools print its progress.

    Returns ``{key: value}`` for the keys of ``METRIC_KEYS``: "AP" (IoU 0.50:0.95), "AP50", "AP75",
    "AP_s", "AP_m", "AP_l" at ``ap_max_dets``; "AR100", "AR100_s", "AR100_m", "AR100_l" and the same for
    "AR1k" (at most 100 and 1000 detections per image). Values in [0, 1], nan where undefined.
    """
    coco_gt = gt if isinstance(gt, COCO) else load_coco(gt)
    if isinstance(detections, (str, os.PathLike)):
        records = load_coco_results(detections)
    else:
        records = validate_coco_results(detections)
    _check_against_gt(coco_gt, records, class_agnostic)
    if class_agnostic and records:
        # With useCats = 0, COCOeval still gathers detections by the ground truth's category ids, so a
        # detection of any other category would be lost: give them all one ground-truth category.
        category = min(coco_gt.getCatIds())
        records = [{**r, "category_id": category} for r in records]

    with contextlib.nullcontext() if verbose else contextlib.redirect_stdout(io.StringIO()):
        coco_dt = _load_results(coco_gt, records)
        evaluator = COCOeval(coco_gt, coco_dt, iouType="bbox")
        evaluator.params.maxDets = sorted({100, 1000, ap_max_dets})
        evaluator.params.useCats = 0 if class_agnostic else 1
        evaluator.evaluate()
        evaluator.accumulate()
    return _metrics(evaluator, ap_max_dets)


def _check_against_gt(coco_gt: COCO, records: list[dict], class_agnostic: bool) -> None:
    """COCOeval would assert (image ids) or silently skip (category ids) what is not in the ground truth."""
    unknown_images = sorted({r["image_id"] for r in records} - set(coco_gt.getImgIds()))
    if unknown_images:
        raise ValueError(f"{len(unknown_images)} detected image id(s) are not in the ground truth, "
                         f"e.g. {unknown_images[:5]}")
    if class_agnostic:
        if records and not coco_gt.getCatIds():
            raise ValueError("the ground truth has no categories")
        return
    unknown_categories = sorted({r["category_id"] for r in records} - set(coco_gt.getCatIds()))
    if unknown_categories:
        raise ValueError(f"detected category id(s) {unknown_categories[:5]} are not in the ground truth")


def _load_results(coco_gt: COCO, records: list[dict]) -> COCO:
    """``coco_gt.loadRes(records)``; by hand for no detections, which loadRes cannot take (it reads
    ``records[0]``) although "no detections" is a valid answer that scores 0."""
    if records:
        return coco_gt.loadRes(records)
    coco_dt = COCO()
    coco_dt.dataset = {
        "images": list(coco_gt.dataset["images"]),
        "categories": copy.deepcopy(coco_gt.dataset["categories"]),
        "annotations": [],
    }
    coco_dt.createIndex()
    return coco_dt


def _mean_defined(values: np.ndarray) -> float:
    """Mean of the entries that are not -1 (pycocotools' "no ground truth"); nan if there are none."""
    defined = values[values > -1]
    return float(defined.mean()) if defined.size else float("nan")


def _metrics(evaluator: COCOeval, ap_max_dets: int) -> dict[str, float]:
    p = evaluator.params
    precision = evaluator.eval["precision"]  # (T, R, K, A, M)
    recall = evaluator.eval["recall"]  # (T, K, A, M)
    m_ap, m_100, m_1k = (p.maxDets.index(d) for d in (ap_max_dets, 100, 1000))
    area = {label: p.areaRngLbl.index(label) for _, label in SIZES}
    t50 = int(np.argmin(np.abs(p.iouThrs - 0.5)))
    t75 = int(np.argmin(np.abs(p.iouThrs - 0.75)))

    out = {
        "AP": _mean_defined(precision[:, :, :, area["all"], m_ap]),
        "AP50": _mean_defined(precision[t50, :, :, area["all"], m_ap]),
        "AP75": _mean_defined(precision[t75, :, :, area["all"], m_ap]),
    }
    for suffix, label in SIZES[1:]:
        out["AP" + suffix] = _mean_defined(precision[:, :, :, area[label], m_ap])
    for name, m in (("AR100", m_100), ("AR1k", m_1k)):
        for suffix, label in SIZES:
            out[name + suffix] = _mean_defined(recall[:, :, area[label], m])
    return out
