"""The two-pass scan matcher of Sec. 4.1.

Pass 1 (eq. 1): each anchor ``i`` takes its best IoU ``C(i) = max_j IoU(p_i, g_j)`` and is labelled
positive (1) if ``C(i) >= lambda1``, ignored (-1) if ``lambda2 <= C(i) < lambda1``, negative (0) otherwise.

Pass 2: every ground truth ``g_j`` that no anchor matched in pass 1 takes one anchor ``p_i`` with
  1. ``p_i`` not matched to any other ground truth (it is not positive),
  2. ``IoU(p_i, g_j) >= lambda2``,
  3. ``j = argmax_u IoU(p_i, g_u)``.
Conditions 1-3 say ``p_i`` was labelled -1 by pass 1 with ``argmax = j``, so both passes need only each
anchor's best IoU and its argmax, never the anchors x boxes matrix. Among the candidates of ``g_j`` we take
the one with the highest IoU (the paper does not say which; "the best" is the natural reading), the lowest
anchor index on ties. Condition 3 gives each anchor a single ``j``, so two boxes never claim one anchor.
Unlike torchvision's ``allow_low_quality_matches``, a box whose best anchor is below ``lambda2`` (a tiny
face) stays unmatched, and a box matched in pass 1 gets nothing more.

Ties in condition 3 (an anchor equally close to two boxes) go to the lower box index.

Boxes flagged to ignore (WIDER FACE "invalid", faces cut by the training crop, COCO ``iscrowd``) take no
part in matching; an anchor that pass 1 and 2 leave non-positive becomes -1 (never 0) when it overlaps an
ignored box with ``IoU >= lambda2`` (it would not have been a negative for a valid box there), and, with
``ignore_ioa`` given, when at least that share of its own area lies inside one (it sits in a crowd region,
where it may cover an unlabelled object: COCO's 0.5). Faces take no ``ignore_ioa``: an anchor well inside a
face is a face *part*, which the detector must learn to reject. With the rule on, every face larger than
the training crop (ignored as less than half visible) shielded the anchors on its eyes and cheeks from
being negatives: a trained FPN-finest (default profile) gave 2,483 boxes that overlap no face (IoU < 0.1)
with scores of 0.9 or more on 50 val images; trained without the rule, 37.

Memory and speed: anchors are processed in blocks, each compared only with the boxes that can overlap it,
and in chunks that never hold more than ``max_pairs`` anchor-box pairs at once (torchvision's ``box_iou``
allocates about 40 bytes per pair). Only a small anchors x boxes matrix (at most :data:`DIRECT_PAIRS` pairs)
is built whole, where the blocks would cost more than they skip.
"""
from __future__ import annotations

import torch

# About 40 bytes of temporaries per pair in box_iou: 2**20 pairs is ~40 MB.
DEFAULT_MAX_PAIRS = 2**20

# Up to this many anchor-box pairs, _best_iou compares every anchor with every box at once: a crop of the default
# profile (25,600 anchors) with up to 5 faces, which most are. Its blocks cost more than they skip there (1 box:
# 0.23 vs 0.85 ms; 3: 0.57 vs 2.8; 10: 5.4 vs 3.1, measured on 1 thread).
DIRECT_PAIRS = 2**17

# The labels of eq. 1, as the matcher gives them and every sampler and loss reads them.
POSITIVE, NEGATIVE, IGNORE = 1, 0, -1


def _best_iou(anchors: torch.Tensor, boxes: torch.Tensor, min_iou: float, max_pairs: int,
              block: int = 4096) -> tuple[torch.Tensor, torch.Tensor]:
    """Per anchor, the best IoU over ``boxes`` and its argmax (lowest index on ties), wherever it is at
    least ``min_iou``; elsewhere ``best < min_iou`` and ``arg`` is meaningless (the matcher never reads it).

    anchors: (A, 4), boxes: (M, 4), M >= 1 -> best (A,) float, arg (A,) int64.

    Each block of consecutive anchors is compared only with the boxes that can reach ``min_iou`` with one
    of its anchors: a box must overlap the block's bounding box, and its area must lie within
    ``[min_iou, 1 / min_iou]`` times an anchor's area (IoU <= smaller area / larger area). Anchors that are
    close in position and scale when consecutive -- e.g. grouped by scale, each group row by row -- give
    blocks that few boxes can reach. The result never depends on the order, only the speed does.
    """
    num = anchors.shape[0]
    if num * boxes.shape[0] <= min(DIRECT_PAIRS, max_pairs):
        return _iou(anchors, boxes).max(dim=1)
    best = torch.zeros(num, dtype=anchors.dtype, device=anchors.device)
    arg = torch.zeros(num, dtype=torch.int64, device=anchors.device)
    if num == 0:
        return best, arg
    block = max(1, min(block, max_pairs // boxes.shape[0]))
    # Every block's bounds at once: the last block padded with copies of the last anchor, which move none.
    num_blocks = -(-num // block)
    padded = torch.cat([anchors, anchors[-1:].expand(num_blocks * block - num, 4)]).view(num_blocks, block, 4)
    lo, hi = padded[:, :, :2].amin(dim=1), padded[:, :, 2:].amax(dim=1)  # (num_blocks, 2)
    area = (padded[:, :, 2] - padded[:, :, 0]) * (padded[:, :, 3] - padded[:, :, 1])
    box_area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    near = (((boxes[None, :, 2:] > lo[:, None]) & (boxes[None, :, :2] < hi[:, None])).all(dim=2)
            & (box_area >= min_iou * area.amin(dim=1, keepdim=True))
            & (min_iou * box_area <= area.amax(dim=1, keepdim=True)))  # (num_blocks, M)
    for b in near.any(dim=1).nonzero().squeeze(1).tolist():
        start = b * block
        a = anchors[start:start + block]
        reach = near[b].nonzero().squeeze(1)
        # Sub-chunks keep anchors x near-boxes within the budget (reach is ascending: ties keep the lowest index).
        step = max(1, max_pairs // reach.numel())
        for sub in range(0, a.shape[0], step):
            value, index = _iou(a[sub:sub + step], boxes[reach]).max(dim=1)
            best[start + sub:start + sub + value.shape[0]] = value
            arg[start + sub:start + sub + value.shape[0]] = reach[index]
    return best, arg


def _inter_union(anchors: torch.Tensor, boxes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(A, 4) x (M, 4) -> the (A, M) intersections and unions, by torchvision's ``box_iou``'s float operations
    (so the same bits), on (A, 1) columns against (1, M) rows: the (A, M, 2) broadcast of corner pairs that
    ``box_iou`` builds took 2-4x the time on the CPU. Intersection by hand also because torchvision has no
    intersection-over-anchor-area, which :func:`_covered_by` needs."""
    x1, y1, x2, y2 = (anchors[:, k, None] for k in range(4))
    bx1, by1, bx2, by2 = (boxes[None, :, k] for k in range(4))
    w = (torch.minimum(x2, bx2) - torch.maximum(x1, bx1)).clamp(min=0)
    h = (torch.minimum(y2, by2) - torch.maximum(y1, by1)).clamp(min=0)
    inter = w * h
    return inter, (x2 - x1) * (y2 - y1) + (bx2 - bx1) * (by2 - by1) - inter


def _iou(anchors: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """(A, 4) x (M, 4) -> (A, M): torchvision's ``box_iou`` to the bit."""
    inter, union = _inter_union(anchors, boxes)
    return inter / union


def _covered_by(anchors: torch.Tensor, boxes: torch.Tensor, min_iou: float, min_ioa: float | None,
                max_pairs: int) -> torch.Tensor:
    """(A,) bool: the anchor has IoU >= min_iou with some box, or (min_ioa given) >= min_ioa of its area
    inside one."""
    chunk = max(1, max_pairs // boxes.shape[0])
    out = torch.empty(anchors.shape[0], dtype=torch.bool, device=anchors.device)
    for start in range(0, anchors.shape[0], chunk):
        a = anchors[start:start + chunk]
        inter, union = _inter_union(a, boxes)
        covered = inter / union.clamp(min=1e-9) >= min_iou
        if min_ioa is not None:
            covered |= inter >= min_ioa * ((a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1]))[:, None]
        out[start:start + chunk] = covered.any(dim=1)
    return out


class TwoPassMatcher:
    """Label anchors against ground-truth boxes by the two-pass scan of Sec. 4.1.

    Args:
        pos_thresh: lambda1 of eq. 1 (0.6 for the RPN, 0.6 for Fast R-CNN).
        neg_thresh: lambda2 of eq. 1 (0.4 for the RPN, 0.5 for Fast R-CNN).
        ignore_ioa: share of an anchor's area inside an ignored box that makes it ignored (crowd regions);
            None (faces): only ``IoU >= neg_thresh`` with an ignored box does.
        max_pairs: most anchor-box pairs whose IoU is held in memory at once.

    Call with ``anchors: (A, 4)``, ``boxes: (M, 4)`` x1y1x2y2 and optionally ``ignore: (M,) bool``.
    Returns ``labels: (A,) int64`` in {:data:`POSITIVE`, :data:`NEGATIVE`, :data:`IGNORE`} = {1, 0, -1} and
    ``matched: (A,) int64``, the index into ``boxes`` of each positive anchor's box, -1 for the others.
    """

    def __init__(self, pos_thresh: float = 0.6, neg_thresh: float = 0.4, ignore_ioa: float | None = None,
                 max_pairs: int = DEFAULT_MAX_PAIRS):
        if not 0.0 < neg_thresh <= pos_thresh:
            raise ValueError(f"need 0 < neg_thresh <= pos_thresh, got {neg_thresh}, {pos_thresh}")
        self.pos_thresh = pos_thresh
        self.neg_thresh = neg_thresh
        self.ignore_ioa = ignore_ioa
        self.max_pairs = max_pairs

    def __call__(self, anchors: torch.Tensor, boxes: torch.Tensor,
                 ignore: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        num_anchors = anchors.shape[0]
        labels = torch.full((num_anchors,), NEGATIVE, dtype=torch.int64, device=anchors.device)
        matched = torch.full((num_anchors,), -1, dtype=torch.int64, device=anchors.device)
        if ignore is None:
            ignore = torch.zeros(boxes.shape[0], dtype=torch.bool, device=boxes.device)
        valid = (~ignore).nonzero().squeeze(1)

        if valid.numel():
            best, arg = _best_iou(anchors, boxes[valid], self.neg_thresh, self.max_pairs)
            # Pass 1, eq. 1.
            positive = best >= self.pos_thresh
            labels[best >= self.neg_thresh] = IGNORE
            labels[positive] = POSITIVE
            # Pass 2: candidates are the -1 anchors; each belongs to its argmax box only (condition 3).
            num_valid = valid.numel()
            has_positive = torch.zeros(num_valid, dtype=torch.bool, device=anchors.device)
            has_positive[arg[positive]] = True
            candidate = (labels == IGNORE) & ~has_positive[arg]
            cand_idx = candidate.nonzero().squeeze(1)
            if cand_idx.numel():
                cand_box, cand_iou = arg[cand_idx], best[cand_idx]
                top = torch.full((num_valid,), -1.0, dtype=best.dtype, device=anchors.device)
                top.scatter_reduce_(0, cand_box, cand_iou, reduce="amax")
                is_top = cand_iou == top[cand_box]
                first = torch.full((num_valid,), num_anchors, dtype=torch.int64, device=anchors.device)
                first.scatter_reduce_(0, cand_box[is_top], cand_idx[is_top], reduce="amin")
                winners = first[first < num_anchors]
                labels[winners] = POSITIVE
            pos = labels == POSITIVE
            matched[pos] = valid[arg[pos]]

        if bool(ignore.any()):
            rest = (labels != POSITIVE).nonzero().squeeze(1)
            covered = _covered_by(anchors[rest], boxes[ignore], self.neg_thresh, self.ignore_ioa, self.max_pairs)
            labels[rest[covered]] = IGNORE
        return labels, matched
