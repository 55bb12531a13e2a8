"""Per-stage evaluation of a two-stage run (gslib.stages): the ensemble is the run's own evaluation, each stage
is scored by the official protocol from one pass, stored once and read back."""
import json
import shutil

import pytest
import torch

from gslib import stages as stages_module
from gslib.experiments import SMOKE, TABLE13, experiment, run_dir
from gslib.stages import CUTS, STAGES_FILE, SWAPPED_FILE, by_test_cut, stage_evaluation, swapped_selection
from gslib.study import evaluated_run

torch.set_num_threads(1)  # tiny convolutions: a second thread only waits for a core the machine may not have


def test_the_stages_of_a_smoke_two_stage_run(tmp_path, monkeypatch):
    run, evaluation = evaluated_run(TABLE13["+GS"], SMOKE, progress=False, runs=tmp_path)
    # The evaluation's pass wrote the stages alone too: they are evaluated without detecting again.
    for stage in ("first", "second"):
        assert (run / "predictions" / "stages" / stage / "final").is_dir()

    def no_second_pass(*args, **kwargs):
        raise AssertionError("detected again")
    with monkeypatch.context() as m:
        m.setattr(stages_module, "predict_stages", no_second_pass)
        stages = stage_evaluation(run, SMOKE)
    assert set(stages["ap"]) == {"output", "first", "second"}
    assert stages["ap"]["output"] == evaluation["ap"]  # the same detections as evaluation.json's
    assert set(stages["ap"]["first"]) == set(evaluation["ap"])
    assert all(0.0 <= v <= 1.0 for aps in stages["ap"].values() for v in aps.values())
    assert stages["images"] == evaluation["images"]
    assert stages["inference_seconds"] == evaluation["inference_seconds"]  # one pass for both
    stamp = (run / STAGES_FILE).stat().st_mtime_ns
    assert stage_evaluation(run, SMOKE) == stages and (run / STAGES_FILE).stat().st_mtime_ns == stamp
    assert json.loads((run / STAGES_FILE).read_text()) == stages
    # Without those predictions (a run evaluated before, or its predictions deleted) it detects again, in a pass
    # of its own: the same APs for every stage.
    shutil.rmtree(run / "predictions")
    (run / STAGES_FILE).unlink()
    again = stage_evaluation(run, SMOKE)
    assert again["ap"] == stages["ap"] and again["inference_seconds"] > 0
    for stage in ("output", "first", "second"):
        assert (run / "predictions" / "stages" / stage / "final").is_dir()


def test_a_one_stage_run_has_no_stages_to_split(tmp_path):
    d = run_dir(experiment("FPN-finest-sampling"), SMOKE, tmp_path)
    d.mkdir(parents=True)
    (d / "config.json").write_text(json.dumps({"experiment": experiment("FPN-finest-sampling").__dict__,
                                               "profile": SMOKE.__dict__}))
    with pytest.raises(ValueError, match="FPN-finest-sampling has no second stage"):
        stage_evaluation(d, SMOKE)


def test_the_other_proposal_cut_at_test_is_the_only_difference(tmp_path, monkeypatch):
    run, evaluation = evaluated_run(TABLE13["+GS"], SMOKE, progress=False, runs=tmp_path)
    swapped = swapped_selection(run, SMOKE)
    # Grouped Fast R-CNN tested with the global top K; stored once and read back.
    assert swapped["grouped"] is False and set(swapped["ap"]) == set(evaluation["ap"])
    assert swapped["images"] == evaluation["images"] and swapped["cpu_threads"] == 1
    stamp = (run / SWAPPED_FILE).stat().st_mtime_ns
    assert swapped_selection(run, SMOKE) == swapped and (run / SWAPPED_FILE).stat().st_mtime_ns == stamp
    # Swapping a detector that was swapped already gives back its own cut, and then exactly its evaluation's APs.
    (run / SWAPPED_FILE).unlink()
    load = stages_module.load_trained

    def swapped_already(*args):
        detector = load(*args)
        detector.grouped = not detector.grouped
        return detector
    monkeypatch.setattr(stages_module, "load_trained", swapped_already)
    back = swapped_selection(run, SMOKE)
    assert back["grouped"] is True and back["ap"] == evaluation["ap"]
    monkeypatch.undo()
    # A row's evaluations by test cut: its own is its evaluation.json, the other its proposal_selection.json.
    (run / SWAPPED_FILE).unlink()
    cuts = by_test_cut([(run, evaluation)], SMOKE)
    assert cuts == {CUTS[True]: [evaluation], CUTS[False]: [{**evaluation, "ap": swapped["ap"]}]}
    with pytest.raises(ValueError, match="no second stage"):
        swapped_selection(evaluated_run(experiment("FPN-finest-sampling"), SMOKE, progress=False, runs=tmp_path)[0],
                          SMOKE)
