"""gslib's matcher and samplers inside torchvision's Faster R-CNN (gslib.torchvision_rpn): the draws are
gslib's, per scale group, and torchvision's RPN trains on exactly them."""
from pathlib import Path

import pytest
import torch
from torchvision.models.detection import fasterrcnn_mobilenet_v3_large_320_fpn
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.image_list import ImageList

from gslib.matcher import IGNORE, NEGATIVE, POSITIVE, TwoPassMatcher
from gslib.sampling import FocalStarSampler, GroupSampler, OHEMSampler, RandomSampler, group_sample, reference_scale
from gslib.torchvision_rpn import GroupSampledRPN, drawn_labels


def test_torchvision_anchors_fall_in_the_group_of_their_size():
    # Two sizes on one level, three aspect ratios: torchvision orders a cell's anchors ratio-major, size-minor.
    generator = AnchorGenerator(sizes=((32, 64),), aspect_ratios=((0.5, 1.0, 2.0),))
    cell = generator.generate_anchors([32, 64], [0.5, 1.0, 2.0])
    assert reference_scale(cell, [32.0, 64.0]).tolist() == [0, 1, 0, 1, 0, 1]
    images = ImageList(torch.zeros(1, 3, 64, 64), [(64, 64)])
    anchors = generator(images, [torch.zeros(1, 8, 4, 4)])[0]
    assert reference_scale(anchors, [32.0, 64.0]).tolist() == [0, 1, 0, 1, 0, 1] * 16


def two_group_anchors():
    """A row of 20 anchors of 32 px (group 0) and one of 10 of 64 px (group 1), each at half its size from the
    next (IoU 1/3), and a face on one anchor of each row."""
    small = torch.tensor([[x, 0.0, x + 32, 32] for x in range(0, 320, 16)])
    large = torch.tensor([[x, 100.0, x + 64, 164] for x in range(0, 320, 32)])
    boxes = torch.tensor([[16.0, 0, 48, 32], [64.0, 100, 128, 164]])
    return torch.cat([small, large]), boxes


def test_drawn_labels_are_group_sampling_of_the_two_pass_matcher():
    anchors, boxes = two_group_anchors()
    sampler, matcher = GroupSampler(num_per_group=4, positive_fraction=0.25), TwoPassMatcher(0.6, 0.4)
    drawn, matched = drawn_labels(anchors, boxes, matcher, sampler, [32.0, 64.0], torch.Generator().manual_seed(3))
    labels, want_matched = matcher(anchors, boxes)
    want = group_sample(labels, reference_scale(anchors, [32, 64]), 2, 4, 0.25, torch.Generator().manual_seed(3))
    assert drawn[want.pos].eq(POSITIVE).all() and drawn[want.neg].eq(NEGATIVE).all()
    assert int((drawn != IGNORE).sum()) == want.pos.numel() + want.neg.numel() == 8  # 4 in each group
    for group in (slice(0, 20), slice(20, 30)):  # one positive (N / 4) and three negatives per group
        assert int((drawn[group] == POSITIVE).sum()) == 1 and int((drawn[group] == NEGATIVE).sum()) == 3
    assert torch.equal(matched, want_matched)
    # The anchor exactly on each face is its positive (IoU 1), matched to that face.
    assert drawn[1] == POSITIVE and matched[1] == 0 and drawn[22] == POSITIVE and matched[22] == 1


def test_an_image_without_faces_draws_negatives_only():
    anchors, _ = two_group_anchors()
    drawn, matched = drawn_labels(anchors, torch.zeros(0, 4), TwoPassMatcher(), GroupSampler(4), [32.0, 64.0])
    assert int((drawn == NEGATIVE).sum()) == 8 and not (drawn == POSITIVE).any() and (matched == -1).all()


def small_faster_rcnn():
    torch.manual_seed(0)
    return fasterrcnn_mobilenet_v3_large_320_fpn(weights=None, weights_backbone=None, num_classes=2)


def training_step(model, seed: int):
    torch.manual_seed(seed)
    images = [torch.rand(3, 160, 160)]
    targets = [{"boxes": torch.tensor([[20.0, 30, 60, 70], [90.0, 80, 150, 150]]), "labels": torch.tensor([1, 1])}]
    return model(images, targets)


def test_faster_rcnn_trains_on_the_group_sampled_draws(monkeypatch):
    model = small_faster_rcnn()
    head = model.rpn.head
    model.rpn = GroupSampledRPN.replacing(model.rpn, GroupSampler(16), TwoPassMatcher(0.6, 0.4),
                                          torch.Generator().manual_seed(0))
    assert model.rpn.head is head and model.rpn.group_sizes == [32.0, 64.0, 128.0, 256.0, 512.0]
    seen = []
    original = GroupSampledRPN.assign_targets_to_anchors

    def spy(self, anchors, targets):
        labels, matched = original(self, anchors, targets)
        seen.append((anchors[0], labels[0]))
        return labels, matched

    monkeypatch.setattr(GroupSampledRPN, "assign_targets_to_anchors", spy)
    model.train()
    losses = training_step(model, 0)
    assert set(losses) >= {"loss_objectness", "loss_rpn_box_reg"}
    assert all(torch.isfinite(v) for v in losses.values())
    sum(losses.values()).backward()
    assert head.cls_logits.weight.grad.abs().sum() > 0
    anchors, labels = seen[0]
    groups = reference_scale(anchors, model.rpn.group_sizes)
    # Every size has thousands of negatives here: GS draws 16 of each group, whatever its share of the anchors.
    assert torch.bincount(groups[labels != IGNORE], minlength=5).tolist() == [16] * 5
    assert int((labels == POSITIVE).sum()) >= 1


def test_the_draws_follow_the_generator():
    def objectness_loss(seed):
        model = small_faster_rcnn()
        model.rpn = GroupSampledRPN.replacing(model.rpn, RandomSampler(32), TwoPassMatcher(),
                                              torch.Generator().manual_seed(seed))
        return training_step(model.train(), 0)["loss_objectness"]

    assert torch.equal(objectness_loss(1), objectness_loss(1))
    assert not torch.equal(objectness_loss(1), objectness_loss(2))


@pytest.mark.parametrize("sampler, says", [(OHEMSampler(), "ranks anchors by their loss"),
                                           (FocalStarSampler(per_group=True), "its own classification loss")])
def test_samplers_torchvision_cannot_train_with_are_refused(sampler, says):
    with pytest.raises(ValueError, match=says):
        GroupSampledRPN.replacing(small_faster_rcnn().rpn, sampler, TwoPassMatcher())


def readme_snippets() -> list[str]:
    """The python blocks of README's "Using the parts in your own detector"."""
    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = text[text.index("**Using the parts in your own detector.**"):]
    section = section[:section.index("\n**", 10)] if "\n**" in section[10:] else section
    return [block.split("```", 1)[0] for block in section.split("```python\n")[1:]]


def test_readme_snippets_run_as_written():
    anchors, boxes = two_group_anchors()
    first, second = readme_snippets()
    space = {"anchors": anchors, "boxes": boxes, "sizes": [32.0, 64.0], "generator": torch.Generator().manual_seed(0)}
    exec(first, space)
    # N = 256 per group is more than these 20 + 10 anchors: each group keeps its face's anchor and every negative.
    assert space["samples"].pos.tolist() == [1, 22] and space["samples"].neg.numel() == 28
    space = {"model": small_faster_rcnn(), "GroupSampledRPN": GroupSampledRPN, "GroupSampler": GroupSampler,
             "TwoPassMatcher": TwoPassMatcher}
    exec(second, space)
    assert isinstance(space["model"].rpn, GroupSampledRPN)
