"""The training augmentation of Sec. 5: scale jitter 0.25 n (n in 1..8), a random crop so that no side
exceeds a limit, and a horizontal flip. Parameters are drawn once per image and applied to its boxes (and,
in training, to its pixels), so that the anchor analysis of Fig. 2 replays exactly what training sees.

Boxes cut by the crop: a box fully outside is dropped; a box with less than ``min_visible`` of its area
inside is kept but flagged ignore, so no anchor is positive for it and the anchors that fit its visible
part (IoU >= lambda2) are not negatives (a half-visible face is still a face); smaller anchors inside it,
on its parts, stay negatives (:mod:`gslib.matcher`). Boxes are x1y1x2y2 in pixels.
"""
from __future__ import annotations

from typing import NamedTuple

import torch

JITTER_SCALES = tuple(0.25 * n for n in range(1, 9))


class Jitter(NamedTuple):
    """One draw: resize by ``scale``, crop ``(x0, y0, width, height)`` of the resized image, then flip."""

    scale: float
    x0: int
    y0: int
    width: int
    height: int
    flip: bool


def draw_jitter(width: int, height: int, generator: torch.Generator | None = None, scales=JITTER_SCALES,
                max_side: int = 1200, flip: bool = True) -> Jitter:
    """Draw the augmentation of one ``width x height`` image."""
    scale = scales[int(torch.randint(len(scales), (1,), generator=generator))]
    rw, rh = max(1, round(width * scale)), max(1, round(height * scale))
    cw, ch = min(rw, max_side), min(rh, max_side)
    x0 = int(torch.randint(rw - cw + 1, (1,), generator=generator))
    y0 = int(torch.randint(rh - ch + 1, (1,), generator=generator))
    flipped = bool(torch.rand(1, generator=generator) < 0.5) if flip else False
    return Jitter(scale, x0, y0, cw, ch, flipped)


def jitter_boxes(boxes: torch.Tensor, ignore: torch.Tensor, jitter: Jitter,
                 min_visible: float = 0.5) -> tuple[torch.Tensor, torch.Tensor]:
    """Apply ``jitter`` to boxes (N, 4) x1y1x2y2 and their ignore flags (N,) bool.

    Returns the kept boxes (K, 4), clipped to the crop, and their ignore flags (K,).
    """
    offset = torch.tensor([jitter.x0, jitter.y0, jitter.x0, jitter.y0], dtype=boxes.dtype, device=boxes.device)
    scaled = boxes * jitter.scale - offset
    limit = torch.tensor([jitter.width, jitter.height] * 2, dtype=boxes.dtype, device=boxes.device)
    clipped = torch.minimum(scaled.clamp(min=0), limit)
    area = (scaled[:, 2:] - scaled[:, :2]).clamp(min=0).prod(dim=1)
    visible = (clipped[:, 2:] - clipped[:, :2]).clamp(min=0).prod(dim=1)
    keep = visible > 0
    ignore = ignore | (visible < min_visible * area)
    clipped, ignore = clipped[keep], ignore[keep]
    if jitter.flip:
        clipped = torch.stack([jitter.width - clipped[:, 2], clipped[:, 1], jitter.width - clipped[:, 0],
                               clipped[:, 3]], dim=1)
    return clipped, ignore
