"""The model of WIDER FACE val the generator draws from: inverse CDFs of face scale and aspect, faces per
image, the per-scale-bin attribute shares, and the coupling of scale to crowd size (steps 1-2 of
:mod:`gslib.data.synth`)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from gslib.paths import WIDER_STATS

# WIDER FACE images are 1024 px wide; every scale statistic below is in those units.
WIDER_IMAGE_WIDTH = 1024

DEFAULT_STATS_PATH = WIDER_STATS


# Scale bins (sqrt(w h), 1024-px units) of the per-bin attribute tables below.
SCALE_BIN_EDGES = np.array([8.0, 16.0, 32.0, 64.0, 128.0, 256.0])

# Shares of WIDER FACE val boxes per scale bin (0-8, 8-16, 16-32, 32-64, 64-128, 128-256, >256), measured
# once on the official val annotations and rounded. Columns are the label values.
BLUR_BY_BIN = np.array(
    [[0.06, 0.03, 0.91], [0.03, 0.12, 0.85], [0.05, 0.36, 0.59], [0.23, 0.59, 0.18],
     [0.59, 0.37, 0.04], [0.87, 0.12, 0.01], [0.98, 0.02, 0.00]]
)
OCCLUSION_BY_BIN = np.array(
    [[0.29, 0.29, 0.42], [0.53, 0.24, 0.23], [0.67, 0.15, 0.18], [0.75, 0.10, 0.15],
     [0.84, 0.08, 0.08], [0.88, 0.05, 0.07], [0.91, 0.05, 0.04]]
)
EXPRESSION_BY_BIN = np.array([0.001, 0.001, 0.007, 0.019, 0.047, 0.034, 0.027])  # P(exaggerated)
ILLUMINATION_BY_BIN = np.array([0.019, 0.052, 0.090, 0.053, 0.059, 0.061, 0.066])  # P(extreme)
POSE_BY_BIN = np.array([0.022, 0.022, 0.042, 0.066, 0.092, 0.089, 0.062])  # P(atypical)
INVALID_BY_BIN = np.array([0.081, 0.007, 0.0, 0.0, 0.0, 0.0, 0.0])  # 585 / 39,708 overall

# Faces per image inside a count bin: P(n) ~ n^-beta, beta fitted to WIDER val's mean count per bin
# (3.1, 11.0, 40.7, 246).
FACES_PER_IMAGE_BINS = {"1": (1, 1), "2-5": (2, 5), "6-20": (6, 20), "21-100": (21, 100), ">100": (101, 709)}
FACES_PER_IMAGE_BETA = {"1": 0.0, "2-5": 1.07, "6-20": 1.26, "21-100": 2.03, ">100": 1.76}

# Image height / width: WIDER val heights at 1024 px width have quartiles 682 / 754 / 1024 and a tail of
# portrait images (p90 ~1530).
IMAGE_ASPECTS = np.array([0.5625, 0.667, 0.75, 1.0, 1.333, 1.5])
IMAGE_ASPECT_P = np.array([0.10, 0.22, 0.38, 0.12, 0.08, 0.10])

# Coupling of scale to faces-per-image (step 2 of gslib.data.synth's docstring), in units of the standard normal
# that the ranks of the scales follow.
COUPLING_LOG_N = 0.8
COUPLING_COUNT_CAP = 70  # beyond ~70 faces WIDER's crowds no longer get smaller faces as fast
COUPLING_IMAGE_SD = 0.8
COUPLING_FACE_SD = 0.3


def load_wider_stats(path: str | Path | None = None) -> dict:
    """Read ``wider_val_statistics.json`` (the measured distribution of WIDER FACE val)."""
    path = Path(path) if path is not None else DEFAULT_STATS_PATH
    if not path.is_file():
        raise FileNotFoundError(
            f"WIDER FACE val statistics not found at {path}. The file is the study's "
            "shared/wider_val_statistics.json, which sits beside the repository (../shared/ from the repo "
            "root); pass its location with --stats PATH (or stats_path=...). It is never copied into the "
            "project."
        )
    return json.loads(path.read_text())


def scale_cdf_knots(stats: dict) -> tuple[np.ndarray, np.ndarray]:
    """Knots of WIDER val's face-scale CDF: (K,) cumulative shares and (K,) scales in 1024-px units.

    Merges the stats' percentiles and bin shares (both are points of the same CDF), and extends the tails
    to 0.5 x p1 (share 0) and 2.5 x p99 (share 1). Interpolate between knots in log scale.
    """
    points = {float(p) / 100.0: float(v) for p, v in stats["scale_sqrt_wh_percentiles"].items()}
    cum = 0.0
    for key, share in stats["scale_share_by_bin"].items():
        cum += float(share)
        upper = float(key.split("-")[1])
        if cum < 0.999:
            points[round(cum, 6)] = upper
    points[0.0] = 0.5 * points[0.01]
    points[1.0] = 2.5 * points[0.99]
    cdf = np.array(sorted(points))
    scales = np.array([points[c] for c in cdf])
    keep = np.concatenate([[True], np.diff(scales) > 0])  # a CDF is increasing; drop inconsistent knots
    return cdf[keep], scales[keep]


def wider_scale_quantile(u: np.ndarray, stats: dict) -> np.ndarray:
    """Inverse CDF of WIDER val face scales. u: (N,) in [0, 1] -> (N,) scales in 1024-px units."""
    cdf, scales = scale_cdf_knots(stats)
    return np.exp(np.interp(u, cdf, np.log(scales)))


def wider_aspect_quantile(u: np.ndarray, stats: dict) -> np.ndarray:
    """Inverse CDF of WIDER val box aspect w / h. u: (N,) in [0, 1] -> (N,). Tails: x0.75 and x1.2."""
    pts = {float(p) / 100.0: float(v) for p, v in stats["aspect_w_over_h_percentiles"].items()}
    cdf = np.array(sorted(pts))
    vals = np.array([pts[c] for c in cdf])
    cdf = np.concatenate([[0.0], cdf, [1.0]])
    vals = np.concatenate([[0.75 * vals[0]], vals, [1.2 * vals[-1]]])
    return np.exp(np.interp(u, cdf, np.log(vals)))


def scale_bin(scale_1024: np.ndarray) -> np.ndarray:
    """(N,) scales in 1024-px units -> (N,) index of the WIDER scale bin (0..6)."""
    return np.searchsorted(SCALE_BIN_EDGES, scale_1024, side="right")


def sample_faces_per_image(rng: np.random.Generator, num_images: int, stats: dict, max_faces: int) -> np.ndarray:
    """(num_images,) int64 face counts following WIDER val's faces-per-image shares (step 1 of gslib.data.synth)."""
    shares = stats["faces_per_image"]["share_of_images_with"]
    names = list(FACES_PER_IMAGE_BINS)
    p = np.array([shares[k] for k in names], dtype=float)
    # Exact numbers of images per bin (largest remainder), so a 500-image split has WIDER's mix
    # and its ~9 crowd images, not a random 4 or 14.
    quota = p / p.sum() * num_images
    per_bin = np.floor(quota).astype(np.int64)
    extra = num_images - per_bin.sum()
    per_bin[np.argsort(-(quota - per_bin), kind="stable")[:extra]] += 1
    which = rng.permutation(np.repeat(np.arange(len(names)), per_bin))
    counts = np.empty(num_images, dtype=np.int64)
    for b, key in enumerate(names):
        lo, hi = FACES_PER_IMAGE_BINS[key]
        n = np.arange(lo, hi + 1)
        pn = n ** -FACES_PER_IMAGE_BETA[key]
        sel = which == b
        counts[sel] = rng.choice(n, size=int(sel.sum()), p=pn / pn.sum())
    return np.minimum(counts, max_faces)


def assign_scales(rng: np.random.Generator, counts: np.ndarray, stats: dict) -> list[np.ndarray]:
    """Draw sum(counts) face scales (1024-px units) and hand them to images, small ones to crowds.

    counts: (I,) faces per image -> list of I arrays (n_i,) of scales. The draw is stratified (one face per
    1/N quantile slice), so the marginal matches WIDER's closely even for a few thousand faces.
    """
    total = int(counts.sum())
    u = (rng.permutation(total) + rng.random(total)) / total
    scales = np.sort(wider_scale_quantile(u, stats))
    image_of = np.repeat(np.arange(len(counts)), counts)
    image_effect = rng.normal(0.0, COUPLING_IMAGE_SD, size=len(counts))
    key = -COUPLING_LOG_N * np.log(np.minimum(counts, COUPLING_COUNT_CAP))[image_of] + image_effect[image_of]
    key = key + rng.normal(0.0, COUPLING_FACE_SD, size=total)
    out = np.empty(total)
    out[np.argsort(key, kind="stable")] = scales
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    return [out[s : s + n] for s, n in zip(starts, counts)]
