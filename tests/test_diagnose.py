"""Where the AP goes: recall by face size and the kinds of confident false positives, hand-worked."""
import numpy as np
import pytest
import torch
from torchvision.ops import box_iou

from gslib.data.wider import WiderGroundTruth, WiderImage
from gslib.diagnose import false_positive_kinds, plot_recall_by_size, reach, recall_by_size


def _gt():
    # Image a: a 5-px face and a 40-px face; image b: one 100-px face. x y w h.
    a = WiderImage("0--E/a.jpg", np.array([[10.0, 10, 5, 5], [100, 100, 40, 40]]))
    b = WiderImage("0--E/b.jpg", np.array([[0.0, 0, 100, 100]]))
    return WiderGroundTruth([a, b], {})


PREDS = {
    "0--E/a": np.array([[100.0, 100, 40, 40, 0.9],    # hits the 40-px face
                        [10, 10, 5, 5, 0.2],          # hits the 5-px face, low score
                        [300, 300, 20, 20, 0.8]]),    # background
    "0--E/b": np.array([[0.0, 0, 50, 50, 0.95],       # on the face, a quarter of its area: IoU ~0.26, smaller
                        [0, 0, 160, 160, 0.7],        # around it: IoU ~0.40, larger
                        [0, 0, 100, 100, 0.6]]),      # hits
}


def test_recall_by_size_any_score_and_at_a_threshold():
    table = recall_by_size(PREDS, _gt(), min_score=0.5, edges=(0, 8, 64, np.inf))
    assert table["faces"].tolist() == [1, 1, 1]
    assert table["recall_any"].tolist() == [1.0, 1.0, 1.0]
    assert table["recall_at_score"].tolist() == [0.0, 1.0, 1.0]  # the 5-px face is found only at 0.2
    empty = recall_by_size({}, _gt(), edges=(0, 8, 64, 1000, np.inf))
    assert empty["recall_any"].tolist()[:3] == [0.0, 0.0, 0.0] and np.isnan(empty["recall_any"].iloc[3])


def test_false_positive_kinds_of_the_top_detections():
    kinds = false_positive_kinds(PREDS, _gt(), top=4)  # scores .95 .9 .8 .7
    assert kinds["detections"] == 4 and kinds["lowest_score"] == pytest.approx(0.7)
    assert (kinds["hit"], kinds["smaller"], kinds["larger"], kinds["background"]) == (0.25, 0.25, 0.25, 0.25)
    every = false_positive_kinds(PREDS, _gt(), top=100)
    assert every["detections"] == 6 and every["hit"] == pytest.approx(3 / 6)
    assert false_positive_kinds({}, _gt()) == {"detections": 0}


def test_reach_is_where_a_centred_face_meets_lambda2():
    side = reach(16, 0.4, 2.0)
    assert side == pytest.approx(16 * 0.4 ** 0.5 / 2)
    # At pyramid scale 2 that face is side * 2 px wide; centred in the 16-px anchor its IoU is lambda2.
    f = side * 2.0
    face = torch.tensor([[8 - f / 2, 8 - f / 2, 8 + f / 2, 8 + f / 2]], dtype=torch.float64)
    assert box_iou(face, torch.tensor([[0.0, 0, 16, 16]], dtype=torch.float64)).item() == pytest.approx(0.4)


def test_recall_by_size_plot_keeps_its_legend_off_the_curves():
    import matplotlib
    matplotlib.use("Agg")
    table = recall_by_size(PREDS, _gt(), min_score=0.5, edges=(0, 8, 64, np.inf))
    fig = plot_recall_by_size({"A": [table]}, reach=4.0)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["A, any score", "A, score >= 0.5"]
    assert all(ax.get_legend() is None for ax in fig.axes)  # inside, it hid the curves of the large faces
    assert fig.legends[0].get_window_extent(renderer).x0 >= max(ax.get_window_extent(renderer).x1 for ax in fig.axes)
