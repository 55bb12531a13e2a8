"""Notebook 07's pieces: the peers table and ranks by hand, the PR-curve and Fig. 10 plots on made-up inputs."""
import matplotlib.pyplot as plt
import numpy as np
import pytest
from PIL import Image

from gslib.comparison import (
    draw_detections,
    peers_table,
    plot_calibration,
    plot_figure_record,
    plot_pr_curves,
    rank_table,
)
from gslib.evaluate.wider import pr_curve_from_counts


def record(set_name, peers, ours=None):
    """A ``python -m gslib.peers --json`` object whose detectors have AP ``v`` on every subset."""
    def rows(d):
        return {name: {"ap": dict.fromkeys(("easy", "medium", "hard", "all"), v)} for name, v in d.items()}
    return {"set": set_name, "peers": rows(peers), "ours": rows(ours or {}), "unavailable": {}}


def test_peers_table_joins_the_sets_and_adds_what_a_record_lacks():
    records = {"real": record("real", {"A": 0.6, "B": 0.3}), "synthwider": record("synthwider", {"A": 0.4, "B": 0.5},
                                                                                     {"ours": 0.2})}
    extra = {"synthwider": {"ours": dict.fromkeys(("easy", "medium", "hard", "all"), 0.9),  # the record wins
                            "other": dict.fromkeys(("easy", "medium", "hard", "all"), 0.1)}}
    table = peers_table(records, extra)
    assert list(table.index) == ["A", "B", "ours", "other"]
    assert list(table.columns.get_level_values("set").unique()) == ["real", "synthwider"]
    assert table.loc["A", ("real", "hard")] == 0.6 and table.loc["B", ("synthwider", "all")] == 0.5
    assert table.loc["ours", ("synthwider", "all")] == 0.2 and table.loc["other", ("synthwider", "easy")] == 0.1
    assert np.isnan(table.loc["ours", ("real", "all")])


def test_rank_table_and_kendalls_tau():
    records = {"real": record("real", {"A": 0.6, "B": 0.3, "C": 0.5}),
               "synthwider": record("synthwider", {"A": 0.4, "B": 0.5, "C": 0.1}, {"ours": 0.2})}
    ranks, tau = rank_table(peers_table(records))
    assert list(ranks.index) == ["A", "C", "B"]  # by rank on the real sample; ours has no real AP: left out
    assert ranks["rank on real sample"].tolist() == [1, 2, 3] and ranks["rank on SynthWIDER"].tolist() == [2, 3, 1]
    # pairs (A, B) discordant, (A, C) concordant, (B, C) discordant: (1 - 2) / 3
    assert tau == pytest.approx(-1 / 3)
    _, tau_same = rank_table(peers_table({"real": records["real"], "synthwider": records["real"]}))
    assert tau_same == pytest.approx(1.0)


def test_plots_draw_what_they_are_given():
    # One face, found at the second of two thresholds with one false positive: AP 1/2.
    curve = pr_curve_from_counts(np.array([[0, 1]]), np.array([[1, 2]]), np.array([1]))
    by_subset = dict.fromkeys(("easy", "medium", "hard", "all"), curve)
    fig = plot_pr_curves({"X": [by_subset, by_subset], "Y": [by_subset]})
    assert len(fig.axes) == 3 and len(fig.axes[0].lines) == 3
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["0.500 X", "0.500 Y"]
    table = peers_table({"real": record("real", {"A": 0.6}), "synthwider": record("synthwider", {"A": 0.4})})
    fig = plot_calibration(table)
    assert len(fig.axes) == 4 and len(fig.legends) == 1 and all(ax.get_legend() is None for ax in fig.axes)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    assert fig.legends[0].get_window_extent(renderer).x0 >= fig.axes[-1].get_window_extent(renderer).x1
    fig = plt.figure()
    assert draw_detections(fig.gca(), [[0, 0, 5, 5], [1, 1, 4, 4]], [0.9, 0.2], threshold=0.5) == 1


def test_figure_record_panels_count_the_boxes_above_the_threshold():
    rec = {"set": "s", "min_score": 0.2, "images": [
        {"name": "e/a.jpg", "width": 40, "height": 30,
         "detections": {"P": {"boxes": [[0, 0, 5, 5], [5, 5, 9, 9]], "scores": [0.9, 0.3]}}},
        {"name": "e/b.jpg", "width": 20, "height": 20, "detections": {}}]}
    fig = plot_figure_record(rec, None, threshold=0.5, detectors=["P", "Q"])
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["P: 1 boxes", "Q: not in the record", "P: not in the record", "Q: not in the record"]
    # An image shown smaller keeps the boxes' pixels: it spans the record's width and height.
    def gradient(name):
        return Image.fromarray(np.tile(np.arange(40, dtype=np.uint8) * 6, (30, 1))).convert("RGB")

    fig = plot_figure_record(rec, gradient, detectors=["P"], image_side=10, colors=3)
    shown = fig.axes[0].images[0]
    assert shown.get_array().shape[:2] == (8, 10) and tuple(shown.get_extent()) == (0, 40, 30, 0)
    assert len(np.unique(shown.get_array().reshape(-1, 3), axis=0)) <= 3
