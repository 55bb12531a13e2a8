"""Anchor layouts of the paper (Fig. 1, Sec. 3), each anchor carrying its scale-group index.

A layout is a tuple of :class:`AnchorLevel`: anchors of some scales tiled on one feature map
(``P2``..``P6`` of the top-down pathway, or a plain ``C4``), optionally sub-sampled so that the anchor
stride is a multiple of the feature stride ("implemented by sub-sampling P2 for larger strides", Sec. 3).

Centre convention: cell ``(i, j)`` of a feature map of stride ``f`` is centred on pixel coordinate
``((j + 0.5) f, (i + 0.5) f)``, the centre of the ``f x f`` block of input pixels it covers (continuous
coordinates, pixel ``k`` spans ``[k, k + 1)``). Sub-sampling by ``k`` keeps cells ``0, k, 2k, ...``
(``P2[..., ::k, ::k]``), so the anchors of a sub-sampled level sit at ``(k j + 0.5) f`` -- on the very
cells whose features predict them, and on a subset of the un-sampled level's centres.
A map of stride ``f`` over an ``H x W`` input has ``ceil(H / f) x ceil(W / f)`` cells, which is what
ResNet's padded convolutions give, and sub-sampling by ``k`` leaves ``ceil(ceil(H / f) / k)`` rows.

Order (must equal the head's output order): level by level; within a level row-major over cells, then
scale, then ratio -- i.e. a head output of shape ``(B, S * R * k, h, w)`` permuted to ``(B, h, w, S*R, k)``.

Ratio ``r`` means ``h / w = r`` with ``sqrt(w h) = scale``, so every anchor of a group has the group's scale.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

WIDER_SCALES = (16, 32, 64, 128)
WIDER_RATIOS = (1.0,)
COCO_SCALES = (32, 64, 128, 256, 512)
COCO_RATIOS = (0.5, 1.0, 2.0)
# The trunk maps C2..C5 (no top-down pathway: RPN, Table 5's C_n rows) and the top-down maps P2..P6.
FEATURE_STRIDES = {"C2": 4, "C3": 8, "C4": 16, "C5": 32, "P2": 4, "P3": 8, "P4": 16, "P5": 32, "P6": 64}


@dataclass(frozen=True)
class AnchorLevel:
    """Anchors of ``scales`` x ``ratios`` on ``feature`` sub-sampled by ``subsample``."""

    feature: str
    scales: tuple[int, ...]
    ratios: tuple[float, ...] = WIDER_RATIOS
    subsample: int = 1

    @property
    def stride(self) -> int:
        return FEATURE_STRIDES[self.feature] * self.subsample

    def grid_size(self, height: int, width: int) -> tuple[int, int]:
        f = FEATURE_STRIDES[self.feature]
        return math.ceil(math.ceil(height / f) / self.subsample), math.ceil(math.ceil(width / f) / self.subsample)


@dataclass(frozen=True)
class AnchorLayout:
    """A detector's anchors. ``group_scales[g]`` is the scale of group ``g`` (sorted ascending)."""

    name: str
    levels: tuple[AnchorLevel, ...]

    @property
    def group_scales(self) -> tuple[int, ...]:
        return tuple(sorted({s for lv in self.levels for s in lv.scales}))

    @property
    def features(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(lv.feature for lv in self.levels))

    def num_anchors(self, height: int, width: int) -> int:
        """Closed form: sum over levels of ceil(H/s) * ceil(W/s) * |scales| * |ratios|, s the anchor stride
        (equal to the sub-sampled grid, since ceil(ceil(H/f)/k) = ceil(H/(f k)) for integers)."""
        total = 0
        for lv in self.levels:
            total += math.ceil(height / lv.stride) * math.ceil(width / lv.stride) * len(lv.scales) * len(lv.ratios)
        return total

    def anchors(self, height: int, width: int, device=None) -> tuple[torch.Tensor, torch.Tensor]:
        """Anchors for an ``height x width`` input.

        Returns ``boxes: (A, 4) float32 x1y1x2y2`` and ``groups: (A,) int64``, the index of each anchor's
        scale in :attr:`group_scales`.
        """
        group_of = {s: g for g, s in enumerate(self.group_scales)}
        all_boxes, all_groups = [], []
        for lv in self.levels:
            gh, gw = lv.grid_size(height, width)
            # (S*R, 4) half-sizes and the group of each cell-anchor, scale-major then ratio.
            sizes = torch.tensor(
                [[s / math.sqrt(r), s * math.sqrt(r)] for s in lv.scales for r in lv.ratios],
                dtype=torch.float32, device=device,
            )
            half = torch.cat([-sizes, sizes], dim=1) / 2
            cell_groups = torch.tensor([group_of[s] for s in lv.scales for _ in lv.ratios], device=device)
            f = FEATURE_STRIDES[lv.feature]
            ys = torch.arange(gh, dtype=torch.float32, device=device) * lv.stride + 0.5 * f
            xs = torch.arange(gw, dtype=torch.float32, device=device) * lv.stride + 0.5 * f
            cy, cx = torch.meshgrid(ys, xs, indexing="ij")
            centres = torch.stack([cx, cy, cx, cy], dim=-1).reshape(-1, 1, 4)
            all_boxes.append((centres + half.unsqueeze(0)).reshape(-1, 4))
            all_groups.append(cell_groups.repeat(gh * gw))
        return torch.cat(all_boxes), torch.cat(all_groups)


def _levels_per_scale(scales, ratios, subsample_of) -> tuple[AnchorLevel, ...]:
    return tuple(AnchorLevel(feat, (s,), tuple(ratios), sub) for s, (feat, sub) in zip(scales, subsample_of))


def rpn(scales=WIDER_SCALES, ratios=WIDER_RATIOS) -> AnchorLayout:
    """Fig. 1a: every scale on C4 (stride 16), no top-down pathway."""
    return AnchorLayout("RPN", (AnchorLevel("C4", tuple(scales), tuple(ratios)),))


def fpn(scales=WIDER_SCALES, ratios=WIDER_RATIOS) -> AnchorLayout:
    """Fig. 1b: scale i on P(2+i), stride 4 * 2^i (P2-P5 for WIDER FACE, P2-P6 for COCO)."""
    return AnchorLayout("FPN", _levels_per_scale(scales, ratios, [(f"P{2 + i}", 1) for i in range(len(scales))]))


def fpn_finest_stride(scales=WIDER_SCALES, ratios=WIDER_RATIOS) -> AnchorLayout:
    """Fig. 1c: every scale on P2, scale i at stride 4 * 2^i by sub-sampling P2 by 2^i."""
    subs = [("P2", 2 ** i) for i in range(len(scales))]
    return AnchorLayout("FPN-finest-stride", _levels_per_scale(scales, ratios, subs))


def fpn_single(feature: str, stride: int, scales=WIDER_SCALES, ratios=WIDER_RATIOS) -> AnchorLayout:
    """FPN-single (Tables 1, 2, 5): every scale on one map ``feature`` at one anchor ``stride``.

    ``stride`` must be a multiple of the map's own stride; the map is sub-sampled by their ratio.
    """
    own = FEATURE_STRIDES[feature]
    if stride % own:
        raise ValueError(f"stride {stride} is not a multiple of {feature}'s stride {own}")
    level = AnchorLevel(feature, tuple(scales), tuple(ratios), stride // own)
    return AnchorLayout(f"FPN-single-{feature}-s{stride}", (level,))


def fpn_finest(scales=WIDER_SCALES, ratios=WIDER_RATIOS) -> AnchorLayout:
    """Fig. 1d/e: every scale on P2 at stride 4 (= FPN-single on P2, stride 4)."""
    return AnchorLayout("FPN-finest", fpn_single("P2", 4, scales, ratios).levels)
