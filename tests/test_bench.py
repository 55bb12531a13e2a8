"""The benchmark's contract (not its speed): JSON shape, and WIDER-like box sampling."""
import json
import subprocess
import sys

import pytest
import torch

from gslib.bench import DEFAULT_STATS, sample_wider_boxes
from gslib.boxes import box_scale

needs_stats = pytest.mark.skipif(not DEFAULT_STATS.is_file(), reason=f"{DEFAULT_STATS} not present")


@needs_stats
def test_sampled_boxes_follow_the_wider_scale_percentiles():
    stats = json.loads(DEFAULT_STATS.read_text())
    boxes = sample_wider_boxes(20000, stats, seed=1)
    assert ((boxes >= 0) & (boxes <= 1024)).all()
    scales = box_scale(boxes)
    for q in ("10", "50", "90"):
        want = stats["scale_sqrt_wh_percentiles"][q]
        got = torch.quantile(scales, int(q) / 100).item()
        assert abs(got - want) / want < 0.08, (q, got, want)


@needs_stats
def test_matching_benchmark_prints_one_json_object():
    out = subprocess.run([sys.executable, "-m", "gslib.bench", "matching", "--json", "--repeats", "1",
                          "--boxes", "5"], capture_output=True, text=True, check=True)
    result = json.loads(out.stdout)
    (case,) = result["cases"]
    assert case["boxes"] == 5
    for key in ("ours_ms", "ours_peak_mb", "torchvision_ms", "torchvision_peak_mb"):
        assert case[key] >= 0


@needs_stats
def test_evaluate_benchmark_scores_its_fake_detections():
    out = subprocess.run([sys.executable, "-m", "gslib.bench", "evaluate", "--json", "--images", "30"],
                         capture_output=True, text=True, check=True)
    result = json.loads(out.stdout)
    assert result["images"] == 30 and result["detections"] >= 30 * 50
    # Every face is found (with jitter) and scored above most false positives: a high but imperfect AP.
    assert 0.3 < result["ap"]["all"] < 1.0 and result["total_s"] > 0


def test_train_benchmark_times_rs_and_gs_on_the_same_batch():
    out = subprocess.run([sys.executable, "-m", "gslib.bench", "train", "--json", "--profile", "smoke",
                          "--iterations", "1"], capture_output=True, text=True, check=True)
    result = json.loads(out.stdout)
    assert result["rs_ms"] > 0 and result["gs_ms"] > 0
    for prefix in ("", "fast_rcnn_"):
        rs, gs = result[f"{prefix}rs_ms"], result[f"{prefix}gs_ms"]
        assert rs > 0 and gs > 0 and abs(result[f"{prefix}gs_over_rs"] - gs / rs) < 0.01
