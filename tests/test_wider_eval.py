"""The official WIDER FACE protocol: hand-worked cases, a literal port of the MATLAB code, the CLI."""
import json
import subprocess
import sys
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gslib.data.wider import (
    SUBSETS,
    WiderGroundTruth,
    WiderImage,
    read_wider_mat,
    write_predictions,
    write_wider_mat,
)
from gslib.evaluate.__main__ import main
from gslib.evaluate.wider import (
    evaluate_wider,
    evaluate_wider_per_image,
    match_detections,
    normalise_scores,
    official_iou,
    pr_curve,
    pr_curve_from_counts,
    voc_ap,
)
from gslib.paths import RESULTS
from gslib.study import counts


def ground_truth(images, keep=None):
    """WiderGroundTruth whose three subsets all keep ``keep`` (default: every box)."""
    keep = keep or [np.arange(len(i.boxes)) for i in images]
    return WiderGroundTruth(images, {s: [np.asarray(k, dtype=np.int64) for k in keep] for s in SUBSETS})


# -- literal port of the MATLAB eval_tools, loops and all, to compare against --------------------------


def _boxoverlap(a, b):
    x1 = np.maximum(a[:, 0], b[0])
    y1 = np.maximum(a[:, 1], b[1])
    x2 = np.minimum(a[:, 2], b[2])
    y2 = np.minimum(a[:, 3], b[3])
    w = x2 - x1 + 1
    h = y2 - y1 + 1
    inter = w * h
    aarea = (a[:, 2] - a[:, 0] + 1) * (a[:, 3] - a[:, 1] + 1)
    barea = (b[2] - b[0] + 1) * (b[3] - b[1] + 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        o = inter / (aarea + barea - inter)
    o[w <= 0] = 0
    o[h <= 0] = 0
    return o


def official_reference(preds, images, keep, thresh_num=1000):
    """read_pred + norm_score + evaluation + VOCap, line by line. Face-less images get the official
    all-zero placeholder box, which no subset keeps."""
    pred_list = []
    for image in images:
        bbx = np.asarray(preds.get(image.key, np.zeros((0, 5))), dtype=np.float64)[:, :5]
        pred_list.append(bbx[np.argsort(-bbx[:, 4], kind="stable")])  # sort(...,'descend') is stable
    max_score, min_score = np.float32(np.finfo(np.float32).tiny), np.float32(np.finfo(np.float32).max)
    for bbx in pred_list:
        if len(bbx):
            max_score = max(max_score, np.float32(bbx[:, 4].max()))
            min_score = min(min_score, np.float32(bbx[:, 4].min()))
    for bbx in pred_list:
        if len(bbx):
            bbx[:, 4] = (bbx[:, 4].astype(np.float32) - min_score) / (max_score - min_score)
    org_pr_curve = np.zeros((thresh_num, 2))
    count_face = 0
    for image, pred_info, keep_index in zip(images, pred_list, keep):
        gt_bbx = image.boxes.copy() if len(image.boxes) else np.zeros((1, 4))
        count_face += len(keep_index)
        if len(gt_bbx) == 0 or len(pred_info) == 0:
            continue
        ignore = np.zeros(len(gt_bbx))
        ignore[keep_index] = 1
        # image_evaluation
        pred_recall = np.zeros(len(pred_info))
        recall_list = np.zeros(len(gt_bbx))
        proposal_list = np.ones(len(pred_info))
        pred_info = pred_info.copy()
        pred_info[:, 2:4] += pred_info[:, 0:2]
        gt_bbx[:, 2:4] += gt_bbx[:, 0:2]
        for h in range(len(pred_info)):
            overlap_list = _boxoverlap(gt_bbx, pred_info[h, :4])
            idx = int(np.argmax(overlap_list))
            if overlap_list[idx] >= 0.5:
                if ignore[idx] == 0:
                    recall_list[idx] = -1
                    proposal_list[h] = -1
                elif recall_list[idx] == 0:
                    recall_list[idx] = 1
            pred_recall[h] = np.sum(recall_list == 1)
        # image_pr_info
        for t in range(1, thresh_num + 1):
            thresh = 1 - t / thresh_num
            r = np.flatnonzero(pred_info[:, 4] >= thresh)
            if len(r):
                r_index = r[-1]
                org_pr_curve[t - 1, 0] += np.sum(proposal_list[:r_index + 1] == 1)
                org_pr_curve[t - 1, 1] += pred_recall[r_index]
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = org_pr_curve[:, 1] / org_pr_curve[:, 0]
        recall = org_pr_curve[:, 1] / count_face
    # VOCap, with MATLAB's NaN-skipping max
    mrec = np.r_[0, recall, 1]
    mpre = np.r_[0, precision, 0]
    for i in range(len(mpre) - 2, -1, -1):
        mpre[i] = np.nanmax([mpre[i], mpre[i + 1]])
    i = np.flatnonzero(mrec[1:] != mrec[:-1]) + 1
    return precision, recall, float(np.sum((mrec[i] - mrec[i - 1]) * mpre[i]))


def random_dataset(rng, num_images=12, tie_scores=False):
    """Images with clustered, overlapping faces (some invalid, one face-less) and jittered detections."""
    images, preds, keep = [], {}, []
    for k in range(num_images):
        n = 0 if k == 3 else int(rng.integers(1, 8))
        xy = rng.uniform(0, 60, (n, 2))  # a small canvas: faces overlap, detections hit several
        wh = rng.uniform(4, 30, (n, 2)).round()
        boxes = np.c_[xy.round(), wh]
        attrs = np.zeros((n, 6), dtype=np.int64)
        attrs[:, 3] = rng.random(n) < 0.2
        images.append(WiderImage(f"e{k % 3}/img_{k}.jpg", boxes, attrs))
        keep.append(np.flatnonzero(rng.random(n) < 0.6))
        d = int(rng.integers(0, 12))
        src = boxes[rng.integers(0, n, d)] if n else np.c_[rng.uniform(0, 60, (d, 2)), rng.uniform(4, 30, (d, 2))]
        dets = src + rng.normal(0, 1.5, (d, 4))
        scores = rng.choice([0.2, 0.5, 0.7, 0.9], d) if tie_scores else rng.uniform(-1, 3, d)
        preds[images[-1].key] = np.c_[dets, scores, rng.choice([16.0, 32.0], d)]
    return images, preds, keep


@pytest.mark.parametrize("seed", range(6))
def test_matches_a_literal_port_of_the_official_code(seed):
    rng = np.random.default_rng(seed)
    images, preds, keep = random_dataset(rng, tie_scores=seed % 2 == 1)
    curve = evaluate_wider(preds, ground_truth(images, keep))["hard"]
    precision, recall, ap = official_reference(preds, images, keep)
    np.testing.assert_array_equal(curve.precision, precision)
    np.testing.assert_array_equal(curve.recall, recall)
    assert curve.ap == ap


# -- hand-worked pieces --------------------------------------------------------------------------------


def test_official_iou_uses_plus_one_pixels():
    a = np.array([[0.0, 0, 9, 9]])  # x 0..9 inclusive: 10 x 10 pixels
    b = np.array([[0.0, 0, 9, 9], [5, 0, 9, 9], [10, 0, 9, 9], [0, 0, -3, 9]])
    # [5 0 9 9]: intersection 5 x 10 = 50, union 100 + 100 - 50 -> 1/3 (without +1: 36 / 126).
    # [10 0 9 9]: touches at x = 10 only -> 0. Negative width -> 0, not NaN.
    np.testing.assert_allclose(official_iou(a, b), [[1.0, 1 / 3, 0.0, 0.0]])
    assert official_iou(np.array([[0.0, 0, -1, -1]]), np.array([[0.0, 0, -1, -1]])).tolist() == [[0.0]]


def test_match_claims_max_iou_box_even_if_taken_and_first_on_ties():
    gts = np.array([[0.0, 0, 9, 9], [4, 0, 9, 9], [100, 100, 9, 9], [100, 100, 9, 9]])
    dets = np.array([[0.0, 0, 9, 9],     # box 0
                     [1.0, 0, 9, 9],     # closer to box 0 (IoU 9/11) than box 1 (IoU 0.6): box 0 again
                     [100, 100, 9, 9],   # boxes 2 and 3 are identical: the first
                     [50, 50, 9, 9],     # nothing
                     [0, 0, 19, 19]])    # best IoU 100/400 < 0.5: nothing
    assert match_detections(dets, gts).tolist() == [0, 0, 2, -1, -1]
    assert match_detections(dets, np.zeros((0, 4))).tolist() == [-1] * 5


def test_normalise_scores_official_quirks():
    np.testing.assert_array_equal(normalise_scores([1.0, 2.0, 3.0]), [0.0, 0.5, 1.0])
    # The maximum starts at realmin('single') > 0: all-negative scores do not reach 1.
    np.testing.assert_array_equal(normalise_scores([-2.0, -1.0]), [0.0, 0.5])
    # Single precision: 0.7 becomes 0.699999988...
    assert normalise_scores([0.0, 0.7, 1.0])[1] == float(np.float32(0.7)) < 0.7
    # Equal scores: 0 / 0 in the official code; ours all 1.
    np.testing.assert_array_equal(normalise_scores([0.3, 0.3]), [1.0, 1.0])


def test_voc_ap_hand_worked():
    assert voc_ap(np.array([0.5, 1.0]), np.array([1.0, 0.5])) == 0.75
    # NaN precision (no detection above the threshold) is skipped like MATLAB's max does.
    assert voc_ap(np.array([0.0, 0.5, 1.0]), np.array([np.nan, 1.0, 0.5])) == 0.75
    # Envelope: the dip to 0.25 is lifted to the later 0.5.
    assert voc_ap(np.array([0.25, 0.5, 1.0]), np.array([1.0, 0.25, 0.5])) == 0.25 * 1 + 0.75 * 0.5


def test_single_precision_drops_a_score_just_at_a_threshold():
    # Scores 0, 0.7, 1 normalise to 0, 0.6999999881, 1: the middle one is not >= 0.7 (threshold 300).
    curve = pr_curve(np.array([0.0, 0.7, 1.0]), np.array([-1, -1, -1]), np.zeros(1, dtype=bool))
    assert curve.thresholds[299] == 0.7
    assert curve.proposals[299] == 1 and curve.proposals[300] == 2


# -- the protocol on hand-worked images ----------------------------------------------------------------


def test_detection_on_an_ignored_box_is_neither_true_nor_false():
    image = WiderImage("e/a.jpg", [[0, 0, 20, 20], [100, 0, 20, 20]])
    preds = {"e/a": np.array([[100, 0, 20, 20, 1.0],     # on box 1, which the subset ignores
                              [0, 0, 20, 20, 0.75],      # on box 0
                              [300, 300, 20, 20, 0.0]])}  # on nothing
    curve = evaluate_wider(preds, ground_truth([image], [[0]]))["easy"]
    assert curve.num_faces == 1
    # t = 0.999 .. 0.751: only the ignored detection scores >= t -> no proposal at all.
    assert curve.proposals[:249].tolist() == [0] * 249 and np.isnan(curve.precision[:249]).all()
    # t = 0.75 .. 0.001: the true positive; t = 0: and the false positive.
    assert curve.proposals[249:999].tolist() == [1] * 750 and curve.true_positives[249:].tolist() == [1] * 751
    assert curve.proposals[999] == 2 and curve.precision[999] == 0.5
    assert curve.ap == 1.0  # had the ignored detection counted as a false positive, 0.5


def test_second_detection_of_a_face_is_a_false_positive():
    image = WiderImage("e/a.jpg", [[0, 0, 20, 20], [100, 0, 20, 20]])
    preds = {"e/a": np.array([[0, 0, 20, 20, 1.0], [1, 0, 20, 20, 0.5], [100, 0, 20, 20, 0.0]])}
    curve = evaluate_wider(preds, ground_truth([image]))["hard"]
    assert curve.true_positives[[0, 499, 999]].tolist() == [1, 1, 2]
    assert curve.proposals[[0, 499, 999]].tolist() == [1, 2, 3]
    # recall 0.5 at precision 1, then 1.0 at precision 2/3
    assert curve.ap == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)


def test_pr_curve_from_counts_by_hand():
    # 2 images of 1 face each, 2 thresholds (0.5, 0): image a's face found at 0.5; image b's found at 0 by its
    # second detection, after a false positive. Summed: tp 1, 2 of proposals 1, 3 -> precision 1, 2/3 at
    # recall 1/2, 1 -> AP 1/2 + 1/2 x 2/3.
    curve = pr_curve_from_counts(np.array([[1, 1], [0, 1]]), np.array([[1, 1], [0, 2]]), np.array([1, 1]))
    assert curve.thresholds.tolist() == [0.5, 0.0] and curve.num_faces == 2
    assert curve.precision.tolist() == [1.0, 2 / 3] and curve.recall.tolist() == [0.5, 1.0]
    assert curve.ap == pytest.approx(0.5 + 0.5 * 2 / 3)
    with pytest.raises(ValueError, match=r"\(I, T\)"):
        pr_curve_from_counts(np.ones((2, 3)), np.ones((2, 4)), np.ones(2))


def test_pr_curve_from_counts_is_the_official_curve():
    """Per-image counts summed give evaluate_wider's curve, array for array (the second-detection case)."""
    images = [WiderImage("e/a.jpg", [[0, 0, 20, 20], [100, 0, 20, 20]]), WiderImage("e/b.jpg", [[5, 5, 30, 30]])]
    preds = {"e/a": np.array([[0, 0, 20, 20, 1.0], [1, 0, 20, 20, 0.5], [100, 0, 20, 20, 0.0]]),
             "e/b": np.array([[200, 200, 10, 10, 0.8], [5, 5, 30, 30, 0.3]])}
    gt = ground_truth(images, [[0, 1], [0]])
    official = evaluate_wider(preds, gt)["easy"]
    curve = pr_curve_from_counts(*evaluate_wider_per_image(preds, gt, "easy"))
    for field in ("precision", "recall", "thresholds", "true_positives", "proposals"):
        assert np.array_equal(getattr(curve, field), getattr(official, field), equal_nan=True), field
    assert curve.ap == official.ap and curve.num_faces == official.num_faces == 3
    # By score: 1.0 (tp), 0.8 (fp), 0.5 (box 0 claimed again: fp), 0.3 (tp), 0 (tp): precision 1 at recall 1/3,
    # then 2/4 and 3/5 at recall 2/3 and 1, whose envelope is 3/5.
    assert curve.ap == pytest.approx(1 / 3 * 1 + 2 / 3 * 3 / 5)


STORED = sorted(p.parent for p in (RESULTS / "runs").glob("*/counts.npz") if (p.parent / "evaluation.json").is_file())


@pytest.mark.skipif(not STORED, reason="no stored run with counts.npz in results/runs")
def test_pr_curve_from_a_stored_runs_counts_gives_its_stored_ap():
    run = STORED[0]
    stored = json.loads((run / "evaluation.json").read_text())["ap"]
    for subset in ("easy", "medium", "hard", "all"):
        curve = pr_curve_from_counts(*counts(run, subset))
        assert curve.ap == pytest.approx(stored[subset], abs=1e-12), (run.name, subset)
        assert np.nanmax(curve.precision) <= 1 and curve.recall[-1] <= 1


def test_empty_images():
    faceless = WiderImage("e/none.jpg", np.zeros((0, 4)))
    undetected = WiderImage("e/missed.jpg", [[0, 0, 20, 20]])
    found = WiderImage("e/found.jpg", [[0, 0, 20, 20]])
    preds = {"e/none": np.array([[0, 0, 20, 20, 0.0]]),     # a false positive on a face-less image
             "e/missed": np.zeros((0, 5)),                  # a face nobody found still counts
             "e/found": np.array([[0, 0, 20, 20, 1.0]])}
    curve = evaluate_wider(preds, ground_truth([faceless, undetected, found]))["medium"]
    assert curve.num_faces == 2
    assert curve.recall.max() == 0.5 and curve.precision[999] == 0.5
    assert curve.ap == 0.5


def test_missing_and_unknown_prediction_keys():
    images = [WiderImage("e/a.jpg", [[0, 0, 20, 20]]), WiderImage("e/b.jpg", [[0, 0, 20, 20]])]
    with pytest.warns(UserWarning, match="1 of 2 ground-truth images have no predictions"):
        result = evaluate_wider({"e/a.jpg": np.array([[0, 0, 20, 20, 1.0]])}, ground_truth(images))
    assert result["easy"].ap == 0.5
    with pytest.raises(ValueError, match=r"match no ground-truth image.*'a'"):
        evaluate_wider({"a": np.zeros((0, 5)), "e/a": np.zeros((0, 5)), "e/b": np.zeros((0, 5))},
                       ground_truth(images))


def test_all_ignores_invalid_boxes_and_at_s_uses_one_subdetector():
    image = WiderImage("e/a.jpg", [[0, 0, 20, 20], [100, 0, 20, 20], [200, 0, 20, 20]],
                       [[0] * 6, [0] * 6, [0, 0, 0, 1, 0, 0]])  # box 2 is invalid
    preds = {"e/a": np.array([[0, 0, 20, 20, 0.9, 16],
                              [100, 0, 20, 20, 0.8, 32],
                              [200, 0, 20, 20, 0.7, 32],    # on the invalid box: ignored in "all"
                              [400, 0, 20, 20, 0.1, 16]])}  # false positive of sub-detector 16
    result = evaluate_wider(preds, ground_truth([image]))
    assert list(result) == ["easy", "medium", "hard", "all", "@16", "@32", "easy@16", "easy@32", "medium@16",
                            "medium@32", "hard@16", "hard@32"]
    assert result["all"].num_faces == 2 and result["all"].ap == 1.0
    # @16: found box 0 (then a false positive at the lowest score); box 1 never.
    assert result["@16"].ap == 0.5 and result["@32"].ap == 0.5
    # "@S" is "all" on a prediction set holding only that sub-detector's rows (normalised alone).
    only16 = {"e/a": preds["e/a"][preds["e/a"][:, 5] == 16, :5]}
    alone = evaluate_wider(only16, ground_truth([image]))
    assert alone["all"].ap == result["@16"].ap
    assert all(alone[subset].ap == result[f"{subset}@16"].ap for subset in ("easy", "medium", "hard"))
    # Rows without the 6th column belong to no sub-detector.
    assert list(evaluate_wider({"e/a": preds["e/a"][:, :5]}, ground_truth([image]))) == [
        "easy", "medium", "hard", "all"]


def test_ground_truth_without_invalid_labels_skips_all():
    gt = ground_truth([WiderImage("e/a.jpg", [[0, 0, 20, 20]])])
    gt.labels = ()
    with pytest.warns(UserWarning, match="no invalid_label_list"):
        assert list(evaluate_wider({"e/a": np.zeros((0, 5))}, gt)) == list(SUBSETS)


# -- order, ties ---------------------------------------------------------------------------------------


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), tie_scores=st.booleans())
def test_detection_order_does_not_matter(seed, tie_scores):
    rng = np.random.default_rng(seed)
    images, preds, keep = random_dataset(rng, num_images=6, tie_scores=tie_scores)
    gt = ground_truth(images, keep)
    shuffled = {k: v[rng.permutation(len(v))] for k, v in preds.items()}
    ordered = {k: v[np.argsort(-v[:, 4], kind="stable")] for k, v in preds.items()}
    a, b, c = (evaluate_wider(p, gt) for p in (preds, shuffled, ordered))
    for name in a:
        assert a[name].ap == b[name].ap == c[name].ap or np.isnan(a[name].ap)
        np.testing.assert_array_equal(a[name].true_positives, b[name].true_positives)
        np.testing.assert_array_equal(a[name].proposals, c[name].proposals)


def test_unsorted_files_give_identical_aps(tmp_path):
    rng = np.random.default_rng(7)
    images, preds, keep = random_dataset(rng, num_images=15, tie_scores=True)
    gt = ground_truth(images, keep)
    write_predictions(tmp_path / "sorted", {k: v[np.argsort(-v[:, 4], kind="stable")] for k, v in preds.items()})
    write_predictions(tmp_path / "ascending", {k: v[np.argsort(v[:, 4], kind="stable")] for k, v in preds.items()})
    a = evaluate_wider(tmp_path / "sorted", gt)
    b = evaluate_wider(tmp_path / "ascending", gt)
    assert {k: v.ap for k, v in a.items()} == {k: v.ap for k, v in b.items()}
    assert 0 < a["hard"].ap < 1


# -- generated set through the .mat files ----------------------------------------------------------------


def generated_set(rng, num_images=40):
    """Non-overlapping faces on a grid, random invalid flags and subsets, one face-less image."""
    images, subsets = [], {s: [] for s in SUBSETS}
    for k in range(num_images):
        n = 0 if k == 5 else int(rng.integers(1, 10))
        cells = rng.choice(100, n, replace=False)
        size = rng.integers(8, 40, n)
        boxes = np.c_[(cells % 10) * 50, (cells // 10) * 50, size, size]
        attrs = np.zeros((n, 6), dtype=np.int64)
        attrs[:, 3] = rng.random(n) < 0.1
        images.append(WiderImage(f"{k % 4}--Event/{k % 4}_Event_{k}.jpg", boxes, attrs))
        valid = np.flatnonzero(attrs[:, 3] == 0)
        subsets["hard"].append(valid)
        subsets["medium"].append(valid[size[valid] >= 16])
        subsets["easy"].append(valid[size[valid] >= 24])
    return images, subsets


@pytest.fixture
def generated(tmp_path):
    images, subsets = generated_set(np.random.default_rng(0))
    write_wider_mat(tmp_path / "gt", images, subsets)
    return images, tmp_path / "gt"


def test_perfect_detections_give_ap_one(generated, tmp_path):
    images, gt_dir = generated
    rng = np.random.default_rng(1)
    # Every box detected exactly (boxes outside a subset are ignored there), scores in random order.
    preds = {i.key: np.c_[i.boxes, rng.random(len(i.boxes))] for i in images}
    write_predictions(tmp_path / "pred", preds)
    result = evaluate_wider(tmp_path / "pred", gt_dir)
    assert list(result) == ["easy", "medium", "hard", "all"]
    for name, curve in result.items():
        assert curve.ap == pytest.approx(1.0, abs=1e-12), name
        assert curve.num_faces > 0


def test_no_detections_give_ap_zero(generated, tmp_path):
    images, gt_dir = generated
    write_predictions(tmp_path / "pred", {i.key: np.zeros((0, 5)) for i in images})
    result = evaluate_wider(tmp_path / "pred", gt_dir)
    assert {k: v.ap for k, v in result.items()} == {"easy": 0.0, "medium": 0.0, "hard": 0.0, "all": 0.0}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert evaluate_wider({}, gt_dir)["hard"].ap == 0.0


# -- command line --------------------------------------------------------------------------------------


def test_cli_json_and_pr_curves(generated, tmp_path, capsys):
    images, gt_dir = generated
    preds = {i.key: np.c_[i.boxes[::2], np.linspace(1, 0, len(i.boxes[::2])), np.full(len(i.boxes[::2]), 16.0)]
             for i in images}
    write_predictions(tmp_path / "pred", preds)
    code = main(["wider", "--pred", str(tmp_path / "pred"), "--gt", str(gt_dir), "--json",
                 "--pr-out", str(tmp_path / "pr.csv")])
    out = capsys.readouterr().out
    assert code == 0 and out.count("\n") == 1
    aps = json.loads(out)
    assert list(aps) == ["easy", "medium", "hard", "all", "@16", "easy@16", "medium@16", "hard@16"]
    assert all(0 < ap < 1 for ap in aps.values())
    assert aps == {k: v.ap for k, v in evaluate_wider(preds, read_wider_mat(gt_dir)).items()}
    lines = (tmp_path / "pr.csv").read_text().splitlines()
    assert lines[0] == "curve,threshold,precision,recall,true_positives,proposals"
    assert len(lines) == 1 + 8 * 1000 and lines[1].startswith("easy,0.999,")


def test_cli_names_missing_files(generated, tmp_path, capsys):
    images, gt_dir = generated
    write_predictions(tmp_path / "pred", {images[0].key: np.zeros((0, 5))})
    (gt_dir / "wider_medium_val.mat").unlink()
    assert main(["wider", "--pred", str(tmp_path / "pred"), "--gt", str(gt_dir), "--json"]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and "wider_medium_val.mat" in captured.err
    assert main(["wider", "--pred", str(tmp_path / "nope"), "--gt", str(tmp_path), "--json"]) == 1
    assert "error:" in capsys.readouterr().err


def test_cli_checks_the_prediction_folder_before_the_ground_truth(tmp_path, capsys):
    # Both are wrong (no folder, no .mat files): the error names the prediction folder.
    assert main(["wider", "--pred", str(tmp_path / "nope"), "--gt", str(tmp_path)]) == 1
    assert capsys.readouterr().err == f"error: missing prediction folder: {tmp_path / 'nope'}\n"


def test_cli_module_entry_point(generated, tmp_path):
    images, gt_dir = generated
    write_predictions(tmp_path / "pred", {i.key: np.c_[i.boxes, np.ones(len(i.boxes))] for i in images})
    run = subprocess.run([sys.executable, "-m", "gslib.evaluate", "wider", "--pred", str(tmp_path / "pred"),
                          "--gt", str(gt_dir), "--json"], capture_output=True, text=True, check=True)
    aps = json.loads(run.stdout)
    assert {"easy", "medium", "hard"} <= set(aps) and aps["hard"] == pytest.approx(1.0)
