"""Inference (Sec. 5): the image pyramid, per-level top-k, NMS, and the official prediction format.

For each pyramid scale (the training jitter scales by default) whose resized image keeps both sides within
``max_side``, the detector scores every anchor; the ``pre_nms_top_k`` best of that scale are decoded
(a two-stage detector then refines its proposals among them and ensembles the two stages' scores,
:mod:`gslib.fast_rcnn`), mapped back to the original image, the scales are merged, optionally with the
horizontally flipped image, and NMS (IoU 0.5, ``torchvision.ops``) keeps the final detections.

A two-stage detector can also be read one stage at a time (:func:`detect_stages`, :data:`STAGES`): its
first stage alone (the first stage's boxes and scores, as a one-stage detector gives them) and its second stage
alone (the refined boxes scored by the second stage only), from the same forward pass as its output.

Two NMS outcomes are kept, because the paper's "@S" means "only using anchors of scale S for detection"
(Table 1): ``final`` (NMS over every sub-detector together: what the detector outputs, evaluated on easy /
medium / hard / All) and ``by_scale`` (NMS within each sub-detector, ``batched_nms`` with the sub-detector
as the class: each sub-detector's own output, evaluated as "@S"). Both record the sub-detector (anchor
scale) of each box, written as the 6th column of the official prediction files.
"""
from __future__ import annotations

import functools
import queue
import threading
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from PIL import Image
from torchvision.ops import batched_nms, nms
from tqdm.auto import tqdm

from gslib.augment import JITTER_SCALES
from gslib.data.coco import detections_to_coco_results, load_coco, write_coco_results
from gslib.data.wider import image_key, write_predictions
from gslib.datasets import to_tensor
from gslib.fast_rcnn import PROPOSAL_NMS, ensemble_scores, first_stage_boxes, second_stage_detections, select_proposals
from gslib.store import cpu_threads

# What detect_stages can read of a detector: "output", what it outputs (a two-stage detector's ensemble of the two
# stages' scores, Sec. 6.3); "first", its first stage alone (a one-stage detector's output); "second", the
# second stage alone (its refined boxes, its own face probability). A one-stage detector has no "second".
STAGES = ("output", "first", "second")


class Detections(NamedTuple):
    """boxes: (K, 4) x1y1x2y2 in original-image pixels; scores: (K,); scales: (K,) int64 anchor scale."""

    boxes: torch.Tensor
    scores: torch.Tensor
    scales: torch.Tensor


def pyramid_scales(width: int, height: int, scales=JITTER_SCALES, max_side: int = 3000) -> list[float]:
    """The pyramid scales whose resized image has no side above ``max_side`` (Sec. 5: some levels of the
    pyramid are then not involved). The smallest scale is kept whatever the size, so nothing is empty."""
    kept = [s for s in scales if max(width, height) * s <= max_side]
    return kept or [min(scales)]


@functools.lru_cache(maxsize=64)
def _anchors(layout, height: int, width: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """A layout's anchors for one input size, kept: a val set has few distinct (size, scale) pairs."""
    return layout.anchors(height, width, device=device)


@torch.no_grad()
def _one_scale(detector, image: Image.Image, scale: float, top_k: int, flip: bool, device,
               stages=("output",)) -> dict[str, Detections]:
    """The detections of ``stages`` (some of :data:`STAGES`) of one pyramid scale, in original-image pixels."""
    w, h = max(1, round(image.width * scale)), max(1, round(image.height * scale))
    resized = image.resize((w, h), Image.BILINEAR)
    if flip:
        resized = resized.transpose(Image.FLIP_LEFT_RIGHT)
    logits, deltas, *feature_map = detector(to_tensor(resized)[None].to(device))
    anchors, groups = _anchors(detector.layout, h, w, device)
    group_scales = torch.tensor(detector.layout.group_scales, device=device)
    # Back to the original image's pixels (the resize maps x to x * w / width).
    factor = torch.tensor([image.width / w, image.height / h] * 2, device=device)

    def found(boxes, scores, keep):
        if flip:
            boxes = torch.stack([w - boxes[:, 2], boxes[:, 1], w - boxes[:, 0], boxes[:, 3]], dim=1)
        return Detections(boxes * factor, scores, group_scales[groups[keep]])

    if not feature_map:
        if "second" in stages:
            raise ValueError("a one-stage detector has no second stage to detect with")
        first = found(*first_stage_boxes(logits[0], deltas[0], anchors, (h, w), top_k))
        return {stage: first for stage in stages}
    out = {}
    if "first" in stages:  # the first stage as a one-stage detector: the global top k, no second stage
        out["first"] = found(*first_stage_boxes(logits[0], deltas[0], anchors, (h, w), top_k))
    if {"output", "second"} & set(stages):  # a second stage (Sec. 6.3): its proposals refined
        boxes, scores, keep = first_stage_boxes(logits[0], deltas[0], anchors, (h, w), top_k, grouped=detector.grouped)
        chosen = select_proposals(boxes, scores, detector.num_proposals, PROPOSAL_NMS, detector.grouped)
        keep = keep[chosen]
        boxes, second = second_stage_detections(detector.second, feature_map[0], [boxes[chosen]], detector.stride)
        boxes[:, 0::2] = boxes[:, 0::2].clamp(0, w)
        boxes[:, 1::2] = boxes[:, 1::2].clamp(0, h)
        if "second" in stages:
            out["second"] = found(boxes, second, keep)
        if "output" in stages:  # the two stages' scores ensembled
            out["output"] = found(boxes, ensemble_scores(scores[chosen].to(second), second), keep)
    return out


@torch.no_grad()
def detect_stages(detector, image: Image.Image, stages=STAGES, scales=JITTER_SCALES, max_side: int = 3000,
                  pre_nms_top_k: int = 5000, nms_threshold: float = 0.5, min_score: float = 0.01,
                  max_detections: int = 1000, flip: bool = False) -> dict[str, tuple[Detections, Detections]]:
    """:func:`detect` for each of ``stages`` (some of :data:`STAGES`; "second" needs a two-stage detector), from
    one forward pass per pyramid scale: ``{stage: (final, by_scale)}``."""
    device = next(detector.parameters()).device
    parts = [_one_scale(detector, image, s, pre_nms_top_k, f, device, stages)
             for s in pyramid_scales(image.width, image.height, scales, max_side) for f in ((False, True) if flip
                                                                                              else (False,))]
    out = {}
    for stage in stages:
        boxes = torch.cat([p[stage].boxes for p in parts])
        scores = torch.cat([p[stage].scores for p in parts])
        scales_of = torch.cat([p[stage].scales for p in parts])
        ok = (scores >= min_score) & (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
        boxes, scores, scales_of = boxes[ok], scores[ok], scales_of[ok]
        final = nms(boxes, scores, nms_threshold)[:max_detections]
        by_scale = batched_nms(boxes, scores, scales_of, nms_threshold)[:max_detections]
        out[stage] = (Detections(boxes[final].cpu(), scores[final].cpu(), scales_of[final].cpu()),
                      Detections(boxes[by_scale].cpu(), scores[by_scale].cpu(), scales_of[by_scale].cpu()))
    return out


@torch.no_grad()
def detect(detector, image: Image.Image, scales=JITTER_SCALES, max_side: int = 3000, pre_nms_top_k: int = 5000,
           nms_threshold: float = 0.5, min_score: float = 0.01, max_detections: int = 1000,
           flip: bool = False) -> tuple[Detections, Detections]:
    """Detect faces in one RGB image. Returns ``(final, by_scale)`` (see the module docstring), each sorted
    by score and cut to ``max_detections``. ``pre_nms_top_k`` is per pyramid scale (and per flip)."""
    return detect_stages(detector, image, ("output",), scales, max_side, pre_nms_top_k, nms_threshold, min_score,
                         max_detections, flip)["output"]


def to_wider_rows(dets: Detections) -> np.ndarray:
    """(K, 6) float64 rows ``x y w h score scale`` of the official prediction files (+ sub-detector)."""
    b = dets.boxes.double().numpy()
    return np.column_stack([b[:, :2], b[:, 2:] - b[:, :2], dets.scores.double().numpy(),
                            dets.scales.double().numpy()])


def test_workers(device: torch.device) -> int:
    """How many images :func:`detect_files` detects at once by default: on the CPU, one per thread of the
    process (each image then on one thread: the detector's small convolutions scale badly over threads, and
    two images side by side on two cores took 0.65x the time of one after the other on both, measured by
    ``python -m gslib.bench run``); on a GPU, one."""
    return torch.get_num_threads() if device.type == "cpu" else 1


def detection_threads(device: torch.device, workers: int) -> int | None:
    """The torch threads each image is detected on by :func:`detect_files` with ``workers`` (what its
    detections' bits depend on): 1 side by side, the process's count one after the other; None on a GPU."""
    if device.type != "cpu":
        return None
    return 1 if workers > 1 else torch.get_num_threads()


def detect_files(detector, images_root, names, stages=("output",), workers: int = 1, autocast_dtype=None,
                 progress: bool = False, clock=None,
                 **detect_args) -> dict[str, dict[str, tuple[Detections, Detections]]]:
    """:func:`detect_stages` on ``images_root/name`` for every name: ``{name: {stage: (final, by_scale)}}``,
    in the order of ``names``; ``autocast_dtype``: the precision of the test (None: fp32). ``clock`` (a
    :class:`gslib.store.WorkClock`) ticks after each image.

    ``workers`` > 1 (the CPU): that many threads each detect every ``workers``-th image, on one torch thread
    apiece (the process's thread count is set to 1 meanwhile). An image's detections then have the bits of a
    one-thread sequential pass (:func:`gslib.store.cpu_threads`: the count orders torch's float sums),
    whatever the number of workers."""
    found = {}
    with tqdm(total=len(names), desc="detect", mininterval=2, disable=not progress) as bar:
        for name, result in _detected(detector, images_root, names, stages, workers, autocast_dtype, detect_args):
            found[name] = result
            bar.update(1)
            if clock is not None:
                clock.tick()
    return {name: found[name] for name in names}


def _detected(detector, images_root, names, stages, workers: int, autocast_dtype, detect_args: dict):
    """Yields ``(name, detect_stages(...))`` for every name as each is done (see :func:`detect_files`)."""
    device_type = next(detector.parameters()).device.type

    def autocast():
        return torch.autocast(device_type, dtype=autocast_dtype or torch.bfloat16, enabled=autocast_dtype is not None)

    def one(name):
        with Image.open(Path(images_root) / name) as im:
            return detect_stages(detector, im.convert("RGB"), stages, **detect_args)

    if workers <= 1:
        with autocast():
            for name in names:
                yield name, one(name)
        return

    done, stop = queue.Queue(), threading.Event()

    def detect_some(some):
        try:
            with autocast():  # autocast is per thread: each worker's own, entered once (its weights cast once)
                for name in some:
                    if stop.is_set():
                        return
                    done.put((name, one(name)))
        except BaseException as error:  # handed to the caller's thread, which raises it
            done.put((None, error))

    threads = [threading.Thread(target=detect_some, args=(names[k::workers],), daemon=True) for k in range(workers)]
    with cpu_threads(1):
        try:
            for thread in threads:
                thread.start()
            for _ in names:
                name, result = done.get()
                if name is None:
                    raise result
                yield name, result
        finally:
            stop.set()
            for thread in threads:
                thread.join()


def _predict_rows(detector, images_root, names, stages, progress: bool, detect_args: dict, clock=None,
                  workers: int = 1, autocast_dtype=None) -> dict[str, tuple[dict, dict]]:
    """:func:`detect_files` as rows: ``{stage: (final rows, by_scale rows)}``, each ``{image key: (K, 6) rows}``
    (:func:`to_wider_rows`)."""
    rows = {stage: ({}, {}) for stage in stages}
    for name, found in detect_files(detector, images_root, names, stages, workers, autocast_dtype, progress, clock,
                                    **detect_args).items():
        for stage, (f, s) in found.items():
            rows[stage][0][image_key(name)], rows[stage][1][image_key(name)] = to_wider_rows(f), to_wider_rows(s)
    return rows


def predict_folder(detector, images_root, names, out_dir, progress: bool = True, coco_gt=None, stages_dir=None,
                   clock=None, workers: int = 1, autocast_dtype=None, **detect_args) -> tuple[Path, Path]:
    """Run :func:`detect` on ``images_root/name`` for every name and write two official prediction folders:
    ``out_dir/final`` and ``out_dir/by_scale``. Returns both paths. With ``coco_gt`` (the COCO JSON of the
    same images, whose ``file_name`` are the names), the final detections are also written as COCO results,
    ``out_dir/coco_results.json``. With ``stages_dir`` (a two-stage detector), the same pass also writes the
    other stages as :func:`predict_stages` does, ``stages_dir/<stage>/final`` and ``.../by_scale`` (the output
    is the same either way: :func:`detect_stages`). ``clock``, ``workers``, ``autocast_dtype``: as
    :func:`detect_files`'s."""
    stages = ("output", *(s for s in STAGES if s != "output")) if stages_dir is not None else ("output",)
    rows = _predict_rows(detector, images_root, names, stages, progress, detect_args, clock, workers, autocast_dtype)
    final, by_scale = rows["output"]
    for stage in stages[1:]:
        write_predictions(Path(stages_dir) / stage / "final", rows[stage][0])
        write_predictions(Path(stages_dir) / stage / "by_scale", rows[stage][1])
    out_dir = Path(out_dir)
    write_predictions(out_dir / "final", final)
    write_predictions(out_dir / "by_scale", by_scale)
    if coco_gt is not None:
        coco = {name: (final[image_key(name)][:, :4], final[image_key(name)][:, 4]) for name in names}
        write_coco_results(out_dir / "coco_results.json", detections_to_coco_results(load_coco(coco_gt), coco))
    return out_dir / "final", out_dir / "by_scale"


def predict_stages(detector, images_root, names, out_dir, stages=STAGES, progress: bool = True, clock=None,
                   workers: int = 1, autocast_dtype=None, **detect_args) -> dict[str, tuple[Path, Path]]:
    """:func:`predict_folder` for each of ``stages`` (:func:`detect_stages`, one forward pass per image and
    scale): the official prediction folders ``out_dir/<stage>/final`` and ``out_dir/<stage>/by_scale``.
    Returns ``{stage: (final folder, by_scale folder)}``."""
    out = {}
    for stage, (final, by_scale) in _predict_rows(detector, images_root, names, stages, progress, detect_args,
                                                  clock, workers, autocast_dtype).items():
        folder = Path(out_dir) / stage
        write_predictions(folder / "final", final)
        write_predictions(folder / "by_scale", by_scale)
        out[stage] = folder / "final", folder / "by_scale"
    return out
