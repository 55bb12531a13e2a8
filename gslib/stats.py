"""Intervals for the study's verdicts (STUDY.md, "Claims and verdicts").

- Over seeds: the mean and a Student-t 95% interval (:func:`mean_interval`).
- Over repeated timings: the median and its distribution-free interval from order statistics
  (:func:`median_interval`).
- Over images: a paired bootstrap of an AP difference between two detectors evaluated on the same images
  (:func:`paired_bootstrap`), from the per-image counts of
  :func:`gslib.evaluate.wider.evaluate_wider_per_image`. Resampling images reweights their counts; the
  score normalisation stays that of the full set (a bootstrap replicate does not re-run the protocol).
"""
from __future__ import annotations

import numpy as np
from scipy import stats as scipy_stats


def mean_interval(values, confidence: float = 0.95) -> tuple[float, float, float]:
    """(mean, low, high): Student-t interval of the mean of ``values`` (e.g. one AP per seed).

    One value gives an interval of NaN width: it cannot say anything about spread.
    """
    values = np.asarray(values, dtype=float)
    mean = float(values.mean())
    if len(values) < 2:
        return mean, float("nan"), float("nan")
    half = scipy_stats.t.ppf(0.5 + confidence / 2, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values))
    return mean, mean - half, mean + half


def median_interval(values, confidence: float = 0.95) -> tuple[float, float, float]:
    """(median, low, high): the distribution-free interval of the median of ``values`` from their order
    statistics (the number of values below the median is Binomial(n, 1/2)): the k-th smallest and the k-th
    largest value, for the largest k whose interval covers the median with at least ``confidence``. For 50
    values, the 18th and the 33rd (coverage 0.967). Fewer than 6 values cannot reach 95%: the interval is
    then their range, and its coverage 1 - 2^(1-n) is lower."""
    values = np.sort(np.asarray(values, dtype=float))
    n = len(values)
    # cdf(k - 1) = P(fewer than k values below the median): each tail's chance of missing it.
    k = int(np.searchsorted(scipy_stats.binom.cdf(np.arange(n), n, 0.5), (1 - confidence) / 2, side="right"))
    k = max(k, 1)
    return float(np.median(values)), float(values[k - 1]), float(values[n - k])


def ap_from_counts(true_positives: np.ndarray, proposals: np.ndarray, faces) -> np.ndarray:
    """The official AP (VOCap of the PR curve) of each row. true_positives, proposals: (..., T) counts at
    descending thresholds; faces: (...) -> (...) AP. Same as :func:`gslib.evaluate.wider.voc_ap`."""
    tp = np.asarray(true_positives, dtype=float)
    faces = np.asarray(faces, dtype=float)[..., None]
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = tp / proposals
        recall = tp / faces
    edge = (*tp.shape[:-1], 1)
    mrec = np.concatenate([np.zeros(edge), recall, np.ones(edge)], axis=-1)
    mpre = np.concatenate([np.zeros(edge), precision, np.zeros(edge)], axis=-1)
    # Precision envelope from the right, skipping NaN (0/0 where nothing is kept), as MATLAB's max does.
    mpre = np.fmax.accumulate(mpre[..., ::-1], axis=-1)[..., ::-1]
    return np.sum((mrec[..., 1:] - mrec[..., :-1]) * mpre[..., 1:], axis=-1)


def _resample_weights(num_images: int, num: int, rng: np.random.Generator) -> np.ndarray:
    """(num, I) how many times each image is drawn in each bootstrap replicate."""
    draws = rng.integers(0, num_images, size=(num, num_images))
    return np.stack([np.bincount(row, minlength=num_images) for row in draws])


def paired_bootstrap(a, b, num: int = 2000, seed: int = 0, confidence: float = 0.95) -> dict:
    """AP(b) - AP(a) on the same images, with a paired bootstrap over images.

    a, b: ``(true_positives (I, T), proposals (I, T), faces (I,))`` of the two detectors.
    Returns {"a", "b", "difference", "low", "high", "p_b_better"} (the share of replicates where b wins).
    """
    (tp_a, p_a, faces), (tp_b, p_b, faces_b) = a, b
    if not np.array_equal(faces, faces_b):
        raise ValueError("paired bootstrap needs both detectors evaluated on the same images and boxes")
    w = _resample_weights(len(faces), num, np.random.default_rng(seed)).astype(float)
    ap_a = ap_from_counts(w @ tp_a, w @ p_a, w @ faces)
    ap_b = ap_from_counts(w @ tp_b, w @ p_b, w @ faces)
    diff = ap_b - ap_a
    lo, hi = np.quantile(diff, [0.5 - confidence / 2, 0.5 + confidence / 2])
    full_a = float(ap_from_counts(tp_a.sum(0), p_a.sum(0), faces.sum()))
    full_b = float(ap_from_counts(tp_b.sum(0), p_b.sum(0), faces.sum()))
    return {"a": full_a, "b": full_b, "difference": full_b - full_a, "low": float(lo), "high": float(hi),
            "p_b_better": float((diff > 0).mean())}


def equivalence(low: float, high: float, margin: float) -> str:
    """From the interval of a difference, whether two things are *equal* within ``margin``: "replicated"
    when the whole interval lies inside (-margin, margin), "not replicated (different)" when it lies wholly
    outside it, "inconclusive" when it straddles a bound. With a 95% interval this is the two one-sided
    tests at 2.5% each: an interval that merely contains 0 is not evidence of equality."""
    if not margin > 0:
        raise ValueError(f"an equivalence margin must be positive, got {margin}")
    if -margin < low and high < margin:
        return "replicated"
    if low >= margin or high <= -margin:
        return "not replicated (different)"
    return "inconclusive"


def verdict(low: float, high: float) -> str:
    """From an interval of (ours - baseline) or of a paired difference: which side of 0 it lies on."""
    if low > 0:
        return "replicated"
    if high < 0:
        return "not replicated (reversed)"
    return "inconclusive"
