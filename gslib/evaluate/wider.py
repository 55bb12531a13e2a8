"""The official WIDER FACE evaluation protocol, vectorised.

A transcription of the official MATLAB ``eval_tools`` (``wider_eval.m``: ``read_pred``, ``norm_score``,
``evaluation`` with ``image_evaluation``, ``image_pr_info``, ``dataset_pr_info``; ``boxoverlap.m``;
``VOCap.m`` as ``wider_plot.m`` calls it). Per subset it gives the same precision-recall curve and AP.

Protocol:
1. Scores are min-max normalised over the whole prediction set (every image, every row evaluated).
2. Each detection claims the ground-truth box (of its image) with which it has the highest IoU; the claim
   holds when that IoU >= 0.5.
3. A detection claiming a box outside the subset's ``gt_list`` is ignored: neither true nor false positive.
   Every other detection is a proposal. A box of the subset is recalled once a detection claims it.
4. At each of 1000 thresholds ``t = 1 - k / 1000`` (k = 1..1000, so 0.999 ... 0), over the dataset:
   precision = recalled boxes / proposals, recall = recalled boxes / boxes in the subset, counting only
   detections with normalised score >= t.
5. AP = VOCap(recall, precision): the area under the precision envelope (VOC 2010 style).

Official quirks we follow, and why (to give the official numbers):
- Pixel convention: a box ``x y w h`` spans ``x .. x + w`` *inclusive*, i.e. ``w + 1`` pixels
  (``image_evaluation`` turns w into x2 = x + w, then ``boxoverlap`` adds 1 to every width and height).
  An intersection with width or height <= 0 has IoU 0 (``o(w <= 0) = 0``), also for the boxes of negative
  width that the official annotations contain.
- Greedy matching without exclusion: a detection claims its max-IoU box even if that box is already
  recalled (the detection then counts as a false positive) or ignored (the detection is then ignored),
  and even if another box above 0.5 is still free. IoU ties go to the first box in annotation order
  (MATLAB ``max``).
- Normalisation in single precision: ``norm_score`` starts from ``realmin('single')`` and
  ``realmax('single')``, and MATLAB turns double-with-single arithmetic into single, so the maximum is
  at least 1.2e-38, the minimum at most 3.4e38, and normalised scores are rounded to float32.
- Images without detections add nothing but their boxes to the face count; boxes of any size count
  (``gt_list`` alone decides).
- Precision at a threshold where no detection is kept is 0/0 = NaN, and VOCap's ``max`` skips NaN
  (MATLAB ``max`` ignores NaN; ports using ``np.maximum`` propagate it).

Order does not matter, by construction: ``read_pred.m`` sorts each image's detections by score before
``image_evaluation`` walks them. Since a detection's claim depends only on its own box (quirk 2) and a
threshold never separates equal scores, the official counts at every threshold are order-free: the
proposals are the non-ignored detections scoring >= t, the recalled boxes those claimed by at least one
detection scoring >= t. We compute exactly that, so files listing detections in any order, ties
included, give the same APs. (Ports that skip the sort walk an unsorted file up to its *last* row
scoring >= t, counting the rows below t before it too, and report other, usually lower, numbers.)

Deviations (degenerate inputs the official tool mishandles):
- When every evaluated score is equal, ``norm_score`` divides 0 by 0 and drops every detection; we give
  them all the normalised score 1.
- Face-less images: the official files give them one all-zero placeholder box that no subset lists, so
  their detections are false positives unless they overlap that 1-pixel box; ``gslib.data.wider`` reads
  them as 0 boxes and all their detections are false positives. (The official code would skip detections
  of an image whose box array is empty; that never happens with its files.)
- A subset with no face has AP NaN.

"all" and "@S" (not official): "all" counts every box not labelled invalid (the others are ignored as in
rule 3). Predictions may carry a 6th column naming the sub-detector (e.g. its anchor scale S); "@S"
evaluates "all" using only the rows of sub-detector S, exactly as if the prediction files held only those
rows (normalisation included). Rows without the column belong to no "@S".
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gslib.data.wider import SUBSETS, WiderImage, image_key, read_predictions, read_wider_mat

__all__ = [
    "IOU_THRESHOLD",
    "NUM_THRESHOLDS",
    "PRCurve",
    "evaluate_wider",
    "evaluate_wider_per_image",
    "match_detections",
    "normalise_scores",
    "official_iou",
    "per_image_counts",
    "pr_curve",
    "pr_curve_from_counts",
    "voc_ap",
]

IOU_THRESHOLD = 0.5
NUM_THRESHOLDS = 1000
_REALMIN_SINGLE = np.float32(np.finfo(np.float32).tiny)  # MATLAB realmin('single')
_REALMAX_SINGLE = np.float32(np.finfo(np.float32).max)  # MATLAB realmax('single')


@dataclass
class PRCurve:
    """One evaluation: the official PR curve and its AP.

    thresholds: (T,) normalised-score thresholds, 0.999 down to 0 for T = 1000.
    precision, recall: (T,) float64; precision is NaN where no detection scores >= the threshold.
    true_positives: (T,) int64, boxes of the subset recalled; proposals: (T,) int64, detections counted.
    num_faces: boxes in the subset.
    """

    ap: float
    precision: np.ndarray
    recall: np.ndarray
    thresholds: np.ndarray
    true_positives: np.ndarray
    proposals: np.ndarray
    num_faces: int


def official_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``boxoverlap.m`` for all pairs. a: (A, 4), b: (B, 4) x y w h -> (A, B) IoU float64.

    The official pixel convention: a box covers w + 1 by h + 1 pixels; pairs whose intersection has
    width or height <= 0 get 0.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    ax2, ay2 = a[:, 0] + a[:, 2], a[:, 1] + a[:, 3]
    bx2, by2 = b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]
    iw = np.minimum(ax2[:, None], bx2[None]) - np.maximum(a[:, None, 0], b[None, :, 0]) + 1
    ih = np.minimum(ay2[:, None], by2[None]) - np.maximum(a[:, None, 1], b[None, :, 1]) + 1
    inter = iw * ih
    area_a = (a[:, 2] + 1) * (a[:, 3] + 1)
    area_b = (b[:, 2] + 1) * (b[:, 3] + 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = inter / (area_a[:, None] + area_b[None] - inter)
    iou[(iw <= 0) | (ih <= 0)] = 0.0
    return iou


def match_detections(dets: np.ndarray, gts: np.ndarray, iou_threshold: float = IOU_THRESHOLD) -> np.ndarray:
    """The official greedy claim of ``image_evaluation``. dets: (D, 4), gts: (G, 4) x y w h -> (D,) int64.

    Entry d is the index of the box with the highest IoU with detection d (the first on ties), or -1 when
    that IoU is below ``iou_threshold`` or there is no box. Already-claimed boxes are not excluded.
    """
    if len(dets) == 0 or len(gts) == 0:
        return np.full(len(dets), -1, dtype=np.int64)
    iou = official_iou(dets, gts)
    best = iou.argmax(axis=1)  # first maximum, like MATLAB max
    ok = iou[np.arange(len(dets)), best] >= iou_threshold
    return np.where(ok, best, -1).astype(np.int64)


def normalise_scores(scores: np.ndarray) -> np.ndarray:
    """``norm_score.m``: min-max over all the given scores, in single precision. (D,) -> (D,) float64.

    Equal scores (0/0 in the official code) all get 1.
    """
    scores = np.asarray(scores, dtype=np.float64)
    if scores.size == 0:
        return scores.copy()
    # MATLAB: max(single, double) is single, and so is every operation mixing the two.
    hi = max(_REALMIN_SINGLE, np.float32(scores.max()))
    lo = min(_REALMAX_SINGLE, np.float32(scores.min()))
    if hi == lo:
        return np.ones_like(scores)
    return ((scores.astype(np.float32) - lo) / (hi - lo)).astype(np.float64)


def _count_at_least(values: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """(N,), (T,) -> (T,) int64: how many values are >= each threshold."""
    return len(values) - np.searchsorted(np.sort(values), thresholds, side="left")


def voc_ap(recall: np.ndarray, precision: np.ndarray) -> float:
    """``VOCap.m``. recall, precision: (T,), recall non-decreasing -> area under the precision envelope.

    The envelope is a running max from the right that skips NaN, as MATLAB ``max`` does.
    """
    mrec = np.concatenate([[0.0], recall, [1.0]])
    mpre = np.concatenate([[0.0], precision, [0.0]])
    mpre = np.fmax.accumulate(mpre[::-1])[::-1]
    i = np.flatnonzero(mrec[1:] != mrec[:-1]) + 1
    return float(np.sum((mrec[i] - mrec[i - 1]) * mpre[i]))


def pr_curve(scores: np.ndarray, claimed: np.ndarray, keep: np.ndarray,
             num_thresholds: int = NUM_THRESHOLDS) -> PRCurve:
    """The official PR curve of one subset over a whole dataset.

    scores: (D,) raw scores of every detection evaluated (normalised here, over these D).
    claimed: (D,) int64, the box each detection claims (index into ``keep``) or -1, see
        :func:`match_detections` (offset by image so that boxes of the whole dataset are numbered).
    keep: (G,) bool, the boxes that count in this subset; the others are ignored.
    """
    scores = normalise_scores(scores)
    claimed = np.asarray(claimed, dtype=np.int64)
    keep = np.asarray(keep, dtype=bool)
    thresholds = 1.0 - np.arange(1, num_thresholds + 1) / num_thresholds  # as 1-t/thresh_num in double

    on_box = claimed >= 0
    ignored = np.zeros(len(claimed), dtype=bool)
    ignored[on_box] = ~keep[claimed[on_box]]
    proposals = _count_at_least(scores[~ignored], thresholds)

    # A kept box is recalled from the best score among the detections claiming it downwards.
    hit = on_box & ~ignored
    recalled_from = np.full(len(keep), -np.inf)
    np.maximum.at(recalled_from, claimed[hit], scores[hit])
    true_positives = _count_at_least(recalled_from[keep], thresholds)

    num_faces = int(keep.sum())
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = true_positives / proposals
        recall = true_positives / num_faces
    ap = voc_ap(recall, precision) if num_faces else float("nan")
    return PRCurve(ap, precision, recall, thresholds, true_positives, proposals, num_faces)


def pr_curve_from_counts(true_positives: np.ndarray, proposals: np.ndarray, faces: np.ndarray) -> PRCurve:
    """The official PR curve from per-image counts (:func:`per_image_counts`, :func:`evaluate_wider_per_image`,
    or a stored run's ``counts.npz``, :func:`gslib.study.counts`), summed over images: the same curve and AP as
    :func:`evaluate_wider` on the same predictions (the counts were taken after the set-wide score
    normalisation, at its thresholds).

    true_positives, proposals: (I, T) int, cumulative at the T descending thresholds; faces: (I,) int.
    """
    tp = np.asarray(true_positives, dtype=np.int64)
    proposals = np.asarray(proposals, dtype=np.int64)
    if tp.ndim != 2 or tp.shape != proposals.shape or len(np.asarray(faces)) != len(tp):
        raise ValueError(f"counts must be (I, T), (I, T) and (I,), got {tp.shape}, {proposals.shape} and "
                         f"{np.shape(faces)}")
    tp, proposals, num_faces = tp.sum(axis=0), proposals.sum(axis=0), int(np.sum(faces))
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = tp / proposals
        recall = tp / num_faces
    thresholds = 1.0 - np.arange(1, tp.shape[0] + 1) / tp.shape[0]
    ap = voc_ap(recall, precision) if num_faces else float("nan")
    return PRCurve(ap, precision, recall, thresholds, tp, proposals, num_faces)


def _first_threshold_at_or_below(values: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """(N,), descending (T,) -> (N,) index of the first threshold <= each value (T when none)."""
    return len(thresholds) - np.searchsorted(thresholds[::-1], values, side="right")


def per_image_counts(scores: np.ndarray, claimed: np.ndarray, keep: np.ndarray, det_image: np.ndarray,
                     box_image: np.ndarray, num_images: int,
                     num_thresholds: int = NUM_THRESHOLDS) -> tuple[np.ndarray, np.ndarray]:
    """:func:`pr_curve`'s counts split by image, for resampling images (bootstrap).

    scores, claimed, keep: as in :func:`pr_curve`; det_image: (D,) image of each detection; box_image: (G,)
    image of each box. Returns ``true_positives, proposals``: (num_images, T) int64 each, whose sums over
    images are :func:`pr_curve`'s. Scores are normalised over the whole set, as the protocol does.
    """
    scores = normalise_scores(scores)
    claimed = np.asarray(claimed, dtype=np.int64)
    keep = np.asarray(keep, dtype=bool)
    thresholds = 1.0 - np.arange(1, num_thresholds + 1) / num_thresholds
    on_box = claimed >= 0
    ignored = np.zeros(len(claimed), dtype=bool)
    ignored[on_box] = ~keep[claimed[on_box]]
    hit = on_box & ~ignored
    recalled_from = np.full(len(keep), -np.inf)
    np.maximum.at(recalled_from, claimed[hit], scores[hit])

    def cumulative(images, values):
        hist = np.zeros((num_images, num_thresholds + 1), dtype=np.int64)
        np.add.at(hist, (images, _first_threshold_at_or_below(values, thresholds)), 1)
        return np.cumsum(hist, axis=1)[:, :num_thresholds]

    return (cumulative(np.asarray(box_image)[keep], recalled_from[keep]),
            cumulative(np.asarray(det_image)[~ignored], scores[~ignored]))


def _detections_per_image(preds: dict[str, np.ndarray], images: list[WiderImage]) -> list[np.ndarray | None]:
    """Align prediction arrays with the ground-truth images (None: no entry). Keys may end with .jpg."""
    index = {image.key: k for k, image in enumerate(images)}
    rows_per_image: list[np.ndarray | None] = [None] * len(images)
    unknown = []
    for key, rows in preds.items():
        k = index.get(image_key(key) if key.endswith(".jpg") else key)
        if k is None:
            unknown.append(key)
            continue
        rows = np.asarray(rows, dtype=np.float64)
        if rows.size == 0:
            rows = rows.reshape(0, 5)
        if rows.ndim != 2 or rows.shape[1] not in (5, 6):
            raise ValueError(f"predictions[{key!r}] has shape {rows.shape}, expected (K, 5) or (K, 6)")
        if not np.isfinite(rows[:, :5]).all():
            raise ValueError(f"predictions[{key!r}] has a box or score that is not finite")
        rows_per_image[k] = rows
    if unknown:
        raise ValueError(f"{len(unknown)} prediction keys match no ground-truth image, e.g. {unknown[:3]}; "
                         "keys are '<event>/<image name without .jpg>'")
    missing = sum(rows is None for rows in rows_per_image)
    if missing:
        # The official tool prints "Can not find the prediction file" and evaluates them as empty.
        warnings.warn(f"{missing} of {len(images)} ground-truth images have no predictions; they count as "
                      "images without detections", stacklevel=3)
    return rows_per_image


class _Claims:
    """Every detection of a prediction set matched once (claims do not depend on the subset).

    claimed: (D,) box index over the whole dataset or -1; scores, subdetector (NaN: none): (D,);
    det_image: (D,) image of each detection; box_image: (G,) image of each box; offsets: (I + 1,).
    """

    def __init__(self, preds, gt, iou_threshold: float):
        rows_per_image = _detections_per_image(preds, gt.images)
        self.offsets = np.cumsum([0] + [len(image.boxes) for image in gt.images])
        self.box_image = np.repeat(np.arange(len(gt.images)), np.diff(self.offsets))
        claimed, scores, subdetector, det_image = [], [], [], []
        for k, (image, rows) in enumerate(zip(gt.images, rows_per_image)):
            if rows is None or len(rows) == 0:
                continue
            match = match_detections(rows[:, :4], image.boxes, iou_threshold)
            claimed.append(np.where(match >= 0, match + self.offsets[k], -1))
            scores.append(rows[:, 4])
            subdetector.append(rows[:, 5] if rows.shape[1] == 6 else np.full(len(rows), np.nan))
            det_image.append(np.full(len(rows), k))
        self.claimed = np.concatenate(claimed) if claimed else np.zeros(0, dtype=np.int64)
        self.scores = np.concatenate(scores) if scores else np.zeros(0)
        self.subdetector = np.concatenate(subdetector) if subdetector else np.zeros(0)
        self.det_image = np.concatenate(det_image) if det_image else np.zeros(0, dtype=np.int64)

    def keep(self, index_per_image: list[np.ndarray]) -> np.ndarray:
        keep = np.zeros(self.offsets[-1], dtype=bool)
        for k, index in enumerate(index_per_image):
            keep[self.offsets[k] + index] = True
        return keep


def _load(preds, gt):
    if isinstance(gt, (str, os.PathLike)):
        gt = read_wider_mat(gt)
    if isinstance(preds, (str, os.PathLike)):
        preds = read_predictions(Path(preds))
    return preds, gt


def _valid(gt) -> np.ndarray:
    return ~np.concatenate([image.invalid for image in gt.images]) if gt.images else np.zeros(0, dtype=bool)


def evaluate_wider(preds, gt, iou_threshold: float = IOU_THRESHOLD,
                   num_thresholds: int = NUM_THRESHOLDS) -> dict[str, PRCurve]:
    """Evaluate predictions with the official WIDER FACE protocol (see the module docstring).

    preds: ``{"<event>/<image name without .jpg>": (K, 5 or 6) x y w h score [sub-detector]}`` or an
        official prediction folder (read with :func:`gslib.data.wider.read_predictions`).
    gt: :class:`gslib.data.wider.WiderGroundTruth` or a folder holding the four official .mat files.
    Returns ``{"easy", "medium", "hard" (those in gt.subsets), "all", "@S" for each sub-detector S present,
    then "<subset>@S" (sub-detector S on subset easy / medium / hard, Table 7): PRCurve}``;
    ``{k: v.ap for k, v in result.items()}`` gives the APs. "all" and "@S" need the invalid labels and are
    left out (with a warning) when the ground truth has none.
    """
    preds, gt = _load(preds, gt)
    c = _Claims(preds, gt, iou_threshold)
    results = {}
    for subset in [s for s in SUBSETS if s in gt.subsets] + [s for s in gt.subsets if s not in SUBSETS]:
        results[subset] = pr_curve(c.scores, c.claimed, c.keep(gt.subsets[subset]), num_thresholds)

    if "invalid" not in gt.labels:
        warnings.warn("the ground truth has no invalid_label_list: 'all' and '@S' are not evaluated", stacklevel=2)
        return results
    valid = _valid(gt)
    results["all"] = pr_curve(c.scores, c.claimed, valid, num_thresholds)
    detectors = np.unique(c.subdetector[~np.isnan(c.subdetector)])
    for s in detectors:
        rows = c.subdetector == s
        results[f"@{s:g}"] = pr_curve(c.scores[rows], c.claimed[rows], valid, num_thresholds)
    # Table 7: each sub-detector on each subset, "<subset>@S" ("@S" alone is on "all").
    for subset in [s for s in SUBSETS if s in gt.subsets]:
        for s in detectors:
            rows = c.subdetector == s
            results[f"{subset}@{s:g}"] = pr_curve(c.scores[rows], c.claimed[rows], c.keep(gt.subsets[subset]),
                                                  num_thresholds)
    return results


def evaluate_wider_per_image(preds, gt, subset: str = "all", iou_threshold: float = IOU_THRESHOLD,
                             num_thresholds: int = NUM_THRESHOLDS) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One subset's counts per image, for the paired bootstrap over images (:mod:`gslib.stats`).

    subset: "easy" / "medium" / "hard" / "all" / "@S". Returns ``true_positives (I, T)``,
    ``proposals (I, T)`` and ``faces (I,)``; summed over images they give :func:`evaluate_wider`'s curve.
    """
    preds, gt = _load(preds, gt)
    c = _Claims(preds, gt, iou_threshold)
    rows = np.ones(len(c.scores), dtype=bool)
    if subset in gt.subsets:
        keep = c.keep(gt.subsets[subset])
    else:
        keep = _valid(gt)
        if subset.startswith("@"):
            rows = c.subdetector == float(subset[1:])
    tp, proposals = per_image_counts(c.scores[rows], c.claimed[rows], keep, c.det_image[rows], c.box_image,
                                     len(gt.images), num_thresholds)
    faces = np.bincount(c.box_image[keep], minlength=len(gt.images))
    return tp, proposals, faces
