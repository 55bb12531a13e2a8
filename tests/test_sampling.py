"""Samplers: counts, ratios and back-fill (overall and per group), determinism, hard-mining rules, eq. 4;
the sampler objects of training against the functions they call."""
import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torchvision.ops import nms

from gslib.losses import focal_star_loss, softmax_ce
from gslib.matcher import NEGATIVE, POSITIVE
from gslib.sampling import (
    FocalStarSampler,
    GroupSampler,
    OHEMSampler,
    RandomSampler,
    Samples,
    WRSSampler,
    balanced_sample,
    focal_star_sample,
    focal_weight,
    group_sample,
    nms_survivors,
    ohem_sample,
    random_sample,
    reference_scale,
    wrs_key,
    wrs_sample,
)


def make_labels(*blocks):
    """blocks: (label, count, group) -> labels (A,), groups (A,)."""
    labels = torch.cat([torch.full((n,), lab, dtype=torch.int64) for lab, n, _ in blocks])
    groups = torch.cat([torch.full((n,), g, dtype=torch.int64) for _, n, g in blocks])
    return labels, groups


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def check_valid(s: Samples, labels):
    assert (labels[s.pos] == 1).all() and (labels[s.neg] == 0).all()
    assert s.indices.unique().numel() == s.indices.numel()


@pytest.mark.parametrize("n_pos,n_neg,want", [(100, 1000, (64, 192)),   # plenty: 1:3
                                               (10, 1000, (10, 246)),   # negatives fill the positive shortfall
                                               (10, 20, (10, 20)),      # both short: everything
                                               (0, 1000, (0, 256)),
                                               (0, 0, (0, 0))])
def test_rs_counts(n_pos, n_neg, want):
    labels, _ = make_labels((1, n_pos, 0), (0, n_neg, 0), (-1, 50, 0))
    s = random_sample(labels, 256, 0.25, generator=gen())
    assert (s.pos.numel(), s.neg.numel()) == want
    check_valid(s, labels)


def test_gs_counts_per_group():
    labels, groups = make_labels((1, 2, 0), (0, 5000, 0),      # scale 16: few positives -> 2 + 254
                                 (1, 100, 1), (0, 5000, 1),    # scale 32: plenty -> 64 + 192
                                 (0, 50, 2), (1, 3, 2),        # scale 64: lacks negatives too -> 3 + 50
                                 (-1, 70, 3))                  # scale 128: nothing labelled -> nothing
    s = group_sample(labels, groups, 4, 256, generator=gen())
    check_valid(s, labels)
    pos_per = torch.bincount(groups[s.pos], minlength=4).tolist()
    neg_per = torch.bincount(groups[s.neg], minlength=4).tolist()
    assert pos_per == [2, 64, 3, 0]
    assert neg_per == [254, 192, 50, 0]


def test_gs_gives_every_group_the_same_total_when_it_can():
    labels, groups = make_labels(*[(1, 10 * (g + 1) ** 3, g) for g in range(4)],
                                 *[(0, 4000 // (g + 1), g) for g in range(4)])
    s = group_sample(labels, groups, 4, 512, generator=gen())
    assert torch.bincount(groups[s.indices], minlength=4).tolist() == [512] * 4
    assert torch.bincount(groups[s.pos], minlength=4).tolist() == [10, 80, 128, 128]


def test_rs_on_the_same_anchors_follows_the_imbalance_gs_removes():
    # Scale-16 anchors outnumber the others; RS draws mostly from them, GS draws evenly (Fig. 2 in miniature).
    labels, groups = make_labels((0, 8000, 0), (0, 1000, 1), (0, 500, 2), (0, 500, 3))
    rs = random_sample(labels, 1024, generator=gen())
    gs = group_sample(labels, groups, 4, 256, generator=gen())
    assert torch.bincount(groups[rs.neg], minlength=4)[0] > 700
    assert torch.bincount(groups[gs.neg], minlength=4).tolist() == [256] * 4


def test_determinism_under_a_seed():
    labels, groups = make_labels((1, 300, 0), (0, 3000, 0), (1, 300, 1), (0, 3000, 1))
    a = group_sample(labels, groups, 2, 128, generator=gen(7))
    b = group_sample(labels, groups, 2, 128, generator=gen(7))
    c = group_sample(labels, groups, 2, 128, generator=gen(8))
    assert torch.equal(a.pos, b.pos) and torch.equal(a.neg, b.neg)
    assert not torch.equal(a.neg, c.neg)
    assert torch.equal(random_sample(labels, generator=gen(3)).neg, random_sample(labels, generator=gen(3)).neg)


def test_balanced_sample_keeps_the_largest_keys():
    labels = torch.tensor([1, 1, 1, 0, 0, 0, 0, 0, -1])
    key = torch.tensor([0.1, 0.9, 0.5, 0.3, 0.8, 0.2, 0.7, 0.6, 9.0])
    s = balanced_sample(labels, key, num_samples=4, positive_fraction=0.25)
    assert s.pos.tolist() == [1] and sorted(s.neg.tolist()) == [4, 6, 7]


def test_ohem_takes_the_top_b_losses_whatever_the_label():
    labels = torch.tensor([1, 0, 0, 1, 0, -1, 0])
    losses = torch.tensor([0.2, 3.0, 0.1, 2.0, 1.0, 99.0, 0.5])
    s = ohem_sample(labels, losses, batch=3)
    assert sorted(s.pos.tolist()) == [3] and sorted(s.neg.tolist()) == [1, 4]  # the -1 anchor never counts


def test_gs_ohem_uses_gs_counts_ranked_by_loss():
    labels, groups = make_labels((1, 4, 0), (0, 20, 0), (1, 4, 1), (0, 20, 1))
    losses = torch.arange(labels.numel(), dtype=torch.float32)
    s = ohem_sample(labels, losses, batch=8, groups=groups, num_groups=2)
    assert s.pos.tolist() == [3, 2, 27, 26]  # 2 per group, the highest losses
    assert sorted(s.neg.tolist()) == list(range(18, 24)) + list(range(42, 48))


def test_ohem_nms_drops_the_lower_loss_of_two_overlapping_anchors():
    # A and B overlap by IoU 9/11 = 0.82 > 0.7: B, of lower loss, goes, and the next anchor takes its place.
    # C and D overlap by 1/3 < 0.7: both stay. The ignored anchor E never counts, however high its loss.
    boxes = torch.tensor([[0.0, 0, 10, 10], [1, 0, 11, 10], [20, 20, 30, 30], [25, 20, 35, 30], [0, 0, 10, 10]])
    labels = torch.tensor([1, 0, 0, 0, -1])
    losses = torch.tensor([3.0, 2.0, 1.0, 0.5, 9.0])
    s = ohem_sample(labels, losses, batch=3, boxes=boxes, nms_threshold=0.7)
    assert s.pos.tolist() == [0] and s.neg.tolist() == [2, 3]
    assert sorted(ohem_sample(labels, losses, batch=3).neg.tolist()) == [1, 2]  # without NMS B is kept
    with pytest.raises(ValueError, match="boxes"):
        ohem_sample(labels, losses, batch=3, nms_threshold=0.7)


def test_gs_ohem_nms_runs_within_each_groups_positives_and_negatives():
    # Group 0: positives 0, 1 overlap (IoU 0.82), negatives 2, 3 overlap; group 1's negative 5 duplicates 4.
    # A positive and a negative never suppress each other (anchor 6, negative, duplicates positive 0).
    boxes = torch.tensor([[0.0, 0, 10, 10], [1, 0, 11, 10], [40, 0, 50, 10], [41, 0, 51, 10],
                          [80, 0, 120, 40], [81, 0, 121, 40], [0, 0, 10, 10], [0, 60, 10, 70]])
    labels = torch.tensor([1, 1, 0, 0, 0, 0, 0, 0])
    groups = torch.tensor([0, 0, 0, 0, 1, 1, 0, 1])
    losses = torch.tensor([1.0, 2.0, 5.0, 4.0, 3.0, 6.0, 0.5, 0.1])
    s = ohem_sample(labels, losses, batch=4, groups=groups, num_groups=2, boxes=boxes, nms_threshold=0.7)
    assert s.pos.tolist() == [1]  # 1 of 4 at 1:3; anchor 0 is suppressed by 1 anyway
    assert s.neg.tolist() == [2, 6, 5, 7]  # group 0: 3 of {2, 6} (3 is suppressed); group 1: 4 of {5, 7}


def test_nms_survivors_see_only_the_top_candidates_when_capped():
    # Ranked A, B, C: B overlaps A (IoU 0.82) and goes. Capped to the top 2, C never enters: 1 survivor, not 2.
    boxes = torch.tensor([[0.0, 0, 10, 10], [1, 0, 11, 10], [20, 20, 30, 30]])
    key, idx = torch.tensor([3.0, 2.0, 1.0]), torch.arange(3)
    assert nms_survivors(boxes, key, idx, 2, 0.7).tolist() == [0, 2]
    assert nms_survivors(boxes, key, idx, 2, 0.7, max_candidates=2).tolist() == [0]


@settings(max_examples=60, deadline=None)
@given(n=st.integers(0, 120), k=st.integers(0, 40), threshold=st.sampled_from([0.3, 0.5, 0.7]),
       seed=st.integers(0, 10_000), ties=st.booleans(), cap=st.one_of(st.none(), st.integers(0, 130)))
def test_nms_survivors_are_the_first_k_of_nms_over_every_candidate(n, k, threshold, seed, ties, cap):
    g = gen(seed)
    xy = torch.randint(0, 40, (n, 2), generator=g).float()
    boxes = torch.cat([xy, xy + torch.randint(4, 20, (n, 2), generator=g).float()], dim=1)
    key = torch.randint(0, 5, (n,), generator=g).float() if ties else torch.rand(n, generator=g)
    idx = torch.randperm(n, generator=g)[: n // 2 + 1].sort().values if n else torch.zeros(0, dtype=torch.int64)
    order = idx[torch.argsort(key[idx], descending=True, stable=True)][:cap]
    rank = torch.arange(order.numel(), 0, -1, dtype=torch.float32)
    every = order[nms(boxes[order], rank, threshold)]
    assert torch.equal(nms_survivors(boxes, key, idx, k, threshold, cap), every[:k])


def test_wrs_prefers_hard_examples_but_keeps_easy_ones_possible():
    # eq. 3 with k = 1 picks i with probability l_i / sum(l): losses 1 and 3 -> 1/4 and 3/4.
    labels = torch.tensor([0, 0])
    losses = torch.tensor([1.0, 3.0])
    g = gen(0)
    picks = [wrs_sample(labels, losses, num_samples=1, generator=g).neg.item() for _ in range(4000)]
    share = sum(picks) / len(picks)
    assert abs(share - 0.75) < 0.03
    # A zero loss (eps = 1e-6) loses against any real loss.
    labels = torch.tensor([1] * 10 + [1] * 100)
    losses = torch.tensor([5.0] * 10 + [0.0] * 100)
    s = wrs_sample(labels, losses, num_samples=32, positive_fraction=0.25, generator=gen(1))
    assert s.pos.numel() == 8 and (s.pos < 10).all()


def test_wrs_key_matches_eq3_order():
    losses = torch.tensor([0.5, 1.0, 2.0, 0.1])
    g1, g2 = gen(5), gen(5)
    key = wrs_key(losses, generator=g1)
    r = torch.rand(4, generator=g2, dtype=torch.float64)
    w = r ** (1 / (losses.double() + 1e-6))
    assert torch.equal(key.argsort(), w.argsort())


def test_focal_weights_and_focal_star_normalisation():
    logits = torch.tensor([[0.0, 0.0], [0.0, math.log(3.0)], [math.log(3.0), 0.0]])
    labels = torch.tensor([1, 1, 0])
    # p_t = 0.5, 0.75, 0.75 -> weights 0.25*0.25, 0.25*0.0625, 0.75*0.0625
    torch.testing.assert_close(focal_weight(logits, labels), torch.tensor([0.0625, 0.015625, 0.046875]))
    s = focal_star_sample(torch.tensor([1, 1, 0, -1]), torch.cat([logits, torch.zeros(1, 2)]))
    assert s.pos.tolist() == [0, 1] and s.neg.tolist() == [2]
    torch.testing.assert_close(s.weight.sum(), torch.tensor(1.0))
    torch.testing.assert_close(s.weight, torch.tensor([0.0625, 0.015625, 0.046875]) / 0.125)


def test_gs_focal_star_weights_only_the_preselected():
    labels, groups = make_labels((1, 50, 0), (0, 5000, 0), (1, 50, 1), (0, 5000, 1))
    pre = group_sample(labels, groups, 2, 2048, generator=gen())
    s = focal_star_sample(labels, torch.zeros(labels.numel(), 2), preselect=pre)
    assert s.indices.numel() == 2 * (50 + 1998) and torch.equal(s.pos, pre.pos)


def test_reference_scale_eq4():
    def box(side):
        return [0.0, 0.0, side, side]
    boxes = torch.tensor([box(4), box(16), box(22), box(23), box(45), box(46), box(128), box(1000),
                          box(math.sqrt(16 * 32))])  # the last one sits exactly between 16 and 32
    assert reference_scale(boxes).tolist() == [0, 0, 0, 1, 1, 2, 3, 3, 0]
    assert reference_scale(torch.tensor([[0.0, 0.0, 8.0, 32.0]])).tolist() == [0]  # sqrt(wh) = 16


def test_sampler_objects_draw_what_their_functions_draw():
    # Group 0 has plenty, group 1 few positives, group 2 few negatives; some anchors are ignored.
    labels, groups = make_labels((1, 30, 0), (0, 900, 0), (-1, 40, 0), (1, 5, 1), (0, 300, 1), (1, 60, 2),
                                 (0, 20, 2))
    logits = torch.randn(labels.numel(), 2, generator=gen(9))
    ce = F.cross_entropy(logits, (labels == 1).long(), reduction="none")
    everything = Samples((labels == 1).nonzero().squeeze(1), (labels == 0).nonzero().squeeze(1))
    xy = torch.randint(0, 200, (labels.numel(), 2), generator=gen(5)).float()
    boxes = torch.cat([xy, xy + 16], dim=1)
    cases = [
        (RandomSampler(64), lambda g: random_sample(labels, 64, generator=g)),
        (GroupSampler(32), lambda g: group_sample(labels, groups, 3, 32, generator=g)),
        (OHEMSampler(64), lambda g: ohem_sample(labels, ce, 64)),
        (OHEMSampler(32, per_group=True), lambda g: ohem_sample(labels, ce, 32, groups, 3)),
        (OHEMSampler(64, nms_threshold=0.7), lambda g: ohem_sample(labels, ce, 64, boxes=boxes, nms_threshold=0.7)),
        (OHEMSampler(32, per_group=True, nms_threshold=0.5),
         lambda g: ohem_sample(labels, ce, 32, groups, 3, boxes=boxes, nms_threshold=0.5)),
        (WRSSampler(64), lambda g: wrs_sample(labels, ce, 64, generator=g)),
        (WRSSampler(32, per_group=True), lambda g: wrs_sample(labels, ce, 32, groups=groups, num_groups=3,
                                                              generator=g)),
        (FocalStarSampler(), lambda g: everything),
        (FocalStarSampler(per_group=True, num_per_group=32), lambda g: group_sample(labels, groups, 3, 32,
                                                                                     generator=g)),
    ]
    for sampler, direct in cases:
        got, want = sampler(labels, groups, 3, logits, gen(4), boxes), direct(gen(4))
        assert torch.equal(got.pos, want.pos) and torch.equal(got.neg, want.neg), sampler
        assert got.weight is None  # eq. 2 takes the classification loss's own normaliser
    # Hard mining needs the logits; the others draw without them.
    assert [s.needs_logits for s, _ in cases] == [False, False, True, True, True, True, True, True, False, False]


def test_sampler_objects_name_eq2_grouping_and_classification_loss():
    assert not RandomSampler().per_group and GroupSampler().per_group
    for make in (OHEMSampler, WRSSampler):
        assert not make().per_group and make(per_group=True).per_group
    assert not FocalStarSampler().per_group and FocalStarSampler(per_group=True).per_group
    logits, targets = torch.randn(6, 2, generator=gen(2)), torch.tensor([1, 0, 0, 1, 0, 0])
    for sampler in (RandomSampler(), GroupSampler(), OHEMSampler(), WRSSampler()):
        for got, want in zip(sampler.classification_loss(logits, targets), softmax_ce(logits, targets)):
            assert torch.equal(got, want)
    focal = FocalStarSampler(alpha=0.5, gamma=1.0).classification_loss(logits, targets)
    for got, want in zip(focal, focal_star_loss(logits, targets, 0.5, 1.0)):
        assert torch.equal(got, want)


def _balanced_sample_by_masks(labels, key, num_samples, positive_fraction, groups, num_groups):
    """balanced_sample as first written: one pass over every anchor per group (the reference)."""
    max_pos = math.floor(num_samples * positive_fraction)
    pos, neg = [], []
    for g in range(num_groups):
        in_group = groups == g
        p = (in_group & (labels == POSITIVE)).nonzero().squeeze(1)
        p = p if p.numel() <= max_pos else p[key[p].topk(max_pos).indices]
        n = (in_group & (labels == NEGATIVE)).nonzero().squeeze(1)
        k = num_samples - p.numel()
        n = n if n.numel() <= k else n[key[n].topk(k).indices]
        pos.append(p)
        neg.append(n)
    return torch.cat(pos), torch.cat(neg)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10**6), st.integers(1, 5), st.booleans(), st.integers(1, 64))
def test_balanced_sample_splits_groups_as_the_per_group_masks_did(seed, num_groups, sorted_groups, num_samples):
    # Group-major anchors (training's first stage) and scattered ones (the second stage's RoIs), with tied keys.
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(-1, 2, (500,), generator=g)
    groups = torch.randint(0, num_groups, (500,), generator=g)
    if sorted_groups:
        groups = groups.sort().values
    key = torch.randint(0, 50, (500,), generator=g).float()
    got = balanced_sample(labels, key, num_samples, 0.25, groups, num_groups)
    want = _balanced_sample_by_masks(labels, key, num_samples, 0.25, groups, num_groups)
    assert torch.equal(got.pos, want[0]) and torch.equal(got.neg, want[1])
