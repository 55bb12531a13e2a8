"""The two-pass scan matcher (Sec. 4.1): hand-worked cases for each rule, and a brute-force reference."""
import pytest
import torch
import torchvision
from hypothesis import given, settings
from hypothesis import strategies as st

import gslib.matcher as matcher_mod
from gslib.boxes import box_iou
from gslib.matcher import TwoPassMatcher


def T(rows):
    return torch.tensor(rows, dtype=torch.float32)


def run(anchors, boxes, ignore=None, **kw):
    labels, matched = TwoPassMatcher(**kw)(T(anchors), T(boxes).reshape(-1, 4),
                                           None if ignore is None else torch.tensor(ignore))
    return labels.tolist(), matched.tolist()


def test_pass_one_thresholds_of_eq1():
    box = [[0, 0, 10, 10]]
    anchors = [[0, 0, 10, 10],  # IoU 1.0  -> positive
               [0, 0, 10, 5],   # IoU 0.5  -> ignored
               [0, 0, 10, 3],   # IoU 0.3  -> negative
               [0, 0, 10, 6],   # IoU 0.6  -> positive (lambda1 <= C)
               [0, 0, 10, 4]]   # IoU 0.4  -> ignored (lambda2 <= C)
    assert run(anchors, box) == ([1, -1, 0, 1, -1], [0, -1, -1, 0, -1])


def test_thresholds_are_arguments():
    anchors = [[0, 0, 10, 5], [0, 0, 10, 3]]  # IoU 0.5, 0.3
    assert run(anchors, [[0, 0, 10, 10]], pos_thresh=0.45, neg_thresh=0.25)[0] == [1, -1]


def test_pass_two_gives_an_unmatched_box_its_best_candidate():
    anchors = [[0, 0, 10, 4.5],  # IoU 0.45
               [0, 0, 10, 5],    # IoU 0.50 -> the best candidate: positive in pass 2
               [0, 0, 10, 3]]    # IoU 0.30 -> negative
    assert run(anchors, [[0, 0, 10, 10]]) == ([-1, 1, 0], [-1, 0, -1])


def test_pass_two_condition_1_anchor_matched_to_another_box_is_not_taken():
    boxes = [[0, 0, 10, 10], [0, 0, 10, 5]]
    # The anchor is B's only overlap (IoU 0.5) but it is positive for A (IoU 1): B stays unmatched.
    assert run([[0, 0, 10, 10]], boxes) == ([1], [0])
    # Give B an anchor of its own (IoU(Y, B) = 20/50 = 0.4, IoU(Y, A) = 0.2): pass 2 takes it.
    assert run([[0, 0, 10, 10], [0, 0, 10, 2]], boxes) == ([1, 1], [0, 1])


def test_pass_two_condition_2_tiny_box_stays_unmatched():
    # A 3 px face against a 16 px anchor: IoU 9/256 < lambda2. Unlike torchvision's low-quality
    # matching, the anchor stays negative.
    assert run([[0, 0, 16, 16]], [[0, 0, 3, 3]]) == ([0], [-1])


def test_pass_two_condition_3_anchor_belongs_to_its_argmax_box():
    boxes = [[0, 0, 10, 10],   # B: no anchor of its own
             [4, 0, 16, 10]]   # C: matched in pass 1 by Z
    z = [4, 0, 16, 10]         # IoU(Z, C) = 1, IoU(Z, B) = 0.375
    y = [0, 0, 22, 10]         # IoU(Y, B) = 100/220 = 0.45, IoU(Y, C) = 120/220 = 0.55: argmax C
    assert run([z, y], boxes) == ([1, -1], [1, -1])
    # Without C, Y's argmax is B and pass 2 gives it to B.
    assert run([z, y], boxes[:1]) == ([0, 1], [-1, 0])


def test_ties_go_to_the_lower_index():
    # Two candidates with IoU 0.5 each: the lower anchor index wins.
    assert run([[0, 0, 10, 5], [0, 5, 10, 10]], [[0, 0, 10, 10]]) == ([1, -1], [0, -1])
    # An anchor equally close to two (duplicate) boxes belongs to the lower box index.
    assert run([[0, 0, 10, 10]], [[0, 0, 10, 10], [0, 0, 10, 10]]) == ([1], [0])


def test_ignored_boxes_make_covered_anchors_ignored_never_negative():
    boxes = [[0, 0, 10, 10],        # valid
             [100, 100, 200, 200],  # invalid (ignore)
             [0, 0, 10, 10]]        # invalid, on top of the valid one
    anchors = [[0, 0, 10, 10],          # positive for the valid box, stays positive
               [120, 120, 136, 136],    # inside the ignored box: -1 in a crowd, a face part (0) in a face
               [300, 300, 316, 316],    # far away -> 0
               [90, 90, 190, 190],      # IoU 0.68 with the ignored box: never positive -> -1
               [0, 0, 400, 400]]        # contains it, IoU = IoA = 0.0625 -> stays negative
    labels, matched = run(anchors, boxes, ignore=[False, True, True], ignore_ioa=0.5)
    assert labels == [1, -1, 0, -1, 0]
    assert matched == [0, -1, -1, -1, -1]
    assert run(anchors, boxes, ignore=[False, True, True]) == ([1, 0, 0, -1, 0], [0, -1, -1, -1, -1])


def test_ignore_ioa_is_for_crowds_and_off_for_faces():
    anchors = [[100, 100, 116, 116], [190, 100, 210, 120]]  # inside; half inside (IoA 0.5); IoU < 0.03
    # A crowd region (COCO iscrowd): an anchor inside may cover an unlabelled object.
    assert run(anchors, [[100, 100, 200, 200]], ignore=[True], ignore_ioa=0.5)[0] == [-1, -1]
    assert run(anchors, [[100, 100, 200, 200]], ignore=[True], ignore_ioa=0.75)[0] == [-1, 0]
    # A face (invalid, or cut by the crop): an anchor on its eye is a face part, a negative.
    assert run(anchors, [[100, 100, 200, 200]], ignore=[True])[0] == [0, 0]


def test_regression_anchors_on_the_parts_of_a_face_cut_by_the_crop_are_negatives():
    # Bug: a 300 px face in a 320 px crop is less than half visible, so it is ignored; the IoA rule then made
    # every anchor on its visible part -1, and nothing ever taught the detector that face parts are not faces.
    from gslib.augment import Jitter, jitter_boxes
    face = torch.tensor([[100.0, 100.0, 400.0, 400.0]])
    boxes, ignore = jitter_boxes(face, torch.tensor([False]), Jitter(1.0, 200, 200, 320, 320, False))
    assert boxes.tolist() == [[0.0, 0.0, 200.0, 200.0]] and ignore.tolist() == [True]
    eye, cheek = [40, 40, 56, 56], [100, 120, 164, 184]          # 16 and 64 px anchors on the visible part
    fits = [0, 0, 181, 181]                                      # IoU 0.82 with the visible part: not a negative
    labels, _ = TwoPassMatcher(0.6, 0.4)(torch.tensor([eye, cheek, fits], dtype=torch.float32), boxes, ignore)
    assert labels.tolist() == [0, 0, -1]


def test_no_boxes_and_only_ignored_boxes():
    anchors = [[0, 0, 16, 16], [32, 32, 48, 48]]
    assert run(anchors, []) == ([0, 0], [-1, -1])
    assert run(anchors, [[30, 30, 50, 50]], ignore=[True]) == ([0, -1], [-1, -1])


def test_degenerate_boxes_never_match():
    assert run([[0, 0, 16, 16]], [[5, 5, 5, 9]]) == ([0], [-1])


def random_case(seed, n_anchors=300, n_boxes=25):
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n_anchors, 2, generator=g) * 100
    anchors = torch.cat([xy, xy + 4 + torch.rand(n_anchors, 2, generator=g) * 30], 1)
    bxy = torch.rand(n_boxes, 2, generator=g) * 100
    boxes = torch.cat([bxy, bxy + 2 + torch.rand(n_boxes, 2, generator=g) * 30], 1)
    return anchors, boxes


@pytest.mark.parametrize("max_pairs", [1, 7, 1000])
def test_chunking_never_changes_the_result_and_respects_the_budget(max_pairs, monkeypatch):
    anchors, boxes = random_case(0)
    ignore = torch.zeros(len(boxes), dtype=torch.bool)
    ignore[::5] = True
    expected = TwoPassMatcher(max_pairs=10**9)(anchors, boxes, ignore)
    seen = []
    real = matcher_mod._inter_union

    def spy(a, b):
        seen.append(a.shape[0] * b.shape[0])
        return real(a, b)

    monkeypatch.setattr(matcher_mod, "_inter_union", spy)
    got = TwoPassMatcher(max_pairs=max_pairs)(anchors, boxes, ignore)
    assert all(torch.equal(x, y) for x, y in zip(got, expected))
    # Each chunk holds at most max(max_pairs, M) pairs (one anchor row at least).
    assert max(seen) <= max(max_pairs, len(boxes))


def reference_match(anchors, boxes, lo=0.4, hi=0.6):
    """The paper's text, literally, with loops: the full IoU matrix, pass 1, then pass 2 box by box."""
    M = box_iou(anchors, boxes).tolist()
    n, m = len(M), len(boxes)
    first_argmax = [row.index(max(row)) for row in M]
    label, match = [], []
    for i in range(n):
        c = max(M[i])
        label.append(1 if c >= hi else (-1 if c >= lo else 0))
        match.append(first_argmax[i] if c >= hi else -1)
    for j in range(m):
        if j in match:
            continue
        cands = [i for i in range(n) if match[i] == -1 and M[i][j] >= lo and first_argmax[i] == j]
        if cands:
            best = max(cands, key=lambda i: (M[i][j], -i))
            label[best], match[best] = 1, j
    return label, match


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10**6), st.integers(1, 30))
def test_agrees_with_brute_force_reference(seed, n_boxes):
    anchors, boxes = random_case(seed, n_anchors=200, n_boxes=n_boxes)
    labels, matched = TwoPassMatcher(max_pairs=97)(anchors, boxes)
    assert (labels.tolist(), matched.tolist()) == reference_match(anchors, boxes)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10**6), st.integers(1, 30))
def test_pairwise_iou_is_torchvisions_to_the_bit(seed, n_boxes):
    anchors, boxes = random_case(seed, n_anchors=50, n_boxes=n_boxes)
    assert torch.equal(matcher_mod._iou(anchors, boxes), torchvision.ops.box_iou(anchors, boxes))


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 10**6), st.integers(1, 12))
def test_whole_matrix_and_blocks_give_the_same_labels(seed, n_boxes):
    # The few-box path (every anchor against every box at once) against the blocks, with ignored boxes too.
    anchors, boxes = random_case(seed, n_anchors=400, n_boxes=n_boxes)
    ignore = torch.arange(n_boxes) % 4 == 3
    whole = TwoPassMatcher()(anchors, boxes, ignore)
    assert len(anchors) * n_boxes <= matcher_mod.DIRECT_PAIRS
    saved = matcher_mod.DIRECT_PAIRS
    matcher_mod.DIRECT_PAIRS = 0
    try:
        blocks = TwoPassMatcher()(anchors, boxes, ignore)
    finally:
        matcher_mod.DIRECT_PAIRS = saved
    assert all(torch.equal(a, b) for a, b in zip(whole, blocks))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device here")
def test_cuda_matches_cpu():
    anchors, boxes = random_case(1)
    cpu = TwoPassMatcher()(anchors, boxes)
    gpu = TwoPassMatcher()(anchors.cuda(), boxes.cuda())
    assert all(torch.equal(a, b.cpu()) for a, b in zip(cpu, gpu))
