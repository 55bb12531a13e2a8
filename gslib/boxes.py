"""Boxes: x1y1x2y2 in pixels, the parameterisation of eq. 13, and IoU.

Conventions (used everywhere in gslib):
- a box is ``(x1, y1, x2, y2)`` in pixels, continuous coordinates, width ``x2 - x1`` (no "+1");
- the scale of a box is ``sqrt(w * h)`` (paper, footnote 1).

All-pairs IoU is ``torchvision.ops.box_iou``. The paired, differentiable IoU below is ours because
torchvision only exposes all-pairs IoU and GIoU/DIoU/CIoU losses, not the plain IoU of matched pairs
that the least-squares IoU loss (eq. 5) needs.
"""
from __future__ import annotations

import math

import torch
from torchvision.ops import box_iou

__all__ = ["BBOX_CLAMP", "box_iou", "box_scale", "decode", "encode", "paired_iou", "xywh_to_xyxy", "xyxy_to_xywh"]

# Largest log-ratio allowed for dw, dh when decoding, as in torchvision and detectron2: exp(4.135) = 62.5,
# i.e. a box at most 62.5 times its anchor. Keeps exp() finite for untrained heads.
BBOX_CLAMP = math.log(1000.0 / 16)


def box_scale(boxes: torch.Tensor) -> torch.Tensor:
    """boxes: (N, 4) x1y1x2y2 -> (N,) sqrt(w * h)."""
    wh = (boxes[:, 2:] - boxes[:, :2]).clamp(min=0)
    return (wh[:, 0] * wh[:, 1]).sqrt()


def xywh_to_xyxy(boxes: torch.Tensor) -> torch.Tensor:
    """boxes: (N, 4) x y w h (WIDER FACE, COCO) -> (N, 4) x1 y1 x2 y2."""
    return torch.cat([boxes[:, :2], boxes[:, :2] + boxes[:, 2:]], dim=1)


def xyxy_to_xywh(boxes: torch.Tensor) -> torch.Tensor:
    """boxes: (N, 4) x1 y1 x2 y2 -> (N, 4) x y w h."""
    return torch.cat([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], dim=1)


def _centre_size(boxes: torch.Tensor) -> tuple[torch.Tensor, ...]:
    w = boxes[:, 2] - boxes[:, 0]
    h = boxes[:, 3] - boxes[:, 1]
    return boxes[:, 0] + 0.5 * w, boxes[:, 1] + 0.5 * h, w, h


def encode(boxes: torch.Tensor, anchors: torch.Tensor) -> torch.Tensor:
    """Eq. 13: regression targets of ``boxes`` relative to ``anchors``.

    boxes, anchors: (N, 4) x1y1x2y2, positive width and height -> (N, 4) (tx, ty, tw, th) with
    tx = (xc - xc_a) / w_a, ty = (yc - yc_a) / h_a, tw = log(w / w_a), th = log(h / h_a).
    """
    x, y, w, h = _centre_size(boxes)
    xa, ya, wa, ha = _centre_size(anchors)
    return torch.stack([(x - xa) / wa, (y - ya) / ha, torch.log(w / wa), torch.log(h / ha)], dim=1)


def decode(deltas: torch.Tensor, anchors: torch.Tensor, clamp: float = BBOX_CLAMP) -> torch.Tensor:
    """Inverse of :func:`encode`. deltas: (N, 4), anchors: (N, 4) -> boxes (N, 4) x1y1x2y2.

    tw and th are clamped to ``clamp`` before ``exp`` so that an untrained head cannot produce inf.
    Differentiable in ``deltas``.
    """
    xa, ya, wa, ha = _centre_size(anchors)
    x = xa + deltas[:, 0] * wa
    y = ya + deltas[:, 1] * ha
    w = wa * torch.exp(deltas[:, 2].clamp(max=clamp))
    h = ha * torch.exp(deltas[:, 3].clamp(max=clamp))
    return torch.stack([x - 0.5 * w, y - 0.5 * h, x + 0.5 * w, y + 0.5 * h], dim=1)


def paired_iou(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """IoU of matched pairs, differentiable. a, b: (N, 4) x1y1x2y2 -> (N,) in [0, 1].

    Boxes with non-positive width or height have area 0; ``eps`` keeps the union away from 0.
    """
    lt = torch.maximum(a[:, :2], b[:, :2])
    rb = torch.minimum(a[:, 2:], b[:, 2:])
    wh = (rb - lt).clamp(min=0)
    inter = wh[:, 0] * wh[:, 1]
    area_a = (a[:, 2] - a[:, 0]).clamp(min=0) * (a[:, 3] - a[:, 1]).clamp(min=0)
    area_b = (b[:, 2] - b[:, 0]).clamp(min=0) * (b[:, 3] - b[:, 1]).clamp(min=0)
    return inter / (area_a + area_b - inter + eps)
