"""Training-sample selection: RS, group sampling (GS, Sec. 4.2), OHEM, WRS (eq. 3), Focal*, and their
combinations with GS, plus the reference scale of eq. 4 that groups proposals for the second stage.

Every sampler takes the matcher's ``labels: (A,) int64`` in {1, 0, -1} and returns :class:`Samples`,
the chosen positive and negative anchor indices. They differ only in how a set of candidates is ranked
before the top ``k`` are kept:

=========  ===========================================  =======================================
method     rank key                                     counts
=========  ===========================================  =======================================
RS         uniform random                               N, 1:3, negatives fill a positive shortfall
GS         uniform random                               the same, *per scale group*
WRS        ``r ** (1 / (l + eps))``, r ~ U(0, 1) (eq. 3)  like RS (or GS), positives and negatives apart
OHEM       the loss ``l``                               top-B over all labelled anchors (or GS counts)
Focal*     every labelled anchor, weighted              (GS+Focal*: GS draws the anchors first)
=========  ===========================================  =======================================

A group that lacks negatives as well as positives keeps everything it has: its total falls short of N,
and the per-group normalisation of eq. 2 (:func:`gslib.losses.detection_loss`) divides by what was drawn,
so the group still weighs the same as the others. A group with no labelled anchor draws nothing and adds
nothing to the loss. We never exceed the 1:3 share of positives to fill a shortfall of negatives.

Randomness comes from ``generator`` (a ``torch.Generator`` on the labels' device): the same seed gives the
same indices.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import torch


class Samples(NamedTuple):
    """pos: (P,) and neg: (Q,) int64 anchor indices; weight: (P + Q,) float for cat([pos, neg]) or None."""

    pos: torch.Tensor
    neg: torch.Tensor
    weight: torch.Tensor | None = None

    @property
    def indices(self) -> torch.Tensor:
        return torch.cat([self.pos, self.neg])


def _top(mask: torch.Tensor, k: int, key: torch.Tensor) -> torch.Tensor:
    """Indices of the (at most) ``k`` entries of ``mask`` with the largest ``key``."""
    idx = mask.nonzero().squeeze(1)
    if idx.numel() <= k:
        return idx
    return idx[key[idx].topk(k).indices]


def balanced_sample(labels: torch.Tensor, key: torch.Tensor, num_samples: int, positive_fraction: float = 0.25,
                    groups: torch.Tensor | None = None, num_groups: int = 1) -> Samples:
    """The counting rule shared by RS, GS and their hard-mining variants.

    In each group: ``P = min(#positives, floor(N * positive_fraction))`` positives and
    ``min(#negatives, N - P)`` negatives, those with the largest ``key`` (random for RS/GS).

    labels: (A,) in {1, 0, -1}; key: (A,) float; groups: (A,) int64 in [0, num_groups) or None (one group).
    """
    if groups is None:
        groups = torch.zeros_like(labels)
        num_groups = 1
    max_pos = math.floor(num_samples * positive_fraction)
    pos, neg = [], []
    for g in range(num_groups):
        in_group = groups == g
        p = _top(in_group & (labels == 1), max_pos, key)
        pos.append(p)
        neg.append(_top(in_group & (labels == 0), num_samples - p.numel(), key))
    return Samples(torch.cat(pos), torch.cat(neg))


def _uniform(labels: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    return torch.rand(labels.shape, generator=generator, device=labels.device)


def random_sample(labels: torch.Tensor, num_samples: int = 256, positive_fraction: float = 0.25,
                  generator: torch.Generator | None = None) -> Samples:
    """RS: N anchors at 1:3, negatives filling a shortfall of positives (Faster R-CNN's sampler)."""
    return balanced_sample(labels, _uniform(labels, generator), num_samples, positive_fraction)


def group_sample(labels: torch.Tensor, groups: torch.Tensor, num_groups: int, num_per_group: int = 256,
                 positive_fraction: float = 0.25, generator: torch.Generator | None = None) -> Samples:
    """GS (Sec. 4.2): in every scale group, ``num_per_group`` anchors at 1:3, the group's own negatives
    filling a shortfall of its positives, so every group has the same total N."""
    return balanced_sample(labels, _uniform(labels, generator), num_per_group, positive_fraction,
                           groups, num_groups)


def wrs_key(losses: torch.Tensor, eps: float = 1e-6, generator: torch.Generator | None = None) -> torch.Tensor:
    """Eq. 3 in log space: ``log w = log(r) / (l + eps)``, the same order as ``w = r ** (1 / (l + eps))``
    without underflowing to 0 for small losses. losses: (A,) -> (A,)."""
    r = torch.rand(losses.shape, generator=generator, device=losses.device, dtype=torch.float64)
    return (torch.log(r.clamp(min=1e-300)) / (losses.detach().double() + eps)).to(losses.dtype)


def wrs_sample(labels: torch.Tensor, losses: torch.Tensor, num_samples: int = 256,
               positive_fraction: float = 0.25, groups: torch.Tensor | None = None, num_groups: int = 1,
               eps: float = 1e-6, generator: torch.Generator | None = None) -> Samples:
    """WRS (eq. 3): top-K by ``w = r ** (1/(l + eps))``, positives and negatives separately, with the RS
    counts; with ``groups`` it is GS+WRS (the GS counts per group). losses: (A,) classification loss."""
    return balanced_sample(labels, wrs_key(losses, eps, generator), num_samples, positive_fraction,
                           groups, num_groups)


def ohem_sample(labels: torch.Tensor, losses: torch.Tensor, batch: int = 1024, groups: torch.Tensor | None = None,
                num_groups: int = 1, positive_fraction: float = 0.25) -> Samples:
    """OHEM (Sec. 6.2): the ``batch`` labelled anchors with the highest loss, whatever their label.

    With ``groups`` it is GS+OHEM (Sec. 4.2): each group takes the GS counts (``batch`` per group at 1:3)
    by highest loss instead of at random. No NMS among the anchors: Sec. 4.2 names its cost as OHEM's flaw
    and the sampler is defined by the loss ranking alone.
    """
    key = losses.detach()
    if groups is not None:
        return balanced_sample(labels, key, batch, positive_fraction, groups, num_groups)
    chosen = _top(labels >= 0, batch, key)
    return Samples(chosen[labels[chosen] == 1], chosen[labels[chosen] == 0])


def focal_weight(logits: torch.Tensor, labels: torch.Tensor, alpha: float = 0.25, gamma: float = 2.0) -> torch.Tensor:
    """The focal-loss weight ``alpha_t * (1 - p_t) ** gamma`` of each sample (Lin et al.).

    logits: (K, 2) two-class scores (index 1 = face); labels: (K,) in {0, 1} -> (K,).
    """
    p_t = torch.softmax(logits, dim=1).gather(1, labels[:, None]).squeeze(1)
    alpha_t = torch.where(labels == 1, alpha, 1.0 - alpha)
    return alpha_t * (1.0 - p_t) ** gamma


def focal_star_sample(labels: torch.Tensor, logits: torch.Tensor, alpha: float = 0.25, gamma: float = 2.0,
                      preselect: Samples | None = None) -> Samples:
    """Focal* (Sec. 6.2): every labelled anchor (or those of ``preselect``: GS+Focal* draws 2,048 per group
    at random first), weighted by its focal weight normalised to sum 1 (Focal* normalises by the sum of
    the weights, not by the number of positives, which did not converge in the paper).

    Training uses :func:`gslib.losses.focal_star_loss`, which recomputes these weights with gradient; the
    weights here are detached, for analyses such as Fig. 2's effective share per scale.
    """
    if preselect is None:
        preselect = Samples((labels == 1).nonzero().squeeze(1), (labels == 0).nonzero().squeeze(1))
    idx = preselect.indices
    w = focal_weight(logits[idx].detach(), labels[idx], alpha, gamma)
    return Samples(preselect.pos, preselect.neg, w / w.sum().clamp(min=1e-12))


def reference_scale(boxes: torch.Tensor, scales=(16, 32, 64, 128)) -> torch.Tensor:
    """Eq. 4: index into ``scales`` of ``argmin_s |log2(sqrt(w h) / s)|`` (ties to the smaller scale).

    boxes: (N, 4) x1y1x2y2 proposals -> (N,) int64 group index, to group-sample proposals for Fast R-CNN.
    """
    wh = (boxes[:, 2:] - boxes[:, :2]).clamp(min=1e-6)
    log_scale = 0.5 * torch.log2(wh[:, 0] * wh[:, 1])
    ref = torch.log2(torch.as_tensor(scales, dtype=log_scale.dtype, device=boxes.device))
    return (log_scale[:, None] - ref[None]).abs().argmin(dim=1)
