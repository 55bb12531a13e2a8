"""The benchmark's contract (not its speed): JSON shape, and WIDER-like box sampling."""
import json
import subprocess
import sys

import pytest
import torch

from gslib.bench import DEFAULT_STATS, _one_image, ratios, sample_wider_boxes, side_by_side, spread
from gslib.boxes import box_scale
from gslib.datasets import Batch
from gslib.experiments import TABLE13

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
    out = subprocess.run([sys.executable, "-m", "gslib.bench", "matching", "--json", "--profile", "smoke",
                          "--repeats", "3", "--boxes", "5"], capture_output=True, text=True, check=True)
    result = json.loads(out.stdout)
    assert result["image"] == [256, 256] and result["repeats"] == 3
    (case,) = result["cases"]
    assert case["boxes"] == 5
    for key in ("ours_peak_mb", "torchvision_peak_mb"):
        assert case[key] >= 0
    for key in ("ours_ms", "torchvision_ms", "speedup"):
        s = case[key]
        assert s["n"] == 3 and 0 < s["min"] <= s["q1"] <= s["median"] <= s["q3"] <= s["max"]


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
    for prefix, base in (("", "rs"), ("fast_rcnn_", "rs"), ("retinaface_", "hnm")):
        rs, gs = result[f"{prefix}{base}_ms"]["median"], result[f"{prefix}gs_ms"]["median"]
        # One iteration each: the ratio of that iteration is the ratio of the two times.
        assert rs > 0 and gs > 0 and abs(result[f"{prefix}gs_over_{base}"]["median"] - gs / rs) < 0.01
    # RetinaFace-sampling against FPN-finest-sampling, side by side on the same batch.
    ratio = result["retinaface_gs_ms"]["median"] / result["gs_ms"]["median"]
    assert abs(result["retinaface_gs_over_fpn_finest_sampling"]["median"] - ratio) < 0.01 * ratio
    # By experiment name (what gslib.runs prices never-trained experiments from): every detector timed, Table
    # 13's two-stage rows among them, with the medians above.
    by_name = result["ms_per_iteration"]
    assert set(by_name) == {"FPN-finest", "FPN-finest-sampling", "RetinaFace-IoU35", "RetinaFace-IoU35-sampling",
                            *(c.name for c in TABLE13.values() if c.second_stage)}
    assert by_name["FPN-finest-sampling"] == result["gs_ms"]["median"]
    assert by_name[TABLE13["+GS"].name] == result["fast_rcnn_gs_ms"]["median"]


def test_mining_benchmark_times_every_sampler_against_rs():
    from gslib.bench import bench_mining

    result = bench_mining("smoke", iterations=1, bases=("FPN-finest",))
    rows = result["FPN-finest"]
    assert list(rows) == ["RS", "Focal*", "OHEM", "WRS", "GS", "GS+OHEM", "GS+WRS", "GS+Focal*", "OHEM, no NMS",
                          "GS+OHEM, no NMS"]
    assert rows["GS"]["detector"] == "FPN-finest-sampling" and rows["Focal*"]["detector"] == "FPN-finest-FocalStar"
    assert rows["OHEM"]["detector"] == "FPN-finest-OHEM-NMS0.7"
    assert rows["OHEM, no NMS"]["detector"] == "FPN-finest-OHEM"
    assert rows["RS"]["over_rs"]["median"] == 1.0
    assert all(r["ms"]["median"] > 0 for r in rows.values())
    # One iteration: the ratio is the two times' ratio, up to their rounding to 0.1 ms (and the ratio's to 0.001).
    ohem, rs = rows["OHEM"]["ms"]["median"], rows["RS"]["ms"]["median"]
    slack = (ohem / rs) * (0.05 / ohem + 0.05 / rs) + 0.0005
    assert abs(rows["OHEM"]["over_rs"]["median"] - ohem / rs) <= slack


def test_spread_is_the_median_quartiles_and_range():
    s = spread([5.0, 1.0, 3.0, 2.0, 4.0])
    # 5 values: the median's interval is their range (the largest k with 95% needs 6 values)
    assert s == {"median": 3.0, "median_low": 1.0, "median_high": 5.0, "q1": 2.0, "q3": 4.0, "min": 1.0,
                 "max": 5.0, "n": 5}
    assert spread([1.0, 2.0])["median"] == 1.5
    assert spread([1 / 3], digits=3)["median"] == 0.333


def test_ratios_pair_the_repeats():
    assert ratios([10.0, 30.0], [5.0, 10.0]) == [2.0, 3.0]
    with pytest.raises(ValueError):
        ratios([1.0], [1.0, 2.0])


def test_side_by_side_alternates_the_order_and_skips_the_warmup():
    calls = []

    def measure(name):
        def once():
            calls.append(name)
            return float(len(calls))  # the "ms" of a call: its position in the whole sequence
        return once
    times = side_by_side({"a": measure("a"), "b": measure("b")}, repeats=3, warmup=1)
    assert calls == ["a", "b", "b", "a", "a", "b", "b", "a"]  # warm-up round, then 3 timed rounds
    assert times == {"a": [4.0, 5.0, 8.0], "b": [3.0, 6.0, 7.0]}


def test_run_benchmark_prices_a_run_from_its_parts():
    """bench run: the issue's JSON keys, and a run's cost = iterations x train ms + val images x test s, for the
    baseline engine and the profile's (smoke: tiny, seconds)."""
    out = subprocess.run([sys.executable, "-m", "gslib.bench", "run", "--json", "--profile", "smoke",
                          "--iterations", "2", "--test-images", "2"], capture_output=True, text=True, check=True)
    r = json.loads(out.stdout)
    for key in ("train_ms_baseline", "train_ms", "test_s_per_image_baseline", "test_s_per_image",
                "iterations_per_run", "test_images", "train_gflops_per_s", "peak_fp32_gflops_per_s",
                "peak_bf16_gflops_per_s"):
        assert r[key] > 0, key
    for suffix in ("_baseline", ""):
        expected = (r["iterations_per_run"] * r[f"train_ms{suffix}"] / 1000
                    + r["test_images"] * r[f"test_s_per_image{suffix}"])
        assert abs(r[f"run_s{suffix}"] - expected) <= 0.002 * expected + 0.2
    assert abs(r["run_cost_ratio"] - r["run_s"] / r["run_s_baseline"]) <= 0.01 / r["run_s_baseline"] + 0.002
    # The iteration by parts, and the run priced with the network's parts only (the least the settings reach).
    parts = r["train_ms_parts"]
    assert set(parts) == {"forward", "matching_sampling_loss", "backward", "optimizer", "data"}
    assert all(parts[k] > 0 for k in ("forward", "backward", "optimizer", "data"))
    network = parts["forward"] + parts["backward"] + parts["optimizer"]
    floor = r["iterations_per_run"] * network / 1000 + r["test_images"] * r["test_s_per_image"]
    assert abs(r["run_s_network_only"] - floor) <= 0.002 * floor + 0.2
    ratio_network = r["run_s_network_only"] / r["run_s_baseline"]
    assert abs(r["run_cost_ratio_network_only"] - ratio_network) <= 0.01 / r["run_s_baseline"] + 0.002
    # The baseline's parts too, and the floor: both engines' runs priced with their networks only.
    base = r["train_ms_parts_baseline"]
    assert set(base) == set(parts) and base["data"] == parts["data"]
    network_baseline = base["forward"] + base["backward"] + base["optimizer"]
    floor_baseline = (r["iterations_per_run"] * network_baseline / 1000
                      + r["test_images"] * r["test_s_per_image_baseline"])
    assert abs(r["run_s_network_only_baseline"] - floor_baseline) <= 0.002 * floor_baseline + 0.2
    ratio_floor = r["run_s_network_only"] / r["run_s_network_only_baseline"]
    assert abs(r["run_cost_ratio_network_floor"] - ratio_floor) <= 0.01 / r["run_s_network_only_baseline"] + 0.002
    # The data as a run reads it: smoke trains half an epoch, so every image it reads is decoded.
    assert r["data_ms_per_iteration"] == r["data_ms_first_epoch"] and r["data_ms_cached"] > 0
    assert r["test_workers"] == r["threads"]  # images detected at once: one per thread (evaluate_run's)
    # Two workers at once (the queue's --workers 2): the machine completes 2 runs in one worker's run time.
    assert r["workers"] == 2 and r["threads_per_worker"] == 1 and r["train_ms_spread_per_worker"]["n"] == 2 * 2
    per_worker = r["iterations_per_run"] * r["train_ms_per_worker"] / 1000 + r["test_images"] * r[
        "test_s_per_image_per_worker"]
    assert abs(r["run_s_per_worker"] - per_worker) <= 0.002 * per_worker + 0.2
    assert abs(r["run_s_workers"] - r["run_s_per_worker"] / 2) <= 0.01
    # As for run_cost_ratio: the JSON's seconds are rounded to 0.01, which moves a smoke run's ratio by more.
    ratio_workers = r["run_s_workers"] / r["run_s_baseline"]
    assert abs(r["run_cost_ratio_workers"] - ratio_workers) <= 0.01 / r["run_s_baseline"] + 0.002


def test_one_image_keeps_its_pixels_padded_to_its_own_size():
    images = torch.zeros(2, 3, 96, 64)
    images[0, :, :40, :50] = 1.0
    images[1, :, :96, :64] = 2.0
    batch = Batch(images, torch.tensor([[40, 50], [96, 64]]), [torch.ones(1, 4), torch.zeros(0, 4)],
                  [torch.zeros(1, dtype=torch.bool), torch.zeros(0, dtype=torch.bool)], torch.tensor([[0, 3], [0, 7]]))
    first = _one_image(batch, 0)
    assert first.images.shape == (1, 3, 64, 64)  # 40 x 50 padded to multiples of 32
    assert first.images[0, :, :40, :50].eq(1).all() and first.images[0, :, 40:].eq(0).all()
    assert first.keys.tolist() == [[0, 3]] and first.sizes.tolist() == [[40, 50]] and len(first.boxes) == 1
    second = _one_image(batch, 1)
    assert second.images.shape == (1, 3, 96, 64) and second.images.eq(2).all()


def test_levers_benchmark_times_threads_and_processes_beside_the_engine():
    """bench levers (smoke, without torch.compile): each lever's iterations beside the chosen engine's, the
    loader worker's blocks and the wider trunks' engine pairs."""
    out = subprocess.run([sys.executable, "-m", "gslib.bench", "levers", "--json", "--profile", "smoke",
                          "--iterations", "3", "--no-compile"], capture_output=True, text=True, check=True)
    r = json.loads(out.stdout)
    for name in ("baseline", "chosen", "threads", "processes"):
        assert r[f"{name}_ms"]["n"] == 3 and r[f"{name}_ms"]["median"] > 0, name
    assert "compile_ms" not in r and r["compile_seconds"] is None
    assert r["threads_over_chosen"]["n"] == 3 and r["threads_over_chosen"]["min"] > 0
    expected = r["processes_ms"]["median"] / r["chosen_ms"]["median"]
    assert abs(r["processes_over_chosen_median"] - expected) <= 0.01 + 0.05 * expected  # medians rounded to 0.1 ms
    # The loader lever: --iterations 3 over the 4 default blocks gives blocks of one batch, each timed.
    assert r["loader_inline_ms"]["n"] == r["loader_worker_ms"]["n"] == r["loader_worker_over_inline"]["n"] == 4
    assert r["loader_worker_ms"]["median"] > 0 and r["loader_inline_ms"]["median"] > 0
    # The wider trunks: each engine pair timed trunk_iterations (at least 3) times, their ratio per iteration.
    assert r["trunk_iterations"] == 3 and set(r["trunks"]) == {"resnet18_c128", "resnet50_c256"}
    for name, t in r["trunks"].items():
        assert t["chosen_ms"]["n"] == t["baseline_ms"]["n"] == t["chosen_over_baseline"]["n"] == 3, name
        # a ResNet-50 iteration costs more than the profile's tiny trunk's, in either engine
        assert t["baseline_ms"]["median"] > r["baseline_ms"]["median"], name
    assert r["chosen_over_baseline"]["n"] == 3 and 0 < r["matmul_peak_fp32_over_bf16"]
