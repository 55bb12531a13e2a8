"""Benchmarks that measure gslib against a peer in the same run. Not tests: they print figures.

    python -m gslib.bench matching [--json] [--profile default] [--repeats 5] [--stats PATH]
    python -m gslib.bench evaluate [--json] [--profile default] [--images 3226]
    python -m gslib.bench train [--json] [--profile default]
    python -m gslib.bench run [--json] [--profile default] [--workers 2]   (what a run costs: the engine's
                                                    settings vs fp32, and with the queue's workers)
    python -m gslib.bench levers [--json] [--profile default] [--no-compile]

``--profile`` sets the sizes (:data:`SIZES`): smoke's are tiny (CI, seconds); default and paper measure at
WIDER FACE's. Timings are repeated side by side (:func:`side_by_side`: each repeat times ours and the peer
once, in alternating order) and reported as the median with its spread (:func:`spread`: quartiles and
range) of the times and of the per-repeat ratio, so that a reader can tell a difference from the noise.

``matching``: FPN-finest anchors on a 1024 x 1024 image (262,144 anchors) and 50, 200 and 709 boxes whose
scales and aspect ratios are drawn from WIDER FACE val's measured distribution (smoke: 256 px, 10 and 50
boxes). Ours = the two-pass matcher + group sampling of one image; the peer = torchvision's
``Matcher(0.6, 0.4, allow_low_quality_matches=True)`` + ``BalancedPositiveNegativeSampler(256, 0.25)`` on the
same anchors and boxes. Reports the per-image time and the peak extra memory: on CUDA
``torch.cuda.max_memory_allocated``; on the CPU the rise of the process's peak resident set (``VmHWM`` after
``clear_refs``), each measured in a fresh process with glibc's mmap threshold fixed so that freed buffers go
back to the system and cannot hide a peak.

``levers``: the levers tried beyond the engine settings to bring a run to half the fp32 engine's cost (threads,
processes, torch.compile, a DataLoader worker), each timed beside the profile's engine, and the engine's bf16 /
fp32 ratio on wider trunks up to the paper's ResNet-50 (:func:`bench_levers`).

``evaluate``: generates a full-size val set of the embedded benchmark (annotations only, 3,226 images; smoke:
50), detections for it (every face found with jitter, plus random false positives: 50 per image at least),
writes them as an official prediction folder and times reading + the official WIDER FACE protocol.

``train``: ms per training iteration of the profile's FPN-finest with RS and with GS (the paper: GS costs
nothing extra) and of RetinaFace-mnet0.25 with its own sampling (HNM) and with GS (Table 6, with its own
matching), then of its two-stage detector with Fast R-CNN (RS) and Grouped Fast R-CNN (GS) behind it; each
pair on the same model, weights and batch, side by side.
"""
from __future__ import annotations

import argparse
import copy
import dataclasses
import itertools
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
import torch._inductor.config
from torch.utils.flop_counter import FlopCounterMode
from torchvision.models.detection._utils import BalancedPositiveNegativeSampler, Matcher
from torchvision.ops import box_iou

from gslib.anchors import fpn_finest
from gslib.build import build_detector, build_samplers
from gslib.data import synth
from gslib.data.synth import wider_aspect_quantile, wider_scale_quantile
from gslib.data.wider import read_predictions, read_wider_mat, write_predictions
from gslib.datasets import PAD_MULTIPLE, Batch, WiderDataset, pad_collate
from gslib.evaluate.wider import evaluate_wider
from gslib.experiments import PROFILES, TABLE9A_METHODS, TABLE13, experiment, total_iterations, variant
from gslib.inference import detect_files, test_workers
from gslib.matcher import TwoPassMatcher
from gslib.paths import WIDER_STATS
from gslib.sampling import group_sample
from gslib.stats import median_interval
from gslib.store import cpu_threads
from gslib.study import GROUND_TRUTH, VAL_IMAGES
from gslib.train import AnchorCache, autocast_dtype_for, batch_loss, matchers, memory_format_for, training_dataset

DEFAULT_STATS = WIDER_STATS
CASES = (50, 200, 709)
IMAGE = 1024
TEST_GROUP = 8  # bench_run's test images per timed group
# Per profile: the matching image side, its box counts and repeats, and the evaluated val images.
SIZES = {"smoke": {"image": 256, "boxes": (10, 50), "repeats": 5, "images": 50},
         "default": {"image": IMAGE, "boxes": CASES, "repeats": 5, "images": 3226},
         "paper": {"image": IMAGE, "boxes": CASES, "repeats": 5, "images": 3226}}


def spread(values: Sequence[float], digits: int = 2) -> dict:
    """Median and spread of repeated measurements: {"median", "median_low", "median_high", "q1", "q3", "min",
    "max", "n"}: the median's 95% interval (:func:`gslib.stats.median_interval`, what a claim about the typical
    measurement is judged on), the quartiles (by linear interpolation) and the range, each rounded to
    ``digits``."""
    q1, median, q3 = np.quantile(np.asarray(values, dtype=float), [0.25, 0.5, 0.75])
    _, low, high = median_interval(values)
    return {"median": round(float(median), digits), "median_low": round(low, digits),
            "median_high": round(high, digits), "q1": round(float(q1), digits), "q3": round(float(q3), digits),
            "min": round(float(min(values)), digits), "max": round(float(max(values)), digits), "n": len(values)}


def ratios(numerators: Sequence[float], denominators: Sequence[float]) -> list[float]:
    """Element-wise ratio of two measurements taken side by side (repeat i of one over repeat i of the other)."""
    return [a / b for a, b in zip(numerators, denominators, strict=True)]


def side_by_side(measures: dict[str, Callable[[], float]], repeats: int, warmup: int = 1) -> dict[str, list[float]]:
    """Each measure ``repeats`` times, side by side: every round calls each once, in an order that alternates
    between rounds (a slow moment of the machine hits all of them), after ``warmup`` untimed rounds.

    measures: {name: a function that does the work once and returns its ms}. Returns {name: [ms per repeat]}.
    """
    names = list(measures)
    times = {name: [] for name in names}
    for r in range(warmup + repeats):
        for name in names if r % 2 == 0 else names[::-1]:
            ms = measures[name]()
            if r >= warmup:
                times[name].append(ms)
    return times


def cycling(batches: Sequence, measure: Callable[[object], float]) -> Callable[[], float]:
    """A measure for :func:`side_by_side`: each call runs ``measure`` (returning its ms) on the next of
    ``batches``, from the first, cycling."""
    following = itertools.cycle(batches)
    return lambda: measure(next(following))


def sample_wider_boxes(num: int, stats: dict, image: int = IMAGE, seed: int = 0) -> torch.Tensor:
    """``num`` boxes (num, 4) x1y1x2y2 inside an ``image`` square (WIDER's 1024 px by default), whose scale
    sqrt(wh) and aspect w/h follow WIDER FACE val (the embedded benchmark's inverse CDFs)."""

    rng = np.random.default_rng(seed)
    scale = np.minimum(wider_scale_quantile(rng.random(num), stats) * image / 1024, image / 2)
    aspect = wider_aspect_quantile(rng.random(num), stats)
    w, h = scale * np.sqrt(aspect), scale / np.sqrt(aspect)
    x = rng.random(num) * (image - w)
    y = rng.random(num) * (image - h)
    return torch.tensor(np.stack([x, y, x + w, y + h], axis=1), dtype=torch.float32)


def _ours(anchors, groups, boxes, generator):

    labels, _ = TwoPassMatcher(0.6, 0.4)(anchors, boxes)
    return group_sample(labels, groups, 4, 256, generator=generator)


def _torchvision(anchors, groups, boxes, generator):

    matches = Matcher(0.6, 0.4, allow_low_quality_matches=True)(box_iou(boxes, anchors))
    labels = (matches >= 0).to(torch.int64)
    labels[matches == Matcher.BETWEEN_THRESHOLDS] = -1
    return BalancedPositiveNegativeSampler(256, 0.25)([labels])


METHODS = {"ours": _ours, "torchvision": _torchvision}


def _inputs(num_boxes: int, stats: dict, device: torch.device, image: int = IMAGE):

    anchors, groups = fpn_finest().anchors(image, image, device=device)
    boxes = sample_wider_boxes(num_boxes, stats, image, seed=num_boxes).to(device)
    return anchors, groups, boxes


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def _proc_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def _peak_child(method: str, num_boxes: int, stats_path: str, image: int = IMAGE) -> None:
    """Runs in a fresh process: prints the peak extra memory (MB) of one call of ``method`` on the CPU."""
    stats = json.loads(Path(stats_path).read_text())
    anchors, groups, boxes = _inputs(num_boxes, stats, torch.device("cpu"), image)
    METHODS[method](anchors, groups, boxes[:5], None)  # warm up lazy initialisation, tiny case
    Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current resident set
    before = _proc_kb("VmRSS")
    METHODS[method](anchors, groups, boxes, None)
    print((_proc_kb("VmHWM") - before) / 1024)


def peak_mb(method: str, num_boxes: int, stats_path: Path, device: torch.device, image: int = IMAGE) -> float:
    if device.type == "cuda":
        anchors, groups, boxes = _inputs(num_boxes, json.loads(stats_path.read_text()), device, image)
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        METHODS[method](anchors, groups, boxes, None)
        torch.cuda.synchronize()
        return (torch.cuda.max_memory_allocated() - base) / 2**20
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536")
    code = f"from gslib.bench import _peak_child; _peak_child({method!r}, {num_boxes}, {str(stats_path)!r}, {image})"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def matching_ms(num_boxes: int, stats: dict, device: torch.device, repeats: int,
                image: int = IMAGE) -> dict[str, list[float]]:
    """ms per image of each of :data:`METHODS` on the same anchors and boxes, ``repeats`` times side by side."""
    anchors, groups, boxes = _inputs(num_boxes, stats, device, image)
    generator = torch.Generator(device=device).manual_seed(0)

    def timed(method):
        def once():
            _sync(device)
            start = time.perf_counter()
            METHODS[method](anchors, groups, boxes, generator)
            _sync(device)
            return (time.perf_counter() - start) * 1000
        return once
    return side_by_side({method: timed(method) for method in METHODS}, repeats)


def bench_matching(stats_path: Path, repeats: int, devices: list[torch.device], box_counts=CASES,
                   image: int = IMAGE) -> dict:
    """One case per device and box count: the time of ours and of torchvision (:func:`spread` of the
    repeats), the speedup (spread of the per-repeat ratio torchvision / ours) and the peak memory."""
    stats = json.loads(stats_path.read_text())
    cases = []
    for device in devices:
        for n in box_counts:
            times = matching_ms(n, stats, device, repeats, image)
            row = {"device": device.type, "boxes": n}
            for method in METHODS:
                row[f"{method}_ms"] = spread(times[method])
                row[f"{method}_peak_mb"] = round(peak_mb(method, n, stats_path, device, image), 1)
            row["speedup"] = spread(ratios(times["torchvision"], times["ours"]))
            row["memory_ratio"] = round(row["torchvision_peak_mb"] / max(row["ours_peak_mb"], 0.1), 1)
            cases.append(row)
    return {"anchors": "FPN-finest", "image": [image, image], "threads": torch.get_num_threads(),
            "repeats": repeats, "cases": cases}


def fake_detections(images, rng: np.random.Generator, per_image: int = 50) -> dict[str, np.ndarray]:
    """Detections for timing the evaluator: each face found with jitter, the rest random false positives.

    images: WiderImage records -> {key: (K, 5) x y w h score}, K >= per_image.
    """
    preds = {}
    for im in images:
        hits = im.boxes + rng.normal(0, 0.05, im.boxes.shape) * im.boxes[:, 2:].repeat(2, axis=1)
        n_false = max(per_image - len(hits), 0)
        wh = np.exp(rng.uniform(np.log(4), np.log(200), (n_false, 1))).repeat(2, axis=1)
        false = np.hstack([rng.uniform(0, 900, (n_false, 2)), wh])
        boxes = np.vstack([hits, false])
        scores = np.concatenate([rng.uniform(0.3, 1.0, len(hits)), rng.uniform(0.0, 0.8, n_false)])
        preds[im.key] = np.hstack([boxes, scores[:, None]])
    return preds


def bench_evaluate(stats_path: Path, num_images: int = 3226, per_image: int = 50) -> dict:
    """Seconds to evaluate a full-size WIDER-format val set with the official protocol (read + evaluate)."""


    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        synth.generate(tmp / "set", synth.DEFAULT, stats_path, num_train=0, num_val=num_images,
                       annotations_only=True, progress=False)
        gt_dir = tmp / "set" / "eval_tools" / "ground_truth"
        gt = read_wider_mat(gt_dir)
        preds = fake_detections(gt.images, np.random.default_rng(0), per_image)
        write_predictions(tmp / "pred", preds)
        start = time.perf_counter()
        gt = read_wider_mat(gt_dir)
        read = read_predictions(tmp / "pred")
        after_read = time.perf_counter()
        results = evaluate_wider(read, gt)
        done = time.perf_counter()
    return {"images": len(gt.images), "faces": int(sum(len(im.boxes) for im in gt.images)),
            "detections": int(sum(len(p) for p in preds.values())), "read_s": round(after_read - start, 3),
            "evaluate_s": round(done - after_read, 3), "total_s": round(done - start, 3),
            "ap": {k: round(float(v.ap), 4) for k, v in results.items()}}


def _time_iterations(models: dict, batch, configs: dict, profile, iterations: int,
                     before=None) -> dict[str, list[float]]:
    """ms of one training iteration (forward, matching, sampling, eq. 2, backward, SGD step) per config, on
    ``models[name]`` (one model may serve several configs), ``iterations`` times side by side
    (:func:`side_by_side`), each from the same weights; ``before(name)`` runs untimed before each iteration."""

    device = torch.device("cpu")
    for model in models.values():
        model.to(device, memory_format=memory_format_for(profile))  # as the engine runs it
    dtype = autocast_dtype_for(profile, device)
    start_states = {name: {k: v.clone() for k, v in models[name].state_dict().items()} for name in configs}
    matching = {name: matchers(profile, config) for name, config in configs.items()}  # (first stage, second)
    samplers = {name: build_samplers(config, profile.rcnn_rois) for name, config in configs.items()}
    caches = {name: AnchorCache(models[name].layout, device) for name in configs}

    def timed(name):
        model, cache = models[name], caches[name]

        def once():
            model.load_state_dict(start_states[name])
            if before is not None:
                before(name)
            opt = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=profile.momentum)
            start = time.perf_counter()
            sampler, rcnn_sampler = samplers[name]
            matcher, rcnn_matcher = matching[name]
            loss, _ = batch_loss(model, batch, configs[name], sampler, matcher, cache, device, dtype, rcnn_sampler,
                                 rcnn_matcher)
            opt.zero_grad()
            loss.backward()
            opt.step()
            return (time.perf_counter() - start) * 1000
        return once
    return side_by_side({name: timed(name) for name in configs}, iterations)


def _first_batch(profile_name: str):
    """The profile (its benchmark made if missing, its CPU threads set) and its first training batch of
    epoch 0 (seed 0) whose every image holds a face: a third of the default profile's crops hold none, and a
    batch without faces times no matching of positives (and RetinaFace's HNM draws nothing on it)."""
    profile = PROFILES[profile_name]
    if profile.synth_profile:
        synth.ensure(synth.PROFILES[profile.synth_profile], profile.path(""), progress=False)
    if profile.cpu_threads:
        torch.set_num_threads(profile.cpu_threads)
    dataset = WiderDataset(profile.path(profile.train_images), profile.path(profile.train_annotations),
                           seed=0, scales=profile.jitter_scales, max_side=profile.max_side, flip=profile.flip)
    n = profile.images_per_batch
    for start in range(0, len(dataset) - n + 1, n):
        samples = [dataset[(0, i)] for i in range(start, start + n)]
        if all(len(s.boxes) for s in samples):
            return profile, pad_collate(samples)
    raise ValueError(f"{profile.path(profile.train_annotations)}: no training batch of {n} crops that all hold a face")


def bench_train(profile_name: str = "default", iterations: int = 10) -> dict:
    """Milliseconds per training iteration of FPN-finest with RS and FPN-finest-sampling with GS (the same
    model, weights and batch, side by side), of RetinaFace-mnet0.25 with HNM and with GS (Table 6's pair with
    RetinaFace's own matching; one model, side by side with the former), and of the second stage: Fast R-CNN
    with RS and Grouped Fast R-CNN (Table 13's "+IoU loss" and "+GS", and its other two-stage rows: the same
    two-stage model, batch and first stage).
    Each time and each per-iteration ratio (GS / RS, GS / HNM, RetinaFace-sampling / FPN-finest-sampling) as its
    :func:`spread`; ``ms_per_iteration``: every detector's median by experiment name."""

    profile, batch = _first_batch(profile_name)
    # Table 6's pair as its claim is judged: RetinaFace with its own matching (IoU 0.35), HNM against GS.
    configs = {"RS": experiment("FPN-finest"), "GS": experiment("FPN-finest-sampling"),
               "HNM": experiment("RetinaFace-IoU35"), "RetinaFace GS": experiment("RetinaFace-IoU35-sampling")}
    torch.manual_seed(0)
    model = build_detector(configs["RS"], profile, initial_weights=False).train()  # timing only
    retina = build_detector(configs["HNM"], profile, initial_weights=False).train()
    one = _time_iterations({"RS": model, "GS": model, "HNM": retina, "RetinaFace GS": retina}, batch, configs,
                           profile, iterations)
    # Every two-stage row of Table 13 ("RS" = "+IoU loss", "GS" = "+GS"); one model for all: in training the
    # proposals are grouped as each config's second-stage sampler is.
    two_stage = {{"+IoU loss": "RS", "+GS": "GS"}.get(row, row): config for row, config in TABLE13.items()
                 if config.second_stage}
    model = build_detector(two_stage["GS"], profile, initial_weights=False).train()
    two = _time_iterations(dict.fromkeys(two_stage, model), batch, two_stage, profile, iterations)
    # The same medians by experiment name: what gslib.runs prices a never-trained experiment's runs from.
    by_name = {config.name: float(np.median(ms)) for timed, group in ((one, configs), (two, two_stage))
               for config, ms in ((group[k], timed[k]) for k in group)}
    return {"profile": profile_name, "images_per_batch": profile.images_per_batch,
            "input": list(batch.images.shape[2:]), "iterations": iterations, "threads": torch.get_num_threads(),
            "rs_ms": spread(one["RS"], 1),
            "gs_ms": spread(one["GS"], 1), "gs_over_rs": spread(ratios(one["GS"], one["RS"]), 3),
            "retinaface_hnm_ms": spread(one["HNM"], 1), "retinaface_gs_ms": spread(one["RetinaFace GS"], 1),
            "retinaface_gs_over_hnm": spread(ratios(one["RetinaFace GS"], one["HNM"]), 3),
            "retinaface_experiments": {"hnm": configs["HNM"].name, "gs": configs["RetinaFace GS"].name},
            "retinaface_gs_over_fpn_finest_sampling": spread(ratios(one["RetinaFace GS"], one["GS"]), 3),
            "fast_rcnn_rs_ms": spread(two["RS"], 1), "fast_rcnn_gs_ms": spread(two["GS"], 1),
            "fast_rcnn_gs_over_rs": spread(ratios(two["GS"], two["RS"]), 3),
            "ms_per_iteration": {name: round(ms, 1) for name, ms in by_name.items()}}


def bench_mining(profile_name: str = "default", iterations: int = 10, bases=("FPN", "FPN-finest")) -> dict:
    """Table 9a's training cost: ms per training iteration of each method of :data:`TABLE9A_METHODS` (OHEM with
    and without its NMS) on each of ``bases`` (the same model, weights and batch; every method side by side,
    :func:`_time_iterations`), and each per-iteration ratio to RS. The paper argues that OHEM's NMS costs time
    and WRS does not."""
    profile, batch = _first_batch(profile_name)
    result = {"profile": profile_name, "threads": torch.get_num_threads(), "iterations": iterations,
              "input": list(batch.images.shape[2:])}
    for base in bases:
        configs = {m: variant(base, **changes) for m, changes in TABLE9A_METHODS.items()}
        torch.manual_seed(0)
        model = build_detector(configs["RS"], profile, initial_weights=False).train()  # timing only
        ms = _time_iterations(dict.fromkeys(configs, model), batch, configs, profile, iterations)
        result[base] = {m: {"detector": configs[m].name, "ms": spread(ms[m], 1),
                            "over_rs": spread(ratios(ms[m], ms["RS"]), 3)} for m in configs}
    return result


def _said(s: dict) -> str:
    """A :func:`spread` as text: "median [min, max]"."""
    return f"{s['median']} [{s['min']}, {s['max']}]"


def matmul_peak_gflops(dtype: torch.dtype, size: int = 2048, repeats: int = 5) -> float:
    """This machine's matmul throughput (GFLOP/s, median of ``repeats``) on ``size`` x ``size`` matrices."""
    a, b = torch.randn(size, size).to(dtype), torch.randn(size, size).to(dtype)

    def once():
        start = time.perf_counter()
        torch.mm(a, b)
        return (time.perf_counter() - start) * 1000
    ms = spread(side_by_side({"mm": once}, repeats)["mm"], 4)["median"]
    return 2 * size**3 / (ms / 1000) / 1e9


def _run_inputs(chosen, iterations: int, test_images: int):
    """What :func:`bench_run` times: the first ``iterations + 1`` training batches of seed 0 (and the ms to
    read each: decoded, as a run's first epoch does, and from the dataset's cache, as its later epochs do), the
    run's iteration count, the names of ``test_images`` val images spread over the val set (below
    :func:`_val_names`), and the val set's size."""
    if chosen.synth_profile:
        synth.ensure(synth.PROFILES[chosen.synth_profile], chosen.path(""), progress=False)
    dataset = WiderDataset(chosen.path(chosen.train_images), chosen.path(chosen.train_annotations), seed=0,
                           scales=chosen.jitter_scales, max_side=chosen.max_side, flip=chosen.flip)
    undecoded = WiderDataset(chosen.path(chosen.train_images), chosen.path(chosen.train_annotations), seed=0,
                             scales=chosen.jitter_scales, max_side=chosen.max_side, flip=chosen.flip, cache_bytes=0)
    batches, first_epoch_ms, read_ms = [], [], []
    for keys in _batch_keys(len(dataset), chosen.images_per_batch, iterations + 1):
        pad_collate([undecoded[key] for key in keys])  # untimed: a run reads from the OS's file cache
        start = time.perf_counter()
        pad_collate([undecoded[key] for key in keys])  # the first epoch decodes every image
        first_epoch_ms.append((time.perf_counter() - start) * 1000)
        pad_collate([dataset[key] for key in keys])  # decoded into the dataset's cache
        start = time.perf_counter()
        batches.append(pad_collate([dataset[key] for key in keys]))  # later epochs: from the cache
        read_ms.append((time.perf_counter() - start) * 1000)
    names, val_images = _val_names(chosen, test_images)
    return batches, first_epoch_ms, read_ms, total_iterations(len(dataset), chosen), names, val_images


def _batch_keys(num_images: int, per_batch: int, count: int) -> list[list[tuple[int, int]]]:
    """The dataset keys ``(epoch 0, index)`` of ``count`` batches of ``per_batch`` images in one seeded order."""
    order = torch.randperm(num_images, generator=torch.Generator().manual_seed(0)).tolist()
    return [[(0, order[(k * per_batch + i) % num_images]) for i in range(per_batch)] for k in range(count)]


def _val_names(profile, count: int) -> tuple[list[str], int]:
    """``count`` val image names spread over the profile's val set, and the val set's size."""
    gt = read_wider_mat(profile.path(GROUND_TRUTH))
    return [im.name for im in gt.images][:: max(1, len(gt.images) // count)][:count], len(gt.images)


class _Engine:
    """One engine setting (precision, memory format, test images detected at once) of the profile's
    FPN-finest-sampling, on its own copy of ``first``'s weights: :meth:`train_ms` times one training iteration,
    :meth:`test_s` test images over the profile's pyramid. Code changes that are not settings (the fused AdamW
    step, the test's ranking by logit margin) serve every engine, so a ratio credits the settings alone.
    ``test_workers``: images detected side by side (:func:`gslib.inference.detect_files`)."""

    def __init__(self, first, profile, device, test_workers: int = 1):
        self.test_workers = test_workers
        self.profile, self.device, self.config = profile, device, experiment("FPN-finest-sampling")
        self.model = copy.deepcopy(first).to(device, memory_format=memory_format_for(profile))
        self.dtype = autocast_dtype_for(profile, device)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=1e-4, fused=True)
        self.cache = AnchorCache(self.model.layout, device)
        self.sampler, _ = build_samplers(self.config)
        self.matcher, _ = matchers(profile, self.config)

    def loss(self, batch):
        return batch_loss(self.model, batch, self.config, self.sampler, self.matcher, self.cache, self.device,
                          self.dtype)[0]

    def train_ms(self, batch) -> float:
        self.model.train()
        start = time.perf_counter()
        loss = self.loss(batch)
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        return (time.perf_counter() - start) * 1000

    def train_parts_ms(self, batch) -> dict[str, float]:
        """One training iteration timed by parts: ``forward`` (the network alone, timed apart),
        ``matching_sampling_loss`` (the rest of :func:`gslib.train.batch_loss`: matching, sampling, eq. 2),
        ``backward`` and ``optimizer``."""
        self.model.train()
        images = batch.images.to(self.device)
        start = time.perf_counter()
        with torch.autocast(self.device.type, dtype=self.dtype or torch.bfloat16, enabled=self.dtype is not None):
            self.model(images)  # as batch_loss runs it (with autograd's records), then dropped
        forward = time.perf_counter() - start
        start = time.perf_counter()
        loss = self.loss(batch)
        lossed = time.perf_counter()
        self.optimizer.zero_grad()
        loss.backward()
        backward = time.perf_counter()
        self.optimizer.step()
        stepped = time.perf_counter()
        return {"forward": forward * 1000, "matching_sampling_loss": (lossed - start - forward) * 1000,
                "backward": (backward - lossed) * 1000, "optimizer": (stepped - backward) * 1000}

    def test_s(self, names) -> float:
        """Seconds per image to detect the val images ``names`` (read from disk, as evaluate_run does)."""
        self.model.eval()
        start = time.perf_counter()
        detect_files(self.model, self.profile.path(VAL_IMAGES), names, workers=self.test_workers,
                     autocast_dtype=self.dtype, scales=self.profile.test_scales, max_side=self.profile.test_max_side,
                     pre_nms_top_k=self.profile.pre_nms_top_n, nms_threshold=self.profile.nms_thresh)
        return (time.perf_counter() - start) / len(names)


def _first_model(profile):
    torch.manual_seed(0)
    return build_detector(experiment("FPN-finest-sampling"), profile, initial_weights=False).train()  # any weights


def bench_worker(profile_name: str, iterations: int, test_images: int, threads: int, ready: Path,
                 workers: int) -> dict:
    """One of :func:`bench_run`'s side-by-side workers: the profile's engine on ``threads`` threads, timed
    once every worker has written its file in ``ready`` (so that they run at the same time, as the queue's
    workers do): ``{"train_ms": [...], "test_s": [...]}``."""
    chosen = PROFILES[profile_name]
    torch.set_num_threads(threads)
    batches, _, _, _, names, _ = _run_inputs(chosen, iterations, test_images)
    engine = _Engine(_first_model(chosen), chosen, torch.device("cpu"), test_workers(torch.device("cpu")))
    engine.train_ms(batches[-1])  # warm-up, untimed
    (ready / f"{os.getpid()}").write_text("ready")
    while len(list(ready.iterdir())) < workers:
        time.sleep(0.05)
    train_ms = [engine.train_ms(batch) for batch in batches[:iterations]]
    engine.test_s(names[:1])  # warm-up, untimed
    return {"train_ms": train_ms, "test_s": [engine.test_s(names)]}


def _side_by_side_workers(profile_name: str, workers: int, iterations: int, test_images: int,
                          threads: int) -> list[dict]:
    """:func:`bench_worker` in ``workers`` child processes at once; their results."""
    with tempfile.TemporaryDirectory() as ready:
        command = [sys.executable, "-m", "gslib.bench", "worker", "--profile", profile_name, "--iterations",
                   str(iterations), "--test-images", str(test_images), "--threads", str(threads), "--ready", ready,
                   "--workers", str(workers)]
        children = [subprocess.Popen(command, stdout=subprocess.PIPE, text=True) for _ in range(workers)]
        outputs = [child.communicate()[0] for child in children]
    if any(child.returncode for child in children):
        raise RuntimeError(f"a bench worker failed: {[child.returncode for child in children]}")
    return [json.loads(out.strip().splitlines()[-1]) for out in outputs]


def bench_run(profile_name: str = "default", iterations: int = 100, test_images: int = 40,
              workers: int = 2) -> dict:
    """What a run of the profile costs with its engine settings (``precision``, ``channels_last``) against
    the baseline engine (fp32, contiguous), in this process; and what it costs per run when ``workers``
    queues share the machine (:mod:`gslib.runs`, ``--workers``), measured in as many child processes at once.

    Training: ms per iteration of FPN-finest-sampling, each engine on its own copy of the same initial
    weights and the same ``iterations`` batches, side by side; the time to read a batch (the same for both)
    is added as a run pays it (its first epoch decodes every image, the later ones read the dataset's cache of
    decoded images). A run's cost uses the means (a run pays every iteration), the medians and spreads are shown.
    Test: seconds per image over the profile's pyramid, on the same ``test_images`` val images read from disk,
    side by side in groups of :data:`TEST_GROUP`: the baseline detects them one after the other, the chosen
    engine as evaluate_run does, :func:`gslib.inference.test_workers` images at once, each on one thread (the
    weights are untrained: the count of boxes that reach NMS differs from a trained detector's).
    A run = the profile's iterations x train ms + its val images x test s. The chosen engine's iteration is
    also timed by parts (``train_ms_parts``, ``train_ms_parts_baseline``: forward, matching + sampling + eq. 2,
    backward, optimizer, data), and ``run_s_network_only`` prices a run whose only training cost is the
    network's (forward, backward, optimizer step); ``run_cost_ratio_network_floor`` is the chosen engine's such
    run over the baseline's: the ratio the engine settings would reach if the code they share cost nothing.
    Also the GFLOP of a training iteration (``torch.utils.flop_counter``) per second, and this machine's fp32
    and bf16 matmul peaks.

    Workers (``workers`` > 1): each child process runs the profile's engine on ``cpu_threads // workers``
    threads over the same batches and images, all at once; a run then costs one worker's run time, and the
    machine completes ``workers`` runs in that time: ``run_s_workers`` = the worker's run / ``workers``."""
    chosen = PROFILES[profile_name]
    engines = {"baseline": dataclasses.replace(chosen, precision="fp32", channels_last=False), "chosen": chosen}
    threads = chosen.cpu_threads or torch.get_num_threads()
    torch.set_num_threads(threads)
    device = torch.device("cpu")
    batches, first_epoch_ms, read_ms, run_iterations, names, val_images = _run_inputs(chosen, iterations,
                                                                                       test_images)
    first = _first_model(chosen)
    # The baseline detects one image after the other, the chosen engine as evaluate_run does (test_workers).
    measured = {k: _Engine(first, p, device, 1 if k == "baseline" else test_workers(device))
                for k, p in engines.items()}
    train_ms = side_by_side({k: cycling(batches, measured[k].train_ms) for k in engines}, iterations)
    with FlopCounterMode(display=False) as counter:
        measured["chosen"].loss(batches[0]).backward()
    gflop = counter.get_total_flops() / 1e9
    # Each engine's iteration by parts, on the same batches, side by side: what the settings speed up (the
    # network) and what they leave alone (matching, sampling, eq. 2, reading the data).
    timed_parts = {k: [] for k in engines}
    for i in range(iterations):
        for k in engines:
            timed_parts[k].append(measured[k].train_parts_ms(batches[i % len(batches)]))
    parts = {e: {k: float(np.mean([t[k] for t in timed])) for k in timed[0]} for e, timed in timed_parts.items()}

    # Test: groups of TEST_GROUP images (side by side, the chosen engine detects a group's images at once),
    # each engine in turn; the first group again after them, untimed, to warm up.
    groups = [names[i:i + TEST_GROUP] for i in range(0, len(names), TEST_GROUP)]
    shown = {k: 0 for k in engines}

    def test_once(k):
        def once():
            shown[k] += 1
            return measured[k].test_s(groups[(shown[k] - 2) % len(groups)])  # warm-up: the last group
        return once
    test_s = side_by_side({k: test_once(k) for k in engines}, len(groups))
    # The first of the run's epochs decodes its images, the others read them from the dataset's cache.
    epochs = max(chosen.epochs, 1.0)  # a run of under one epoch decodes every image it reads
    data_ms = (float(np.mean(first_epoch_ms)) + (epochs - 1) * float(np.mean(read_ms))) / epochs
    train = {k: float(np.mean(v)) + data_ms for k, v in train_ms.items()}
    test = {k: float(np.mean(v)) for k, v in test_s.items()}
    run_s = {k: run_iterations * train[k] / 1000 + val_images * test[k] for k in engines}
    # Each engine's run if matching, sampling, eq. 2 and the data cost nothing: the network's forward, backward
    # and optimizer step, and the test as measured. Their ratio is the least the settings can reach.
    network_s = {k: run_iterations * (parts[k]["forward"] + parts[k]["backward"] + parts[k]["optimizer"]) / 1000
                 + val_images * test[k] for k in engines}
    result = {
        "profile": profile_name, "precision": chosen.precision, "channels_last": chosen.channels_last,
        "threads": threads,
        "train_ms_baseline": round(train["baseline"], 1), "train_ms": round(train["chosen"], 1),
        "data_ms_per_iteration": round(data_ms, 2),
        "data_ms_first_epoch": round(float(np.mean(first_epoch_ms)), 2),
        "data_ms_cached": round(float(np.mean(read_ms)), 2),
        "train_ms_spread_baseline": spread(train_ms["baseline"], 1), "train_ms_spread": spread(train_ms["chosen"], 1),
        "train_speedup": spread(ratios(train_ms["baseline"], train_ms["chosen"]), 2),
        "test_s_per_image_baseline": round(test["baseline"], 3), "test_s_per_image": round(test["chosen"], 3),
        "test_speedup": spread(ratios(test_s["baseline"], test_s["chosen"]), 2),
        "iterations_per_run": run_iterations, "test_images": val_images,
        "iterations_measured": iterations, "test_images_measured": len(names),
        "test_workers": measured["chosen"].test_workers,
        "run_s_baseline": round(run_s["baseline"], 2), "run_s": round(run_s["chosen"], 2),
        "run_cost_ratio": round(run_s["chosen"] / run_s["baseline"], 3),
        "train_ms_parts": {k: round(v, 2) for k, v in {**parts["chosen"], "data": data_ms}.items()},
        "train_ms_parts_baseline": {k: round(v, 2) for k, v in {**parts["baseline"], "data": data_ms}.items()},
        "run_s_network_only": round(network_s["chosen"], 2),
        "run_cost_ratio_network_only": round(network_s["chosen"] / run_s["baseline"], 3),
        "run_s_network_only_baseline": round(network_s["baseline"], 2),
        "run_cost_ratio_network_floor": round(network_s["chosen"] / network_s["baseline"], 3),
        "train_gflop_per_iteration": round(gflop, 2),
        "train_gflops_per_s": round(gflop / (spread(train_ms["chosen"], 2)["median"] / 1000), 1),
        "train_gflops_per_s_baseline": round(gflop / (spread(train_ms["baseline"], 2)["median"] / 1000), 1),
        "peak_fp32_gflops_per_s": round(matmul_peak_gflops(torch.float32), 1),
        "peak_bf16_gflops_per_s": round(matmul_peak_gflops(torch.bfloat16), 1),
    }
    if workers > 1:
        per_worker = max(1, threads // workers)
        side = _side_by_side_workers(profile_name, workers, iterations, len(names), per_worker)
        worker_train = float(np.mean([np.mean(w["train_ms"]) for w in side])) + data_ms
        worker_test = float(np.mean([np.mean(w["test_s"]) for w in side]))
        worker_run = run_iterations * worker_train / 1000 + val_images * worker_test
        result.update({
            "workers": workers, "threads_per_worker": per_worker,
            "train_ms_per_worker": round(worker_train, 1),
            "train_ms_spread_per_worker": spread([ms for w in side for ms in w["train_ms"]], 1),
            "test_s_per_image_per_worker": round(worker_test, 3),
            "run_s_per_worker": round(worker_run, 2),
            "run_s_workers": round(worker_run / workers, 2),
            "run_cost_ratio_workers": round(worker_run / workers / run_s["baseline"], 3),
            "workers_throughput_over_one_queue": round(run_s["chosen"] / (worker_run / workers), 2),
        })
    return result


def _one_image(batch, i: int):
    """Image ``i`` of ``batch`` as a batch of its own, padded to its own size (as a process holding only it would)."""
    h, w = (int(v) for v in batch.sizes[i])
    h, w = -(-h // PAD_MULTIPLE) * PAD_MULTIPLE, -(-w // PAD_MULTIPLE) * PAD_MULTIPLE
    return Batch(batch.images[i:i + 1, :, :h, :w].contiguous(), batch.sizes[i:i + 1], [batch.boxes[i]],
                 [batch.ignore[i]], batch.keys[i:i + 1])


def _threads_ms(engine: _Engine, batch) -> float:
    """One training iteration with the batch's images split over as many Python threads, one torch thread each
    (each image's gradients by ``torch.autograd.grad``, summed in a fixed order, then one optimizer step).
    Timing only: each image's BatchNorm normalises over itself, and the running statistics' updates race."""
    engine.model.train()
    params = [p for p in engine.model.parameters() if p.requires_grad]
    images = [_one_image(batch, i) for i in range(batch.images.shape[0])]
    grads = [None] * len(images)

    def one(k):
        grads[k] = torch.autograd.grad(engine.loss(images[k]) / len(images), params, allow_unused=True)
    with cpu_threads(1):
        start = time.perf_counter()
        threads = [threading.Thread(target=one, args=(k,)) for k in range(len(images))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for i, p in enumerate(params):
            parts = [g[i] for g in grads if g[i] is not None]
            p.grad = torch.stack(parts).sum(0) if parts else None
        engine.optimizer.step()
        return (time.perf_counter() - start) * 1000


def lever_process(profile_name: str, iterations: int, rank: int, world: int, port: int) -> dict:
    """One of :func:`bench_levers`' DistributedDataParallel processes (gloo, one torch thread): image ``rank`` of
    each of the first ``iterations`` batches, timed per iteration after a barrier: ``{"train_ms": [...]}``."""
    chosen = PROFILES[profile_name]
    torch.set_num_threads(1)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.distributed.init_process_group("gloo", rank=rank, world_size=world)
    try:
        batches = _run_inputs(chosen, iterations, 1)[0]
        engine = _Engine(_first_model(chosen), chosen, torch.device("cpu"))
        engine.model = torch.nn.parallel.DistributedDataParallel(engine.model)
        times = []
        for k, batch in enumerate(batches):
            torch.distributed.barrier()
            ms = engine.train_ms(_one_image(batch, rank))
            if k:  # the first: warm-up
                times.append(ms)
        return {"train_ms": times}
    finally:
        torch.distributed.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# bench_levers' wider trunks: the engine's bf16 / fp32 ratio on networks whose convolutions are larger.
WIDER_TRUNKS = {"resnet18_c128": dict(backbone="resnet18", width_divisor=1, channels=128, head_channels=128),
                "resnet50_c256": dict(backbone="resnet50", width_divisor=1, channels=256, head_channels=256)}


def _trunk_ratio(chosen, batches, iterations: int, **trunk) -> dict:
    """The profile's engine against the fp32 baseline, side by side on the same batches, with the trunk and
    widths ``trunk`` (random weights; timing only): ``{"baseline_ms", "chosen_ms", "chosen_over_baseline"}``."""
    widened = dataclasses.replace(chosen, pretrain_iterations=0, **trunk)
    torch.manual_seed(0)
    first = build_detector(experiment("FPN-finest-sampling"), widened, initial_weights=False).train()
    device = torch.device("cpu")
    pair = {"baseline": _Engine(first, dataclasses.replace(widened, precision="fp32", channels_last=False), device),
            "chosen": _Engine(first, widened, device)}
    ms = side_by_side({name: cycling(batches, pair[name].train_ms) for name in pair}, iterations)
    return {"baseline_ms": spread(ms["baseline"], 1), "chosen_ms": spread(ms["chosen"], 1),
            "chosen_over_baseline": spread(ratios(ms["chosen"], ms["baseline"]), 3)}


def _loader_ms(engine: _Engine, loader: torch.utils.data.DataLoader) -> float:
    """ms per training iteration, reading included, over one pass of ``loader``."""
    start = time.perf_counter()
    for batch in loader:  # a worker process reads ahead while the engine trains
        engine.train_ms(batch)
    return (time.perf_counter() - start) * 1000 / len(loader)


def bench_levers(profile_name: str = "default", iterations: int = 40, compile_model: bool = True,
                 blocks: int = 4) -> dict:
    """The levers beyond the profile's engine settings that a run at half the fp32 engine's cost was tried
    with, each timed on the profile's engine (bf16, channels_last: "chosen") training
    FPN-finest-sampling on the same weights and ``iterations`` batches, beside the chosen engine and the fp32
    baseline:

    - ``threads``: the batch's images split over Python threads, one torch thread each (:func:`_threads_ms`);
    - ``processes``: DistributedDataParallel over one process per image (gloo, one torch thread each), the way
      Sec. 5 spreads a batch over GPUs (:func:`lever_process`; timed in its own processes, after the others);
    - ``compile``: ``torch.compile`` of the detector's forward (static shapes), with its compile seconds apart
      (one compilation per input shape of the batches; ``compile_model=False`` skips it);
    - ``loader_worker``: the batches read by a (persistent) DataLoader worker process, ahead of the engine, instead
      of in the training process (:func:`_loader_ms`, reading included, over ``blocks`` blocks of
      ``iterations // blocks`` batches taking turns with reading in-process; a first pair of blocks, untimed,
      starts the worker and fills the dataset's cache);
    - ``trunks``: how far bf16 can go at all on this CPU. The chosen engine's ratio to the fp32 baseline on
      :data:`WIDER_TRUNKS` (up to the paper's ResNet-50 at c = 256; ``iterations // 4`` iterations each, at
      least 3), beside the profile's own trunk's (``chosen_over_baseline``) and the ratio of this machine's
      fp32 to bf16 matmul peaks (``matmul_peak_fp32_over_bf16``).

    Each lever's ``*_ms`` spread and its per-iteration ratio to the chosen engine (``*_over_chosen``; below 1 is
    faster). Reading the data is left out: every lever reads it alike."""
    chosen = PROFILES[profile_name]
    threads = chosen.cpu_threads or torch.get_num_threads()
    torch.set_num_threads(threads)
    device = torch.device("cpu")
    batches = _run_inputs(chosen, iterations, 1)[0]
    first = _first_model(chosen)
    engines = {"baseline": _Engine(first, dataclasses.replace(chosen, precision="fp32", channels_last=False), device),
               "chosen": _Engine(first, chosen, device), "threads": _Engine(first, chosen, device)}
    compile_seconds = None
    if compile_model:
        engines["compile"] = _Engine(first, chosen, device)
        engines["compile"].model.forward = torch.compile(engines["compile"].model.forward, dynamic=False)
        start = time.perf_counter()
        # Compiled from scratch: inductor's on-disk caches would serve an earlier run's kernels (3.9 s instead
        # of 56 s measured), which a fresh machine or a changed network does not have.
        with torch._inductor.config.patch(force_disable_caches=True):
            for shape in sorted({tuple(b.images.shape) for b in batches}):  # compiles each shape once, untimed
                engines["compile"].train_ms(next(b for b in batches if tuple(b.images.shape) == shape))
        compile_seconds = time.perf_counter() - start
    measures = {name: cycling(batches, engine.train_ms) for name, engine in engines.items()}
    measures["threads"] = cycling(batches, lambda batch: _threads_ms(engines["threads"], batch))
    ms = side_by_side(measures, iterations)
    port, world = _free_port(), chosen.images_per_batch
    command = [sys.executable, "-m", "gslib.bench", "lever-process", "--profile", profile_name, "--iterations",
               str(iterations), "--world", str(world), "--port", str(port)]
    children = [subprocess.Popen([*command, "--rank", str(r)], stdout=subprocess.PIPE, text=True) for r in range(world)]
    outputs = [child.communicate()[0] for child in children]
    if any(child.returncode for child in children):
        raise RuntimeError(f"a lever process failed: {[child.returncode for child in children]}")
    ms["processes"] = json.loads(outputs[0].strip().splitlines()[-1])["train_ms"]
    chosen_median = float(np.median(ms["chosen"]))

    # Reading ahead in a worker process: blocks of batches, in-process and worker reading taking turns.
    dataset = training_dataset(chosen, 0)
    keys = _batch_keys(len(dataset), chosen.images_per_batch, max(1, iterations // blocks))
    loaders = {"inline": torch.utils.data.DataLoader(dataset, batch_sampler=keys, collate_fn=pad_collate),
               "worker": torch.utils.data.DataLoader(dataset, batch_sampler=keys, collate_fn=pad_collate,
                                                     num_workers=1, persistent_workers=True)}
    loader = {"inline": [], "worker": []}
    for block in range(blocks + 1):
        for name in loaders:
            ms_per_iteration = _loader_ms(engines["chosen"], loaders[name])
            if block:  # the first pair: warm-up (the dataset's cache, the worker's start)
                loader[name].append(ms_per_iteration)
    del loaders  # stops the worker

    trunk_iterations = max(3, iterations // 4)
    trunks = {name: _trunk_ratio(chosen, batches, trunk_iterations, **trunk) for name, trunk in WIDER_TRUNKS.items()}
    result = {"profile": profile_name, "threads": threads, "iterations": iterations,
              **{f"{name}_ms": spread(v, 1) for name, v in ms.items()},
              **{f"{name}_over_chosen": spread(ratios(v, ms["chosen"]), 2) for name, v in ms.items()
                 if name not in ("chosen", "processes")},
              # the processes ran apart, after the others: their median over the chosen engine's
              "processes_over_chosen_median": round(float(np.median(ms["processes"])) / chosen_median, 2),
              "compile_seconds": round(compile_seconds, 1) if compile_seconds is not None else None,
              "loader_inline_ms": spread(loader["inline"], 1), "loader_worker_ms": spread(loader["worker"], 1),
              "loader_worker_over_inline": spread(ratios(loader["worker"], loader["inline"]), 2),
              "chosen_over_baseline": spread(ratios(ms["chosen"], ms["baseline"]), 3),
              "trunks": trunks, "trunk_iterations": trunk_iterations,
              "matmul_peak_fp32_over_bf16": round(matmul_peak_gflops(torch.float32) /
                                                  matmul_peak_gflops(torch.bfloat16), 3)}
    return result


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m gslib.bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="what", required=True)
    m = sub.add_parser("matching", help="two-pass matcher + group sampling vs torchvision")
    m.add_argument("--json", action="store_true", help="print one JSON object")
    m.add_argument("--profile", default="default", choices=sorted(SIZES), help="sizes (smoke: a 256 px image)")
    m.add_argument("--repeats", type=int, help="timed repeats (default: the profile's)")
    m.add_argument("--stats", type=Path, default=DEFAULT_STATS, help="wider_val_statistics.json")
    m.add_argument("--boxes", type=int, nargs="+", help="box counts, one case each (default: the profile's)")
    t = sub.add_parser("train", help="ms per training iteration, RS vs GS (and Fast R-CNN vs Grouped), same "
                       "model and batch")
    t.add_argument("--json", action="store_true", help="print one JSON object")
    t.add_argument("--profile", default="default", choices=("smoke", "default", "paper"))
    t.add_argument("--iterations", type=int, default=10)
    r = sub.add_parser("run", help="what a default run costs: the profile's engine settings vs fp32 contiguous")
    r.add_argument("--json", action="store_true", help="print one JSON object")
    r.add_argument("--profile", default="default", choices=("smoke", "default", "paper"))
    r.add_argument("--iterations", type=int, default=100)
    r.add_argument("--test-images", type=int, default=40)
    r.add_argument("--workers", type=int, default=2, help="queues side by side to price as well (1: none)")
    v = sub.add_parser("levers", help="levers tried beyond the engine settings: threads, processes, torch.compile, "
                       "a loader worker; the engine's ratio on wider trunks")
    v.add_argument("--json", action="store_true", help="print one JSON object")
    v.add_argument("--profile", default="default", choices=("smoke", "default", "paper"))
    v.add_argument("--iterations", type=int, default=40)
    v.add_argument("--no-compile", action="store_true", help="skip torch.compile (its compilation takes minutes)")
    lp = sub.add_parser("lever-process", help=argparse.SUPPRESS)  # one of bench levers' DDP processes
    lp.add_argument("--profile", default="default", choices=("smoke", "default", "paper"))
    lp.add_argument("--iterations", type=int, required=True)
    lp.add_argument("--rank", type=int, required=True)
    lp.add_argument("--world", type=int, required=True)
    lp.add_argument("--port", type=int, required=True)
    w = sub.add_parser("worker", help=argparse.SUPPRESS)  # one of bench run's side-by-side workers
    w.add_argument("--profile", default="default", choices=("smoke", "default", "paper"))
    w.add_argument("--iterations", type=int, required=True)
    w.add_argument("--test-images", type=int, required=True)
    w.add_argument("--threads", type=int, required=True)
    w.add_argument("--ready", type=Path, required=True)
    w.add_argument("--workers", type=int, required=True)
    g = sub.add_parser("mining", help="ms per training iteration of every sampler (Table 9a) against RS")
    g.add_argument("--json", action="store_true", help="print one JSON object")
    g.add_argument("--profile", default="default", choices=("smoke", "default", "paper"))
    g.add_argument("--iterations", type=int, default=10)
    e = sub.add_parser("evaluate", help="seconds to evaluate a full-size WIDER-format val set")
    e.add_argument("--json", action="store_true", help="print one JSON object")
    e.add_argument("--profile", default="default", choices=sorted(SIZES), help="sizes (smoke: 50 images)")
    e.add_argument("--images", type=int, help="val images (default: the profile's; WIDER FACE val has 3,226)")
    e.add_argument("--stats", type=Path, default=DEFAULT_STATS, help="wider_val_statistics.json")
    args = parser.parse_args(argv)

    if args.what == "lever-process":
        print(json.dumps(lever_process(args.profile, args.iterations, args.rank, args.world, args.port)))
        return
    if args.what == "levers":
        result = bench_levers(args.profile, args.iterations, not args.no_compile)
        print(json.dumps(result) if args.json else "\n".join(f"{k}: {v}" for k, v in result.items()))
        return
    if args.what == "worker":
        print(json.dumps(bench_worker(args.profile, args.iterations, args.test_images, args.threads, args.ready,
                                      args.workers)))
        return
    if args.what == "run":
        result = bench_run(args.profile, args.iterations, args.test_images, args.workers)
        print(json.dumps(result) if args.json else "\n".join(f"{k}: {v}" for k, v in result.items()))
        return
    if args.what == "mining":
        result = bench_mining(args.profile, args.iterations)
        if args.json:
            print(json.dumps(result))
            return
        print(f"{args.profile} profile, batch at {result['input']}, {result['threads']} threads; median [min, max] "
              f"of {args.iterations} iterations side by side")
        for base in (k for k in result if isinstance(result[k], dict)):
            for r in result[base].values():
                print(f"{r['detector']:>28}: {_said(r['ms'])} ms, / RS {_said(r['over_rs'])}")
        return
    if args.what == "train":
        result = bench_train(args.profile, args.iterations)
        print(json.dumps(result) if args.json else
              f"{args.profile} profile, batch {result['images_per_batch']} at {result['input']}, median "
              f"[min, max] of {args.iterations} iterations: RS {_said(result['rs_ms'])} ms, GS "
              f"{_said(result['gs_ms'])} ms per iteration (GS / RS = {_said(result['gs_over_rs'])}); RetinaFace "
              f"HNM {_said(result['retinaface_hnm_ms'])} ms, GS {_said(result['retinaface_gs_ms'])} ms (RetinaFace-"
              f"sampling / FPN-finest-sampling = {_said(result['retinaface_gs_over_fpn_finest_sampling'])}); with a "
              f"second stage, Fast R-CNN {_said(result['fast_rcnn_rs_ms'])} ms, Grouped Fast R-CNN "
              f"{_said(result['fast_rcnn_gs_ms'])} ms (ratio {_said(result['fast_rcnn_gs_over_rs'])})")
        return
    if not args.stats.is_file():
        parser.error(f"{args.stats}: no such file; pass --stats PATH to wider_val_statistics.json")
    sizes = SIZES[args.profile]
    if args.what == "evaluate":
        result = bench_evaluate(args.stats, args.images or sizes["images"])
        print(json.dumps(result) if args.json else
              f"{result['images']} images, {result['faces']} faces, {result['detections']} detections: "
              f"read {result['read_s']} s + evaluate {result['evaluate_s']} s = {result['total_s']} s")
        return
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    repeats = args.repeats or sizes["repeats"]
    result = bench_matching(args.stats, repeats, devices, args.boxes or sizes["boxes"], sizes["image"])
    if args.json:
        print(json.dumps(result))
        return
    image = sizes["image"]
    print(f"FPN-finest anchors, {image}x{image} image, {torch.get_num_threads()} threads; median of {repeats} "
          "repeats side by side, speedup = median [min, max] of the per-repeat ratio")
    head = ("device", "boxes", "ours ms", "tv ms", "speedup [min, max]", "ours MB", "tv MB", "mem x")
    print(" ".join(f"{h:>{w}}" for h, w in zip(head, (6, 5, 9, 9, 24, 8, 8, 6))))
    for r in result["cases"]:
        print(f"{r['device']:>6} {r['boxes']:>5} {r['ours_ms']['median']:>9.1f} {r['torchvision_ms']['median']:>9.1f} "
              f"{_said(r['speedup']):>24} {r['ours_peak_mb']:>8.1f} {r['torchvision_peak_mb']:>8.1f} "
              f"{r['memory_ratio']:>6.1f}")


if __name__ == "__main__":
    main()
