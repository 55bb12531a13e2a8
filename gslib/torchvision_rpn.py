"""Group sampling inside torchvision's detectors: gslib's matcher and samplers as the RPN's of its Faster R-CNN.

torchvision's :class:`~torchvision.models.detection.rpn.RegionProposalNetwork` labels anchors with its ``Matcher``
(IoU 0.7 / 0.3, each box also taking its best anchors whatever their IoU) and draws 256 per image at 1:1 with
``BalancedPositiveNegativeSampler`` over every anchor together: the random sampling (RS) of the paper, whose
draws follow the anchors' scale distribution (Sec. 3). :class:`GroupSampledRPN` keeps torchvision's RPN whole
(head, anchors, box coding, proposals, loss) and replaces those two parts with gslib's: the two-pass matcher of
Sec. 4.1 (:class:`gslib.matcher.TwoPassMatcher`) and any sampler that ranks without the logits
(:class:`gslib.sampling.GroupSampler`: N anchors of every scale group, Sec. 4.2; or
:class:`gslib.sampling.RandomSampler`). An anchor's scale group is the index of its size among the anchor
generator's sizes, nearest in log scale (eq. 4's rule, :func:`gslib.sampling.reference_scale`: torchvision's
anchors of size s have ``sqrt(w * h)`` within rounding of s for every aspect ratio).

What stays torchvision's: the loss divides by the number of anchors drawn in the image batch, where eq. 2
(:func:`gslib.losses.detection_loss`, which gslib's own detectors train with) normalises each scale group by its
own draws; and anchors are not filtered by the image border. OHEM and WRS rank by the loss, which torchvision's RPN
computes after the draw, and Focal* has a loss of its own, which torchvision's binary cross-entropy is not: both
are refused.

Usage (``model`` any torchvision ``FasterRCNN``)::

    model.rpn = GroupSampledRPN.replacing(model.rpn, GroupSampler(256), TwoPassMatcher(0.6, 0.4))
"""
from __future__ import annotations

import torch
from torchvision.models.detection.rpn import RegionProposalNetwork

from gslib.matcher import IGNORE, NEGATIVE, POSITIVE, TwoPassMatcher
from gslib.sampling import Sampler, reference_scale


def drawn_labels(anchors: torch.Tensor, boxes: torch.Tensor, matcher: TwoPassMatcher, sampler: Sampler,
                 sizes: list[float], generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """One image's anchors (A, 4) against its boxes (M, 4): ``labels (A,) float32`` in torchvision's RPN
    convention (1 drawn positive, 0 drawn negative, -1 not drawn, so its loss skips it) and ``matched (A,)
    int64``, the box of each positive (-1 elsewhere, as :class:`~gslib.matcher.TwoPassMatcher` gives it).
    ``sizes``: the anchor sizes, ascending, one scale group each; ``generator``: the draws' (None: torch's global
    one)."""
    labels, matched = matcher(anchors, boxes)
    samples = sampler(labels, reference_scale(anchors, sizes), len(sizes), None, generator, anchors)
    drawn = torch.full(labels.shape, float(IGNORE), dtype=torch.float32, device=labels.device)
    drawn[samples.pos] = float(POSITIVE)
    drawn[samples.neg] = float(NEGATIVE)
    return drawn, matched


def _labelled(labels: list[torch.Tensor]) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """torchvision's ``fg_bg_sampler`` interface over labels that hold the draws: (positive masks, negative masks)."""
    return [x == POSITIVE for x in labels], [x == NEGATIVE for x in labels]


class GroupSampledRPN(RegionProposalNetwork):
    """torchvision's RPN whose anchors are labelled by ``matcher`` and drawn by ``sampler`` (see the module's
    docstring). ``generator``: the draws' ``torch.Generator``, on the model's device (None: torch's global one)."""

    def __init__(self, *args, sampler: Sampler, matcher: TwoPassMatcher, generator: torch.Generator | None = None,
                 **kwargs):
        super().__init__(*args, **kwargs)
        if sampler.needs_logits:
            raise ValueError(f"{type(sampler).__name__} ranks anchors by their loss, which torchvision's RPN "
                             "computes only after drawing them")
        if type(sampler).classification_loss is not Sampler.classification_loss:
            raise ValueError(f"{type(sampler).__name__} has its own classification loss; torchvision's RPN "
                             "trains with binary cross-entropy")
        self.sampler, self.matcher, self.generator = sampler, matcher, generator
        self.group_sizes = sorted({float(s) for level in self.anchor_generator.sizes for s in level})
        # compute_loss asks fg_bg_sampler for its draws: the labels already hold them (-1 elsewhere).
        self.fg_bg_sampler = _labelled

    @classmethod
    def replacing(cls, rpn: RegionProposalNetwork, sampler: Sampler, matcher: TwoPassMatcher,
                  generator: torch.Generator | None = None) -> GroupSampledRPN:
        """A GroupSampledRPN on ``rpn``'s own head and anchor generator (the same modules, so the same weights)
        and its proposal settings."""
        return cls(rpn.anchor_generator, rpn.head, matcher.pos_thresh, matcher.neg_thresh,
                   rpn.fg_bg_sampler.batch_size_per_image, rpn.fg_bg_sampler.positive_fraction,
                   rpn._pre_nms_top_n, rpn._post_nms_top_n, rpn.nms_thresh, rpn.score_thresh,
                   sampler=sampler, matcher=matcher, generator=generator)

    def assign_targets_to_anchors(self, anchors: list[torch.Tensor], targets: list[dict[str, torch.Tensor]]
                                  ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Per image, :func:`drawn_labels` and each anchor's matched box (zeros where none)."""
        labels, matched_boxes = [], []
        for anchors_per_image, target in zip(anchors, targets):
            boxes = target["boxes"].to(anchors_per_image)
            drawn, matched = drawn_labels(anchors_per_image, boxes, self.matcher, self.sampler, self.group_sizes,
                                          self.generator)
            labels.append(drawn)
            matched_boxes.append(boxes[matched.clamp(min=0)] if boxes.numel() else torch.zeros_like(anchors_per_image))
        return labels, matched_boxes
