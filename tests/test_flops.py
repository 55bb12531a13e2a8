"""Complexity: hand-worked counts, Sec. 6.2's closed form, and Tables 11 and 15 (counted on the meta
device, so every network here counts in about a second)."""
import json

import pytest
import torch
from torch import nn

from gslib.anchors import AnchorLayout, AnchorLevel
from gslib.flops import (
    TABLE10_R18,
    TABLE11,
    TABLE15,
    closed_form,
    complexity,
    count_macs,
    main,
    retinaface_complexity,
    table11,
    table15,
)
from gslib.model import Detector


def test_hand_worked_conv():
    # 3x3 conv 3 -> 8 on 10x10, padding 1: 8 outputs x 100 cells x 27 MACs = 21,600; thop adds 1 per
    # output for the bias (800).
    conv = nn.Conv2d(3, 8, 3, padding=1)
    x = torch.randn(1, 3, 10, 10)
    assert count_macs(conv, x)["total"] == 21_600
    assert count_macs(conv, x, thop=True)["total"] == 21_600 + 800
    # stride 2, no bias, batch 2: 8 x 5 x 5 x 27 x 2
    assert count_macs(nn.Conv2d(3, 8, 3, 2, 1, bias=False), torch.randn(2, 3, 10, 10), thop=True)["total"] == 10_800


def test_thop_terms():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.bn = nn.BatchNorm2d(4)
            self.fc = nn.Linear(16, 3)

        def forward(self, x):
            y = self.bn(x)  # 4 x 6 x 6 = 144 elements: thop 2 each
            y = nn.functional.interpolate(y, size=(12, 12), mode="bilinear")  # 576 outputs: thop 11 each
            return self.fc(y.mean((2, 3)).repeat(1, 4))  # 16 x 3 = 48 MACs

    net = Net().eval()
    x = torch.randn(1, 4, 6, 6)
    assert count_macs(net, x) == {"total": 48, "fc": 48}
    assert count_macs(net, x, thop=True) == {"total": 48 + 288 + 6336, "bn": 288, "fc": 48}


def test_closed_form_by_hand():
    # c = c' = 256 on a 200 x 200 P2 (800 x 800 input): the 3x3 is 9 x 256 x 256 x 40,000 = 23,592,960,000 MACs,
    # the 1x1s 4 anchors x 6 outputs x 256 x 40,000 = 245,760,000; FPN: (23,592,960,000 + 61,440,000) x 85 / 64.
    s1, s2 = closed_form(256, 256, 200, 200)
    assert s1 == 23_838_720_000
    assert s2 == 31_416_000_000
    assert s1 - s2 == (1026 - 189 * 256) * 256 * 200 * 200 / 64


@pytest.mark.parametrize("c, c1, size", [(256, 256, 800), (6, 8, 256), (5, 8, 256), (32, 16, 320)])
def test_closed_form_of_sec_6_2(c, c1, size):
    h = w = size // 4
    s1, s2 = closed_form(c, c1, h, w)
    finest = complexity("FPN-finest-sampling", "resnet10", size, channels=c, head_channels=c1, width_divisor=8)
    fpn = complexity("FPN", "resnet10", size, channels=c, head_channels=c1, width_divisor=8)
    assert finest["head_gmacs"] * 1e9 == pytest.approx(s1, abs=0.5)
    assert fpn["head_gmacs"] * 1e9 == pytest.approx(s2, abs=0.5)
    assert (s1 < s2) == (c > 1026 / 189)  # S1 - S2 = (1026 - 189 c) c' h w / 64
    assert s1 - s2 == pytest.approx((1026 - 189 * c) * c1 * h * w / 64)
    # FPN-finest-stride: the same head on P2 sub-sampled by 1, 2, 4, 8 costs what FPN's costs.
    stride = complexity("FPN-finest-stride", "resnet10", size, channels=c, head_channels=c1, width_divisor=8)
    assert stride["head_gmacs"] == fpn["head_gmacs"]


def test_closed_form_with_four_anchors_per_level():
    """The other reading of "we tile 4 anchors respectively on P2..P5": 4 per level, still above S1."""
    layout = AnchorLayout("FPN-4", tuple(AnchorLevel(f"P{i}", (16, 32, 64, 128)) for i in range(2, 6)))
    with torch.device("meta"):
        det = Detector(layout, "resnet10", width_divisor=8, channels=256, head_channels=256)
        macs = count_macs(det, torch.empty(1, 3, 800, 800))
    s1, s2 = closed_form(256, 256, 200, 200, anchors_per_level=4)
    assert macs["head"] == s2
    assert s1 < s2


def test_retinaface_complexity():
    """RetinaFace-mnet0.25: 426,608 parameters (its released weights hold as many, test_retinaface), and its MACs
    grow with the image area (fully convolutional, every map a multiple of 32 px here)."""
    small, large = retinaface_complexity(320), retinaface_complexity((640, 640))
    assert small["params_m"] == large["params_m"] == pytest.approx(0.426608, abs=1e-9)
    assert large["total_gmacs"] == pytest.approx(4 * small["total_gmacs"], rel=1e-12)
    assert large["total_gmacs_thop"] > large["total_gmacs"]


def test_table11_in_the_papers_split():
    """thop's convention reproduces Table 11 to 0.1 % (feature extraction = the ResNet-50 alone)."""
    for row in table11(thop=True):
        paper = TABLE11[row["method"]]
        ours = (row["ours_feature"], row["ours_head"], row["ours_total"])
        assert ours == pytest.approx(paper, rel=1e-3)
    for row in table11(thop=False):  # conv MACs alone: within 1 %
        assert row["ours_total"] == pytest.approx(row["paper_total"], rel=0.01)


def test_table15():
    for row in table15(thop=True):
        assert row["ours_gflops"] == pytest.approx(row["paper_gflops"], abs=0.05 + 1e-9)  # to the paper's digit
        assert row["ours_params_m"] == pytest.approx(row["paper_params_m"], abs=0.05 + 1e-9)
    for row in table15(thop=False):  # without thop's terms and the unused fc: GMACs within 1 %
        assert row["ours_gflops"] == pytest.approx(row["paper_gflops"], rel=0.01)
    assert set(TABLE15) == {r["method"] for r in table15()}
    # Table 10's R18 number is the same model without thop's bilinear term (35.2 M = 11 x 256 x 12,500).
    r18 = complexity("FPN-single", "resnet18", 800, "P3", 8, thop=True)["total_gmacs"]
    assert r18 - 11 * 256 * (100 * 100 + 50 * 50) / 1e9 == pytest.approx(TABLE10_R18, abs=0.005)


def test_cli_json(capsys):
    main(["--backbone", "resnet50", "--detector", "FPN", "--size", "800", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert out["total_gmacs"] == pytest.approx(out["feature_gmacs"] + out["head_gmacs"])
    assert out["feature_gmacs"] == pytest.approx(out["trunk_gmacs"] + out["top_down_gmacs"])
    assert out["total_gmacs"] == pytest.approx(88.463, abs=1e-3)
    assert out["params_m"] > 20
    main(["--backbone", "resnet18", "--detector", "FPN-single", "--feature", "P3", "--stride", "8", "--thop",
          "--json"])
    assert json.loads(capsys.readouterr().out)["total_gmacs"] == pytest.approx(29.77, abs=0.005)
    main(["--detector", "FPN-finest-DC", "--size", "640", "480"])
    assert "FPN-finest-DC on resnet50, 640x480" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["--detector", "FPN-single"])
