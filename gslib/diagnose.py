"""Where a detector's AP goes: recall by face size, and what its confident false positives are.

The official protocol gives one number per subset; these two views say why it is what it is:

- :func:`recall_by_size`: for faces binned by size (``sqrt(w h)`` in image pixels), the share that some
  detection covers (IoU >= 0.5, the protocol's threshold), at any score and at a score threshold. A bin
  that no detection covers at any score is out of the detector's reach (too small for its anchors at the
  largest pyramid scale, say); a gap between the two recalls is a scoring problem.
- :func:`false_positive_kinds`: the highest-scoring detections over the whole set, each put in one class
  by its best IoU with any face: a hit (>= 0.5), a box on a face but of the wrong size or place (0.1 to
  0.5; split into smaller or larger than that face), or background (< 0.1).
- :func:`reach`: the smallest face a detector's smallest anchor can be matched to at the test pyramid's
  largest scale; faces below it are out of reach whatever the training.

Every face counts here (no subset, nothing ignored); IoU is the protocol's (:func:`official_iou`).
"""
from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from gslib.data.wider import image_key
from gslib.evaluate.wider import official_iou
from gslib.report import legend_right

SIZE_EDGES = (0, 4, 6, 8, 12, 16, 24, 32, 64, 128, np.inf)  # face sqrt(w h), image pixels


def _best_iou(preds: dict[str, np.ndarray], gt) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    """Per image: the (G, D) IoU of faces and detections, the detections' scores, the faces' sizes."""
    ious, scores, sizes = [], [], []
    for im in gt.images:
        d = preds.get(image_key(im.name))
        d = np.zeros((0, 5)) if d is None else d
        g = im.boxes
        ious.append(official_iou(g[:, :4], d[:, :4]) if len(g) and len(d) else np.zeros((len(g), len(d))))
        scores.append(d[:, 4])
        sizes.append(np.sqrt(g[:, 2] * g[:, 3]))
    return ious, scores, sizes


def recall_by_size(preds: dict[str, np.ndarray], gt, min_score: float = 0.5, iou: float = 0.5,
                   edges=SIZE_EDGES) -> pd.DataFrame:
    """preds: ``{key: (D, 5+) x y w h score ...}`` (:func:`gslib.data.wider.read_predictions`); gt:
    :class:`gslib.data.wider.WiderGroundTruth`. One row per size bin ``[low, high)``: ``faces``,
    ``recall_any`` (covered by a detection of any score) and ``recall_at_score`` (by one scoring >=
    ``min_score``)."""
    ious, scores, sizes = _best_iou(preds, gt)
    size = np.concatenate(sizes)
    any_hit = np.concatenate([(m >= iou).any(axis=1) for m in ious])
    sure_hit = np.concatenate([(m[:, s >= min_score] >= iou).any(axis=1) for m, s in zip(ious, scores)])
    rows = []
    for low, high in itertools.pairwise(edges):
        inside = (size >= low) & (size < high)
        n = int(inside.sum())
        rows.append({"low": low, "high": high, "faces": n,
                     "recall_any": float(any_hit[inside].mean()) if n else np.nan,
                     "recall_at_score": float(sure_hit[inside].mean()) if n else np.nan})
    return pd.DataFrame(rows)


def false_positive_kinds(preds: dict[str, np.ndarray], gt, top: int = 2000, iou: float = 0.5) -> dict:
    """The ``top`` highest-scoring detections of the whole set by their best IoU with any face:
    ``{"detections", "lowest_score", "hit", "smaller", "larger", "background"}``, the last four as shares
    of ``detections``. ``smaller`` / ``larger``: 0.1 <= IoU < ``iou`` and the box's ``sqrt(w h)`` below /
    at least that face's."""
    best, ratio, score = [], [], []
    for im, m, s in zip(gt.images, *_best_iou(preds, gt)[:2]):
        d = preds.get(image_key(im.name))
        if d is None or not len(d):
            continue
        score.append(s)
        if m.shape[0] == 0:
            best.append(np.zeros(len(d)))
            ratio.append(np.ones(len(d)))
            continue
        which = m.argmax(axis=0)
        best.append(m.max(axis=0))
        g = im.boxes[which]
        ratio.append(np.sqrt(d[:, 2] * d[:, 3]) / np.maximum(np.sqrt(g[:, 2] * g[:, 3]), 1e-9))
    if not score:
        return {"detections": 0}
    best, ratio, score = (np.concatenate(x) for x in (best, ratio, score))
    order = np.argsort(-score, kind="stable")[:top]
    best, ratio = best[order], ratio[order]
    near = (best >= 0.1) & (best < iou)
    return {"detections": len(order), "lowest_score": float(score[order[-1]]),
            "hit": float((best >= iou).mean()), "smaller": float((near & (ratio < 1)).mean()),
            "larger": float((near & (ratio >= 1)).mean()), "background": float((best < 0.1).mean())}


def reach(smallest_anchor: float, neg_thresh: float, top_scale: float) -> float:
    """The smallest face (side ``sqrt(w h)``, image pixels) that an anchor of side ``smallest_anchor`` can
    still be matched to at the test pyramid's largest scale ``top_scale``.

    A square face of side ``f`` inside a square anchor of side ``a`` has IoU ``(f / a) ** 2``; the two-pass
    matcher can take it (pass 2, :mod:`gslib.matcher`) from ``lambda2 = neg_thresh`` up, so ``f >= a *
    sqrt(lambda2)`` in the scaled image, ``a * sqrt(lambda2) / top_scale`` in the original one.
    """
    return smallest_anchor * neg_thresh ** 0.5 / top_scale


def plot_recall_by_size(tables: dict[str, list[pd.DataFrame]], reach: float | None = None):
    """Recall by face size, one colour per detector: at any score (solid) and at the score threshold
    (dashed), the mean over its runs (``tables``: ``{detector: [recall_by_size table per seed]}``), with the
    share of faces per bin as grey bars. ``reach``: the smallest face the detector can match at its largest
    pyramid scale, drawn as a vertical line."""
    import matplotlib.pyplot as plt

    first = next(iter(tables.values()))[0]
    labels = [f"{lo:g}-{hi:g}" if np.isfinite(hi) else f">={lo:g}" for lo, hi in zip(first["low"], first["high"])]
    x = np.arange(len(labels))
    fig, ax = plt.subplots(figsize=(8, 3.6))
    share = ax.twinx()
    share.bar(x, first["faces"] / first["faces"].sum(), color="0.85", zorder=0)
    share.set_ylabel("share of faces", color="0.5")
    ax.set_zorder(share.get_zorder() + 1)
    ax.patch.set_visible(False)
    for name, runs in tables.items():
        any_score = np.mean([t["recall_any"].to_numpy(dtype=float) for t in runs], axis=0)
        at_score = np.mean([t["recall_at_score"].to_numpy(dtype=float) for t in runs], axis=0)
        (line,) = ax.plot(x, any_score, marker="o", label=f"{name}, any score")
        ax.plot(x, at_score, ls="--", marker=".", color=line.get_color(), label=f"{name}, score >= 0.5")
    if reach is not None:
        # Bin k spans [k - 0.5, k + 0.5] on the axis; linear within a bin (the bins are of unequal width).
        position = np.interp(reach, first["low"].to_numpy(dtype=float), x - 0.5)
        ax.axvline(position, color="k", lw=0.8, ls=":")
        ax.text(position, 1.02, f" reach {reach:.1f} px", fontsize=7)
    ax.set_xticks(x, labels, fontsize=8)
    ax.set_xlabel("face size sqrt(w h), pixels of the validation image")
    ax.set_ylabel("recall (IoU >= 0.5)")
    ax.set_ylim(0, 1.08)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    legend_right(fig, ax.get_legend_handles_labels()[0])  # inside, it hid the curves of large faces
    return fig
