"""Training-sample selection: RS, group sampling (GS, Sec. 4.2), OHEM, WRS (eq. 3), Focal*, and their
combinations with GS, plus the reference scale of eq. 4 that groups proposals for the second stage.

Every sampling function takes the matcher's ``labels: (A,) int64`` in {POSITIVE, NEGATIVE, IGNORE} =
{1, 0, -1} (:mod:`gslib.matcher`) and returns :class:`Samples`, the chosen positive and negative anchor
indices. They differ only in how a set of candidates is ranked before the top ``k`` are kept:

=========  ===========================================  =======================================
method     rank key                                     counts
=========  ===========================================  =======================================
RS         uniform random                               N, 1:3, negatives fill a positive shortfall
GS         uniform random                               the same, *per scale group*
WRS        ``r ** (1 / (l + eps))``, r ~ U(0, 1) (eq. 3)  like RS (or GS), positives and negatives apart
OHEM       the loss ``l``, after NMS by ``l`` (or none)     top-B over all labelled anchors (or GS counts)
Focal*     every labelled anchor, weighted              (GS+Focal*: GS draws the anchors first)
=========  ===========================================  =======================================

A group that lacks negatives as well as positives keeps everything it has: its total falls short of N,
and the per-group normalisation of eq. 2 (:func:`gslib.losses.detection_loss`) divides by what was drawn,
so the group still weighs the same as the others. A group with no labelled anchor draws nothing and adds
nothing to the loss. We never exceed the 1:3 share of positives to fill a shortfall of negatives.

Randomness comes from ``generator`` (a ``torch.Generator`` on the labels' device): the same seed gives the
same indices.

Training uses one small object per method, built once from the experiment
(:func:`gslib.build.build_samplers`), the same kind for the first stage (anchors) and the second (RoIs):

=============================================  ============================  =========  ==============
object                                         Experiment.sampler            per_group  classification
=============================================  ============================  =========  ==============
:class:`RandomSampler` (N)                     RS                            no         softmax CE
:class:`GroupSampler` (N per group)            GS                            yes        softmax CE
:class:`OHEMSampler` (B, ``per_group``)        OHEM, GS+OHEM                 as given   softmax CE
:class:`WRSSampler` (N, ``per_group``)         WRS, GS+WRS                   as given   softmax CE
:class:`FocalStarSampler` (``per_group``)      Focal*, GS+Focal*             as given   Focal*
=============================================  ============================  =========  ==============

Each is called as ``sampler(labels (A,), groups (A,) int64, num_groups, logits (A, 2) or None, generator,
boxes (A, 4) or None) -> Samples`` (``boxes``: the candidates' own boxes, anchors or RoIs, which only OHEM's NMS
reads) and says how eq. 2 (:func:`gslib.losses.detection_loss`) treats what it drew: ``per_group``
(normalised per scale group: the GS variants) and ``classification_loss(logits, labels)``.
``needs_logits``: it ranks by the classification loss (OHEM, WRS), so the caller must give the logits of
every candidate (the second stage scores every RoI without gradient first); the others take ``None``.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torchvision.ops import nms

from gslib.losses import focal_star_loss, focal_weight, softmax_ce
from gslib.matcher import IGNORE, NEGATIVE, POSITIVE


class Samples(NamedTuple):
    """pos: (P,) and neg: (Q,) int64 anchor indices; weight: (P + Q,) float for cat([pos, neg]) or None."""

    pos: torch.Tensor
    neg: torch.Tensor
    weight: torch.Tensor | None = None

    @property
    def indices(self) -> torch.Tensor:
        return torch.cat([self.pos, self.neg])


def _top(idx: torch.Tensor, k: int, key: torch.Tensor) -> torch.Tensor:
    """Of the (ascending) indices ``idx``, the (at most) ``k`` with the largest ``key``."""
    if idx.numel() <= k:
        return idx
    return idx[key[idx].topk(k).indices]


def _by_group(idx: torch.Tensor, groups: torch.Tensor, num_groups: int) -> tuple[torch.Tensor, ...]:
    """The ascending indices ``idx`` split by group: ``num_groups`` ascending index tensors, the same as
    ``(mask & (groups == g)).nonzero()`` for each ``g``, in a few operations instead of a pass over every
    anchor per group. Anchors in group-major order (training's) are split where they stand."""
    g = groups[idx]
    counts = torch.bincount(g, minlength=num_groups).tolist()
    if bool((g[1:] < g[:-1]).any()):
        idx = idx[torch.argsort(g, stable=True)]  # stable: ascending within each group
    return torch.split(idx, counts)


def balanced_sample(labels: torch.Tensor, key: torch.Tensor, num_samples: int, positive_fraction: float = 0.25,
                    groups: torch.Tensor | None = None, num_groups: int = 1, top=None) -> Samples:
    """The counting rule shared by RS, GS and their hard-mining variants.

    In each group: ``P = min(#positives, floor(N * positive_fraction))`` positives and
    ``min(#negatives, N - P)`` negatives, those with the largest ``key`` (random for RS/GS).

    labels: (A,) matcher labels; key: (A,) float; groups: (A,) int64 in [0, num_groups) or None (one group).
    top: ``(indices, k) -> chosen`` keeps up to ``k`` of the indices (GS+OHEM's NMS); None: the ``k`` of
    largest ``key``.
    """
    if top is None:
        def top(idx, k):
            return _top(idx, k, key)
    max_pos = math.floor(num_samples * positive_fraction)
    positives = (labels == POSITIVE).nonzero().squeeze(1)
    negatives = (labels == NEGATIVE).nonzero().squeeze(1)
    if groups is None:
        positives, negatives = (positives,), (negatives,)
    else:
        positives, negatives = _by_group(positives, groups, num_groups), _by_group(negatives, groups, num_groups)
    pos, neg = [], []
    for group_positives, group_negatives in zip(positives, negatives):
        p = top(group_positives, max_pos)
        pos.append(p)
        neg.append(top(group_negatives, num_samples - p.numel()))
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


def nms_survivors(boxes: torch.Tensor, key: torch.Tensor, idx: torch.Tensor, k: int, iou_threshold: float,
                  max_candidates: int | None = None) -> torch.Tensor:
    """Of the candidates ``idx``, the first ``k`` kept by greedy NMS (``torchvision.ops.nms``) over the
    ``max_candidates`` of highest ``key`` (None: all of them), in descending ``key`` (ties in ``key`` keep
    the ascending order of ``idx``).

    Computed on a prefix of that ranking: greedy NMS keeps a box when no kept box ranked above it overlaps it by
    more than ``iou_threshold``, so the first ``k`` survivors depend on the boxes ranked down to the k-th
    survivor only. The prefix starts at ``2 k`` and grows x4 until it holds ``k`` survivors or all the
    candidates; the result is the same as NMS over all of them, cut to ``k``.

    boxes: (A, 4) x1y1x2y2; key: (A,) float; idx: (n,) int64 -> (min(k, survivors),) int64, descending key.
    """
    order = idx[torch.argsort(key[idx], descending=True, stable=True)][:max_candidates]
    n = min(order.numel(), 2 * k)
    while True:
        prefix = order[:n]
        # Strictly decreasing scores: nms ranks the prefix in our (stable) order, ties in key included.
        rank = torch.arange(n, 0, -1, dtype=torch.float32, device=boxes.device)
        kept = prefix[nms(boxes[prefix].float(), rank, iou_threshold)]
        if kept.numel() >= k or n == order.numel():
            return kept[:k]
        n = min(order.numel(), 4 * n)


# OHEM's NMS sees the OHEM_NMS_CANDIDATES x k candidates of highest loss (4,096 for B = 1,024), as RPN's pre-NMS
# top-N bounds NMS over dense anchors; about the ~2,000 RoIs the OHEM paper's NMS saw. Over every labelled anchor
# (25,600 in a default FPN-finest crop) the smooth losses of neighbouring anchors make NMS keep few of the top
# ones, and it took 150-600 ms per image (torchvision's nms, one thread), several times the training step.
OHEM_NMS_CANDIDATES = 4


def ohem_sample(labels: torch.Tensor, losses: torch.Tensor, batch: int = 1024, groups: torch.Tensor | None = None,
                num_groups: int = 1, positive_fraction: float = 0.25, boxes: torch.Tensor | None = None,
                nms_threshold: float = 0.0) -> Samples:
    """OHEM (Sec. 6.2): the ``batch`` labelled anchors with the highest loss, whatever their label.

    With ``nms_threshold`` > 0 (Sec. 4.2: "OHEM typically relies on NMS to prune proposals which are highly
    overlapped"; the OHEM paper's IoU is 0.7), greedy NMS by loss over the candidates' ``boxes`` (A, 4)
    (:func:`nms_survivors`) among the :data:`OHEM_NMS_CANDIDATES` x ``batch`` of highest loss first: of two
    anchors that overlap more, only the one of higher loss can be kept, and fewer than ``batch`` are kept when
    fewer survive. 0: no NMS, the loss ranking alone.

    With ``groups`` it is GS+OHEM (Sec. 4.2, "OHEM for each group"): each group takes the GS counts
    (``batch`` per group at 1:3) by highest loss instead of at random; its NMS runs within each group's
    positives and within its negatives, which the GS counts draw from apart.
    """
    key = losses.detach()
    if nms_threshold > 0:
        if boxes is None:
            raise ValueError("ohem_sample: nms_threshold > 0 needs the candidates' boxes")
        if groups is None:
            chosen = nms_survivors(boxes, key, (labels != IGNORE).nonzero().squeeze(1), batch, nms_threshold,
                                   OHEM_NMS_CANDIDATES * batch)
            return Samples(chosen[labels[chosen] == POSITIVE], chosen[labels[chosen] == NEGATIVE])
        return balanced_sample(labels, key, batch, positive_fraction, groups, num_groups,
                               top=lambda idx, k: nms_survivors(boxes, key, idx, k, nms_threshold,
                                                                OHEM_NMS_CANDIDATES * k))
    if groups is not None:
        return balanced_sample(labels, key, batch, positive_fraction, groups, num_groups)
    chosen = _top((labels != IGNORE).nonzero().squeeze(1), batch, key)
    return Samples(chosen[labels[chosen] == POSITIVE], chosen[labels[chosen] == NEGATIVE])


def all_labelled(labels: torch.Tensor) -> Samples:
    """Every positive and every negative anchor (Focal* without GS)."""
    return Samples((labels == POSITIVE).nonzero().squeeze(1), (labels == NEGATIVE).nonzero().squeeze(1))


def focal_star_sample(labels: torch.Tensor, logits: torch.Tensor, alpha: float = 0.25, gamma: float = 2.0,
                      preselect: Samples | None = None) -> Samples:
    """Focal* (Sec. 6.2): every labelled anchor (or those of ``preselect``: GS+Focal* draws 2,048 per group
    at random first), weighted by its focal weight normalised to sum 1 (Focal* normalises by the sum of
    the weights, not by the number of positives, which did not converge in the paper).

    Training uses :class:`FocalStarSampler` and :func:`gslib.losses.focal_star_loss`, which recomputes these
    weights with gradient; the weights here are detached, for analyses such as Fig. 2's effective share per
    scale.
    """
    if preselect is None:
        preselect = all_labelled(labels)
    idx = preselect.indices
    w = focal_weight(logits[idx].detach(), (labels[idx] == POSITIVE).long(), alpha, gamma)
    return Samples(preselect.pos, preselect.neg, w / w.sum().clamp(min=1e-12))


# ----------------------------------------------------------------------------------------------------
# The samplers of training: one object per method (see the module docstring)
# ----------------------------------------------------------------------------------------------------


def classification_losses(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The loss ``l`` that OHEM and WRS rank by: the detached softmax CE of each anchor against its label.

    logits: (A, 2) (index 1 = face); labels: (A,) matcher labels -> (A,) float32 (meaningless at IGNORE).
    """
    return F.cross_entropy(logits.detach().float(), (labels == POSITIVE).long(), reduction="none")


class Sampler:
    """What every sampler shares: eq. 2 over the whole image (``per_group = False``), softmax CE, no logits
    needed. Subclasses define ``__call__(labels, groups, num_groups, logits, generator) -> Samples``."""

    per_group = False
    needs_logits = False

    def classification_loss(self, logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """logits: (K, 2), labels: (K,) in {0, 1} -> (per-sample loss (K,), normaliser weight (K,))."""
        return softmax_ce(logits, labels)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in vars(self).items())})"


class RandomSampler(Sampler):
    """RS: ``num_samples`` anchors of an image at ``positive_fraction`` positives (:func:`random_sample`)."""

    def __init__(self, num_samples: int = 256, positive_fraction: float = 0.25):
        self.num_samples, self.positive_fraction = num_samples, positive_fraction

    def __call__(self, labels, groups, num_groups, logits, generator, boxes=None) -> Samples:
        return random_sample(labels, self.num_samples, self.positive_fraction, generator=generator)


class GroupSampler(Sampler):
    """GS (Sec. 4.2): ``num_per_group`` anchors of every scale group (:func:`group_sample`); eq. 2 per group."""

    per_group = True

    def __init__(self, num_per_group: int = 256, positive_fraction: float = 0.25):
        self.num_per_group, self.positive_fraction = num_per_group, positive_fraction

    def __call__(self, labels, groups, num_groups, logits, generator, boxes=None) -> Samples:
        return group_sample(labels, groups, num_groups, self.num_per_group, self.positive_fraction, generator)


class OHEMSampler(Sampler):
    """OHEM (Sec. 6.2): the ``batch`` labelled anchors of highest loss (:func:`ohem_sample`), after NMS among
    the candidates' boxes at ``nms_threshold`` (0: none); with ``per_group`` it is GS+OHEM: ``batch`` per scale
    group at the GS counts, eq. 2 per group. Draws nothing."""

    needs_logits = True

    def __init__(self, batch: int = 1024, positive_fraction: float = 0.25, per_group: bool = False,
                 nms_threshold: float = 0.0):
        self.batch, self.positive_fraction, self.per_group = batch, positive_fraction, per_group
        self.nms_threshold = nms_threshold

    def __call__(self, labels, groups, num_groups, logits, generator, boxes=None) -> Samples:
        return ohem_sample(labels, classification_losses(logits, labels), self.batch,
                           groups if self.per_group else None, num_groups, self.positive_fraction, boxes,
                           self.nms_threshold)


class WRSSampler(Sampler):
    """WRS (eq. 3): the RS counts, each anchor kept by the key ``r ** (1 / (l + eps))`` (:func:`wrs_sample`);
    with ``per_group`` it is GS+WRS: ``num_samples`` per scale group, eq. 2 per group."""

    needs_logits = True

    def __init__(self, num_samples: int = 1024, positive_fraction: float = 0.25, per_group: bool = False,
                 eps: float = 1e-6):
        self.num_samples, self.positive_fraction = num_samples, positive_fraction
        self.per_group, self.eps = per_group, eps

    def __call__(self, labels, groups, num_groups, logits, generator, boxes=None) -> Samples:
        return wrs_sample(labels, classification_losses(logits, labels), self.num_samples, self.positive_fraction,
                          groups if self.per_group else None, num_groups, self.eps, generator)


class FocalStarSampler(Sampler):
    """Focal* (Sec. 6.2): every labelled anchor (:func:`all_labelled`), trained with
    :func:`gslib.losses.focal_star_loss` (``alpha``, ``gamma``), which weights each by its focal weight.
    With ``per_group`` it is GS+Focal* (Sec. 4.3): ``num_per_group`` anchors of every scale group drawn at
    random first (:func:`group_sample`; 2,048 in the paper), eq. 2 per group."""

    def __init__(self, alpha: float = 0.25, gamma: float = 2.0, per_group: bool = False,
                 num_per_group: int = 2048, positive_fraction: float = 0.25):
        self.alpha, self.gamma, self.per_group = alpha, gamma, per_group
        self.num_per_group, self.positive_fraction = num_per_group, positive_fraction

    def __call__(self, labels, groups, num_groups, logits, generator, boxes=None) -> Samples:
        if self.per_group:
            return group_sample(labels, groups, num_groups, self.num_per_group, self.positive_fraction, generator)
        return all_labelled(labels)

    def classification_loss(self, logits, labels):
        return focal_star_loss(logits, labels, self.alpha, self.gamma)


def reference_scale(boxes: torch.Tensor, scales=(16, 32, 64, 128)) -> torch.Tensor:
    """Eq. 4: index into ``scales`` of ``argmin_s |log2(sqrt(w h) / s)|`` (ties to the smaller scale).

    boxes: (N, 4) x1y1x2y2 proposals -> (N,) int64 group index, to group-sample proposals for Fast R-CNN.
    """
    wh = (boxes[:, 2:] - boxes[:, :2]).clamp(min=1e-6)
    log_scale = 0.5 * torch.log2(wh[:, 0] * wh[:, 1])
    ref = torch.log2(torch.as_tensor(scales, dtype=log_scale.dtype, device=boxes.device))
    return (log_scale[:, None] - ref[None]).abs().argmin(dim=1)
