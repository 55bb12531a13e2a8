"""Anchor layouts: counts equal the closed form, groups, centres, sub-sampling."""
import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from gslib.anchors import COCO_RATIOS, COCO_SCALES, fpn, fpn_finest, fpn_finest_stride, fpn_single, rpn
from gslib.boxes import box_scale

LAYOUTS = [rpn(), fpn(), fpn_finest(), fpn_finest_stride(), fpn_single("P3", 8), fpn_single("P2", 16),
           fpn_single("P4", 16), fpn(COCO_SCALES, COCO_RATIOS), fpn_finest(COCO_SCALES, COCO_RATIOS),
           fpn_finest_stride(COCO_SCALES, COCO_RATIOS), fpn_single("P3", 16, COCO_SCALES, COCO_RATIOS)]


@pytest.mark.parametrize("layout", LAYOUTS, ids=lambda lay: lay.name + str(len(lay.group_scales)))
@given(h=st.integers(1, 700), w=st.integers(1, 700))
def test_count_equals_closed_form(layout, h, w):
    boxes, groups = layout.anchors(h, w)
    assert boxes.shape == (layout.num_anchors(h, w), 4)
    assert groups.shape == (boxes.shape[0],)


def test_hand_counted_sizes():
    # 1024 x 1024: FPN-finest has 256*256 cells x 4 scales; FPN has 256^2 + 128^2 + 64^2 + 32^2.
    assert fpn_finest().num_anchors(1024, 1024) == 262144
    assert fpn().num_anchors(1024, 1024) == 65536 + 16384 + 4096 + 1024
    assert fpn_finest_stride().num_anchors(1024, 1024) == fpn().num_anchors(1024, 1024)
    assert rpn().num_anchors(1024, 1024) == 64 * 64 * 4
    # Odd size: ceil(101/4)=26, ceil(33/4)=9 cells on P2.
    assert fpn_finest().num_anchors(101, 33) == 26 * 9 * 4
    # COCO: P2-P6, 5 scales x 3 ratios.
    assert fpn(COCO_SCALES, COCO_RATIOS).num_anchors(64, 64) == 3 * (256 + 64 + 16 + 4 + 1)
    assert fpn_finest(COCO_SCALES, COCO_RATIOS).num_anchors(64, 64) == 256 * 15


@pytest.mark.parametrize("layout", LAYOUTS, ids=lambda lay: lay.name + str(len(lay.group_scales)))
def test_every_anchor_has_its_group_scale(layout):
    boxes, groups = layout.anchors(96, 64)
    scales = torch.tensor(layout.group_scales, dtype=torch.float32)[groups]
    torch.testing.assert_close(box_scale(boxes), scales)
    assert set(groups.tolist()) == set(range(len(layout.group_scales)))


def test_centres_and_order_fpn_finest():
    boxes, groups = fpn_finest().anchors(8, 8)  # 2 x 2 cells, 4 scales each
    centres = (boxes[:, :2] + boxes[:, 2:]) / 2
    # Row-major over cells, then scale: first 4 anchors share the centre (2, 2) of cell (0, 0).
    assert torch.equal(centres[:4], torch.tensor([[2.0, 2.0]] * 4))
    assert torch.equal(groups[:8], torch.tensor([0, 1, 2, 3, 0, 1, 2, 3]))
    assert torch.equal(centres[4], torch.tensor([6.0, 2.0]))  # cell (0, 1)
    assert torch.equal(boxes[0], torch.tensor([-6.0, -6.0, 10.0, 10.0]))


def test_subsampled_level_sits_on_the_cells_it_keeps():
    stride_boxes, stride_groups = fpn_finest_stride().anchors(64, 64)
    finest_boxes, finest_groups = fpn_finest().anchors(64, 64)
    for g in range(4):
        sub = {tuple(b) for b in stride_boxes[stride_groups == g].tolist()}
        full = {tuple(b) for b in finest_boxes[finest_groups == g].tolist()}
        assert sub <= full
        assert len(sub) == math.ceil(64 / (4 * 2**g)) ** 2
    # Scale 32 at stride 8 on P2[::2]: centres 2, 10, 18, ...
    centres = (stride_boxes[stride_groups == 1, 0] + stride_boxes[stride_groups == 1, 2]) / 2
    assert centres[:3].tolist() == [2.0, 10.0, 18.0]


def test_ratios_and_strides():
    lay = fpn(COCO_SCALES, COCO_RATIOS)
    assert [lv.stride for lv in lay.levels] == [4, 8, 16, 32, 64]
    assert [lv.feature for lv in lay.levels] == ["P2", "P3", "P4", "P5", "P6"]
    boxes, _ = lay.anchors(4, 4)
    wh = boxes[:3, 2:] - boxes[:3, :2]
    torch.testing.assert_close(wh[:, 1] / wh[:, 0], torch.tensor(COCO_RATIOS))  # ratio = h / w
    assert fpn_single("P2", 16).levels[0].subsample == 4
    assert rpn().levels[0].stride == 16 and rpn().features == ("C4",)
    with pytest.raises(ValueError, match="multiple"):
        fpn_single("P3", 12)
