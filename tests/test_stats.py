"""Intervals: Student-t over seeds, the per-image AP counts and the paired bootstrap."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gslib.data.wider import WiderGroundTruth, WiderImage
from gslib.evaluate.wider import evaluate_wider, evaluate_wider_per_image, voc_ap
from gslib.stats import ap_from_counts, equivalence, mean_interval, median_interval, paired_bootstrap, verdict


def test_mean_interval_hand_worked():
    mean, lo, hi = mean_interval([1.0, 2.0, 3.0])
    half = 4.302652729911275 * 1.0 / math.sqrt(3)  # t(0.975, 2) * sd / sqrt(n)
    assert mean == 2.0 and math.isclose(lo, 2 - half) and math.isclose(hi, 2 + half)
    assert math.isnan(mean_interval([0.5])[1])


def test_median_interval_by_order_statistics():
    # 50 values: P(Binomial(50, 1/2) <= 17) = 0.0164 <= 0.025 < P(<= 18) = 0.0325, so the 18th and 33rd values.
    assert median_interval(range(50, 0, -1)) == (25.5, 18.0, 33.0)
    # 10 values: P(<= 1) = 0.0107, P(<= 2) = 0.0547: the 2nd and 9th (coverage 0.979).
    assert median_interval([7, 1, 9, 3, 5, 2, 8, 4, 10, 6]) == (5.5, 2.0, 9.0)
    # Too few values for 95%: their range.
    assert median_interval([3.0, 1.0, 2.0]) == (2.0, 1.0, 3.0)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(0.1, 10.0), min_size=1, max_size=80))
def test_median_interval_holds_the_median_and_narrows_relative_to_the_range(values):
    median, low, high = median_interval(values)
    assert min(values) <= low <= median <= high <= max(values)
    if len(values) >= 9:  # P(Binomial(9, 1/2) <= 1) = 0.0195: k >= 2 leaves out the extreme values
        ranked = sorted(values)
        assert low >= ranked[1] and high <= ranked[-2]


def test_ap_from_counts_equals_voc_ap():
    rng = np.random.default_rng(0)
    tp = np.sort(rng.integers(0, 40, 1000))  # counts at descending thresholds never fall
    proposals = tp + np.arange(1000) // 3
    faces = int(tp.max()) + 7
    with np.errstate(divide="ignore", invalid="ignore"):
        want = voc_ap(tp / faces, tp / proposals)
    assert math.isclose(float(ap_from_counts(tp, proposals, faces)), want, rel_tol=1e-12)


def toy_set(rng, num_images=40):
    images = [WiderImage(f"0--E/{i}.jpg", rng.uniform(0, 300, (5, 2)).repeat(2, 1) * [1, 1, 0.1, 0.1] + [0, 0, 20, 20])
              for i in range(num_images)]
    gt = WiderGroundTruth(images, {"easy": [np.arange(3)] * num_images, "medium": [np.arange(4)] * num_images,
                                   "hard": [np.arange(5)] * num_images})
    return gt


def detections(gt, rng, miss):
    preds = {}
    for im in gt.images:
        found = im.boxes[rng.random(len(im.boxes)) > miss]
        false = np.hstack([rng.uniform(0, 300, (3, 2)), np.full((3, 2), 20.0)])
        rows = np.vstack([found, false])
        preds[im.key] = np.hstack([rows, rng.random((len(rows), 1))])
    return preds


def test_per_image_counts_sum_to_the_official_curve():
    rng = np.random.default_rng(1)
    gt = toy_set(rng)
    preds = detections(gt, rng, 0.3)
    full = evaluate_wider(preds, gt)
    for subset in ("easy", "hard", "all"):
        tp, proposals, faces = evaluate_wider_per_image(preds, gt, subset)
        assert np.array_equal(tp.sum(0), full[subset].true_positives)
        assert np.array_equal(proposals.sum(0), full[subset].proposals)
        assert faces.sum() == full[subset].num_faces
        assert math.isclose(float(ap_from_counts(tp.sum(0), proposals.sum(0), faces.sum())), full[subset].ap)


def test_paired_bootstrap_sees_a_real_difference_and_not_a_null_one():
    rng = np.random.default_rng(2)
    gt = toy_set(rng, 60)
    weak = evaluate_wider_per_image(detections(gt, rng, 0.5), gt)
    strong = evaluate_wider_per_image(detections(gt, rng, 0.1), gt)
    result = paired_bootstrap(weak, strong, num=500)
    assert result["difference"] > 0 and result["low"] > 0 and verdict(result["low"], result["high"]) == "replicated"
    same = paired_bootstrap(weak, weak, num=200)
    assert same["difference"] == 0 and same["low"] == 0 == same["high"]
    assert verdict(same["low"], same["high"]) == "inconclusive"
    with pytest.raises(ValueError, match="same images"):
        paired_bootstrap(weak, (weak[0][:-1], weak[1][:-1], weak[2][:-1]))


def test_equivalence_by_hand():
    assert equivalence(-0.01, 0.015, 0.02) == "replicated"
    assert equivalence(-0.03, 0.01, 0.02) == "inconclusive"  # contains 0, yet reaches past -0.02
    assert equivalence(0.02, 0.05, 0.02) == "not replicated (different)"  # wholly at or past the bound
    assert equivalence(-0.09, -0.025, 0.02) == "not replicated (different)"
    assert equivalence(float("nan"), float("nan"), 0.02) == "inconclusive"  # one seed: no interval
    with pytest.raises(ValueError, match="must be positive"):
        equivalence(-0.01, 0.01, 0.0)
