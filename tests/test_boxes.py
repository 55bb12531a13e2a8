"""Box coding (eq. 13) and IoU: properties checked with hypothesis."""
import math

import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from gslib.boxes import BBOX_CLAMP, box_iou, box_scale, decode, encode, paired_iou, xywh_to_xyxy, xyxy_to_xywh

coord = st.floats(min_value=-500, max_value=1500, allow_nan=False, width=32)
size = st.floats(min_value=1.0, max_value=800, allow_nan=False, width=32)


@st.composite
def boxes(draw, n=None):
    k = draw(n if n is not None else st.integers(1, 12))
    rows = [(draw(coord), draw(coord), draw(size), draw(size)) for _ in range(k)]
    xywh = torch.tensor(rows, dtype=torch.float64)
    return xywh_to_xyxy(xywh)


@given(boxes(), st.data())
def test_encode_decode_round_trip(b, data):
    anchors = data.draw(boxes(n=st.just(b.shape[0])))
    deltas = encode(b, anchors)
    assume(bool((deltas[:, 2:] <= BBOX_CLAMP).all()))  # beyond the clamp decode saturates by design
    back = decode(deltas, anchors)
    torch.testing.assert_close(back, b, rtol=1e-6, atol=1e-6)


@given(boxes())
def test_encode_of_anchor_itself_is_zero(b):
    torch.testing.assert_close(encode(b, b), torch.zeros_like(b), rtol=0, atol=1e-9)


@given(boxes(), st.floats(0.1, 10))
def test_encoding_is_scale_invariant(b, factor):
    anchors = b.flip(0)
    torch.testing.assert_close(encode(b * factor, anchors * factor), encode(b, anchors), rtol=1e-6, atol=1e-6)


def test_decode_clamps_log_size():
    anchors = torch.tensor([[0.0, 0.0, 16.0, 16.0]])
    out = decode(torch.tensor([[0.0, 0.0, 1e4, 1e4]]), anchors)
    assert torch.isfinite(out).all()
    assert math.isclose(float(out[0, 2] - out[0, 0]), 16 * math.exp(BBOX_CLAMP), rel_tol=1e-5)


@given(boxes(), st.data())
@settings(max_examples=60)
def test_paired_iou_equals_torchvision_diagonal(a, data):
    b = data.draw(boxes(n=st.just(a.shape[0])))
    torch.testing.assert_close(paired_iou(a, b), box_iou(a, b).diagonal(), rtol=1e-6, atol=1e-6)


@given(boxes(), st.data())
def test_iou_symmetric_bounded_and_one_on_itself(a, data):
    b = data.draw(boxes(n=st.just(a.shape[0])))
    iou = paired_iou(a, b)
    assert ((iou >= 0) & (iou <= 1 + 1e-9)).all()
    torch.testing.assert_close(iou, paired_iou(b, a))
    torch.testing.assert_close(paired_iou(a, a), torch.ones(a.shape[0], dtype=a.dtype), rtol=1e-6, atol=1e-6)


@given(boxes(), st.floats(0.05, 20), st.floats(-100, 100), st.floats(-100, 100))
def test_iou_invariant_to_scaling_and_translation(a, factor, dx, dy):
    b = a.roll(1, 0) + 3.0
    shift = torch.tensor([dx, dy, dx, dy], dtype=a.dtype)
    torch.testing.assert_close(paired_iou(a * factor + shift, b * factor + shift), paired_iou(a, b),
                               rtol=1e-5, atol=1e-6)


def test_hand_worked_iou_and_scale():
    a = torch.tensor([[0.0, 0.0, 10.0, 10.0]])
    b = torch.tensor([[5.0, 0.0, 15.0, 10.0]])  # half overlap: 50 / 150
    assert math.isclose(float(paired_iou(a, b)), 1 / 3, rel_tol=1e-6)
    assert float(paired_iou(a, torch.tensor([[20.0, 20.0, 30.0, 30.0]]))) == 0.0
    assert float(box_scale(torch.tensor([[0.0, 0.0, 8.0, 32.0]]))) == 16.0
    assert torch.equal(xyxy_to_xywh(xywh_to_xyxy(torch.tensor([[1.0, 2, 3, 4]]))), torch.tensor([[1.0, 2, 3, 4]]))
