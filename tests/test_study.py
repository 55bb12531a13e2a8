"""A notebook's request end to end on the smoke profile: train, detect, evaluate, store, reuse."""
import json

import numpy as np

from gslib.experiments import SMOKE, experiment
from gslib.stats import ap_from_counts
from gslib.study import counts, evaluated_run, seed_table


def test_evaluated_run_is_stored_and_reused(tmp_path):
    run, first = evaluated_run(experiment("FPN-finest-sampling"), SMOKE, progress=False, runs=tmp_path)
    assert set(first["ap"]) >= {"easy", "medium", "hard", "all", "@16", "@32", "@64", "@128"}
    assert all(0.0 <= v <= 1.0 for v in first["ap"].values())
    assert (run / "predictions" / "final").is_dir() and (run / "predictions" / "by_scale").is_dir()
    stamp = (run / "evaluation.json").stat().st_mtime_ns
    _, again = evaluated_run(experiment("FPN-finest-sampling"), SMOKE, progress=False, runs=tmp_path)
    assert again == first and (run / "evaluation.json").stat().st_mtime_ns == stamp
    tp, proposals, faces = counts(run, "all")
    assert np.isclose(ap_from_counts(tp.sum(0), proposals.sum(0), faces.sum()), first["ap"]["all"])
    table = seed_table({"GS": [first, again]})
    assert table.loc[0, "seeds"] == 2 and np.isclose(table.loc[0, "all"], first["ap"]["all"])
    assert json.loads((run / "evaluation.json").read_text())["images"] == first["images"]
