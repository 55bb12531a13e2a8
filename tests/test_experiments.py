"""Experiment configs and profiles: stable hashes, Table 3's detectors, run directories."""
import dataclasses
import json
import subprocess
import sys

import pytest
import torch

from gslib import anchors
from gslib.build import build_layout
from gslib.experiments import (
    DEFAULT,
    PAPER,
    PROFILES,
    RETINAFACE_SCALES,
    SAMPLERS,
    SECOND_STAGE_EXPERIMENT_FIELDS,
    SECOND_STAGE_PROFILE_FIELDS,
    SMOKE,
    TABLE3,
    TABLE6,
    TABLE13,
    Experiment,
    Profile,
    digest,
    experiment,
    fpn_single,
    from_dict,
    read_config,
    run_dir,
    run_hash,
    variant,
    write_config,
)
from gslib.paths import REPO
from gslib.study import get_run
from gslib.train import matchers

HASH_SCRIPT = ("from gslib.experiments import experiment, PROFILES, digest; "
               "c = experiment('FPN-finest-sampling', seed=3); print(c.hash(), digest(c, PROFILES['paper']))")


def test_hash_is_the_same_in_another_process():
    config = experiment("FPN-finest-sampling", seed=3)
    out = subprocess.run([sys.executable, "-c", HASH_SCRIPT], capture_output=True, text=True, check=True,
                         env={"PYTHONHASHSEED": "123"}).stdout.split()
    assert out == [config.hash(), digest(config, PAPER)]
    assert len(config.hash()) == 12 and int(config.hash(), 16) >= 0


def _changed(value):
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value + 1
    if isinstance(value, tuple):
        return (*value, value[-1]) if value else (1,)
    if value is None:
        return "x"
    return value + "x"


def test_every_field_changes_the_hash():
    base = experiment("FPN-single-P3-s8")
    two_stage = dataclasses.replace(base, second_stage="GS")
    for field in dataclasses.fields(Experiment):
        value = getattr(base, field.name)
        if field.name in SECOND_STAGE_EXPERIMENT_FIELDS:
            base_of, changes = two_stage, {"second_stage": "RS", "rcnn_mining": "OHEM", "rcnn_reg_loss": "ls_iou"}
            changed = dataclasses.replace(two_stage, **{field.name: changes[field.name]})
            assert changed.hash() != base_of.hash(), field.name
            assert run_hash(changed, DEFAULT) != run_hash(base_of, DEFAULT), field.name
            continue
        if field.name == "layout":
            changed = dataclasses.replace(base, layout="fpn")
        elif field.name == "sampler":
            changed = dataclasses.replace(base, sampler="GS")
        elif field.name == "reg_loss":
            changed = dataclasses.replace(base, reg_loss="smooth_l1")
        elif field.name == "match_thresholds":
            changed = dataclasses.replace(base, match_thresholds=(0.5, 0.3))
        elif field.name == "ohem_nms":  # read by the OHEM samplers only
            ohem = dataclasses.replace(base, sampler="OHEM")
            changed = dataclasses.replace(ohem, ohem_nms=0.7)
            assert changed.hash() != ohem.hash() and run_hash(changed, DEFAULT) != run_hash(ohem, DEFAULT)
            continue
        elif field.name == "rcnn_ohem_nms":  # read by the second stage's OHEM only
            ohem = dataclasses.replace(two_stage, rcnn_mining="OHEM")
            changed = dataclasses.replace(ohem, rcnn_ohem_nms=0.7)
            assert changed.hash() != ohem.hash() and run_hash(changed, DEFAULT) != run_hash(ohem, DEFAULT)
            continue
        else:
            changed = dataclasses.replace(base, **{field.name: _changed(value)})
        assert changed.hash() != base.hash(), field.name
        assert run_hash(changed, DEFAULT) != run_hash(base, DEFAULT), field.name
    for field in dataclasses.fields(Profile):
        if field.name == "optimizer":
            changed = dataclasses.replace(DEFAULT, optimizer="sgd")
        elif field.name == "pretrained":  # a weights file replaces the pre-training
            changed = dataclasses.replace(DEFAULT, pretrained="weights.pth", pretrain_iterations=0)
        elif field.name == "precision":
            changed = dataclasses.replace(DEFAULT, precision="fp16" if DEFAULT.precision != "fp16" else "fp32")
        elif field.name == "rcnn_rois":  # a multiple of 4
            changed = dataclasses.replace(DEFAULT, rcnn_rois=DEFAULT.rcnn_rois + 4)
        else:
            changed = dataclasses.replace(DEFAULT, **{field.name: _changed(getattr(DEFAULT, field.name))})
        assert changed.hash() != DEFAULT.hash(), field.name
        assert run_hash(two_stage, changed) != run_hash(two_stage, DEFAULT), field.name
        # The second stage's settings do not name a run without one (adding them re-keyed no stored run).
        same = field.name in SECOND_STAGE_PROFILE_FIELDS
        assert (run_hash(base, changed) == run_hash(base, DEFAULT)) == same, field.name


def test_second_stage_fields_count_only_with_a_second_stage():
    base = experiment("FPN-finest-sampling", seed=2)
    # The hash of a one-stage run is what it was before the second stage's fields existed.
    old_fields = {k: v for k, v in dataclasses.asdict(base).items()
                  if k not in (*SECOND_STAGE_EXPERIMENT_FIELDS, "match_thresholds", "ohem_nms", "rcnn_ohem_nms")}
    old_profile = {k: v for k, v in dataclasses.asdict(DEFAULT).items() if k not in SECOND_STAGE_PROFILE_FIELDS}
    assert run_hash(base, DEFAULT) == digest(old_fields, old_profile)
    assert base.hash() == digest(old_fields)
    for row in ("+Fast R-CNN", "+IoU loss", "+OHEM", "+Focal Loss", "+GS"):
        assert run_hash(TABLE13[row], DEFAULT) != run_hash(base, DEFAULT)
    assert len({c.hash() for c in TABLE13.values()}) == len(TABLE13)
    assert experiment("FPN-finest-sampling+Grouped-Fast-R-CNN", seed=3) == dataclasses.replace(TABLE13["+GS"], seed=3)
    assert TABLE13["+GS"].second_stage == "GS" and TABLE13["+Fast R-CNN"].rcnn_reg_loss == "smooth_l1"
    assert [TABLE13[r].rcnn_mining for r in ("+IoU loss", "+OHEM", "+Focal Loss")] == ["", "OHEM", "Focal*"]
    with pytest.raises(ValueError, match="second_stage"):
        dataclasses.replace(base, second_stage="Cascade")
    with pytest.raises(ValueError, match="need a second_stage"):
        dataclasses.replace(base, rcnn_mining="OHEM")


def test_table3_detectors():
    assert list(TABLE3) == ["RPN", "FPN-finest", "FPN-finest-DC", "FPN", "FPN-finest-stride", "FPN-finest-sampling",
                            "FPN-finest-stride-sampling", "FPN-finest-DC-sampling", "FPN-finest-DC-WRS"]
    assert build_layout(TABLE3["RPN"]) == anchors.rpn() and not TABLE3["RPN"].top_down
    assert build_layout(TABLE3["FPN"]) == anchors.fpn()
    assert build_layout(TABLE3["FPN-finest-stride-sampling"]) == anchors.fpn_finest_stride()
    assert build_layout(TABLE3["FPN-finest-DC-WRS"]).levels == anchors.fpn_finest().levels
    assert TABLE3["FPN-finest-DC-WRS"].sampler == "GS+WRS" and TABLE3["FPN-finest-DC-WRS"].dilated_head
    assert TABLE3["FPN-finest-sampling"].sampler == "GS" and TABLE3["FPN-finest"].sampler == "RS"
    assert all(c.reg_loss == "ls_iou" and c.eta == 1.0 for c in TABLE3.values())
    assert len({c.hash() for c in TABLE3.values()}) == len(TABLE3)


def test_fpn_single_on_any_map_and_stride():
    c = fpn_single("P3", 16)
    assert c.name == "FPN-single-P3-s16" and build_layout(c) == anchors.fpn_single("P3", 16)
    assert experiment("FPN-single-P4-s16", seed=2) == dataclasses.replace(fpn_single("P4", 16), seed=2)
    with pytest.raises(ValueError):
        fpn_single("P3", 12)
    with pytest.raises(KeyError):
        experiment("FPN-coarsest")
    with pytest.raises(ValueError):
        dataclasses.replace(TABLE3["FPN"], sampler="GS+Magic")


def test_unknown_experiment_lists_each_name_once_without_quotes():
    with pytest.raises(KeyError) as info:  # callers catch KeyError
        experiment("FPN-coarsest")
    message = str(info.value)
    assert message.startswith("unknown experiment 'FPN-coarsest'; known: RPN, ")  # not "\"unknown ...\""
    assert message.endswith(", FPN-single-P<k>-s<stride>")
    names = message.removeprefix("unknown experiment 'FPN-coarsest'; known: ").split(", ")
    assert names.count("FPN-finest-sampling") == 1  # it is in TABLE3 and in TABLE13
    # every name of the three tables once (one is shared), and the FPN-single pattern
    assert len(names) == len(set(names)) == (len(TABLE3) + len(TABLE13) - 1 + len(TABLE6)) + 1
    assert "RetinaFace-sampling" in names


def test_paper_profile_states_section_5():
    p = PAPER
    assert (p.backbone, p.epochs, p.lr, p.lr_steps, p.lr_gamma) == ("resnet50", 100, 0.01, (60, 80), 0.1)
    assert (p.momentum, p.weight_decay, p.images_per_batch, p.max_side) == (0.9, 5e-5, 8, 1200)
    assert p.jitter_scales == tuple(0.25 * n for n in range(1, 9)) and p.flip
    assert (p.rpn_pos_thresh, p.rpn_neg_thresh, p.rcnn_pos_thresh, p.rcnn_neg_thresh) == (0.6, 0.4, 0.6, 0.5)
    assert (p.test_max_side, p.pre_nms_top_n, p.nms_thresh) == (3000, 50_000, 0.5)
    assert set(PROFILES) == {"smoke", "default", "paper"} and SMOKE.synth_profile == "smoke"


def test_config_round_trip_and_run_dir(tmp_path):
    config = experiment("FPN-finest-DC-WRS", seed=4)
    write_config(tmp_path, config, DEFAULT)
    assert read_config(tmp_path) == (config, DEFAULT)
    saved = json.loads((tmp_path / "config.json").read_text())
    assert from_dict(Experiment, saved["experiment"]) == config and saved["hash"] == run_hash(config, DEFAULT)
    d = run_dir(config, DEFAULT, tmp_path)
    assert d == tmp_path / f"FPN-finest-DC-WRS-{run_hash(config, DEFAULT)}"
    assert run_dir(config, SMOKE).parent.parent.name == "smoke"  # smoke runs never land in results/runs


def test_get_run_reuses_a_complete_run(tmp_path):
    config = experiment("FPN", seed=9)
    d = run_dir(config, SMOKE, tmp_path)
    d.mkdir(parents=True)
    (d / "metrics.json").write_text("{}")
    assert get_run(config, SMOKE, runs=tmp_path) == d  # returned without training (no data, no model needed)


def test_every_stored_run_keeps_its_directory():
    # A stored run whose settings no longer hash to its directory's name would be trained again.
    stored = [f.parent for f in sorted((REPO / "results" / "runs").glob("*/config.json"))
              if not f.parent.name.startswith("trunk-")]
    assert stored  # the default profile's 15 runs are committed
    for d in stored:
        assert d.name == f"{read_config(d)[0].name}-{run_hash(*read_config(d))}"


def test_variant_names_what_changed_and_never_renames_a_table3_detector():
    assert variant("FPN", sampler="OHEM") == dataclasses.replace(TABLE3["FPN"], name="FPN-OHEM", sampler="OHEM",
                                                                  num_samples=1024)
    assert variant("FPN", sampler="Focal*").name == "FPN-FocalStar"  # no glob character in a run directory
    assert variant("FPN-finest", sampler="GS+WRS").name == "FPN-finest-GS+WRS"
    assert variant("FPN-finest", sampler="GS+WRS").num_samples == 256  # the sampler's own N
    assert variant("FPN-finest", num_samples=2048).name == "FPN-finest-N2048"
    assert variant("FPN", sampler="OHEM", ohem_nms=0.7).name == "FPN-OHEM-NMS0.7"
    assert variant("FPN-finest", sampler="GS+OHEM", ohem_nms=0.5).name == "FPN-finest-GS+OHEM-NMS0.5"


def test_ohem_nms_is_named_in_the_hash_only_when_set():
    plain, with_nms = variant("FPN-finest", sampler="OHEM"), variant("FPN-finest", sampler="OHEM", ohem_nms=0.7)
    assert run_hash(plain, DEFAULT) == "735de0d1b5e4"  # the stored run's name, from before the field existed
    assert run_hash(dataclasses.replace(with_nms, name=plain.name), DEFAULT) != run_hash(plain, DEFAULT)
    for sampler in ("RS", "GS", "WRS", "Focal*", "GS+WRS"):
        with pytest.raises(ValueError, match="ohem_nms"):
            experiment("FPN", sampler=sampler, ohem_nms=0.7)
    for bad in (-0.1, 1.0):
        with pytest.raises(ValueError, match="ohem_nms"):
            experiment("FPN", sampler="OHEM", ohem_nms=bad)
    assert variant("FPN-finest-sampling", num_samples=512).name == "FPN-finest-sampling-N512"
    assert variant("FPN-finest", scales=(16,)).name == "FPN-finest-S16"
    assert variant("FPN-finest-sampling", reg_loss="smooth_l1").name == "FPN-finest-sampling-smooth_l1"
    # The same training under a Table 3 name is that detector (its stored runs are reused), at any seed.
    assert variant("FPN-finest", sampler="GS") == TABLE3["FPN-finest-sampling"]
    assert variant("FPN-finest-DC", sampler="GS+WRS", seed=2) == dataclasses.replace(TABLE3["FPN-finest-DC-WRS"],
                                                                                      seed=2)
    assert variant("FPN-finest-sampling", num_samples=256) == TABLE3["FPN-finest-sampling"]  # its default N
    assert variant("FPN-single-P3-s8", sampler="GS") == experiment("FPN-single-P3-s8").__class__(
        **{**dataclasses.asdict(experiment("FPN-single-P3-s8")), "name": "FPN-single-P3-s8-GS", "sampler": "GS",
           "num_samples": 256})
    with pytest.raises(ValueError, match=r"cannot name a change of \['dilated_head'\]"):
        variant("FPN-finest", dilated_head=True)


def test_single_maps_of_the_trunk_have_no_top_down_pathway():
    plain = experiment("FPN-single-C3-s8")
    assert not plain.top_down and experiment("FPN-single-P3-s8").top_down
    assert build_layout(plain) == anchors.fpn_single("C3", 8)
    assert anchors.FEATURE_STRIDES["C2"] == 4 and anchors.fpn_single("C2", 8).levels[0].subsample == 2


def test_match_thresholds_name_a_run_only_when_set():
    # Stored before the field existed (results/runs/RetinaFace-a6563f48f92e): an unset field keeps the names.
    assert run_hash(TABLE6["RetinaFace"], DEFAULT) == "a6563f48f92e"
    assert run_hash(experiment("FPN-finest", seed=0), DEFAULT) == "e76152f27f42"
    assert run_hash(TABLE6["RetinaFace-IoU35"], DEFAULT) != run_hash(
        dataclasses.replace(TABLE6["RetinaFace-IoU35"], match_thresholds=(0.35, 0.2)), DEFAULT)
    for bad in ((0.35,), (0.3, 0.5), (0.0, 0.0), (1.2, 0.4), (0.6, 0.4, 0.2)):
        with pytest.raises(ValueError, match="match_thresholds must be"):
            experiment("RetinaFace", match_thresholds=bad)


def test_a_detectors_own_thresholds_replace_the_profiles_first_stage_only():
    first, second = matchers(DEFAULT, TABLE6["RetinaFace-IoU35"])
    assert (first.pos_thresh, first.neg_thresh) == (0.35, 0.35)
    assert (second.pos_thresh, second.neg_thresh) == (DEFAULT.rcnn_pos_thresh, DEFAULT.rcnn_neg_thresh)
    for config in (None, TABLE6["RetinaFace"]):
        first, _ = matchers(DEFAULT, config)
        assert (first.pos_thresh, first.neg_thresh) == (0.6, 0.4)
    # lambda1 = lambda2: every anchor below 0.35 is a negative, none ignored, and no second pass.
    anchors_ = torch.tensor([[0.0, 0, 10, 10], [0, 0, 10, 6], [0, 0, 10, 3], [20, 20, 30, 30]])
    labels, matched = matchers(DEFAULT, TABLE6["RetinaFace-IoU35"])[0](anchors_, torch.tensor([[0.0, 0, 10, 10]]))
    assert labels.tolist() == [1, 1, 0, 0] and matched.tolist() == [0, 0, -1, -1]  # IoU 1, 0.6, 0.3, 0


def test_adding_table6_kept_the_hash_of_every_earlier_run():
    # The run hashes before the retinaface layout and the HNM sampler existed (computed then, written here):
    # stored runs are named by them, and one that changed would be trained again.
    assert run_hash(experiment("FPN-finest", seed=0), DEFAULT) == "e76152f27f42"
    assert run_hash(experiment("FPN-finest-sampling", seed=0), DEFAULT) == "03e3c532f213"
    assert run_hash(experiment("FPN-finest-sampling", seed=0), SMOKE) == "724817ea93cc"
    assert run_hash(experiment("RPN", seed=0), DEFAULT) == "71e9f7474ff1"
    assert run_hash(variant("FPN-finest", sampler="OHEM"), DEFAULT) == "735de0d1b5e4"
    # Table 13's two-stage runs were re-keyed on purpose on 2026-12-07 (the profile's rcnn_rois) and trained again.
    assert run_hash(TABLE13["+GS"], DEFAULT) != "2db67e8833cf"


def test_table6_retinaface_rows():
    hnm, gs = TABLE6["RetinaFace"], TABLE6["RetinaFace-sampling"]
    assert (hnm.layout, hnm.sampler, hnm.num_samples) == ("retinaface", "HNM", 0)
    assert (gs.layout, gs.sampler, gs.num_samples) == ("retinaface", "GS", 256)
    assert hnm.scales == gs.scales == RETINAFACE_SCALES == (16, 32, 64, 128, 256, 512)
    assert hnm.reg_loss == gs.reg_loss == "ls_iou"  # the study's regression loss, as every detector's
    assert experiment("RetinaFace-sampling", seed=2) == dataclasses.replace(gs, seed=2)
    assert variant("RetinaFace", sampler="GS", seed=1) == dataclasses.replace(gs, seed=1)  # never stored twice
    assert run_hash(hnm, DEFAULT) != run_hash(gs, DEFAULT)
    # The claim's pair: the same two with RetinaFace's own matching (IoU 0.35), nothing else changed.
    own, own_gs = TABLE6["RetinaFace-IoU35"], TABLE6["RetinaFace-IoU35-sampling"]
    assert own.match_thresholds == own_gs.match_thresholds == (0.35, 0.35) and hnm.match_thresholds == ()
    assert dataclasses.replace(own, name="RetinaFace", match_thresholds=()) == hnm
    assert dataclasses.replace(own_gs, name="RetinaFace-sampling", match_thresholds=()) == gs
    assert variant("RetinaFace-IoU35", sampler="GS", seed=1) == dataclasses.replace(own_gs, seed=1)
    assert "HNM" not in SAMPLERS  # notebook 05 compares SAMPLERS; HNM is RetinaFace's own
    with pytest.raises(ValueError, match="whole detector"):
        dataclasses.replace(hnm, second_stage="GS")
    with pytest.raises(ValueError, match="unknown sampler 'HNX'"):
        dataclasses.replace(hnm, sampler="HNX")
