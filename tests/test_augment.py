"""The training augmentation of Sec. 5 applied to boxes."""
import torch

from gslib.augment import JITTER_SCALES, Jitter, draw_jitter, jitter_boxes


def test_jitter_scales_are_a_quarter_times_one_to_eight():
    assert JITTER_SCALES == (0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0)


def test_draw_respects_the_crop_limit_and_is_deterministic():
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    draws = [draw_jitter(1024, 700, g1, max_side=600) for _ in range(50)]
    assert draws == [draw_jitter(1024, 700, g2, max_side=600) for _ in range(50)]
    for j in draws:
        rw, rh = round(1024 * j.scale), round(700 * j.scale)
        assert j.width == min(rw, 600) and j.height == min(rh, 600)
        assert 0 <= j.x0 <= rw - j.width and 0 <= j.y0 <= rh - j.height
    assert {j.scale for j in draws} == set(JITTER_SCALES)


def test_boxes_are_scaled_cropped_and_flagged():
    boxes = torch.tensor([[10.0, 10.0, 20.0, 20.0],     # inside after the crop
                          [0.0, 0.0, 4.0, 4.0],         # scaled to (0,0,8,8): fully outside the crop -> dropped
                          [45.0, 10.0, 65.0, 20.0],     # (90..130) x: 10 of 40 px visible -> ignore
                          [40.0, 30.0, 52.0, 40.0]])    # (80..104): 20 of 24 px visible -> kept, clipped
    ignore = torch.tensor([False, False, False, True])
    jit = Jitter(scale=2.0, x0=10, y0=10, width=90, height=90, flip=False)
    out, ign = jitter_boxes(boxes, ignore, jit)
    assert out.tolist() == [[10.0, 10.0, 30.0, 30.0], [80.0, 10.0, 90.0, 30.0], [70.0, 50.0, 90.0, 70.0]]
    assert ign.tolist() == [False, True, True]
    flipped, _ = jitter_boxes(boxes, ignore, jit._replace(flip=True))
    assert flipped[0].tolist() == [60.0, 10.0, 80.0, 30.0]
