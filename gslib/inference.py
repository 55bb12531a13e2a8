"""Inference (Sec. 5): the image pyramid, per-level top-k, NMS, and the official prediction format.

For each pyramid scale (the training jitter scales by default) whose resized image keeps both sides within
``max_side``, the detector scores every anchor; the ``pre_nms_top_k`` best of that scale are decoded
(a two-stage detector then refines its proposals among them and ensembles the two stages' scores,
:mod:`gslib.fast_rcnn`), mapped back to the original image, the scales are merged, optionally with the
horizontally flipped image, and NMS (IoU 0.5, ``torchvision.ops``) keeps the final detections.

Two NMS outcomes are kept, because the paper's "@S" means "only using anchors of scale S for detection"
(Table 1): ``final`` (NMS over every sub-detector together: what the detector outputs, evaluated on easy /
medium / hard / All) and ``by_scale`` (NMS within each sub-detector, ``batched_nms`` with the sub-detector
as the class: each sub-detector's own output, evaluated as "@S"). Both record the sub-detector (anchor
scale) of each box, written as the 6th column of the official prediction files.
"""
from __future__ import annotations

import functools
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
from gslib.fast_rcnn import PROPOSAL_NMS, first_stage_boxes, refine, select_proposals


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
def _one_scale(detector, image: Image.Image, scale: float, top_k: int, flip: bool, device) -> Detections:
    w, h = max(1, round(image.width * scale)), max(1, round(image.height * scale))
    resized = image.resize((w, h), Image.BILINEAR)
    if flip:
        resized = resized.transpose(Image.FLIP_LEFT_RIGHT)
    logits, deltas, *feature_map = detector(to_tensor(resized)[None].to(device))
    anchors, groups = _anchors(detector.layout, h, w, device)
    boxes, scores, keep = first_stage_boxes(logits[0], deltas[0], anchors, (h, w), top_k,
                                            grouped=bool(feature_map) and detector.grouped)
    if feature_map:  # a second stage (Sec. 6.3): its proposals refined, the two stages' scores ensembled
        chosen = select_proposals(boxes, scores, detector.num_proposals, PROPOSAL_NMS, detector.grouped)
        keep = keep[chosen]
        boxes, scores = refine(detector.second, feature_map[0], [boxes[chosen]], scores[chosen], detector.stride)
        boxes[:, 0::2] = boxes[:, 0::2].clamp(0, w)
        boxes[:, 1::2] = boxes[:, 1::2].clamp(0, h)
    if flip:
        boxes = torch.stack([w - boxes[:, 2], boxes[:, 1], w - boxes[:, 0], boxes[:, 3]], dim=1)
    group_scales = torch.tensor(detector.layout.group_scales, device=device)
    # Back to the original image's pixels (the resize maps x to x * w / width).
    factor = torch.tensor([image.width / w, image.height / h] * 2, device=device)
    return Detections(boxes * factor, scores, group_scales[groups[keep]])


@torch.no_grad()
def detect(detector, image: Image.Image, scales=JITTER_SCALES, max_side: int = 3000, pre_nms_top_k: int = 5000,
           nms_threshold: float = 0.5, min_score: float = 0.01, max_detections: int = 1000,
           flip: bool = False) -> tuple[Detections, Detections]:
    """Detect faces in one RGB image. Returns ``(final, by_scale)`` (see the module docstring), each sorted
    by score and cut to ``max_detections``. ``pre_nms_top_k`` is per pyramid scale (and per flip)."""
    device = next(detector.parameters()).device
    parts = [_one_scale(detector, image, s, pre_nms_top_k, f, device)
             for s in pyramid_scales(image.width, image.height, scales, max_side) for f in ((False, True) if flip
                                                                                              else (False,))]
    boxes = torch.cat([p.boxes for p in parts])
    scores = torch.cat([p.scores for p in parts])
    scales_of = torch.cat([p.scales for p in parts])
    ok = (scores >= min_score) & (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
    boxes, scores, scales_of = boxes[ok], scores[ok], scales_of[ok]
    final = nms(boxes, scores, nms_threshold)[:max_detections]
    by_scale = batched_nms(boxes, scores, scales_of, nms_threshold)[:max_detections]
    return (Detections(boxes[final].cpu(), scores[final].cpu(), scales_of[final].cpu()),
            Detections(boxes[by_scale].cpu(), scores[by_scale].cpu(), scales_of[by_scale].cpu()))


def to_wider_rows(dets: Detections) -> np.ndarray:
    """(K, 6) float64 rows ``x y w h score scale`` of the official prediction files (+ sub-detector)."""
    b = dets.boxes.double().numpy()
    return np.column_stack([b[:, :2], b[:, 2:] - b[:, :2], dets.scores.double().numpy(),
                            dets.scales.double().numpy()])


def predict_folder(detector, images_root, names, out_dir, progress: bool = True, coco_gt=None,
                   **detect_args) -> tuple[Path, Path]:
    """Run :func:`detect` on ``images_root/name`` for every name and write two official prediction folders:
    ``out_dir/final`` and ``out_dir/by_scale``. Returns both paths. With ``coco_gt`` (the COCO JSON of the
    same images, whose ``file_name`` are the names), the final detections are also written as COCO results,
    ``out_dir/coco_results.json``."""
    final, by_scale, coco = {}, {}, {}
    for name in tqdm(names, desc="detect", mininterval=2, disable=not progress):
        with Image.open(Path(images_root) / name) as im:
            f, s = detect(detector, im.convert("RGB"), **detect_args)
        final[image_key(name)], by_scale[image_key(name)] = to_wider_rows(f), to_wider_rows(s)
        coco[name] = (final[image_key(name)][:, :4], final[image_key(name)][:, 4])
    out_dir = Path(out_dir)
    write_predictions(out_dir / "final", final)
    write_predictions(out_dir / "by_scale", by_scale)
    if coco_gt is not None:
        write_coco_results(out_dir / "coco_results.json", detections_to_coco_results(load_coco(coco_gt), coco))
    return out_dir / "final", out_dir / "by_scale"
