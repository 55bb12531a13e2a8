"""A notebook's request end to end on the smoke profile: train, detect, evaluate, store, reuse."""
import json
import shutil

import numpy as np
import pandas as pd
import pytest
import torch

from gslib import inference, study
from gslib.experiments import SMOKE, experiment
from gslib.stats import ap_from_counts
from gslib.store import cpu_threads, default_device
from gslib.study import (
    EQUIVALENCE_MARGIN,
    SUBSETS,
    claim_verdict,
    compare,
    compare_columns,
    cost_verdict,
    counts,
    effect_sizes,
    effects_in_words,
    equivalence_verdict,
    evaluated_run,
    joint_verdict,
    mean_differences,
    migrate_counts,
    order_verdict,
    paired_gain,
    plot_by_stride,
    plot_curves,
    plot_differences,
    plot_gains,
    seed_table,
    slopes,
    small_not_large_verdict,
    trend_verdict,
    write_counts,
)


def test_evaluated_run_is_stored_and_reused(tmp_path):
    run, first = evaluated_run(experiment("FPN-finest-sampling"), SMOKE, progress=False, runs=tmp_path)
    assert set(first["ap"]) >= {"easy", "medium", "hard", "all", "@16", "@32", "@64", "@128"}
    assert all(0.0 <= v <= 1.0 for v in first["ap"].values())
    assert (run / "predictions" / "final").is_dir() and (run / "predictions" / "by_scale").is_dir()
    assert (run / "predictions" / "coco_results.json").is_file()
    assert (run / "diagnostics.json").is_file()  # while the predictions are here: they are not committed
    stamp = (run / "evaluation.json").stat().st_mtime_ns
    _, again = evaluated_run(experiment("FPN-finest-sampling"), SMOKE, progress=False, runs=tmp_path)
    assert again == first and (run / "evaluation.json").stat().st_mtime_ns == stamp
    assert (run / "counts.npz").is_file() and not list(run.glob("counts_*.npz"))
    tp, proposals, faces = counts(run, "all")
    assert np.isclose(ap_from_counts(tp.sum(0), proposals.sum(0), faces.sum()), first["ap"]["all"])
    table = seed_table({"GS": [first, again]})
    assert table.loc[0, "seeds"] == 2 and np.isclose(table.loc[0, "all"], first["ap"]["all"])
    assert first["train_threads"] == SMOKE.cpu_threads and table.loc[0, "train threads"] == str(SMOKE.cpu_threads)
    assert json.loads((run / "evaluation.json").read_text())["images"] == first["images"]


def _cumulative_counts(rng, images=50, thresholds=1000):
    """Per-image counts as the WIDER protocol gives them: cumulative over descending thresholds; each subset
    sees a share of "all"'s faces and proposals. -> {subset: (tp (I, T), proposals (I, T), faces (I,))}."""
    proposals = np.cumsum(rng.poisson(0.5, (images, thresholds)), axis=1)
    tp = np.cumsum(rng.random((images, thresholds)) < 0.01, axis=1)
    faces = tp[:, -1] + rng.integers(0, 300, images)
    out = {"all": (tp, proposals, faces)}
    for i, subset in enumerate(("easy", "medium", "hard")):
        lost = np.cumsum(rng.random((images, thresholds)) < 0.003 * (3 - i), axis=1)
        out[subset] = (np.maximum(tp - lost, 0), proposals - np.minimum(lost, proposals), faces // (3 - i))
    return out


def test_counts_are_stored_small_and_read_back_exactly(tmp_path):
    written = _cumulative_counts(np.random.default_rng(0))
    write_counts(tmp_path, written)
    assert [f.name for f in tmp_path.iterdir()] == ["counts.npz"]
    as_int64 = tmp_path / "plain.npz"
    np.savez_compressed(as_int64, **{f"{s}_{i}": a for s, arrays in written.items() for i, a in enumerate(arrays)})
    assert (tmp_path / "counts.npz").stat().st_size < as_int64.stat().st_size / 3
    for subset in SUBSETS:
        for want, got in zip(written[subset], counts(tmp_path, subset)):
            assert got.dtype == np.int64 and np.array_equal(want, got)


def test_migrate_counts_rewrites_the_old_files_as_one(tmp_path):
    run, other = tmp_path / "FPN-finest-abc", tmp_path / "trunk-def"
    run.mkdir()
    other.mkdir()
    written = _cumulative_counts(np.random.default_rng(1))
    for subset, (tp, proposals, faces) in written.items():
        np.savez_compressed(run / f"counts_{subset}.npz", tp=tp, proposals=proposals, faces=faces)
    assert migrate_counts(tmp_path) == [run]
    assert sorted(f.name for f in run.iterdir()) == ["counts.npz"]
    for subset in SUBSETS:
        assert all(np.array_equal(a, b) for a, b in zip(written[subset], counts(run, subset)))
    assert migrate_counts(tmp_path) == []  # nothing left to convert


def _fake_run(directory, tp_all, ap):
    """A run directory holding only what compare() reads: per-image counts of 'all' and its evaluation."""
    directory.mkdir()
    tp = np.asarray(tp_all, dtype=float)  # (images, thresholds)
    np.savez_compressed(directory / "counts_all.npz", tp=tp, proposals=np.full_like(tp, 4.0),
                        faces=np.full(len(tp), 4.0))
    return directory, {"ap": {"all": ap, "@16": ap / 2}}


def test_compare_pairs_runs_by_seed_and_gives_the_interval_over_seeds(tmp_path):
    # Two seeds; the method's runs detect more faces on every image than the baseline's.
    base = [_fake_run(tmp_path / f"a{s}", [[1, 2], [1, 1]], 0.30 + 0.01 * s) for s in range(2)]
    meth = [_fake_run(tmp_path / f"b{s}", [[2, 3], [2, 3]], 0.40 + 0.03 * s) for s in range(2)]
    table = compare(base, meth, "all", bootstrap=200)
    assert list(table["seed"]) == [0, 1, "mean"]
    assert np.allclose(table["difference"][:2].astype(float), [0.10, 0.12])
    assert table.loc[0, "low"] > 0 and table.loc[0, "p_method_better"] == 1.0  # every replicate favours it
    mean = table.iloc[2]
    assert np.isclose(mean["difference"], 0.11)
    # Student t with 1 degree of freedom: 12.706 * std / sqrt(2) = 12.706 * 0.01414 / 1.414 = 0.127.
    assert np.isclose(mean["high"] - mean["difference"], 12.706 * np.std([0.10, 0.12], ddof=1) / np.sqrt(2),
                      rtol=1e-3)
    # @S columns have no per-image counts: only the seed rows' APs and the interval.
    sub = compare(base, meth, "@16")
    assert "p_method_better" not in sub.columns or sub["p_method_better"].isna().all()
    with pytest.raises(ValueError, match="paired by seed"):
        compare(base, meth[:1])


def test_diagnostics_are_computed_once_and_stored(tmp_path):
    from gslib.study import diagnostics

    run, _ = evaluated_run(experiment("FPN-finest-sampling"), SMOKE, progress=False, runs=tmp_path)
    first = diagnostics(run, SMOKE)
    assert sum(row["faces"] for row in first["recall_by_size"]) > 0
    assert first["recall_by_size"][-1]["high"] is None  # the open last bin, JSON-safe
    kinds = first["false_positives"]
    assert kinds["hit"] + kinds["smaller"] + kinds["larger"] + kinds["background"] == pytest.approx(1.0)
    stamp = (run / "diagnostics.json").stat().st_mtime_ns
    assert diagnostics(run, SMOKE) == first and (run / "diagnostics.json").stat().st_mtime_ns == stamp


def test_diagnostics_of_a_record_without_predictions_detect_again_and_check_the_aps(tmp_path, capsys,
                                                                                      monkeypatch):
    """Regression: runs trained in one session and committed as records lost their predictions with the work
    tree, and notebook 03's diagnostics of them raised FileNotFoundError."""
    from gslib.study import PredictionsMismatchError, diagnostics

    run, _ = evaluated_run(experiment("FPN-finest-sampling"), SMOKE, progress=False, runs=tmp_path)
    stored = json.loads((run / "diagnostics.json").read_text())
    # As on a fresh clone: the committed record, neither predictions nor weights.
    shutil.rmtree(run / "predictions")
    (run / "checkpoint.pt").unlink()
    (run / "diagnostics.json").unlink()
    capsys.readouterr()
    recorded, seen, predict = json.loads((run / "evaluation.json").read_text())["cpu_threads"], [], study.predict_run
    monkeypatch.setattr(study, "predict_run", lambda *a, **k: seen.append(torch.get_num_threads()) or predict(*a, **k))
    with cpu_threads(3):  # detected again on the evaluation's thread count, not this process's
        assert diagnostics(run, SMOKE) == stored
    # evaluate_run detects test_workers images side by side, on the CPU each on one thread: the record says 1
    # whatever this process's count (comparing it with the count passed only after a test had left torch on 1).
    device = default_device()
    assert seen == [recorded] and recorded == inference.detection_threads(device, inference.test_workers(device))
    assert recorded == (1 if device.type == "cpu" else None)
    assert (run / "checkpoint.pt").is_file() and (run / "predictions" / "final").is_dir()
    said = capsys.readouterr()  # one line for each step, no training bar (a notebook shows what it prints)
    assert "weights trained again" in said.out and "detected again" in said.out and "it/s" not in said.err
    # A record whose APs the predictions made again do not give: refused, nothing kept.
    shutil.rmtree(run / "predictions")
    (run / "diagnostics.json").unlink()
    record = json.loads((run / "evaluation.json").read_text())
    record["ap"]["all"] += 1e-6
    (run / "evaluation.json").write_text(json.dumps(record))
    with pytest.raises(PredictionsMismatchError, match="other APs"):
        diagnostics(run, SMOKE)
    assert not (run / "predictions").exists() and not (run / "diagnostics.json").exists()


def test_the_receptive_field_is_computed_once_from_the_weights_and_read_without_them(tmp_path):
    from gslib.study import receptive_field

    run, _ = evaluated_run(experiment("FPN-finest"), SMOKE, progress=False, runs=tmp_path)
    erf = receptive_field(run, SMOKE, images=2, half=20)
    assert erf.shape == (41, 41) and erf.sum() == pytest.approx(1, abs=1e-4)
    assert (run / "erf.npz").stat().st_size < 20_000
    (run / "checkpoint.pt").unlink()  # as on a fresh clone: the committed record, no weights
    assert np.array_equal(receptive_field(run, SMOKE, images=2, half=20), erf)


def test_score_summary_counts_and_interpolates_beyond_torch_quantiles_limit():
    assert study.score_summary(torch.tensor([])) == {"anchors": 0}
    # 0, 1, ..., 10: the q-quantile is 10 q exactly (linear interpolation).
    assert study.score_summary(torch.arange(11.0), (0.1, 0.5, 0.99)) == {"anchors": 11, "q10": 1.0, "q50": 5.0,
                                                                         "q99": 9.9}
    many = torch.zeros(17_000_000, dtype=torch.float32)  # torch.quantile raises above 16 M values
    many[-1_700_000:] = 1.0
    assert study.score_summary(many, (0.5, 0.95)) == {"anchors": 17_000_000, "q50": 0.0, "q95": 1.0}


def test_anchor_scores_are_computed_once_from_the_weights_and_stored(tmp_path):
    run, _ = evaluated_run(experiment("FPN-finest"), SMOKE, progress=False, runs=tmp_path)
    scores = study.anchor_scores(run, SMOKE, crops=3)
    assert scores["crops"] == 3 and 0 <= scores["crops_without_positives"] <= 3
    negatives = scores["negatives"]
    assert negatives["anchors"] > 0 and 0 <= negatives["q10"] <= negatives["q50"] <= negatives["q99"] <= 1
    if scores["positives"]["anchors"]:
        assert scores["separation"] == pytest.approx(scores["positives"]["q50"] - negatives["q50"])
    assert json.loads((run / study.ANCHOR_SCORES).read_text()) == scores
    (run / "checkpoint.pt").unlink()  # as on a fresh clone: read from the stored file, no weights needed
    assert study.anchor_scores(run, SMOKE, crops=3) == scores


def test_a_verdict_against_a_baseline_that_did_not_learn_is_inconclusive():
    row = {"claim": "gs-pipelines", "ours": "all 0.002 -> 0.241", "verdict": "replicated"}
    assert study.against_learned_baseline(row, 0.125, "HNM") == row
    downgraded = study.against_learned_baseline(row, 0.006, "HNM")
    assert downgraded["verdict"] == "inconclusive (the HNM baseline did not learn: separation 0.006 < 0.05)"
    assert downgraded["ours"] == row["ours"] and row["verdict"] == "replicated"  # the row itself is left alone
    assert study.against_learned_baseline(row, 0.03, "HNM", min_separation=0.02) == row


def _differences(columns: dict[str, list[tuple[float, float, float]]], mean_interval: dict):
    """compare()'s tables of several columns, stacked: per column, seed rows (baseline, method, bootstrap low
    or NaN) and the mean row with the given interval."""
    rows = []
    for c, seeds in columns.items():
        for s, (a, b, low) in enumerate(seeds):
            rows.append({"column": c, "seed": s, "baseline": a, "method": b, "difference": b - a, "low": low,
                         "high": np.nan})
        a, b = np.mean([r[0] for r in seeds]), np.mean([r[1] for r in seeds])
        lo, hi = mean_interval[c]
        rows.append({"column": c, "seed": "mean", "baseline": a, "method": b, "difference": b - a, "low": lo,
                     "high": hi})
    return pd.DataFrame(rows)


def test_claim_verdict_reads_the_mean_interval_of_every_column():
    table = _differences({"all": [(0.1, 0.2, 0.05), (0.1, 0.3, -0.01)],
                          "@16": [(0.1, 0.05, np.nan), (0.2, 0.3, np.nan)]}, {"all": (0.02, 0.3), "@16": (-0.1, 0.2)})
    row = claim_verdict("gs-all", table, ["all"], "GS")
    assert row == {"claim": "gs-all", "verdict": "replicated",
                   "ours": "all 0.100 -> 0.250 (+0.150, 95% CI over seeds [+0.020, +0.300]; GS ahead in 2 of 2 "
                           "seeds, bootstrap interval above 0 in 1), 2 seeds"}
    # Every column must be replicated; @16 is inconclusive, so the claim is too. @S rows have no bootstrap.
    both = claim_verdict("gs-every", table, ["all", "@16"], "GS")
    assert both["verdict"] == "inconclusive" and both["ours"].endswith(
        "; @16 0.150 -> 0.175 (+0.025, 95% CI over seeds [-0.100, +0.200]; GS ahead in 1 of 2 seeds), 2 seeds")
    named = claim_verdict("minority", table, ["@16"], "stride", names=("FPN-finest", "FPN-finest-stride"))
    assert named["ours"].startswith("@16 FPN-finest 0.150 vs FPN-finest-stride 0.175 (+0.025")
    reversed_ = _differences({"all": [(0.3, 0.1, -0.3)]}, {"all": (-0.4, -0.1)})
    assert claim_verdict("gs-all", pd.concat([reversed_, table[table["column"] == "@16"]]), ["all", "@16"],
                         "GS")["verdict"] == "not replicated (reversed)"


def test_mean_differences_tabulate_each_mean_row_with_its_interval():
    nms = _differences({"all": [(0.30, 0.40, 0.05), (0.32, 0.38, 0.02)], "@16": [(0.20, 0.19, np.nan),
                                                                                (0.22, 0.25, np.nan)]},
                       {"all": (0.02, 0.14), "@16": (-0.05, 0.07)})
    table = mean_differences({"FPN-finest OHEM": nms}, ["all", "@16"])
    assert table.to_dict("index") == {"FPN-finest OHEM": {"all": "+0.080 [+0.020, +0.140]",
                                                          "@16": "+0.010 [-0.050, +0.070]", "seeds": 2}}


def test_equivalence_verdict_needs_every_interval_inside_the_margin():
    equal = _differences({"all": [(0.30, 0.31, np.nan), (0.28, 0.27, np.nan)]}, {"all": (-0.015, 0.012)})
    wide = _differences({"all": [(0.30, 0.33, np.nan), (0.28, 0.25, np.nan)]}, {"all": (-0.05, 0.05)})
    apart = _differences({"all": [(0.30, 0.36, np.nan), (0.28, 0.33, np.nan)]}, {"all": (0.03, 0.08)})
    row = equivalence_verdict("same-stride", {("P2", "P3"): equal}, ["all"], margin=0.02)
    assert row == {"claim": "same-stride", "verdict": "replicated",
                   "ours": "all P2 0.290 vs P3 0.290 (+0.000, 95% CI over seeds [-0.015, +0.012], inside +-0.02; "
                           "2 seeds); equal = the interval inside +-0.02 AP"}
    # An interval that contains 0 but reaches past the margin is no evidence of equality.
    assert equivalence_verdict("x", {("a", "b"): equal, ("a", "c"): wide}, ["all"], 0.02)["verdict"] == "inconclusive"
    assert "across +-0.02" in equivalence_verdict("x", {("a", "c"): wide}, ["all"], 0.02)["ours"]
    assert equivalence_verdict("x", {("a", "b"): equal, ("a", "d"): apart}, ["all"],
                               0.02)["verdict"] == "not replicated (different)"
    assert EQUIVALENCE_MARGIN == equivalence_verdict.__defaults__[0]
    fig = plot_differences({"P2 - P3": equal, "a - c": wide}, ["all"], margin=0.02)
    assert len(fig.axes) == 1 and [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["P2 - P3", "a - c"]
    # The margin's legend, said once (inside a panel, it covered an interval).
    legend = legend_right_of_the_panels(fig)
    assert [t.get_text() for t in legend.get_texts()] == ["within +-0.02: equal (the claim's margin)"]
    # Seven columns wrap into two rows of four (the eighth panel hidden), every label on the first row's axis.
    fig = plot_differences({"P2 - P3": equal}, ["all"] * 7)
    shown = [ax for ax in fig.axes if ax.get_visible()]
    assert len(fig.axes) == 8 and len(shown) == 7 and len({round(ax.get_position().y0, 3) for ax in shown}) == 2


def test_plot_by_stride_draws_one_line_per_map_in_stride_order():
    evs = {name: [{"ap": {"all": a}}, {"ap": {"all": a + 0.02}}] for name, a in
           [("s8-P2", 0.3), ("s4-P2", 0.4), ("s8-P3", 0.31), ("s16-P3", 0.2)]}
    where = {"s8-P2": ("P2", 8), "s4-P2": ("P2", 4), "s8-P3": ("P3", 8), "s16-P3": ("P3", 16)}
    fig = plot_by_stride(evs, where, ["all"])
    bars = fig.axes[0].containers  # errorbar containers, one per map
    assert [c.get_label() for c in bars] == ["P2 (ours)", "P3 (ours)"]
    ours = [c.lines[0] for c in bars]
    assert list(ours[0].get_xdata()) == [4, 8] and np.allclose(ours[0].get_ydata(), [0.41, 0.31])
    assert list(ours[1].get_xdata()) == [8, 16] and np.allclose(ours[1].get_ydata(), [0.32, 0.21])
    assert [t.get_text() for t in legend_right_of_the_panels(fig).get_texts()] == ["P2 (ours)", "P3 (ours)"]


def test_small_not_large_needs_a_small_gain_and_no_large_one():
    table = _differences({"@16": [(0.2, 0.3, np.nan), (0.2, 0.32, np.nan)], "@64": [(0.2, 0.2, np.nan)] * 2,
                          "@128": [(0.1, 0.1, np.nan)] * 2},
                         {"@16": (0.05, 0.15), "@64": (-0.01, 0.01), "@128": (-0.03, 0.015)})
    row = small_not_large_verdict("mining-small", {"OHEM": table})
    assert row["verdict"] == "replicated" and row["ours"].startswith("OHEM: @16 +0.110 [+0.050, +0.150], @64")
    wide = table.copy()
    wide.loc[(wide["column"] == "@128") & (wide["seed"] == "mean"), "high"] = 0.05  # could be a real gain
    assert small_not_large_verdict("x", {"OHEM": table, "Focal*": wide})["verdict"] == "inconclusive"
    large = table.copy()
    large.loc[(large["column"] == "@64") & (large["seed"] == "mean"), ["low", "high"]] = (0.03, 0.06)
    assert small_not_large_verdict("x", {"OHEM": large})["verdict"] == "not replicated"


def test_a_sub_detector_without_detections_scores_zero(tmp_path, monkeypatch):
    """Regression: a smoke run whose scale-16 boxes all fell below the score floor had no "@16" in its
    evaluation, and notebook 05's table raised KeyError; such a sub-detector's AP is 0."""
    import gslib.study as study

    run, _ = evaluated_run(experiment("FPN-finest"), SMOKE, progress=False, runs=tmp_path)
    real = study.evaluate_wider
    monkeypatch.setattr(study, "evaluate_wider",
                        lambda preds, gt: {k: v for k, v in real(preds, gt).items() if "@16" not in k})
    ap = study.evaluate_run(run, SMOKE, progress=False)["ap"]
    assert ap["@16"] == ap["easy@16"] == ap["hard@16"] == 0.0 and "@32" in ap


def test_compare_columns_pairs_the_seeds_two_detectors_share(tmp_path):
    base = [_fake_run(tmp_path / f"a{s}", [[1, 2], [1, 1]], 0.30 + 0.01 * s) for s in range(3)]  # 3 seeds
    meth = [_fake_run(tmp_path / f"b{s}", [[2, 3], [2, 3]], 0.40 + 0.03 * s) for s in range(2)]  # 2 seeds
    table = compare_columns(base, meth, ["all", "@16"], bootstrap=50)
    assert list(table["column"].unique()) == ["all", "@16"]
    all_rows = table[table["column"] == "all"]
    assert list(all_rows["seed"]) == [0, 1, "mean"]  # seed 2 of the baseline has no partner
    assert np.allclose(all_rows["difference"][:2].astype(float), [0.10, 0.12])
    # With a suffix the columns name the comparison, so that two of them stack for one verdict.
    labelled = compare_columns(base, meth, ["all"], bootstrap=50, suffix=" vs OHEM")
    assert list(labelled["column"].unique()) == ["all vs OHEM"]
    assert labelled.drop(columns="column").equals(all_rows.drop(columns="column"))


def test_joint_verdict_needs_every_comparison():
    rep = {"verdict": "replicated", "ours": "a"}
    inc = {"verdict": "inconclusive", "ours": "b"}
    rev = {"verdict": "not replicated (reversed)", "ours": "c"}
    assert joint_verdict("gs-maps", {"P2": rep, "P3": rep})["verdict"] == "replicated"
    both = joint_verdict("gs-maps", {"P2": rep, "P3": inc})
    assert both["verdict"] == "inconclusive" and both["ours"] == "P2: a (replicated) | P3: b (inconclusive)"
    assert joint_verdict("gs-maps", {"P2": inc, "P3": rev})["verdict"] == "not replicated (reversed)"


def test_order_verdict_is_better_and_not_worse_within_the_margin():
    better = _differences({"all": [(0.30, 0.35, np.nan)]}, {"all": (0.01, 0.09)})
    tie = _differences({"all": [(0.35, 0.34, np.nan)]}, {"all": (-0.015, 0.005)})  # inside -0.02: not worse
    assert order_verdict("ls-iou", {"ln vs l1": better}, {"ls vs ln": tie})["verdict"] == "replicated"
    loses = _differences({"all": [(0.35, 0.30, np.nan)]}, {"all": (-0.09, -0.03)})  # wholly below -0.02
    assert order_verdict("ls-iou", {"ln vs l1": better}, {"ls vs ln": loses})["verdict"] == "not replicated"
    wide = _differences({"all": [(0.35, 0.34, np.nan)]}, {"all": (-0.05, 0.03)})
    row = order_verdict("ls-iou", {"ln vs l1": better}, {"ls vs ln": wide})
    assert row["verdict"] == "inconclusive" and "ls vs ln (not worse): all 0.350 -> 0.340" in row["ours"]


def _evs(values):
    return [{"ap": {"all": v}} for v in values]


def test_slopes_fit_ap_per_doubling_for_each_seed():
    # Seed 0 gains 0.02 per doubling of N exactly; seed 1 gains 0.04: the mean slope is 0.03.
    series = {256: _evs([0.30, 0.30]), 512: _evs([0.32, 0.34]), 1024: _evs([0.34, 0.38]), 2048: _evs([0.36, 0.42])}
    table = slopes(series)
    assert np.allclose(table["slope"][:2].astype(float), [0.02, 0.04])
    mean = table[table["seed"] == "mean"].iloc[0]
    assert mean["slope"] == pytest.approx(0.03)
    # Student t, 1 degree of freedom: 12.706 * std([0.02, 0.04]) / sqrt(2) = 0.127.
    assert mean["high"] - mean["slope"] == pytest.approx(12.706 * np.std([0.02, 0.04], ddof=1) / np.sqrt(2), rel=1e-3)
    rising = pd.DataFrame([{"seed": "mean", "slope": 0.03, "low": 0.01, "high": 0.05}])
    falling = pd.DataFrame([{"seed": "mean", "slope": -0.03, "low": -0.05, "high": -0.01}])
    assert trend_verdict("gs-n", {"GS": rising, "RS": falling}, {"GS": 1, "RS": -1})["verdict"] == "replicated"
    assert trend_verdict("gs-n", {"GS": falling}, {"GS": 1})["verdict"] == "not replicated (reversed)"
    assert trend_verdict("gs-n", {"RS": rising}, {"RS": -1})["verdict"] == "not replicated (reversed)"
    flat = pd.DataFrame([{"seed": "mean", "slope": 0.0, "low": -0.02, "high": 0.02}])
    assert trend_verdict("gs-n", {"GS": flat}, {"GS": 1})["verdict"] == "inconclusive"


def test_effect_sizes_set_ours_against_the_papers_relative_effect():
    evaluations = {"a": _evs([0.20, 0.30, 0.40]), "b": _evs([0.30, 0.40])}  # shared seeds: 0 and 1
    theirs = pd.DataFrame({"all": [0.80, 0.82]}, index=["a", "b"])
    table = effect_sizes({"GS": ("a", "b")}, evaluations, theirs)
    r = table.iloc[0]
    assert r["seeds"] == 2 and r["ours baseline"] == pytest.approx(0.25)
    assert r["ours difference"] == pytest.approx(0.10) and r["ours relative"] == pytest.approx(0.4)
    assert r["paper relative"] == pytest.approx(0.025) and r["ours / paper (relative)"] == pytest.approx(16)
    assert effects_in_words(table) == ["GS (all): ours +0.100 AP (+40% of 0.250), paper +2.0 AP (+2.5% of 80.0); "
                                       "ours is 16.0x the paper's relative effect, and larger in absolute AP"]
    # Larger relative to a low baseline, yet smaller in absolute AP: +0.01 on 0.05 (+20%) against +0.02 on 0.80.
    small = effect_sizes({"GS": ("a", "b")}, {"a": _evs([0.05]), "b": _evs([0.06])}, theirs)
    assert effects_in_words(small)[0].endswith("ours is 8.0x the paper's relative effect, and smaller in absolute AP")


def test_the_curves_and_gains_plots_draw_one_line_per_detector():
    fig = plot_curves({"RS": {256: _evs([0.3, 0.32]), 512: _evs([0.28, 0.3])},
                       "GS": {64: _evs([0.3, 0.3]), 128: _evs([0.33, 0.35])}})
    assert len(fig.axes[0].lines) >= 2 and [t.get_text() for t in fig.axes[0].get_xticklabels()] == [
        "64", "128", "256", "512"]
    assert [t.get_text() for t in legend_right_of_the_panels(fig).get_texts()] == ["RS", "GS"]
    rows = pd.DataFrame([{"effect": "GS", "column": "all", "schedule": f"{f}x", "baseline": b, "difference": d,
                          "low": d - 0.01, "high": d + 0.01} for f, b, d in ((1, 0.26, 0.09), (2, 0.3, 0.05))])
    fig = plot_gains(rows, paper={"GS all": 0.026})
    assert [t.get_text() for t in fig.axes[0].texts] == ["1x", "2x"]
    assert [t.get_text() for t in legend_right_of_the_panels(fig).get_texts()] == ["GS all (paper, 100 epochs)",
                                                                                   "GS all (ours)"]


def test_run_costs_set_each_row_against_the_base_on_the_same_thread_count(tmp_path):
    from gslib.experiments import write_config
    from gslib.study import run_costs

    def run(name, ms, threads, test_s):
        directory = tmp_path / name
        directory.mkdir()
        write_config(directory, experiment("FPN-finest-sampling"), SMOKE)  # SMOKE trains on 1 thread
        record = {"ms_per_iteration": ms} | ({"cpu_threads": threads} if threads else {})
        (directory / "metrics.json").write_text(json.dumps(record))
        return directory, {"inference_seconds": test_s * 10, "images": 10}

    table = run_costs({"base": [run("b1", 30.0, 2, 0.1), run("b2", 50.0, 2, 0.3)],
                       "two-stage": [run("t1", 60.0, 2, 0.3), run("t2", 90.0, None, 0.5)]}, "base")
    table = table.set_index(["row", "cpu threads"])
    assert table.loc[("base", 2), "seeds"] == 2 and table.loc[("base", 2), "train ms per iteration"] == 40.0
    assert table.loc[("two-stage", 2), "train / base"] == 1.5
    assert table.loc[("two-stage", 2), "test s per image over base"] == pytest.approx(0.1)
    # A record without cpu_threads trained on its profile's (1): no base run on 1 thread to set it against.
    assert table.loc[("two-stage", 1), "seeds"] == 1 and np.isnan(table.loc[("two-stage", 1), "train / base"])
    # A stand-in (the same network by another name) sets it where the base has no run on its thread count only.
    table = run_costs({"base": [run("b3", 30.0, 2, 0.1)],
                       "stand-in": [run("s1", 45.0, 1, 0.2), run("s2", 99.0, 2, 9.0)],
                       "two-stage": [run("t3", 90.0, 1, 0.5), run("t4", 60.0, 2, 0.3)]}, "base", stand_in="stand-in")
    table = table.set_index(["row", "cpu threads"])
    assert table.loc[("two-stage", 1), "train / base"] == 2.0 and table.loc[("two-stage", 2), "train / base"] == 2.0
    assert table.loc[("two-stage", 1), "test s per image over base"] == pytest.approx(0.3)


def test_paired_gain_is_the_mean_difference_by_seed_with_its_interval():
    before = [{"ap": {"all": a}} for a in (0.30, 0.40, 0.50)]
    after = [{"ap": {"all": a}} for a in (0.32, 0.41, 0.53)]
    # differences 0.02, 0.01, 0.03: mean 0.02, sd 0.01, t(0.975, 2) = 4.303 -> +-0.0248
    assert paired_gain(before, after) == "+0.020 [-0.005, +0.045]"
    with pytest.raises(ValueError, match="paired by seed"):
        paired_gain(before, after[:2])


def test_cost_verdict_reads_the_median_interval_against_the_margin():
    def row(low, mid, high):
        return {"over_rs": {"median": mid, "median_low": low, "median_high": high, "q1": low - 0.2,
                            "q3": high + 0.2, "min": low - 0.5, "max": high + 0.5, "n": 50}}

    mining = {"profile": "default", "threads": 1,
              "FPN": {"RS": row(1, 1, 1), "OHEM": row(1.8, 2.0, 2.3), "WRS": row(0.95, 1.0, 1.04)},
              "FPN-finest": {"RS": row(1, 1, 1), "OHEM": row(1.5, 1.7, 1.9), "WRS": row(0.9, 1.02, 1.08)}}
    got = cost_verdict("mining-cost", mining)
    assert got["verdict"] == "replicated"  # the quartiles (+-0.2) and the range (+-0.5) do not decide
    assert "the median of 50 iterations" in got["ours"]
    assert "FPN: OHEM / RS 2.00 [1.80, 2.30]; FPN: WRS / RS 1.00 [0.95, 1.04]" in got["ours"]
    mining["FPN-finest"]["OHEM"] = row(1.05, 1.2, 1.3)  # its interval reaches below 1.10: cannot tell
    assert cost_verdict("x", mining)["verdict"] == "inconclusive"
    mining["FPN-finest"]["WRS"] = row(1.12, 1.2, 1.3)  # WRS costs more than the margin
    assert cost_verdict("x", mining)["verdict"] == "not replicated"
    assert cost_verdict("x", {"FPN": {"RS": row(1, 1, 1)}})["verdict"].startswith("not yet tested")
    # A file written before the median's interval: said, not a KeyError.
    old = {"FPN": {m: {"over_rs": {"median": 1.0, "q1": 0.9, "q3": 1.1}} for m in ("RS", "OHEM", "WRS")}}
    assert "make bench` again" in cost_verdict("x", old)["ours"]


def legend_right_of_the_panels(fig):
    """The figure's one legend, if it stands right of every panel and no panel has its own (inside, they hid data)."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    assert len(fig.legends) == 1 and all(ax.get_legend() is None for ax in fig.axes)
    assert fig.legends[0].get_window_extent(renderer).x0 >= max(ax.get_window_extent(renderer).x1 for ax in fig.axes)
    return fig.legends[0]


def test_seed_table_legend_hides_no_marker():
    import matplotlib
    matplotlib.use("Agg")
    columns = ["all", "@16"]
    evaluations = {name: [{"ap": {"all": 0.3, "@16": 0.2}}, {"ap": {"all": 0.4, "@16": 0.25}}]
                   for name in ("FPN", "FPN-finest", "FPN-finest-sampling")}
    paper = pd.DataFrame({"all": [0.9, 0.95, np.nan], "@16": [0.9, 0.95, np.nan]},
                         index=["FPN", "FPN-finest", "FPN-finest-sampling"])
    fig = study.plot_seed_table(evaluations, paper, columns=columns)
    ax = fig.axes[0]
    # One entry per detector with its seed count, then the two marker kinds.
    assert [t.get_text() for t in legend_right_of_the_panels(fig).get_texts()] == [
        "FPN (2 seeds)", "FPN-finest (2 seeds)", "FPN-finest-sampling (2 seeds)", "one seed", "the paper (WIDER FACE)"]
    # The paper's diamonds: drawn at the paper's APs (0.9, 0.95), none for the detector it gives no AP.
    diamonds = [c for c in ax.collections if c.get_offsets().shape[0] == len(columns) and
                np.isfinite(c.get_offsets()[:, 1]).all() and (c.get_offsets()[:, 1] > 0.8).all()]
    assert sorted(round(float(c.get_offsets()[0, 1]), 2) for c in diamonds) == [0.9, 0.95]
