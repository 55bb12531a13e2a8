"""From an experiment's strings to gslib's objects: the one place where they are read.

:func:`build_samplers` turns ``Experiment.sampler`` (and ``second_stage``, ``rcnn_mining``) into the sampler
objects of :mod:`gslib.sampling`; the engine (:mod:`gslib.train`, :mod:`gslib.fast_rcnn`) and the benchmarks
are given those objects and compare no sampling name.
"""
from __future__ import annotations

from gslib.experiments import Experiment
from gslib.fast_rcnn import ROIS_PER_GROUP, ROIS_PER_IMAGE
from gslib.sampling import FocalStarSampler, GroupSampler, OHEMSampler, RandomSampler, Sampler, WRSSampler

# Experiment.sampler -> (the hard-mining method, "" for none; whether it is combined with GS).
FIRST_STAGE = {"RS": ("", False), "GS": ("", True), "OHEM": ("OHEM", False), "WRS": ("WRS", False),
               "Focal*": ("Focal*", False), "GS+OHEM": ("OHEM", True), "GS+WRS": ("WRS", True),
               "GS+Focal*": ("Focal*", True)}


def make_sampler(mining: str, per_group: bool, num: int, positive_fraction: float = 0.25, alpha: float = 0.25,
                 gamma: float = 2.0) -> Sampler:
    """The sampler of hard-mining ``mining`` ("", "OHEM", "WRS", "Focal*"), alone or with GS (``per_group``).

    num: RS and WRS: per image; GS, GS+WRS, GS+OHEM: per group; OHEM: B; GS+Focal*: drawn per group before
    the focal weights; Focal*: unused. alpha, gamma: Focal*'s.
    """
    if mining == "":
        return GroupSampler(num, positive_fraction) if per_group else RandomSampler(num, positive_fraction)
    if mining == "OHEM":
        return OHEMSampler(num, positive_fraction, per_group=per_group)
    if mining == "WRS":
        return WRSSampler(num, positive_fraction, per_group=per_group)
    if mining == "Focal*":
        return FocalStarSampler(alpha, gamma, per_group=per_group, num_per_group=num,
                                positive_fraction=positive_fraction)
    raise ValueError(f"unknown hard mining {mining!r}")


def build_samplers(config: Experiment) -> tuple[Sampler, Sampler | None]:
    """The first stage's sampler (``config.sampler``, ``num_samples``, ``positive_fraction``, Focal*'s
    ``focal_alpha``, ``focal_gamma``) and the second stage's, None without one.

    The second stage (:mod:`gslib.fast_rcnn`) samples RoIs: Fast R-CNN's :data:`~gslib.fast_rcnn.ROIS_PER_IMAGE`
    at 1:3 (``second_stage="RS"``) or :data:`~gslib.fast_rcnn.ROIS_PER_GROUP` per reference-scale group
    (``"GS"``, Grouped Fast R-CNN), with ``rcnn_mining`` OHEM or Focal* (RetinaNet's alpha 0.25, gamma 2: the
    experiment's ``focal_*`` fields are the first stage's).
    """
    mining, per_group = FIRST_STAGE[config.sampler]
    first = make_sampler(mining, per_group, config.num_samples, config.positive_fraction, config.focal_alpha,
                         config.focal_gamma)
    if not config.second_stage:
        return first, None
    grouped = config.second_stage == "GS"
    second = make_sampler(config.rcnn_mining, grouped, ROIS_PER_GROUP if grouped else ROIS_PER_IMAGE)
    return first, second
