"""Comparison with WIDER FACE: the generated face-scale distribution against WIDER val's."""
from __future__ import annotations

import numpy as np
import pandas as pd

from gslib.data.synth.wider_stats import WIDER_IMAGE_WIDTH, load_wider_stats, scale_cdf_knots

QUANTILE_PERCENTILES = (1, 5, 10, 25, 50, 75, 90, 95, 99)


def _scales_1024(images, image_width: int) -> np.ndarray:
    """(N,) face scales of records with ``.boxes`` (x y w h), in WIDER's 1024-px units."""
    boxes = np.concatenate([np.asarray(im.boxes, dtype=np.float64).reshape(-1, 4) for im in images])
    return np.sqrt(boxes[:, 2] * boxes[:, 3]) * WIDER_IMAGE_WIDTH / image_width


def scale_quantiles(images, image_width: int, stats: dict | None = None):
    """Generated vs WIDER FACE val face-scale percentiles (sqrt(w h), in WIDER's 1024-px units).

    images: records with ``.boxes`` (WiderImage or Scene); image_width: the width they were generated at
    (the rescale is undone). Returns a pandas DataFrame indexed by percentile with columns
    ``generated``, ``wider`` and ``ratio`` (generated / wider).
    """
    stats = stats if stats is not None else load_wider_stats()
    generated = np.percentile(_scales_1024(images, image_width), QUANTILE_PERCENTILES)
    wider = np.array([float(stats["scale_sqrt_wh_percentiles"][str(p)]) for p in QUANTILE_PERCENTILES])
    table = pd.DataFrame({"generated": generated.round(2), "wider": wider, "ratio": (generated / wider).round(3)},
                         index=pd.Index(QUANTILE_PERCENTILES, name="percentile"))
    return table


def plot_scale_comparison(images, image_width: int, stats: dict | None = None):
    """Figure: share of faces per WIDER scale bin (bars) and the CDF on a log axis, generated vs WIDER.

    Scales are in WIDER's 1024-px units (the generated ones divided by ``image_width / 1024``).
    """
    import matplotlib.pyplot as plt  # here, not at the top: only this figure needs pyplot (slow to import)

    stats = stats if stats is not None else load_wider_stats()
    scales = _scales_1024(images, image_width)
    labels = list(stats["scale_share_by_bin"])
    edges = [0.0] + [float(k.split("-")[1]) for k in labels]
    edges[-1] = np.inf
    generated = np.histogram(scales, bins=edges)[0] / max(len(scales), 1)
    wider = np.array([stats["scale_share_by_bin"][k] for k in labels])

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    pos = np.arange(len(labels))
    ax1.bar(pos - 0.2, wider, width=0.4, label="WIDER FACE val")
    ax1.bar(pos + 0.2, generated, width=0.4, label=f"generated ({len(scales):,} faces)")
    ax1.set_xticks(pos, [k.replace("-100000", "+") for k in labels], rotation=30)
    ax1.set_xlabel("face scale sqrt(wh), 1024-px units")
    ax1.set_ylabel("share of faces")
    ax1.legend()

    cdf, knots = scale_cdf_knots(stats)
    ax2.plot(np.sort(scales), (np.arange(len(scales)) + 0.5) / max(len(scales), 1), label="generated")
    ax2.plot(knots, cdf, "o--", ms=4, label="WIDER FACE val (percentiles, bin shares)")
    ax2.set_xscale("log")
    ax2.set_xlabel("face scale sqrt(wh), 1024-px units (log)")
    ax2.set_ylabel("cumulative share of faces")
    ax2.legend()
    fig.suptitle(f"Face scales: generated benchmark (at {image_width} px, rescaled) vs WIDER FACE val")
    fig.tight_layout()
    return fig
