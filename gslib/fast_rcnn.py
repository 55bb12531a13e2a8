"""The second stage: (Grouped) Fast R-CNN on one detection map (Sec. 4.2 "Grouped Fast R-CNN", Sec. 6.3).

The first stage is an RPN-like detector (FPN-finest-sampling in the paper); its proposals are refined by

- :class:`FastRCNNHead`: RoIAlign (7x7, ``spatial_scale = 1 / stride``, ``sampling_ratio`` 2,
  ``aligned=True``) on ONE feature map (P2 of FPN-finest), two fc layers of width ``hidden`` with ReLU
  (Fast R-CNN's "2fc" head), then 2-class logits (index 1 = face) and 4 eq.-13 deltas relative to the
  proposal. The deltas are plain eq. 13 (no (10, 10, 5, 5) weights as in torchvision): the losses of
  :mod:`gslib.losses` and :func:`gslib.boxes.decode` use that parameterisation everywhere.
- :func:`fast_rcnn_loss`: training for one image. :class:`~gslib.matcher.TwoPassMatcher` with
  ``lambda1 = 0.6, lambda2 = 0.5`` (Sec. 5) between the proposals and the ground truth, the proposals
  grouped by their reference scale (eq. 4, :func:`~gslib.sampling.reference_scale`), a sampler object of
  :mod:`gslib.sampling` (:class:`~gslib.sampling.RandomSampler`, or :class:`~gslib.sampling.GroupSampler`
  over the reference-scale groups = *Grouped Fast R-CNN*; or OHEM / Focal*, alone or with GS), and eq. 2
  (:func:`~gslib.losses.detection_loss`; per-group normalisation with GS, ordinary with RS).
- :func:`select_proposals`: the NMS + top-K step that feeds the second stage; with ``grouped=True`` the
  top K are kept per reference-scale group. Sec. 4.2 says GS is applied "in this step" because small
  proposals score lower than large ones and a global top K starves them; the text leaves open whether
  that means this step, the minibatch draw, or both: in training both follow the sampler's grouping
  (:func:`second_stage_loss`), and :func:`select_proposals` alone is offered too.
- :func:`refine`: inference, the refined boxes and the ensemble of the two stages' scores (Sec. 6.3);
  :func:`second_stage_detections`, the refined boxes with the second stage's own scores.
- :class:`TwoStageDetector`: a first-stage :class:`gslib.model.Detector` with the head on its finest map,
  what ``build_detector`` makes of an experiment with ``second_stage`` (Table 13); :func:`first_stage_boxes`
  and :func:`second_stage_loss` are its training and inference steps, called by :mod:`gslib.train` and
  :mod:`gslib.inference`.

Everything runs on the device of its inputs.
"""
from __future__ import annotations

import torch
from torch import nn
from torchvision.ops import batched_nms, nms, roi_align

from gslib.boxes import decode
from gslib.losses import detection_loss, ls_iou_loss
from gslib.matcher import TwoPassMatcher
from gslib.sampling import Sampler, Samples, reference_scale

REFERENCE_SCALES = (16, 32, 64, 128)  # R of eq. 4
ROIS_PER_IMAGE = 512        # Fast R-CNN's minibatch of RoIs per image (RS); Grouped Fast R-CNN: a quarter per group
PROPOSAL_NMS = 0.7          # Faster R-CNN's NMS between the stages (the paper states none)
# Boxes per image before that NMS in training: torchvision's and detectron2's FPN value (Faster R-CNN's
# 12,000 cost 0.67 s per image in torchvision's CPU NMS here, 2,000 about 0.02 s).
TRAIN_PRE_NMS_TOP_K = 2000


def _as_rois(proposals: list[torch.Tensor] | torch.Tensor) -> torch.Tensor:
    """A list of (R_i, 4) x1y1x2y2 per image, or (R, 5) (batch index, x1, y1, x2, y2) -> (R, 5)."""
    if isinstance(proposals, torch.Tensor):
        if proposals.dim() != 2 or proposals.shape[1] != 5:
            raise ValueError(f"a proposals tensor must be (R, 5), batch index first, got {tuple(proposals.shape)}")
        return proposals
    rois = [torch.cat([torch.full_like(p[:, :1], i), p], dim=1) for i, p in enumerate(proposals)]
    return torch.cat(rois) if rois else torch.zeros(0, 5)


def _bilinear_taps(coord: torch.Tensor, size: int) -> tuple[torch.Tensor, ...]:
    """torchvision's RoIAlign interpolation along one axis: for sample coordinates ``coord`` (any shape) on a
    map of ``size`` cells, the two cells each sample reads (``low``, ``high``, int64) and their weights. As in
    its kernels: a sample beyond ``[-1, size]`` weighs nothing, one in ``[-1, 0]`` reads cell 0, one past the
    last cell reads the last."""
    outside = (coord < -1) | (coord > size)
    c = coord.clamp(min=0)
    low = c.floor().long()
    at_edge = low >= size - 1
    low = low.clamp(max=size - 1)
    high = torch.where(at_edge, low, low + 1)
    frac = torch.where(at_edge, torch.zeros_like(c), c - low)
    return low, high, (1 - frac).masked_fill(outside, 0), frac.masked_fill(outside, 0)


class _RoIAlign(torch.autograd.Function):
    """torchvision's ``roi_align`` forward, with a faster backward on the CPU.

    Why not torchvision's CPU backward: it recomputes every sample's bilinear weights for every channel and
    adds them one at a time; in a Fast R-CNN training step (default profile, 1 thread) it took 22 ms per
    image, 38% of the step. Here each RoI's sampling weights are computed once, as a sparse (map cells x RoI
    bins) matrix, and one sparse product moves the gradient of every channel. The same gradient to float
    rounding (tests/test_fast_rcnn.py); the step measured 129 -> 106 ms side by side (+IoU loss row)."""

    @staticmethod
    def forward(ctx, feature_map, rois, pool_size: int, spatial_scale: float, sampling_ratio: int):
        ctx.save_for_backward(rois)
        ctx.shape, ctx.args = feature_map.shape, (pool_size, spatial_scale, sampling_ratio)
        return roi_align(feature_map, rois, pool_size, spatial_scale, sampling_ratio, aligned=True)

    @staticmethod
    def backward(ctx, grad):
        (rois,) = ctx.saved_tensors
        (batch, channels, height, width), (p, scale, ratio) = ctx.shape, ctx.args
        r = rois.shape[0]
        # aligned=True: pixel centres at +0.5; sample (i + 0.5) / ratio of a bin, bins of (end - start) / p.
        box = rois[:, 1:].to(grad.dtype) * scale - 0.5
        steps = (torch.arange(p * ratio, device=grad.device, dtype=grad.dtype) + 0.5) / ratio
        xs = box[:, 0:1] + steps * ((box[:, 2:3] - box[:, 0:1]) / p)  # (R, p * ratio)
        ys = box[:, 1:2] + steps * ((box[:, 3:4] - box[:, 1:2]) / p)
        x_low, x_high, wx_low, wx_high = _bilinear_taps(xs, width)
        y_low, y_high, wy_low, wy_high = _bilinear_taps(ys, height)
        base = rois[:, 0].long()[:, None, None] * (height * width)
        # (R, p * ratio [y], p * ratio [x], 4 corners): the map cell of each tap and its weight.
        cells = torch.stack([base + (y[:, :, None] * width + x[:, None, :]) for y in (y_low, y_high)
                             for x in (x_low, x_high)], dim=-1)
        weights = torch.stack([wy[:, :, None] * wx[:, None, :] for wy in (wy_low, wy_high)
                               for wx in (wx_low, wx_high)], dim=-1) / (ratio * ratio)
        # -> rows = (roi, bin y, bin x), each with its ratio * ratio * 4 taps.
        taps = ratio * ratio * 4
        cells = cells.view(r, p, ratio, p, ratio, 4).permute(0, 1, 3, 2, 4, 5).reshape(r * p * p, taps)
        weights = weights.view(r, p, ratio, p, ratio, 4).permute(0, 1, 3, 2, 4, 5).reshape(r * p * p, taps)
        rows = torch.arange(r * p * p, device=grad.device).repeat_interleave(taps)
        spread = torch.sparse_coo_tensor(torch.stack([cells.reshape(-1), rows]), weights.reshape(-1),
                                         (batch * height * width, r * p * p), check_invariants=False)
        per_bin = grad.permute(0, 2, 3, 1).reshape(r * p * p, channels)
        grad_map = torch.sparse.mm(spread, per_bin).view(batch, height, width, channels).permute(0, 3, 1, 2)
        return grad_map, None, None, None, None


def pool_rois(feature_map: torch.Tensor, rois: torch.Tensor, pool_size: int, spatial_scale: float,
              sampling_ratio: int) -> torch.Tensor:
    """``torchvision.ops.roi_align(..., aligned=True)`` (rois: (R, 5), batch index first) whose gradient on
    the CPU comes from :class:`_RoIAlign`; elsewhere, or without a gradient, torchvision's own."""
    backward = feature_map.requires_grad and torch.is_grad_enabled()
    if backward and feature_map.device.type == "cpu" and sampling_ratio > 0:
        return _RoIAlign.apply(feature_map, rois, pool_size, spatial_scale, sampling_ratio)
    return roi_align(feature_map, rois, pool_size, spatial_scale, sampling_ratio, aligned=True)


class FastRCNNHead(nn.Module):
    """RoIAlign on one detection map, then Fast R-CNN's 2fc head.

    Args:
        in_channels: channels of the feature map (``Detector(channels=...)``).
        hidden: width of both fc layers (1024 in Fast R-CNN; small values for CPU runs).
        pool_size: RoIAlign output side (7).
        sampling_ratio: RoIAlign bilinear samples per bin side (2).

    ``forward(feature_map (B, C, h, w), proposals, stride)``, proposals a list of B tensors (R_i, 4)
    x1y1x2y2 in image pixels or one (R, 5) tensor with the batch index first, ``stride`` the map's stride
    in pixels (4 for P2). Returns ``logits (R, 2)`` and ``deltas (R, 4)`` (eq. 13 w.r.t. each proposal),
    the proposals in list order.
    """

    def __init__(self, in_channels: int, hidden: int = 1024, pool_size: int = 7, sampling_ratio: int = 2):
        super().__init__()
        self.pool_size = pool_size
        self.sampling_ratio = sampling_ratio
        self.fc6 = nn.Linear(in_channels * pool_size * pool_size, hidden)
        self.fc7 = nn.Linear(hidden, hidden)
        self.cls = nn.Linear(hidden, 2)
        self.bbox = nn.Linear(hidden, 4)
        # Fast R-CNN's initialisation of the predictors: near-uniform scores, near-zero deltas.
        nn.init.normal_(self.cls.weight, std=0.01)
        nn.init.normal_(self.bbox.weight, std=0.001)
        nn.init.zeros_(self.cls.bias)
        nn.init.zeros_(self.bbox.bias)

    def pool(self, feature_map: torch.Tensor, proposals, stride: float) -> torch.Tensor:
        """-> (R, C, pool_size, pool_size). ``aligned=True``: pixel centres at +0.5, no half-cell shift."""
        rois = _as_rois(proposals).to(feature_map)
        return pool_rois(feature_map, rois, self.pool_size, 1.0 / stride, self.sampling_ratio)

    def forward(self, feature_map: torch.Tensor, proposals, stride: float) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.pool(feature_map, proposals, stride).flatten(1)
        x = torch.relu(self.fc7(torch.relu(self.fc6(x))))
        return self.cls(x), self.bbox(x)


def assign_targets(proposals: torch.Tensor, gt_boxes: torch.Tensor, gt_ignore: torch.Tensor | None = None,
                   matcher: TwoPassMatcher | None = None,
                   append_gt: bool = True) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Label one image's proposals for the second stage.

    proposals: (R, 4), gt_boxes: (M, 4) x1y1x2y2; gt_ignore: (M,) bool (WIDER "invalid", COCO crowd).
    matcher: default ``TwoPassMatcher(pos_thresh=0.6, neg_thresh=0.5)`` (Sec. 5's Fast R-CNN thresholds).
    append_gt: append the valid (not ignored) ground-truth boxes to the proposals, as Fast R-CNN does, so
        that every face has at least one perfect positive early in training, when proposals are poor.

    Returns ``rois (R', 4)`` (the proposals, then the appended boxes), ``labels (R',)`` matcher labels,
    ``matched_boxes (R', 4)``: the ground truth of each positive (zeros elsewhere, never read there).
    """
    matcher = matcher or TwoPassMatcher(pos_thresh=0.6, neg_thresh=0.5)
    gt_boxes = gt_boxes.to(proposals)
    if gt_ignore is None:
        gt_ignore = torch.zeros(gt_boxes.shape[0], dtype=torch.bool, device=gt_boxes.device)
    rois = torch.cat([proposals, gt_boxes[~gt_ignore]]) if append_gt else proposals
    labels, matched = matcher(rois, gt_boxes, gt_ignore)
    matched_boxes = torch.zeros_like(rois)
    pos = matched >= 0
    matched_boxes[pos] = gt_boxes[matched[pos]]
    return rois, labels, matched_boxes


def select_proposals(boxes: torch.Tensor, scores: torch.Tensor, num_proposals: int = 2000,
                     nms_thresh: float = 0.7, grouped: bool = False,
                     scales: tuple[int, ...] = REFERENCE_SCALES) -> torch.Tensor:
    """NMS, then the top-scored proposals of one image, as indices into ``boxes``.

    boxes: (A, 4) decoded first-stage boxes, scores: (A,) face probabilities -> (K,) int64, best first
    (within each group when grouped). grouped=False: the usual global top ``num_proposals``.
    grouped=True: NMS within each reference-scale group (eq. 4) and the top ``num_proposals // len(scales)``
    of every group, so small faces keep their share however low they score.
    """
    if not grouped:
        keep = nms(boxes, scores, nms_thresh)
        return keep[:num_proposals]
    groups = reference_scale(boxes, scales)
    keep = batched_nms(boxes, scores, groups, nms_thresh)  # sorted by decreasing score
    per_group = num_proposals // len(scales)
    return torch.cat([keep[groups[keep] == g][:per_group] for g in range(len(scales))])


def fast_rcnn_loss(head: FastRCNNHead, feature_map: torch.Tensor, stride: float, proposals: torch.Tensor,
                   gt_boxes: torch.Tensor, gt_ignore: torch.Tensor | None = None,
                   generator: torch.Generator | None = None, *, sampler: Sampler,
                   scales: tuple[int, ...] = REFERENCE_SCALES, reg_loss=ls_iou_loss, eta: float = 1.0,
                   append_gt: bool = True,
                   matcher: TwoPassMatcher | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The second stage's loss for ONE image.

    feature_map: (C, h, w) or (1, C, h, w), the detection map (P2 of FPN-finest) at ``stride`` pixels.
    proposals: (R, 4) x1y1x2y2 first-stage boxes (after NMS, detached); gt_boxes: (M, 4); gt_ignore: (M,).
    generator: a ``torch.Generator`` on the labels' device, for the random draws.
    sampler: a :mod:`gslib.sampling` sampler over the RoIs, their reference-scale groups (eq. 4) its groups:
        ``RandomSampler(ROIS_PER_IMAGE)`` (Fast R-CNN), ``GroupSampler(ROIS_PER_IMAGE // 4)`` (Grouped Fast
        R-CNN), ``OHEMSampler``, ``FocalStarSampler`` (Table 13's "+OHEM", "+Focal Loss").
    scales: the reference scales R of eq. 4. reg_loss: ``ls_iou_loss`` (eq. 5) or ``smooth_l1_loss``.
    eta: eq. 2's regression weight. append_gt, matcher: see :func:`assign_targets`.

    Only the sampled RoIs go through the head with gradient (a sampler that ranks by the loss, OHEM, first
    scores every RoI without it). Eq. 2 is normalised per reference-scale group when ``sampler.per_group``
    (GS) and over the whole image otherwise, with ``sampler.classification_loss``.
    Returns the scalar loss and ``{"cls", "reg", "num_pos", "num_neg"}`` (detached).
    """
    if feature_map.dim() == 3:
        feature_map = feature_map[None]
    proposals = proposals.detach()  # no gradient into the first stage's boxes (Fast R-CNN's approximation)
    rois, labels, matched_boxes = assign_targets(proposals, gt_boxes, gt_ignore, matcher, append_gt)
    groups = reference_scale(rois, scales)
    num_groups = len(scales)

    logits_all = None
    if sampler.needs_logits:
        with torch.no_grad():  # hard mining's read-only pass over every RoI
            logits_all, _ = head(feature_map, [rois], stride)
    samples = sampler(labels, groups, num_groups, logits_all, generator, rois)

    # Re-index the drawn RoIs as 0..P+Q-1 so the head runs on them only.
    idx = samples.indices
    num_pos = samples.pos.numel()
    logits, deltas = head(feature_map, [rois[idx]], stride)
    local = Samples(torch.arange(num_pos, device=idx.device), torch.arange(num_pos, idx.numel(), device=idx.device))
    loss, parts = detection_loss(logits, deltas, rois[idx], labels[idx], matched_boxes[idx], local,
                                 groups[idx] if sampler.per_group else None, num_groups,
                                 cls_loss=sampler.classification_loss, reg_loss=reg_loss, eta=eta)
    parts["num_pos"] = torch.tensor(num_pos)
    parts["num_neg"] = torch.tensor(samples.neg.numel())
    return loss, parts


def ensemble_scores(first: torch.Tensor, second: torch.Tensor, weight: float = 0.5) -> torch.Tensor:
    """Sec. 6.3's final score: ``weight * first + (1 - weight) * second``; 0.5 = the mean of the two face
    probabilities (the paper "simply ensemble[s]" them without a formula; the mean is our reading).
    first, second: (R,) probabilities in [0, 1] -> (R,)."""
    return weight * first + (1.0 - weight) * second


@torch.no_grad()
def second_stage_detections(head: FastRCNNHead, feature_map: torch.Tensor, proposals,
                            stride: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Inference of the second stage alone on the first stage's proposals.

    feature_map: (B, C, h, w) (or (C, h, w) for one image); proposals: a list of B (R_i, 4) x1y1x2y2 or
    an (R, 5) tensor with the batch index. Returns ``boxes (R, 4)`` (the proposals refined by eq. 13) and the
    second stage's face probabilities ``(R,)``, in proposal order (split them with the R_i)."""
    if feature_map.dim() == 3:
        feature_map = feature_map[None]
    rois = _as_rois(proposals).to(feature_map)
    logits, deltas = head(feature_map, rois, stride)
    return decode(deltas, rois[:, 1:]), torch.softmax(logits, dim=1)[:, 1]


@torch.no_grad()
def refine(head: FastRCNNHead, feature_map: torch.Tensor, proposals, first_stage_scores: torch.Tensor,
           stride: float, weight: float = 0.5) -> tuple[torch.Tensor, torch.Tensor]:
    """Inference: the second stage on the first stage's proposals (:func:`second_stage_detections`), scored
    by the ensemble of the two stages (:func:`ensemble_scores`).

    feature_map, proposals: as :func:`second_stage_detections`; first_stage_scores: (R,) face probabilities of
    the proposals, in the same (concatenated) order; weight: the first stage's share in :func:`ensemble_scores`.
    Returns ``boxes (R, 4)`` (the proposals refined by eq. 13) and ``scores (R,)``, in proposal order.
    No NMS here: the caller runs it on the refined boxes.
    """
    boxes, second = second_stage_detections(head, feature_map, proposals, stride)
    return boxes, ensemble_scores(first_stage_scores.to(second), second, weight)


class TwoStageDetector(nn.Module):
    """A first stage (:class:`gslib.model.Detector`) and a :class:`FastRCNNHead` on its finest map.

    first: the detector; its ``layout`` is this detector's. second: the head; it reads the finest map the
    layout uses (P2 for FPN-finest-sampling, Table 13's first stage) at that map's stride.
    grouped: Grouped Fast R-CNN (NMS and top K per reference-scale group, eq. 4) or Fast R-CNN (global) at
    test time (:mod:`gslib.inference`); in training the proposals follow the sampler (:func:`second_stage_loss`).
    num_proposals: K, proposals per image (per pyramid scale at test) after NMS :data:`PROPOSAL_NMS`.

    ``forward(images (B, 3, H, W))`` returns the first stage's ``logits (B, A, 2)`` and ``deltas (B, A, 4)``,
    and the map the second stage reads, ``(B, C, h, w)``.
    """

    def __init__(self, first: nn.Module, second: FastRCNNHead, grouped: bool, num_proposals: int):
        super().__init__()
        self.first, self.second = first, second
        self.grouped, self.num_proposals = grouped, num_proposals
        self.feature = min(first.level_features, key=lambda name: int(name[1:]))
        self.stride = 2 ** int(self.feature[1:])

    @property
    def layout(self):
        return self.first.layout

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        features = self.first.features(images)
        logits, deltas = self.first.head_outputs(features, images.shape[-2:])
        return logits, deltas, features[self.feature]


@torch.no_grad()
def first_stage_boxes(logits: torch.Tensor, deltas: torch.Tensor, anchors: torch.Tensor, size: tuple[int, int],
                      top_k: int, grouped: bool = False,
                      scales: tuple[int, ...] = REFERENCE_SCALES) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One image's best first-stage boxes: the ``top_k`` anchors by face probability, decoded (eq. 13),
    clipped to the image, those of positive width and height. ``grouped``: the best ``top_k // len(scales)``
    of every reference-scale group of the decoded boxes (eq. 4) instead, so that a global cut made before
    Grouped Fast R-CNN's grouped NMS cannot starve the small proposals (Sec. 4.2).

    logits: (A, 2), deltas: (A, 4), anchors: (A, 4) in the same order; size: (height, width).
    Returns ``boxes (K, 4)``, ``scores (K,)`` (face probabilities; best first, within each group when
    grouped) and ``index (K,)`` into A.
    """
    h, w = size
    # Ranked by the logit margin, whose sigmoid is the 2-way softmax's face probability: only the kept
    # anchors' probabilities are computed (the softmax over every anchor was 15% of the test time).
    margin = logits[:, 1].float() - logits[:, 0].float()
    if grouped:
        groups = reference_scale(decode(deltas.float(), anchors), scales)
        index = torch.cat([members[margin[members].topk(min(top_k // len(scales), members.numel())).indices]
                           for members in (torch.nonzero(groups == g).squeeze(1) for g in range(len(scales)))])
    else:
        index = margin.topk(min(top_k, margin.numel())).indices
    scores = torch.sigmoid(margin[index])
    boxes = decode(deltas[index].float(), anchors[index])
    boxes[:, 0::2] = boxes[:, 0::2].clamp(0, w)
    boxes[:, 1::2] = boxes[:, 1::2].clamp(0, h)
    ok = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
    return boxes[ok], scores[ok], index[ok]


def second_stage_loss(detector: TwoStageDetector, feature_map: torch.Tensor, logits: torch.Tensor,
                      deltas: torch.Tensor, anchors: torch.Tensor, size: tuple[int, int], gt_boxes: torch.Tensor,
                      gt_ignore: torch.Tensor, generator: torch.Generator, *, sampler: Sampler,
                      reg_loss, matcher: TwoPassMatcher) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Training of the second stage on ONE image of a batch, after its first stage.

    The proposals are the first stage's boxes (:func:`first_stage_boxes`, :data:`TRAIN_PRE_NMS_TOP_K`; no
    gradient), then :func:`select_proposals` (``detector.num_proposals``); both per reference-scale group
    when ``sampler.per_group`` (Grouped Fast R-CNN, which :func:`gslib.build.build_detector` also gives
    ``detector.grouped``, the same grouping at test time). The loss is :func:`fast_rcnn_loss` with ``sampler``.
    feature_map: (C, h, w); logits, deltas, anchors: (A, .) in the same order; size: (height, width).
    Returns the loss and its parts.
    """
    grouped = sampler.per_group
    boxes, scores, _ = first_stage_boxes(logits, deltas, anchors, size, TRAIN_PRE_NMS_TOP_K, grouped)
    keep = select_proposals(boxes, scores, detector.num_proposals, PROPOSAL_NMS, grouped)
    return fast_rcnn_loss(detector.second, feature_map.float(), detector.stride, boxes[keep], gt_boxes, gt_ignore,
                          generator, sampler=sampler, reg_loss=reg_loss, matcher=matcher)
