"""Losses of Sec. 4.2, 5 and 6.2, per sample, and the total of eq. 2.

Regression losses share one signature, ``loss(deltas, anchors, gt_boxes) -> (K,)``: the head's eq. 13
deltas, the anchors (or proposals) they refine, and the matched ground truth, all ``(K, 4)``.
Classification losses share ``loss(logits, labels) -> (per_sample (K,), normaliser_weight (K,))``.
Pass the functions themselves to :func:`detection_loss` (a sampler of :mod:`gslib.sampling` names its own
classification loss: ``sampler.classification_loss``).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from gslib.boxes import decode, encode, paired_iou
from gslib.matcher import POSITIVE


def softmax_ce(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """2-class softmax cross-entropy (Faster R-CNN). logits: (K, 2), labels: (K,) in {0, 1}.
    Each sample counts 1 in the normaliser."""
    loss = F.cross_entropy(logits, labels, reduction="none")
    return loss, torch.ones_like(loss)


def focal_weight(logits: torch.Tensor, labels: torch.Tensor, alpha: float = 0.25, gamma: float = 2.0) -> torch.Tensor:
    """The focal-loss weight ``alpha_t * (1 - p_t) ** gamma`` of each sample (Lin et al.).

    logits: (K, 2) two-class scores (index 1 = face); labels: (K,) in {0, 1} -> (K,).
    """
    p_t = torch.softmax(logits, dim=1).gather(1, labels[:, None]).squeeze(1)
    alpha_t = torch.where(labels == 1, alpha, 1.0 - alpha)
    return alpha_t * (1.0 - p_t) ** gamma


def focal_star_loss(logits: torch.Tensor, labels: torch.Tensor, alpha: float = 0.25,
                    gamma: float = 2.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Focal loss whose normaliser is the sum of the focal weights (Focal*, Sec. 6.2).

    Returns ``alpha_t (1 - p_t)^gamma CE`` per sample and the detached weights as normaliser.
    """
    w = focal_weight(logits, labels, alpha, gamma)
    return w * F.cross_entropy(logits, labels, reduction="none"), w.detach()


def ls_iou_loss(deltas: torch.Tensor, anchors: torch.Tensor, gt_boxes: torch.Tensor) -> torch.Tensor:
    """Least-squares IoU loss, eq. 5: ``(1 - IoU(decode(deltas), g))^2``. Zero gradient at IoU = 1."""
    return (1.0 - paired_iou(decode(deltas, anchors), gt_boxes)) ** 2


def neg_ln_iou_loss(deltas: torch.Tensor, anchors: torch.Tensor, gt_boxes: torch.Tensor,
                    eps: float = 1e-6) -> torch.Tensor:
    """UnitBox's ``-ln IoU`` (eq. 7's loss); IoU clamped at ``eps`` so disjoint pairs stay finite."""
    return -torch.log(paired_iou(decode(deltas, anchors), gt_boxes).clamp(min=eps))


def smooth_l1_loss(deltas: torch.Tensor, anchors: torch.Tensor, gt_boxes: torch.Tensor,
                   beta: float = 1.0 / 9) -> torch.Tensor:
    """Smooth-L1 on eq. 13 deltas, summed over the 4 coordinates (beta 1/9 as in Faster R-CNN's RPN)."""
    target = encode(gt_boxes, anchors)
    return F.smooth_l1_loss(deltas, target, beta=beta, reduction="none").sum(dim=1)


def detection_loss(logits: torch.Tensor, deltas: torch.Tensor, anchors: torch.Tensor, labels: torch.Tensor,
                   matched_boxes: torch.Tensor, samples, groups: torch.Tensor | None = None,
                   num_groups: int = 1, cls_loss=softmax_ce, reg_loss=ls_iou_loss,
                   eta: float = 1.0, rows: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Eq. 2: ``sum_s  L_cls,s / (|P_s| + |N_s|)  +  eta * L_reg,s / |P_s|``.

    With ``groups=None`` there is one group and this is the ordinary RS normalisation
    ``L_cls / N_cls + eta * L_reg / N_pos``. A group with no sample (no positive) adds no classification
    (regression) term.

    logits: (A, 2), deltas: (A, 4), anchors: (A, 4), labels: (A,) from the matcher, matched_boxes: (A, 4)
    the ground truth of each anchor (read only at positives), samples: the :class:`gslib.sampling.Samples` of a
    sampler (``pos``, ``neg`` index tensors, ``weight``), groups: (A,) int64.
    If ``samples.weight`` is set, it replaces each sample's normaliser weight (and multiplies its loss).
    rows: (A,) int64, the row of ``logits`` and ``deltas`` that holds anchor ``k``'s outputs (a head's own
    order; None: row ``k``). Only the drawn rows are read, and in float32 whatever the head's dtype.
    Returns the scalar loss and its parts {"cls", "reg"}.
    """
    if groups is None:
        groups = torch.zeros_like(labels)
        num_groups = 1
    idx = samples.indices
    cls, norm_w = cls_loss(logits[idx if rows is None else rows[idx]].float(), (labels[idx] == POSITIVE).long())
    if samples.weight is not None:
        cls, norm_w = cls * samples.weight, samples.weight
    g = groups[idx]
    cls_sum = torch.zeros(num_groups, dtype=cls.dtype, device=cls.device).index_add(0, g, cls)
    cls_norm = torch.zeros_like(cls_sum).index_add(0, g, norm_w.to(cls.dtype))
    cls_total = (cls_sum / cls_norm.clamp(min=1e-12)).sum()

    pos = samples.pos
    if pos.numel():
        reg = reg_loss(deltas[pos if rows is None else rows[pos]].float(), anchors[pos], matched_boxes[pos])
        reg_sum = torch.zeros(num_groups, dtype=reg.dtype, device=reg.device).index_add(0, groups[pos], reg)
        pos_count = torch.bincount(groups[pos], minlength=num_groups).to(reg.dtype)
        reg_total = eta * (reg_sum / pos_count.clamp(min=1)).sum()
    else:
        reg_total = deltas[:0].float().sum()  # 0, and keeps the graph connected
    return cls_total + reg_total, {"cls": cls_total.detach(), "reg": reg_total.detach()}
