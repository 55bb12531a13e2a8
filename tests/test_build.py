"""The builder: each experiment's sampler names become the sampler objects of gslib.sampling."""
import dataclasses

import pytest

from gslib.build import build_samplers
from gslib.experiments import DEFAULT, SAMPLERS, SMOKE, TABLE3, TABLE13, experiment
from gslib.fast_rcnn import ROIS_PER_IMAGE
from gslib.sampling import FocalStarSampler, GroupSampler, OHEMSampler, RandomSampler, WRSSampler

# Experiment.sampler -> (class, per_group)
EXPECTED = {"RS": (RandomSampler, False), "GS": (GroupSampler, True), "OHEM": (OHEMSampler, False),
            "WRS": (WRSSampler, False), "Focal*": (FocalStarSampler, False), "GS+OHEM": (OHEMSampler, True),
            "GS+WRS": (WRSSampler, True), "GS+Focal*": (FocalStarSampler, True)}


@pytest.mark.parametrize("name", SAMPLERS)
def test_every_first_stage_sampler(name):
    config = experiment("FPN", sampler=name, num_samples=96, positive_fraction=0.5, focal_alpha=0.4,
                        focal_gamma=1.5)
    first, second = build_samplers(config)
    cls, per_group = EXPECTED[name]
    assert type(first) is cls and first.per_group == per_group and second is None
    assert first.positive_fraction == 0.5
    num = {RandomSampler: "num_samples", WRSSampler: "num_samples", GroupSampler: "num_per_group",
           OHEMSampler: "batch", FocalStarSampler: "num_per_group"}[cls]
    assert getattr(first, num) == 96
    if cls is FocalStarSampler:
        assert (first.alpha, first.gamma) == (0.4, 1.5)


def test_ohem_nms_reaches_the_first_stage_sampler_only():
    first, _ = build_samplers(experiment("FPN", sampler="GS+OHEM", ohem_nms=0.7))
    assert type(first) is OHEMSampler and first.per_group and first.nms_threshold == 0.7
    assert build_samplers(experiment("FPN", sampler="OHEM"))[0].nms_threshold == 0.0
    _, second = build_samplers(TABLE13["+OHEM"])
    assert type(second) is OHEMSampler and second.nms_threshold == 0.7  # as the OHEM paper's Fast R-CNN
    assert build_samplers(dataclasses.replace(TABLE13["+OHEM"], rcnn_ohem_nms=0.0))[1].nms_threshold == 0.0
    with pytest.raises(ValueError, match=r"rcnn_ohem_nms must lie in \[0, 1\) and needs rcnn_mining OHEM"):
        dataclasses.replace(TABLE13["+GS"], rcnn_ohem_nms=0.7)


def test_table3_samplers():
    assert type(build_samplers(TABLE3["FPN-finest"])[0]) is RandomSampler
    gs, _ = build_samplers(TABLE3["FPN-finest-sampling"])
    assert type(gs) is GroupSampler and gs.num_per_group == 256
    wrs, _ = build_samplers(TABLE3["FPN-finest-DC-WRS"])
    assert type(wrs) is WRSSampler and wrs.per_group and wrs.num_samples == 256


@pytest.mark.parametrize("row,cls,per_group,num", [
    ("+Fast R-CNN", RandomSampler, False, ROIS_PER_IMAGE), ("+IoU loss", RandomSampler, False, ROIS_PER_IMAGE),
    ("+OHEM", OHEMSampler, False, ROIS_PER_IMAGE), ("+Focal Loss", FocalStarSampler, False, None),
    ("+GS", GroupSampler, True, ROIS_PER_IMAGE // 4)])
def test_table13_second_stage_samplers(row, cls, per_group, num):
    first, second = build_samplers(TABLE13[row])
    assert type(first) is GroupSampler  # FPN-finest-sampling's
    assert type(second) is cls and second.per_group == per_group and second.positive_fraction == 0.25
    if num is not None:
        assert getattr(second, "batch", None) == num or getattr(second, "num_samples", None) == num \
            or getattr(second, "num_per_group", None) == num
    if cls is FocalStarSampler:  # RetinaNet's, whatever the first stage's Focal* fields say
        assert (second.alpha, second.gamma) == (0.25, 2.0)


def test_grouped_second_stage_with_hard_mining():
    ohem = dataclasses.replace(TABLE13["+GS"], rcnn_mining="OHEM")
    _, second = build_samplers(ohem)
    assert type(second) is OHEMSampler and second.per_group and second.batch == 128
    _, second = build_samplers(dataclasses.replace(TABLE13["+GS"], rcnn_mining="Focal*"))
    assert type(second) is FocalStarSampler and second.per_group and second.num_per_group == 128


@pytest.mark.parametrize("row,count", [("+IoU loss", 80), ("+OHEM", 80), ("+GS", 20)])
def test_the_profile_sets_the_second_stage_minibatch(row, count):
    """Regression: the default profile drew Fast R-CNN's 512 RoIs from its 300 proposals, so every sampler kept
    every RoI. Now its rcnn_rois (80: 512 of 2,000 in proportion) is what the second stage draws."""
    assert DEFAULT.rcnn_rois == 80 and DEFAULT.rcnn_rois < DEFAULT.rcnn_proposals
    assert SMOKE.rcnn_rois < SMOKE.rcnn_proposals
    _, second = build_samplers(TABLE13[row], DEFAULT.rcnn_rois)
    assert getattr(second, "batch", None) == count or getattr(second, "num_samples", None) == count \
        or getattr(second, "num_per_group", None) == count


@pytest.mark.parametrize("rois", [0, -4, 30])
def test_rcnn_rois_must_split_over_the_four_groups(rois):
    with pytest.raises(ValueError, match="rcnn_rois must be a positive multiple of 4"):
        dataclasses.replace(DEFAULT, rcnn_rois=rois)


def test_retinaface_is_built_whole_with_its_own_anchors_and_sampling():
    from gslib.build import build_detector, build_layout
    from gslib.experiments import SMOKE, TABLE6
    from gslib.retinaface import HardNegativeSampler, RetinaFace, retinaface_layout

    hnm, gs = TABLE6["RetinaFace"], TABLE6["RetinaFace-sampling"]
    assert build_layout(hnm) == retinaface_layout()
    sampler, second = build_samplers(hnm)
    assert type(sampler) is HardNegativeSampler and sampler.neg_pos_ratio == 3 and second is None
    assert build_samplers(dataclasses.replace(hnm, positive_fraction=0.5))[0].neg_pos_ratio == 1
    sampler, _ = build_samplers(gs)
    assert type(sampler) is GroupSampler and sampler.num_per_group == 256  # per side, over its 6 sides
    model = build_detector(gs, SMOKE)  # the smoke profile's trunk fields are not read: no pre-training
    assert type(model) is RetinaFace and model.layout.group_scales == gs.scales
    with pytest.raises(ValueError, match=r"RetinaFace's anchors have sides \(16, 32, 64, 128, 256, 512\)"):
        build_layout(dataclasses.replace(hnm, scales=(16, 32, 64, 128)))
    with pytest.raises(ValueError, match=r"trunk weights r50\.pth.*trains from scratch"):
        build_detector(hnm, dataclasses.replace(SMOKE, pretrained="r50.pth", pretrain_iterations=0))
