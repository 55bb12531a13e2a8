"""Losses: the gradient claim of Sec. 5, the normalisation of eq. 2, hand-worked values."""
import math

import torch

from gslib.boxes import paired_iou
from gslib.losses import detection_loss, focal_star_loss, ls_iou_loss, neg_ln_iou_loss, smooth_l1_loss, softmax_ce
from gslib.sampling import Samples


def x1_grad(loss_fn, x1):
    g = torch.tensor([[10.0, 20.0, 50.0, 80.0]], dtype=torch.float64)
    p = torch.tensor([[x1, 20.0, 50.0, 80.0]], dtype=torch.float64, requires_grad=True)
    loss_fn(paired_iou(p, g, eps=0.0)).sum().backward()
    return p.grad[0, 0].item()


def test_ls_iou_gradient_vanishes_at_iou_one_and_ln_iou_does_not():
    """Sec. 5: as p -> g the gradient of (1 - IoU)^2 goes to 0, while -ln IoU keeps the one-sided limits of
    eq. 12, +-h/A = +-60/2400, different on the two sides."""
    def ls(iou):
        return (1 - iou) ** 2

    def ln(iou):
        return -torch.log(iou)

    for delta in (1e-2, 1e-4, 1e-6):
        for side in (-1, 1):
            assert abs(x1_grad(ls, 10.0 + side * delta)) < delta * 1e-2  # = 2 (1 - IoU) h/A ~ 2 delta (h/A)^2
            assert math.isclose(x1_grad(ln, 10.0 + side * delta), side * 60 / 2400, rel_tol=1e-2)
    # At exactly IoU = 1 autograd's tie rule (half the gradient to each side of max/min) gives 0 for both.
    assert x1_grad(ls, 10.0) == 0.0


def test_ls_iou_gradient_through_the_deltas_is_zero_at_the_target():
    from gslib.boxes import encode
    g = torch.tensor([[10.0, 20.0, 50.0, 80.0]])
    anchors = torch.tensor([[12.0, 18.0, 52.0, 84.0]])
    d = encode(g, anchors).requires_grad_(True)
    ls_iou_loss(d, anchors, g).sum().backward()
    torch.testing.assert_close(d.grad, torch.zeros_like(d), rtol=0, atol=1e-6)


def test_iou_gradient_matches_eq12():
    g = torch.tensor([[10.0, 10.0, 30.0, 30.0]])
    for x1 in (5.0, 15.0):  # x1p < x1g, then x1p >= x1g
        p = torch.tensor([[x1, 12.0, 28.0, 35.0]], requires_grad=True)
        iou = paired_iou(p, g, eps=0.0)
        iou.backward()
        x1p, y1p, x2p, y2p = p.detach()[0].tolist()
        y1s, y2s = max(y1p, 10.0), min(y2p, 30.0)
        inter = (min(x2p, 30.0) - max(x1p, 10.0)) * (y2s - y1s)
        union = (x2p - x1p) * (y2p - y1p) + 400 - inter
        if x1p < 10.0:
            want = inter * (y2p - y1p) / union**2
        else:
            want = (-(union + inter) * (y2s - y1s) + inter * (y2p - y1p)) / union**2
        assert math.isclose(p.grad[0, 0].item(), want, rel_tol=1e-5)


def test_iou_losses_are_finite_for_disjoint_boxes():
    anchors = torch.tensor([[0.0, 0.0, 10.0, 10.0]])
    far = torch.tensor([[100.0, 100.0, 110.0, 110.0]])
    d = torch.zeros(1, 4, requires_grad=True)
    assert ls_iou_loss(d, anchors, far).item() == 1.0
    loss = neg_ln_iou_loss(d, anchors, far)
    assert torch.isfinite(loss).all()


def test_group_normalisation_of_eq2_vs_ordinary():
    # 6 samples, logits 0 -> CE = ln 2 each. Group 0: anchors 0 (pos), 1 (neg). Group 1: 2 (pos), 3, 4, 5 (neg).
    anchors = torch.tensor([[0.0, 0.0, 10.0, 10.0]] * 6)
    matched = anchors.clone()
    matched[0] = torch.tensor([1.0, 0.0, 11.0, 10.0])  # tx = 0.1 -> smooth-L1 0.5 * 0.01 / (1/9) = 0.045
    labels = torch.tensor([1, 0, 1, 0, 0, 0])
    groups = torch.tensor([0, 0, 1, 1, 1, 1])
    logits, deltas = torch.zeros(6, 2), torch.zeros(6, 4)
    samples = Samples(torch.tensor([0, 2]), torch.tensor([1, 3, 4, 5]))
    gs, parts = detection_loss(logits, deltas, anchors, labels, matched, samples, groups, 2,
                               reg_loss=smooth_l1_loss)
    assert math.isclose(parts["cls"].item(), 2 * math.log(2), rel_tol=1e-6)  # ln2*2/2 + ln2*4/4
    assert math.isclose(parts["reg"].item(), 0.045, rel_tol=1e-5)           # 0.045/1 + 0/1
    _, parts = detection_loss(logits, deltas, anchors, labels, matched, samples, reg_loss=smooth_l1_loss)
    assert math.isclose(parts["cls"].item(), math.log(2), rel_tol=1e-6)     # ln2*6/6
    assert math.isclose(parts["reg"].item(), 0.0225, rel_tol=1e-5)         # 0.045/2
    assert math.isclose(gs.item(), 2 * math.log(2) + 0.045, rel_tol=1e-5)


def test_empty_groups_and_no_positives_add_nothing():
    anchors = torch.tensor([[0.0, 0.0, 10.0, 10.0]] * 3)
    logits = torch.zeros(3, 2, requires_grad=True)
    deltas = torch.zeros(3, 4, requires_grad=True)
    samples = Samples(torch.tensor([], dtype=torch.int64), torch.tensor([0, 1]))
    loss, parts = detection_loss(logits, deltas, anchors, torch.tensor([0, 0, -1]), anchors, samples,
                                 torch.tensor([0, 0, 3]), 4)
    assert math.isclose(loss.item(), math.log(2), rel_tol=1e-6) and parts["reg"].item() == 0.0
    loss.backward()
    assert torch.isfinite(logits.grad).all() and torch.equal(deltas.grad, torch.zeros_like(deltas))


def test_focal_star_normalises_by_the_sum_of_weights():
    logits = torch.zeros(4, 2)
    labels = torch.tensor([1, 0, 0, 0])
    loss, norm = focal_star_loss(logits, labels)
    torch.testing.assert_close(norm, torch.tensor([0.0625, 0.1875, 0.1875, 0.1875]))
    assert math.isclose((loss.sum() / norm.sum()).item(), math.log(2), rel_tol=1e-6)
    ce, ones = softmax_ce(logits, labels)
    torch.testing.assert_close(ce, torch.full((4,), math.log(2))) and torch.equal(ones, torch.ones(4))


def test_detection_loss_trains_a_toy_head():
    # Gradient descent on the loss alone moves logits to the labels and deltas to the target.
    anchors = torch.tensor([[0.0, 0.0, 10.0, 10.0], [20.0, 20.0, 30.0, 30.0]])
    matched = torch.tensor([[1.0, 1.0, 12.0, 11.0], [0.0, 0.0, 0.0, 0.0]])
    labels = torch.tensor([1, 0])
    logits = torch.zeros(2, 2, requires_grad=True)
    deltas = torch.zeros(2, 4, requires_grad=True)
    opt = torch.optim.SGD([logits, deltas], lr=0.1)
    for _ in range(200):
        opt.zero_grad()
        samples = Samples(torch.tensor([0]), torch.tensor([1]))
        loss, _ = detection_loss(logits, deltas, anchors, labels, matched, samples)
        loss.backward()
        opt.step()
    assert logits.argmax(1).tolist() == [1, 0]
    from gslib.boxes import decode
    assert paired_iou(decode(deltas[:1].detach(), anchors[:1]), matched[:1]).item() > 0.97
