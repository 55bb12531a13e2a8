"""From an experiment's strings to gslib's objects: the one place where they are read.

- :func:`build_layout`: ``Experiment.layout`` (and ``feature``, ``stride``, ``scales``, ``ratios``) -> the
  anchors of Fig. 1 (:mod:`gslib.anchors`), or RetinaFace's (:mod:`gslib.retinaface`, Table 6);
- :func:`build_samplers`: ``Experiment.sampler`` (and ``second_stage``, ``rcnn_mining``) -> the sampler
  objects of :mod:`gslib.sampling`; the engine (:mod:`gslib.train`, :mod:`gslib.fast_rcnn`) and the
  benchmarks are given those objects and compare no sampling name;
- :func:`build_detector`: ``(Experiment, Profile)`` -> the detector (:mod:`gslib.model`, with
  :mod:`gslib.fast_rcnn`'s second stage), its trunk's weights from the profile (:mod:`gslib.pretrain`); or
  RetinaFace-mnet0.25 (:class:`gslib.retinaface.RetinaFace`) for the ``retinaface`` layout.

Modules import each other in one order: :mod:`gslib.store` (no gslib import) <- :mod:`gslib.experiments`
(configs) <- the pieces (anchors, model, sampling, fast_rcnn, pretrain, retinaface) <- this module <- :mod:`gslib.train`
<- :mod:`gslib.study`.
"""
from __future__ import annotations

from gslib import anchors
from gslib.experiments import Experiment, Profile
from gslib.fast_rcnn import REFERENCE_SCALES, ROIS_PER_IMAGE, FastRCNNHead, TwoStageDetector
from gslib.model import Detector
from gslib.pretrain import pretrained_trunk
from gslib.retinaface import HardNegativeSampler, RetinaFace, retinaface_layout
from gslib.sampling import FocalStarSampler, GroupSampler, OHEMSampler, RandomSampler, Sampler, WRSSampler


def build_layout(config: Experiment) -> anchors.AnchorLayout:
    """The anchors of ``config`` (Fig. 1), from :mod:`gslib.anchors`; RetinaFace's own for its layout, whose
    sides ``config.scales`` must name (they are the experiment's sub-detectors, "@16" .. "@512")."""
    s, r = config.scales, config.ratios
    if config.layout == "retinaface":
        layout = retinaface_layout()
        if (tuple(s), tuple(r)) != (layout.group_scales, (1.0,)):
            raise ValueError(f"{config.name}: RetinaFace's anchors have sides {layout.group_scales} and ratio 1; the "
                             f"experiment says scales {s}, ratios {r}")
        return layout
    if config.layout == "rpn":
        return anchors.rpn(s, r)
    if config.layout == "fpn":
        return anchors.fpn(s, r)
    if config.layout == "fpn_finest":
        return anchors.fpn_finest(s, r)
    if config.layout == "fpn_finest_stride":
        return anchors.fpn_finest_stride(s, r)
    return anchors.fpn_single(config.feature, config.stride, s, r)


# Experiment.sampler -> (the hard-mining method, "" for none; whether it is combined with GS).
FIRST_STAGE = {"RS": ("", False), "GS": ("", True), "OHEM": ("OHEM", False), "WRS": ("WRS", False),
               "Focal*": ("Focal*", False), "GS+OHEM": ("OHEM", True), "GS+WRS": ("WRS", True),
               "GS+Focal*": ("Focal*", True), "HNM": ("HNM", False)}


def _sampler(mining: str, per_group: bool, num: int, positive_fraction: float = 0.25, alpha: float = 0.25,
                 gamma: float = 2.0, ohem_nms: float = 0.0) -> Sampler:
    """The sampler of hard-mining ``mining`` ("", "OHEM", "WRS", "Focal*", "HNM"), alone or with GS
    (``per_group``; not HNM).

    num: RS and WRS: per image; GS, GS+WRS, GS+OHEM: per group; OHEM: B; GS+Focal*: drawn per group before
    the focal weights; Focal*, HNM: unused. alpha, gamma: Focal*'s. ohem_nms: OHEM's NMS IoU (0: none).
    HNM: every positive and ``(1 - positive_fraction) / positive_fraction`` hardest negatives per positive
    (RetinaFace's 3 at 0.25).
    """
    if mining == "":
        return GroupSampler(num, positive_fraction) if per_group else RandomSampler(num, positive_fraction)
    if mining == "OHEM":
        return OHEMSampler(num, positive_fraction, per_group=per_group, nms_threshold=ohem_nms)
    if mining == "WRS":
        return WRSSampler(num, positive_fraction, per_group=per_group)
    if mining == "Focal*":
        return FocalStarSampler(alpha, gamma, per_group=per_group, num_per_group=num,
                                positive_fraction=positive_fraction)
    if mining == "HNM" and not per_group:
        return HardNegativeSampler(round((1 - positive_fraction) / positive_fraction))
    raise ValueError(f"unknown hard mining {mining!r}")


def build_samplers(config: Experiment, rcnn_rois: int = ROIS_PER_IMAGE) -> tuple[Sampler, Sampler | None]:
    """The first stage's sampler (``config.sampler``, ``num_samples``, ``positive_fraction``, Focal*'s
    ``focal_alpha``, ``focal_gamma``, OHEM's ``ohem_nms``) and the second stage's, None without one.

    The second stage (:mod:`gslib.fast_rcnn`) samples ``rcnn_rois`` RoIs per image (the profile's
    ``rcnn_rois``; Fast R-CNN's :data:`~gslib.fast_rcnn.ROIS_PER_IMAGE` by default) at 1:3 (``second_stage="RS"``),
    or a quarter of them per reference-scale group of eq. 4 (``"GS"``, Grouped Fast R-CNN), with ``rcnn_mining``
    OHEM (B = those counts; its NMS among the RoIs: ``rcnn_ohem_nms``) or Focal* (RetinaNet's alpha 0.25, gamma 2:
    the experiment's ``focal_*`` fields are the first stage's).
    """
    mining, per_group = FIRST_STAGE[config.sampler]
    first = _sampler(mining, per_group, config.num_samples, config.positive_fraction, config.focal_alpha,
                         config.focal_gamma, config.ohem_nms)
    if not config.second_stage:
        return first, None
    grouped = config.second_stage == "GS"
    second = _sampler(config.rcnn_mining, grouped, rcnn_rois // len(REFERENCE_SCALES) if grouped else rcnn_rois,
                      ohem_nms=config.rcnn_ohem_nms)
    return first, second


def build_detector(config: Experiment, profile: Profile, initial_weights: bool = True):
    """The detector of ``(config, profile)`` (:class:`gslib.model.Detector`, or
    :class:`gslib.fast_rcnn.TwoStageDetector` when ``config`` has a second stage): the one place a config becomes
    a model. Its ``layout`` is :func:`build_layout`'s; the trunk, width and weights are the profile's: the
    ImageNet file ``profile.pretrained``, or the trunk :mod:`gslib.pretrain` stores (pre-training it when
    missing). ``initial_weights=False`` skips them (a checkpoint will be loaded over the model). The second
    stage groups its proposals at test time as its sampler (:func:`build_samplers`) groups in training.

    The ``retinaface`` layout is :class:`gslib.retinaface.RetinaFace` whole, initialised from scratch (seeded by
    the caller, as every detector's new layers): no ImageNet MobileNetV1-0.25 exists here and
    :mod:`gslib.pretrain` pre-trains ResNet trunks only, so a profile that names trunk weights is refused."""
    if config.layout == "retinaface":
        if profile.pretrained:
            raise ValueError(f"{config.name}: the profile's trunk weights {profile.pretrained} are a "
                             f"{profile.backbone}'s; RetinaFace-mnet0.25 has a MobileNetV1-0.25 body and trains from "
                             "scratch")
        return RetinaFace()
    pretrained = profile.pretrained if initial_weights else None
    if initial_weights and profile.pretrain_iterations > 0:
        pretrained = pretrained_trunk(profile)
    detector = Detector(build_layout(config), backbone=profile.backbone, top_down=config.top_down,
                        dilated_head=config.dilated_head, channels=profile.channels,
                        head_channels=profile.head_channels, width_divisor=profile.width_divisor,
                        pretrained=pretrained, frozen_bn=profile.frozen_bn)
    _, second = build_samplers(config, profile.rcnn_rois)
    if second is None:
        return detector
    return TwoStageDetector(detector, FastRCNNHead(profile.channels, profile.rcnn_hidden),
                            grouped=second.per_group, num_proposals=profile.rcnn_proposals)
