import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torchvision.ops import roi_align

from gslib import anchors
from gslib.fast_rcnn import (
    FastRCNNHead,
    assign_targets,
    ensemble_scores,
    fast_rcnn_loss,
    pool_rois,
    refine,
    select_proposals,
)
from gslib.losses import smooth_l1_loss
from gslib.model import Detector
from gslib.sampling import FocalStarSampler, GroupSampler, OHEMSampler, RandomSampler, reference_scale


def test_roi_align_shape_and_constant_region():
    head = FastRCNNHead(8, hidden=16)
    fmap = torch.zeros(2, 8, 16, 16)
    fmap[1, :, 4:12, 4:12] = 3.0  # image pixels 16..48 at stride 4
    # Image 1's RoI lies inside the constant block, more than half a cell from its edge.
    proposals = [torch.tensor([[0.0, 0.0, 32.0, 32.0]]), torch.tensor([[20.0, 20.0, 44.0, 44.0],
                                                                       [0.0, 0.0, 64.0, 64.0]])]
    pooled = head.pool(fmap, proposals, stride=4)
    assert pooled.shape == (3, 8, 7, 7)
    assert torch.allclose(pooled[1], torch.full((8, 7, 7), 3.0))
    assert pooled[0].abs().max() == 0  # image 0's map is all zeros: the batch index is honoured
    # The (R, 5) form gives the same, and forward gives (R, 2) and (R, 4).
    rois = torch.tensor([[0, 0.0, 0.0, 32.0, 32.0], [1, 20.0, 20.0, 44.0, 44.0], [1, 0.0, 0.0, 64.0, 64.0]])
    assert torch.equal(head.pool(fmap, rois, stride=4), pooled)
    logits, deltas = head(fmap, rois, stride=4)
    assert logits.shape == (3, 2) and deltas.shape == (3, 4)


def _random_rois(generator, batch, height, width, stride, count):
    """(count, 5) RoIs in image pixels, some reaching beyond the map on every side, some tiny."""
    extent = torch.tensor([width, height], dtype=torch.float64) * stride
    corner = torch.rand(count, 2, generator=generator, dtype=torch.float64) * extent * 1.4 - 0.2 * extent
    size = torch.rand(count, 2, generator=generator, dtype=torch.float64) ** 3 * 40 * stride
    index = torch.randint(0, batch, (count, 1), generator=generator).double()
    return torch.cat([index, corner, corner + size], dim=1)


@settings(max_examples=25, deadline=None)
@given(batch=st.integers(1, 3), channels=st.integers(1, 6), height=st.integers(1, 13), width=st.integers(1, 13),
       count=st.integers(0, 40), ratio=st.integers(1, 3), pool=st.sampled_from([1, 2, 7]), seed=st.integers(0, 99),
       channels_last=st.booleans())
def test_pool_rois_is_torchvision_roi_align_with_its_gradient(batch, channels, height, width, count, ratio, pool,
                                                              seed, channels_last):
    # pool_rois replaces torchvision's CPU backward only: the forward is torchvision's, to the bit, and the
    # gradient is torchvision's to float rounding (float64 here), wherever the boxes lie.
    g = torch.Generator().manual_seed(seed)
    fmap = torch.randn(batch, channels, height, width, generator=g, dtype=torch.float64)
    if channels_last:
        fmap = fmap.contiguous(memory_format=torch.channels_last)
    fmap.requires_grad_()
    rois = _random_rois(g, batch, height, width, 4, count)
    ours = pool_rois(fmap, rois, pool, 0.25, ratio)
    theirs = roi_align(fmap, rois, pool, 0.25, ratio, aligned=True)
    assert torch.equal(ours, theirs)
    upstream = torch.randn(ours.shape, generator=g, dtype=torch.float64)
    (ours_grad,) = torch.autograd.grad(ours, fmap, upstream)
    (theirs_grad,) = torch.autograd.grad(theirs, fmap, upstream)
    assert ours_grad.shape == fmap.shape
    torch.testing.assert_close(ours_grad, theirs_grad, rtol=1e-12, atol=1e-12)


def test_pool_rois_gradient_hand_worked_and_deterministic():
    # One 1 x 1 bin over image pixels 4..12 of a stride-4 map: map coordinates 0.5..2.5, 2 x 2 samples at
    # 1.0 and 2.0 on each axis, each reading one cell exactly: cells (1..2, 1..2) get a quarter each.
    fmap = torch.zeros(1, 1, 4, 4, requires_grad=True)
    rois = torch.tensor([[0.0, 4.0, 4.0, 12.0, 12.0]])
    (grad,) = torch.autograd.grad(pool_rois(fmap, rois, 1, 0.25, 2), fmap, torch.ones(1, 1, 1, 1))
    expected = torch.zeros(1, 1, 4, 4)
    expected[0, 0, 1:3, 1:3] = 0.25
    assert torch.equal(grad, expected)
    # The same inputs give the same bits (runs resume bit-identically), and no RoI gives a zero gradient.
    g = torch.Generator().manual_seed(0)
    big = torch.randn(2, 8, 20, 20, generator=g).requires_grad_()
    many = _random_rois(g, 2, 20, 20, 4, 300).float()
    up = torch.randn(300, 8, 7, 7, generator=g)
    first, second = (torch.autograd.grad(pool_rois(big, many, 7, 0.25, 2), big, up)[0] for _ in range(2))
    assert torch.equal(first, second)
    (none,) = torch.autograd.grad(pool_rois(big, many[:0], 7, 0.25, 2).sum() + big.sum() * 0, big)
    assert torch.equal(none, torch.zeros_like(big))


def test_assign_targets_hand_worked():
    gt = torch.tensor([[0.0, 0.0, 100.0, 100.0], [200.0, 0.0, 300.0, 100.0]])
    proposals = torch.tensor([[0.0, 0.0, 70.0, 100.0],     # IoU 0.70 with gt 0 -> positive (pass 1)
                              [0.0, 0.0, 55.0, 100.0],     # IoU 0.55 -> ignored: gt 0 already has a positive
                              [0.0, 0.0, 30.0, 100.0],     # IoU 0.30 -> negative
                              [200.0, 0.0, 255.0, 100.0]])  # IoU 0.55, gt 1's only candidate -> pass 2 positive
    rois, labels, matched = assign_targets(proposals, gt, append_gt=False)
    assert torch.equal(rois, proposals)
    assert labels.tolist() == [1, -1, 0, 1]
    assert torch.equal(matched[0], gt[0]) and torch.equal(matched[3], gt[1])

    # With the ground truth appended (Fast R-CNN), gt 1 has an IoU-1 positive, so pass 2 adds nothing.
    rois, labels, _ = assign_targets(proposals, gt, append_gt=True)
    assert rois.shape == (6, 4) and labels.tolist() == [1, -1, 0, -1, 1, 1]
    # An ignored box is neither appended nor matched; RoIs on it are ignored, not negatives.
    rois, labels, _ = assign_targets(proposals, gt, torch.tensor([False, True]), append_gt=True)
    assert rois.shape == (5, 4) and labels.tolist() == [1, -1, 0, -1, 1]


def test_group_sampling_over_reference_scales_vs_random():
    # 200 RoIs near scale 16 (20 positive) and 20 near 128 (4 positive).
    small = torch.tensor([[0.0, 0.0, 16.0, 16.0]]).repeat(200, 1)
    large = torch.tensor([[0.0, 0.0, 128.0, 128.0]]).repeat(20, 1)
    rois = torch.cat([small, large])
    groups = reference_scale(rois, (16, 32, 64, 128))
    labels = torch.zeros(220, dtype=torch.int64)
    labels[:20] = 1
    labels[200:204] = 1

    gs = GroupSampler(16)(labels, groups, 4, None, torch.Generator().manual_seed(0))
    # Each group its own quota: 4 positives (16 * 0.25) and 12 negatives.
    assert torch.bincount(groups[gs.pos], minlength=4).tolist() == [4, 0, 0, 4]
    assert torch.bincount(groups[gs.neg], minlength=4).tolist() == [12, 0, 0, 12]

    rs = RandomSampler(32)(labels, groups, 4, None, torch.Generator().manual_seed(0))
    assert rs.indices.numel() == 32 and rs.pos.numel() == 8
    # RS draws in proportion to what exists: the scale-128 group gets far less than GS's 16.
    assert (groups[rs.indices] == 3).sum() < 8


def test_select_proposals_grouped_keeps_small_faces():
    # 8 disjoint small boxes scoring low, 8 disjoint large ones scoring high.
    small = torch.tensor([[20.0 * i, 0.0, 20.0 * i + 16.0, 16.0] for i in range(8)])
    large = torch.tensor([[130.0 * i, 100.0, 130.0 * i + 128.0, 228.0] for i in range(8)])
    boxes = torch.cat([small, large])
    scores = torch.cat([torch.full((8,), 0.1), torch.full((8,), 0.9)])
    plain = select_proposals(boxes, scores, num_proposals=8)
    assert (plain >= 8).all()  # a global top 8 keeps only large boxes
    grouped = select_proposals(boxes, scores, num_proposals=8, grouped=True)
    assert sorted(reference_scale(boxes[grouped]).tolist()) == [0, 0, 3, 3]  # 8 // 4 per group
    # NMS still applies: a duplicate of the first small box is dropped.
    dup = select_proposals(torch.cat([boxes, small[:1]]), torch.cat([scores, torch.tensor([0.05])]), 100,
                           grouped=True)
    assert dup.numel() == 16


def _toy_problem(seed=0):
    g = torch.Generator().manual_seed(seed)
    fmap = torch.randn(1, 8, 32, 32, generator=g)
    gt = torch.tensor([[20.0, 20.0, 44.0, 44.0], [60.0, 50.0, 124.0, 114.0]])
    jitter = torch.randn(40, 4, generator=g) * 4
    # 40 jittered copies of the faces, 60 random boxes: (x, y) in [0, 80), side 16..48.
    xy = torch.rand(60, 2, generator=g) * 80
    side = 16 + torch.rand(60, 1, generator=g) * 32
    proposals = torch.cat([gt.repeat(20, 1) + jitter, torch.cat([xy, xy + side], dim=1)])
    return fmap, proposals, gt


@pytest.mark.parametrize("sampler,reg", [(GroupSampler(32), None), (RandomSampler(64), smooth_l1_loss),
                                         (OHEMSampler(32, per_group=True), None), (FocalStarSampler(), None)])
def test_sgd_reduces_loss(sampler, reg):
    torch.manual_seed(0)
    fmap, proposals, gt = _toy_problem()
    head = FastRCNNHead(8, hidden=32)
    opt = torch.optim.SGD(head.parameters(), lr=0.05, momentum=0.9)
    kwargs = dict(sampler=sampler)
    if reg is not None:
        kwargs["reg_loss"] = reg
    history = []
    for _ in range(15):
        # The same draw every step, so the loss is comparable across steps.
        loss, parts = fast_rcnn_loss(head, fmap, 4, proposals, gt, generator=torch.Generator().manual_seed(1),
                                     **kwargs)
        opt.zero_grad()
        loss.backward()
        opt.step()
        history.append(loss.item())
    assert parts["num_pos"] > 0 and parts["num_neg"] > 0
    assert history[-1] < 0.7 * history[0]


def test_ensemble_and_refine():
    first, second = torch.tensor([0.9, 0.2]), torch.tensor([0.5, 0.6])
    assert torch.allclose(ensemble_scores(first, second), torch.tensor([0.7, 0.4]))
    assert torch.allclose(ensemble_scores(first, second, weight=0.25), 0.25 * first + 0.75 * second)

    head = FastRCNNHead(8, hidden=16)
    for p in (head.bbox.weight, head.bbox.bias, head.cls.weight, head.cls.bias):
        torch.nn.init.zeros_(p)  # zero deltas, second-stage probability 0.5
    proposals = [torch.tensor([[4.0, 4.0, 20.0, 20.0]]), torch.tensor([[8.0, 0.0, 40.0, 24.0]])]
    boxes, scores = refine(head, torch.randn(2, 8, 16, 16), proposals, torch.tensor([0.9, 0.1]), stride=4)
    assert torch.allclose(boxes, torch.cat(proposals))
    assert torch.allclose(scores, torch.tensor([0.7, 0.3]))


def test_with_real_detector_p2():
    torch.manual_seed(0)
    det = Detector(anchors.fpn_finest(), "resnet10", width_divisor=8, channels=16, head_channels=16)
    images = torch.randn(1, 3, 64, 64)
    p2 = det.features(images)["P2"]
    assert p2.shape == (1, 16, 16, 16)
    head = FastRCNNHead(16, hidden=32)
    gt = torch.tensor([[8.0, 8.0, 24.0, 24.0], [20.0, 16.0, 60.0, 56.0]])
    proposals = torch.cat([gt + torch.randn(2, 4), torch.tensor([[0.0, 30.0, 20.0, 50.0]])])
    loss, parts = fast_rcnn_loss(head, p2, 4, proposals, gt, generator=torch.Generator().manual_seed(0),
                                 sampler=GroupSampler(128))
    loss.backward()
    assert torch.isfinite(loss) and parts["num_pos"] >= 2
    assert det.trunk.parameters().__next__().grad is not None  # the second stage trains the shared trunk
    boxes, scores = refine(head, p2, [proposals], torch.rand(3), stride=4)
    assert boxes.shape == (3, 4) and scores.shape == (3,) and ((scores >= 0) & (scores <= 1)).all()


def test_build_detector_gives_the_table13_two_stage_detector():
    from gslib.build import build_detector
    from gslib.experiments import SMOKE, TABLE13
    from gslib.fast_rcnn import TwoStageDetector

    grouped = TABLE13["+GS"]
    torch.manual_seed(0)
    two = build_detector(grouped, SMOKE, initial_weights=False)
    torch.manual_seed(0)
    one = build_detector(TABLE13["FPN-finest-sampling"], SMOKE, initial_weights=False)
    assert isinstance(two, TwoStageDetector) and not isinstance(one, TwoStageDetector)
    assert (two.feature, two.stride, two.grouped, two.num_proposals) == ("P2", 4, True, SMOKE.rcnn_proposals)
    assert not build_detector(TABLE13["+Fast R-CNN"], SMOKE, initial_weights=False).grouped
    assert two.second.fc7.in_features == SMOKE.rcnn_hidden and two.layout == one.layout
    # The second stage is drawn after the first: a first stage starts from the one-stage detector's weights.
    first = two.first.state_dict()
    assert all(torch.equal(first[k], v) for k, v in one.state_dict().items())
    logits, deltas, fmap = two(torch.zeros(1, 3, 64, 96))
    assert logits.shape == (1, one.layout.num_anchors(64, 96), 2) and deltas.shape[2] == 4
    assert fmap.shape == (1, SMOKE.channels, 16, 24)


def test_first_stage_boxes_global_or_per_reference_scale():
    from gslib.fast_rcnn import first_stage_boxes

    # 8 anchors: four 16-px (scores .1-.4) and four 128-px (scores .6-.9); zero deltas; a 200 x 300 image.
    anchors = torch.tensor([[0.0, 0, 16, 16]] * 4 + [[0.0, 0, 128, 128]] * 4) + torch.arange(8.0)[:, None] * 4
    p = torch.tensor([0.1, 0.2, 0.3, 0.4, 0.6, 0.7, 0.8, 0.9])
    logits = torch.stack([torch.zeros(8), torch.log(p / (1 - p))], dim=1)
    boxes, scores, index = first_stage_boxes(logits, torch.zeros(8, 4), anchors, (200, 300), top_k=4)
    assert index.tolist() == [7, 6, 5, 4] and torch.allclose(scores, p[[7, 6, 5, 4]])
    # Grouped: top 4 // 4 = 1 per reference scale (16, 32, 64, 128): the best small box survives.
    boxes, scores, index = first_stage_boxes(logits, torch.zeros(8, 4), anchors, (200, 300), top_k=4, grouped=True)
    assert index.tolist() == [3, 7] and torch.equal(boxes, anchors[[3, 7]])
    # Clipped to the image; a box left with no area is dropped.
    anchors[7] = torch.tensor([300.0, 10, 400, 110])
    boxes, _, index = first_stage_boxes(logits, torch.zeros(8, 4), anchors, (200, 300), top_k=3)
    assert index.tolist() == [6, 5] and boxes[:, 2].max() <= 300
