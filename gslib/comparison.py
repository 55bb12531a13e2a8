"""Notebook 07's pieces (Sec. 7): precision-recall curves of stored runs, the peers table (each detector's AP on
the real-photo sample and on SynthWIDER), how the detectors rank on each, and Fig. 10's detections drawn.

- :func:`run_curves`: a stored run's official PR curves from its ``counts.npz`` (its predictions are not
  committed; the per-image counts summed over images are the curve, :func:`gslib.evaluate.wider.pr_curve_from_counts`).
- :func:`peers_table`: ``python -m gslib.peers --json`` records (``make peers``: ``results/peers/<set>.json``)
  -> one row per detector, columns (set, subset).
- :func:`rank_table`: the rank of each detector on each set, and Kendall's tau between the two orders.
- :func:`plot_figure_record`: a ``figure-<set>.json`` record (:func:`gslib.peers.figure_record`) drawn over its
  images, one row per image and one column per detector.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.patches import Rectangle
from PIL import Image
from scipy import stats as scipy_stats

from gslib.evaluate.wider import PRCurve, pr_curve_from_counts
from gslib.report import legend_right
from gslib.study import SUBSETS, counts

SET_NAMES = {"real": "real sample", "synthwider": "SynthWIDER"}


def run_curves(run: Path, subsets=SUBSETS) -> dict[str, PRCurve]:
    """{subset: the official PR curve} of a stored run, from its per-image counts (:func:`gslib.study.counts`)."""
    return {subset: pr_curve_from_counts(*counts(run, subset)) for subset in subsets}


def plot_pr_curves(curves: dict[str, list[dict[str, PRCurve]]], subsets=("easy", "medium", "hard")):
    """Fig. 7's style: one panel per subset, precision against recall, the legend giving each detector's AP.
    ``curves``: {detector: [run_curves of each seed]}; the first seed is drawn solid and labelled, the others
    faint."""
    fig, axes = plt.subplots(1, len(subsets), figsize=(4.6 * len(subsets), 4.2), squeeze=False)
    for ax, subset in zip(axes[0], subsets):
        for k, (name, seeds) in enumerate(curves.items()):
            color = f"C{k}"
            for i, by_subset in enumerate(seeds):
                c = by_subset[subset]
                ok = ~np.isnan(c.precision)
                ax.plot(c.recall[ok], c.precision[ok], color=color, lw=1.8 if i == 0 else 0.6,
                        alpha=1 if i == 0 else 0.35, label=f"{c.ap:.3f} {name}" if i == 0 else None)
        ax.set(title=subset.capitalize(), xlabel="Recall", ylabel="Precision", xlim=(0, 1), ylim=(0, 1.01))
        ax.grid(alpha=0.3)
        ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    return fig


def peers_table(records: dict[str, dict], extra: dict[str, dict[str, dict[str, float]]] | None = None) -> pd.DataFrame:
    """AP per detector and set. ``records``: {set: a ``python -m gslib.peers --json`` object}; ``extra``: {set:
    {detector: {subset: AP}}} added where a record lacks the detector (e.g. our runs on SynthWIDER, from their
    own evaluation). Rows: detectors (published peers first); columns: (set, subset); NaN where not run."""
    cells: dict[str, dict[tuple[str, str], float]] = {}
    for set_name, record in records.items():
        for name, r in {**record["peers"], **record.get("ours", {})}.items():
            cells.setdefault(name, {}).update({(set_name, s): r["ap"][s] for s in SUBSETS})
    for set_name, detectors in (extra or {}).items():
        for name, ap in detectors.items():
            row = cells.setdefault(name, {})
            if (set_name, "all") not in row:
                row.update({(set_name, s): ap[s] for s in SUBSETS})
    columns = pd.MultiIndex.from_product([list(dict.fromkeys([*records, *(extra or {})])), SUBSETS],
                                         names=["set", "subset"])
    return pd.DataFrame.from_dict(cells, orient="index").reindex(columns=columns)


def rank_table(table: pd.DataFrame, subset: str = "all", sets=("real", "synthwider")) -> tuple[pd.DataFrame, float]:
    """The rank (1 = best AP) of every detector that has both sets, on each set, for ``subset``; and Kendall's
    tau between the two orders (1: the same order, -1: reversed; NaN with fewer than 2 detectors)."""
    both = table[[(s, subset) for s in sets]].dropna()
    ranks = both.rank(ascending=False, method="min").astype(int)
    ranks.columns = [f"rank on {SET_NAMES.get(s, s)}" for s in sets]
    ranks.insert(0, f"AP {SET_NAMES.get(sets[0], sets[0])}", both[(sets[0], subset)])
    ranks.insert(1, f"AP {SET_NAMES.get(sets[1], sets[1])}", both[(sets[1], subset)])
    tau = scipy_stats.kendalltau(both[(sets[0], subset)], both[(sets[1], subset)]).statistic if len(both) > 1 \
        else float("nan")
    return ranks.sort_values(ranks.columns[2]), float(tau)


def plot_calibration(table: pd.DataFrame, subsets=("easy", "medium", "hard", "all"), sets=("synthwider", "real")):
    """Each detector's AP on ``sets[0]`` (x) against ``sets[1]`` (y), one panel per subset, with y = x: how the
    embedded benchmark's AP reads as a real-photo AP."""
    fig, axes = plt.subplots(1, len(subsets), figsize=(3.6 * len(subsets), 3.8), squeeze=False)
    for ax, subset in zip(axes[0], subsets):
        both = table[[(sets[0], subset), (sets[1], subset)]].dropna()
        ax.plot([0, 1], [0, 1], color="0.6", lw=0.8, ls="--")
        for k, (name, (x, y)) in enumerate(both.iterrows()):
            ax.scatter(x, y, color=f"C{k}", s=36, zorder=3, label=name)
        ax.set(title=subset.capitalize(), xlabel=f"AP on {SET_NAMES.get(sets[0], sets[0])}",
               ylabel=f"AP on {SET_NAMES.get(sets[1], sets[1])}", xlim=(0, 1), ylim=(0, 1), aspect="equal")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    legend_right(fig, axes[0][0].get_legend_handles_labels()[0])  # inside a panel, it hid detectors
    return fig


def draw_detections(ax, boxes, scores, threshold: float, color: str = "lime") -> int:
    """Draw the boxes ``(K, 4)`` x1y1x2y2 scoring ``>= threshold`` on ``ax``; returns how many."""
    shown = 0
    for (x1, y1, x2, y2), score in zip(boxes, scores):
        if score >= threshold:
            ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, edgecolor=color, lw=0.9))
            shown += 1
    return shown


def plot_figure_record(record: dict, open_image: Callable[[str], Image.Image] | None, threshold: float = 0.5,
                       detectors=None, panel: float = 3.4, image_side: int | None = None, colors: int | None = None):
    """Fig. 10: one row per image of ``record`` (:func:`gslib.peers.figure_record`), one column per detector
    (``detectors``, default all in the record), its boxes scoring ``>= threshold`` over the image opened by
    ``open_image(name)``; with ``open_image`` None, over a grey canvas of the image's size (the photo left out).
    A smaller PNG: the image shown at most ``image_side`` px and in ``colors`` colours (the boxes stay in the
    image's pixels)."""
    detectors = list(detectors or dict.fromkeys(d for im in record["images"] for d in im["detections"]))
    rows, cols = len(record["images"]), len(detectors)
    fig, axes = plt.subplots(rows, cols, figsize=(panel * cols, panel * 0.75 * rows), squeeze=False)
    for row, im in zip(axes, record["images"]):
        image = open_image(im["name"]) if open_image is not None else None
        if image is not None and image_side is not None:
            image = image.copy()
            image.thumbnail((image_side, image_side), Image.LANCZOS)
        if image is not None and colors is not None:
            image = image.quantize(colors, dither=Image.Dither.NONE).convert("RGB")
        for ax, name in zip(row, detectors):
            if image is not None:
                ax.imshow(image, extent=(0, im["width"], im["height"], 0), interpolation="nearest")
            else:
                ax.add_patch(Rectangle((0, 0), im["width"], im["height"], color="0.92"))
            ax.set(xlim=(0, im["width"]), ylim=(im["height"], 0), xticks=[], yticks=[], aspect="equal")
            dets = im["detections"].get(name)
            if dets is None:
                ax.set_title(f"{name}: not in the record", fontsize=7)
                continue
            shown = draw_detections(ax, dets["boxes"], dets["scores"], threshold)
            ax.set_title(f"{name}: {shown} boxes", fontsize=7)
        row[0].set_ylabel(Path(im["name"]).stem[:28], fontsize=7)
    fig.tight_layout()
    return fig


__all__ = ["SET_NAMES", "draw_detections", "peers_table", "plot_calibration", "plot_figure_record", "plot_pr_curves",
           "rank_table", "run_curves"]
