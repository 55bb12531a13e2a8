"""FDDB discrete ROC, as the official evaluation tool computes it (Jain and Learned-Miller, FDDB tech.
report UM-CS-2010-009; ``evaluate.cpp``, ``Matching.cpp``, ``Results.cpp`` of its code).

For every image and every distinct detection score t:
1. keep the detections with score >= t;
2. overlap of face i and detection j = |E_i & D_j| / |E_i | D_j|, areas counted in pixels;
3. match faces and kept detections one-to-one, maximising the summed overlap (the tool's Hungarian
   algorithm; here ``scipy.optimize.linear_sum_assignment``);
4. a matched pair whose overlap exceeds ``iou_threshold`` (0.5) is a true positive, with the discrete
   score 1 (the tool tests ``overlap > 0.5``, strictly); every other kept detection is a false positive.
Summed over images, TP(t) / #faces against FP(t) is the discrete ROC (Fig. 9a of the paper reads it up
to 200 false positives). The tool's continuous score (the summed overlap) is not computed.

Pixel convention. Pixel (i, j) is the unit square [i, i+1) x [j, j+1) of the files' coordinates, with
centre (i + 0.5, j + 0.5); it belongs to a region when its centre does: to a rectangle ``x, y, w, h``
when x <= i + 0.5 < x + w and y <= j + 0.5 < y + h (so a rectangle on integer coordinates covers w * h
pixels), to an ellipse when the centre is inside or on it. With the image's size, regions are clipped
to the image, as the tool's image-sized masks clip them; without, nothing is clipped. The tool draws
its masks with OpenCV, which rounds ellipse centres, truncates radii to integers, draws ellipses as
polygons and includes both edges of a rectangle: overlaps here differ from its by boundary pixels only.

Rasterisation is exact and row by row: each region is, on each pixel row, one interval of pixel
columns (rectangles and ellipses are convex), so areas and intersections are sums of interval lengths,
with no pixel masks.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from gslib.data.fddb import FddbDetections, FddbImage

__all__ = ["DiscreteRoc", "discrete_roc", "evaluate_fddb", "region_areas", "region_overlaps"]

_IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")


@dataclass
class DiscreteRoc:
    """A discrete ROC, one point per distinct detection score.

    thresholds: (T,) descending detection scores; point k keeps the detections with score >= thresholds[k].
    false_positives: (T,) int64, non-decreasing.
    true_positive_rate: (T,) float64, true positives / num_faces.
    """

    thresholds: np.ndarray
    false_positives: np.ndarray
    true_positive_rate: np.ndarray
    num_faces: int

    def tpr_at(self, max_fp: int) -> float:
        """The best true-positive rate with at most ``max_fp`` false positives (0 if no point has)."""
        within = self.false_positives <= max_fp
        return float(self.true_positive_rate[within].max()) if within.any() else 0.0


def evaluate_fddb(
    annotations: Sequence[FddbImage],
    detections: Sequence[FddbDetections] | Mapping[str, tuple[np.ndarray, np.ndarray]],
    image_sizes: Mapping[str, tuple[int, int]] | None = None,
    iou_threshold: float = 0.5,
) -> DiscreteRoc:
    """The discrete ROC of ``detections`` on the annotated images.

    annotations: e.g. from ``gslib.data.fddb.read_fddb_folds``; each image's ellipses (N, 5).
    detections: ``FddbDetections`` records or ``{name: (regions (N, 4) x y w h or (N, 5) ellipses,
        scores (N,))}``. Names match with or without an image extension (".jpg"). An annotated image
        without an entry has no detections; a detected image that is not annotated is an error.
    image_sizes: ``{annotated name: (width, height)}`` to clip regions to their image; None: no clipping.
    iou_threshold: a matched pair whose overlap exceeds it is a true positive.
    """
    if isinstance(detections, Mapping):
        detections = [FddbDetections(name, regions, scores) for name, (regions, scores) in detections.items()]
    by_name: dict[str, FddbDetections] = {}
    for det in detections:
        key = _strip_extension(det.name)
        if key in by_name:
            raise ValueError(f"image {det.name!r} has two detection records")
        by_name[key] = det
    annotated = {_strip_extension(im.name) for im in annotations}
    unknown = [det.name for key, det in by_name.items() if key not in annotated]
    if unknown:
        raise ValueError(f"{len(unknown)} detected image(s) are not annotated, e.g. {unknown[:3]}")

    overlaps, scores = [], []
    for image in annotations:
        det = by_name.get(_strip_extension(image.name))
        regions = np.zeros((0, 4)) if det is None else np.asarray(det.regions, dtype=np.float64)
        image_scores = np.zeros(0) if det is None else np.asarray(det.scores, dtype=np.float64).reshape(-1)
        if len(regions) != len(image_scores):
            raise ValueError(f"image {image.name!r}: {len(regions)} regions but {len(image_scores)} scores")
        size = None
        if image_sizes is not None:
            if image.name not in image_sizes:
                raise ValueError(f"no image size for {image.name!r}")
            size = image_sizes[image.name]
        overlaps.append(region_overlaps(image.ellipses, regions, size))
        scores.append(image_scores)
    return discrete_roc(overlaps, scores, iou_threshold)


def _strip_extension(name: str) -> str:
    for ext in _IMAGE_EXTENSIONS:
        if name.lower().endswith(ext):
            return name[: -len(ext)]
    return name


# ---------------------------------------------------------------------------------------------- matching


def discrete_roc(
    overlaps: Sequence[np.ndarray],
    scores: Sequence[np.ndarray],
    iou_threshold: float = 0.5,
) -> DiscreteRoc:
    """The discrete ROC from per-image overlaps.

    overlaps: per image (F_i, D_i) overlap of each face with each detection.
    scores: per image (D_i,) detection scores.
    """
    if len(overlaps) != len(scores):
        raise ValueError(f"{len(overlaps)} overlap matrices for {len(scores)} score vectors")
    num_faces = sum(int(ov.shape[0]) for ov in overlaps)
    if num_faces == 0:
        raise ValueError("no annotated faces: the true-positive rate is undefined")

    steps = []
    for k, (ov, s) in enumerate(zip(overlaps, scores)):
        ov, s = np.asarray(ov, dtype=np.float64), np.asarray(s, dtype=np.float64).reshape(-1)
        if ov.ndim != 2 or ov.shape[1] != len(s):
            raise ValueError(f"image {k}: overlaps {ov.shape} do not fit {len(s)} scores")
        if not np.isfinite(s).all():
            raise ValueError(f"image {k}: non-finite detection score")
        # Per image, TP and FP are step functions of the threshold: collect their steps, add them up.
        steps.append(_image_steps(ov, s, iou_threshold))
    at = np.concatenate([s[0] for s in steps] + [np.zeros(0)])
    d_tp = np.concatenate([s[1] for s in steps] + [np.zeros(0, np.int64)])
    d_fp = np.concatenate([s[2] for s in steps] + [np.zeros(0, np.int64)])

    order = np.argsort(-at, kind="stable")
    at, tp, fp = at[order], np.cumsum(d_tp[order]), np.cumsum(d_fp[order])
    last = np.flatnonzero(np.r_[at[1:] != at[:-1], True]) if len(at) else np.zeros(0, np.int64)
    return DiscreteRoc(at[last], fp[last].astype(np.int64), tp[last] / num_faces, num_faces)


def _image_steps(overlaps: np.ndarray, scores: np.ndarray, iou_threshold: float):
    """Steps of one image's TP and FP as the threshold falls through its distinct scores.

    overlaps: (F, D); scores: (D,). Returns (thresholds (U,) descending, dTP (U,), dFP (U,)).
    """
    thresholds = np.unique(scores)[::-1]
    kept = (scores[None, :] >= thresholds[:, None]).sum(1)  # (U,)
    # The matching can only change when a detection that touches some face becomes kept.
    touches = overlaps.max(0) > 0 if overlaps.shape[0] else np.zeros(len(scores), bool)
    tp = np.zeros(len(thresholds), np.int64)
    current = 0
    for k, t in enumerate(thresholds):
        if (touches & (scores == t)).any():
            current = _true_positives(overlaps[:, touches & (scores >= t)], iou_threshold)
        tp[k] = current
    fp = kept - tp
    return thresholds, np.diff(tp, prepend=0), np.diff(fp, prepend=0)


def _true_positives(overlaps: np.ndarray, iou_threshold: float) -> int:
    """Matched pairs above the threshold in the one-to-one matching of maximal summed overlap."""
    rows, cols = linear_sum_assignment(overlaps, maximize=True)
    return int((overlaps[rows, cols] > iou_threshold).sum())


# ---------------------------------------------------------------------------------------------- geometry


def region_overlaps(
    faces: np.ndarray,
    detections: np.ndarray,
    image_size: tuple[int, int] | None = None,
) -> np.ndarray:
    """Pixel intersection over union of every face with every detection.

    faces: (F, 5) ellipses ``ra, rb, angle, cx, cy``; detections: (D, 4) rectangles ``x, y, w, h`` or
    (D, 5) ellipses; image_size: (width, height) to clip to, or None. Returns (F, D) float64 in [0, 1].
    """
    faces = np.asarray(faces, dtype=np.float64).reshape(-1, 5)
    detections = np.asarray(detections, dtype=np.float64)
    detections = detections.reshape(-1, detections.shape[-1] if detections.ndim == 2 else 4)
    if detections.shape[1] not in (4, 5):
        raise ValueError(f"detections must be (D, 4) rectangles or (D, 5) ellipses, got {detections.shape}")
    out = np.zeros((len(faces), len(detections)))
    if not len(faces) or not len(detections):
        return out
    area_f = region_areas(faces, image_size)
    area_d = region_areas(detections, image_size)
    rows_f = _rows(faces, image_size)
    # One face at a time, on the face's own rows: memory D x (face height), not D x F x (image height).
    for i in range(len(faces)):
        rows = rows_f[i: i + 1]  # (1, R)
        lo_f, hi_f = _spans(faces[i: i + 1], rows, image_size)  # (1, R)
        lo_d, hi_d = _spans(detections, rows, image_size)  # (D, R)
        inter = np.clip(np.minimum(hi_f, hi_d) - np.maximum(lo_f, lo_d), 0, None).sum(1)
        union = area_f[i] + area_d - inter
        out[i] = np.where(union > 0, inter / np.maximum(union, 1), 0.0)
    return out


def region_areas(regions: np.ndarray, image_size: tuple[int, int] | None = None) -> np.ndarray:
    """regions: (N, 4) rectangles or (N, 5) ellipses -> (N,) int64 number of pixels covered."""
    regions = np.asarray(regions, dtype=np.float64)
    if len(regions) == 0:
        return np.zeros(0, np.int64)
    lo, hi = _spans(regions, _rows(regions, image_size), image_size)
    return np.clip(hi - lo, 0, None).sum(1)


def _vertical_extent(regions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N,) top and bottom of each region."""
    if regions.shape[1] == 4:
        return regions[:, 1], regions[:, 1] + np.maximum(regions[:, 3], 0)
    ra, rb, angle, _, cy = regions.T
    half = np.sqrt((ra * np.sin(angle)) ** 2 + (rb * np.cos(angle)) ** 2)
    return cy - half, cy + half


def _rows(regions: np.ndarray, image_size) -> np.ndarray:
    """(N, R) int64 pixel row indices covering each region's height (R = the tallest region's)."""
    top, bottom = _vertical_extent(regions)
    first = np.floor(top - 0.5).astype(np.int64)
    last = np.ceil(bottom - 0.5).astype(np.int64)
    if image_size is not None:
        first = np.clip(first, 0, image_size[1])
        last = np.clip(last, -1, image_size[1] - 1)
    height = int(max((last - first).max(), 0)) + 1
    return first[:, None] + np.arange(height)[None, :]


def _spans(regions: np.ndarray, rows: np.ndarray, image_size) -> tuple[np.ndarray, np.ndarray]:
    """Pixel columns [lo, hi) of each region on each row.

    regions: (N, 4) or (N, 5); rows: (N, R) or (1, R) int64 row indices. Returns lo, hi: (N, R) int64,
    with hi <= lo on rows the region misses.
    """
    yc = rows + 0.5  # pixel centres
    if regions.shape[1] == 4:
        x, y, w, h = (regions[:, k: k + 1] for k in range(4))
        lo = np.ceil(x - 0.5) + 0 * yc  # x <= i + 0.5
        hi = np.ceil(x + w - 0.5) + 0 * yc  # i + 0.5 < x + w
        inside = (y <= yc) & (yc < y + h)
    else:
        ra, rb, angle, cx, cy = (regions[:, k: k + 1] for k in range(5))
        # Centre (u, v) in the ellipse's axes: u = dx cos + dy sin, v = -dx sin + dy cos; inside when
        # (u / ra)^2 + (v / rb)^2 <= 1, i.e. a dx^2 + b dx + c <= 0 on each row.
        cos, sin = np.cos(angle), np.sin(angle)
        with np.errstate(divide="ignore", invalid="ignore"):  # a zero radius: an empty region
            a = (cos / ra) ** 2 + (sin / rb) ** 2
            dy = yc - cy
            b = 2 * cos * sin * (1 / ra**2 - 1 / rb**2) * dy
            c = ((sin / ra) ** 2 + (cos / rb) ** 2) * dy**2 - 1
            disc = b**2 - 4 * a * c
            root = np.sqrt(np.maximum(disc, 0))
            lo = np.ceil(cx + (-b - root) / (2 * a) - 0.5)  # left <= i + 0.5
            hi = np.floor(cx + (-b + root) / (2 * a) - 0.5) + 1  # i + 0.5 <= right
        inside = (disc >= 0) & (ra > 0) & (rb > 0)
    if image_size is not None:
        lo, hi = np.maximum(lo, 0), np.minimum(hi, image_size[0])
        inside = inside & (rows >= 0) & (rows < image_size[1])
    return np.where(inside, lo, 0).astype(np.int64), np.where(inside, hi, 0).astype(np.int64)
