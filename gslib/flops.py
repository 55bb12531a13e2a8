"""Complexity of the detectors (Sec. 6.2, Tables 10, 11, 15): multiply-accumulates and parameters.

Counting. :class:`torch.utils.flop_counter.FlopCounterMode` counts the FLOPs of convolutions and matrix
products, 2 per multiply-accumulate; we report MACs (its count / 2). The network is built and run on the
``meta`` device, so nothing is computed and ResNet-152 at 800x800 counts in about a second. Parts are
attributed by module: ``trunk`` (the ResNet), ``top_down`` (the top-down pathway, or the plain 1x1s),
``head`` (the shared RPN head, summed over the levels it runs on; a sub-sampled level costs its
sub-sampled map only). ``feature = trunk + top_down``; ``total = feature + head``.

Two conventions:

- ``thop=False`` (default): MACs of convolutions and linear layers only, biases, BN, ReLU, pooling,
  up-sampling and sums cost nothing. Parameters: the model's own.
- ``thop=True``: what thop (https://github.com/Lyken17/pytorch-OpCounter, 2020 releases), the paper's
  counter, reports. It adds, per output element, 1 op for a convolution's bias, 11 ops for bilinear
  up-sampling (thop's ``nn.Upsample`` rule), and 2 ops per input element of a BatchNorm (eval mode);
  ReLU, max pooling and element-wise sums stay free. Its parameter count covers every module the model
  holds, run or not: the paper's detectors kept torchvision's ResNet whole, so its unused 1000-way
  classifier ``fc`` (2.05M parameters for ResNet-50/152, 0.51M for ResNet-18) is in Table 15; we add it.

How the paper's numbers come out (800x800, c = c' = 256, ``thop=True``; ``thop=False`` in brackets):

Table 11 (ResNet-50). The paper's "Feature Extraction" is the ResNet-50 alone, and its "RPN head" is the
top-down pathway plus the head: 52.42 = 52.132 conv MACs of ResNet-50 + 0.284 of thop's BatchNorm
(2 x 0.1418 G elements). With our ``feature_gmacs`` (trunk + top-down) the columns would not match
(57.49 vs 52.42); with ``trunk_gmacs`` and ``top_down_gmacs + head_gmacs`` they do:

==========================  =========================  ======================  ===============
                            Feature Extraction         RPN head                Total
==========================  =========================  ======================  ===============
FPN (paper)                 52.42                      36.50                   88.92
FPN (ours)                  52.42 (52.13)              36.51 (36.33)           88.92 (88.46)
FPN-finest-sampling (paper) 52.42                      28.91                   81.33
FPN-finest-sampling (ours)  52.42 (52.13)              28.93 (28.75)           81.34 (80.89)
==========================  =========================  ======================  ===============

The RPN head column is laterals (4.915 G) + bilinear up-sampling to P4, P3, P2 (0.148 G, thop) + the head:
FPN: 3x3 on P2..P5 with one anchor per level (31.334 G) + 1x1s (0.082 G); FPN-finest: 3x3 on P2
(23.593 G) + 1x1s for 4 anchors (0.246 G); + thop's biases (0.028 / 0.025 G). The remaining 0.01-0.02 G
(< 0.1 %) is below what the paper's rounding and thop's version-to-version rules can settle.
Without the up-sampling's 0.148 G the head column misses by 0.4-0.5 %, so the paper's up-sampling was an
``nn.Upsample`` module (thop counts modules, not ``F.interpolate``).

Table 15 (and Table 10). "Ours(R18)" and "Ours(R152)" are "single shot detector[s] only using the P3"
(4 anchors per cell on P3 at stride 8: the top-down pathway stops at P3, no C2 lateral -- the parameter
counts confirm it: with a C2 lateral R152 would have 61.8M), "Ours(R50)" is FPN-finest-sampling:

=====================  ===============  ===================  ============  =============
                       GFLOPs (paper)   ours                 #Params       ours
=====================  ===============  ===================  ============  =============
Ours(R18), P3          29.8             29.77 (29.67)        12.5M         12.52M (12.00)
Ours(R50), P2          81.3             81.34 (80.89)        27.1M         27.14M (25.09)
Ours(R152), P3         155.7            155.70 (155.08)      61.7M         61.71M (59.66)
=====================  ===============  ===================  ============  =============

Table 10 lists the same R18 detector at 29.73 ("FPN-finest-sampling" there, but a P2 head alone would
cost 23.8 G, so it is the P3 model of Table 15); 29.73 is our count without thop's bilinear term
(29.77 - 0.035), so Table 10 and Table 15 were apparently counted with two versions of the model code.

Sec. 6.2's closed form (:func:`closed_form`; RPN head only, per image, P2 of ``h x w x c``, 3x3 to c'):
FPN-finest-sampling ``S1 = 9c'chw + 4 (4c'hw + 2c'hw)`` and FPN
``S2 = (9c'chw + 4c'hw + 2c'hw)(1 + 1/4 + 1/16 + 1/64)``; the counter's ``head_gmacs`` equals them exactly
(``thop=False``) when the side is a multiple of 32. ``S2`` as written has one anchor per level (4 deltas + 2
logits), which is FPN's layout (one scale per level); with 4 anchors per level it would be
``(9c'c + 24c')hw (85/64)``, still above S1. ``S1 < S2`` iff
``c > 1026 / 189 = 5.43``.

CLI: ``python -m gslib flops --backbone resnet50 --detector FPN --size 800 [--thop] [--json]``.
"""
from __future__ import annotations

import argparse
import json
from math import prod

import torch
from torch.utils.flop_counter import FlopCounterMode, conv_flop_count

from gslib.cli import positive_int
from gslib.model import Detector, paper_detector
from gslib.retinaface import RetinaFace

aten = torch.ops.aten

# The paper's numbers at 800x800 (GMACs, "GFLOPs" in the paper, and millions of parameters).
TABLE11 = {  # detector: (feature extraction, RPN head, total), ResNet-50
    "FPN": (52.42, 36.50, 88.92),
    "FPN-finest-sampling": (52.42, 28.91, 81.33),
}
TABLE15 = {  # row: (backbone, detector, feature, stride, GFLOPs, #params M)
    "Ours(R18)": ("resnet18", "FPN-single", "P3", 8, 29.8, 12.5),
    "Ours(R50)": ("resnet50", "FPN-finest-sampling", None, None, 81.3, 27.1),
    "Ours(R152)": ("resnet152", "FPN-single", "P3", 8, 155.7, 61.7),
}
TABLE10_R18 = 29.73  # "FPN-finest-sampling" on ResNet-18, Table 10 (the P3 model of Table 15, see above)
CLASSIFIER_CLASSES = 1000  # torchvision's ImageNet fc, held (unused) by the paper's detectors


# thop's extra terms, registered in the counter's unit (FLOPs = 2 per op), so that halving gives thop's ops.
def _thop_conv(x_shape, w_shape, bias, _stride, _padding, _dilation, transposed, *args, out_shape=None, **kwargs):
    flops = conv_flop_count(x_shape, w_shape, out_shape, transposed=transposed)
    return flops + (2 * prod(out_shape) if bias is not None else 0)  # thop: + 1 per output for the bias


def _thop_batch_norm(x_shape, *args, out_shape=None, **kwargs):
    return 2 * 2 * prod(x_shape)  # thop: 2 per input element


def _thop_bilinear(x_shape, *args, out_shape=None, **kwargs):
    return 2 * 11 * prod(out_shape)  # thop: 11 per output element (6 multiplications, 5 additions)


THOP_MAPPING = {
    aten.convolution: _thop_conv,
    aten._convolution: _thop_conv,
    aten.native_batch_norm: _thop_batch_norm,
    aten._native_batch_norm_legit: _thop_batch_norm,
    aten._native_batch_norm_legit_no_training: _thop_batch_norm,
    aten.upsample_bilinear2d: _thop_bilinear,
}


def count_macs(model: torch.nn.Module, *inputs, thop: bool = False) -> dict[str, int]:
    """Multiply-accumulates of ``model(*inputs)``: ``{"total": n, child_name: n, ...}`` for each direct child
    module that ran (e.g. "trunk", "top_down", "head"). ``thop`` adds thop's bias, BatchNorm and bilinear
    terms. Pass meta tensors (and a model on the meta device) to count without computing."""
    counter = FlopCounterMode(display=False, custom_mapping=THOP_MAPPING if thop else None)
    with counter, torch.no_grad():
        model(*inputs)
    counts = counter.get_flop_counts()
    root = type(model).__name__
    macs = {"total": counter.get_total_flops() // 2}
    for name, ops in counts.items():
        parts = name.split(".")
        if len(parts) == 2 and parts[0] == root:
            macs[parts[1]] = sum(ops.values()) // 2
    return macs


def complexity(detector: str = "FPN", backbone: str = "resnet50", size: int | tuple[int, int] = 800,
               feature: str | None = None, stride: int | None = None, coco: bool = False, channels: int = 256,
               head_channels: int = 256, width_divisor: int = 1, thop: bool = False) -> dict:
    """GMACs and parameters of a detector of Tables 1-5, 9 (named as in :func:`gslib.model.paper_detector`)
    on one ``size`` (side, or (H, W)) image.

    Returns {"detector", "backbone", "size", "convention", "trunk_gmacs", "top_down_gmacs", "feature_gmacs"
    (trunk + top-down), "head_gmacs", "total_gmacs", "params_m"}.
    """
    height, width = (size, size) if isinstance(size, int) else size
    layout, top_down, dilated = paper_detector(detector, feature, stride, coco)
    with torch.device("meta"):
        model = Detector(layout, backbone, top_down=top_down, dilated_head=dilated, channels=channels,
                         head_channels=head_channels, width_divisor=width_divisor).eval()
        images = torch.empty(1, 3, height, width)
    macs = count_macs(model, images, thop=thop)
    params = sum(p.numel() for p in model.parameters())
    if thop:
        params += (model.trunk.out_channels["C5"] + 1) * CLASSIFIER_CLASSES
    neck = macs.get("top_down", 0) + macs.get("plain", 0)
    return {
        "detector": detector if feature is None else f"{detector}-{feature}-s{stride}",
        "backbone": backbone if width_divisor == 1 else f"{backbone}/{width_divisor}",
        "size": [height, width],
        "convention": "thop" if thop else "macs",
        "trunk_gmacs": macs["trunk"] / 1e9,
        "top_down_gmacs": neck / 1e9,
        "feature_gmacs": (macs["trunk"] + neck) / 1e9,
        "head_gmacs": macs["head"] / 1e9,
        "total_gmacs": macs["total"] / 1e9,
        "params_m": params / 1e6,
    }


def closed_form(c: int, c1: int, h: int, w: int, anchors_per_level: int = 1) -> tuple[float, float]:
    """Sec. 6.2's MACs of the RPN head on one image whose P2 is ``h x w x c``, with a 3x3 to ``c1`` (c') and
    1x1s of 4 deltas and 2 logits per anchor: ``(S1, S2)``, FPN-finest-sampling (4 anchors on P2) and FPN (P2..P5,
    ``anchors_per_level`` each; 1 is FPN's layout and the paper's formula). ``S1 - S2 = (1026 - 189 c) c' h w /
    64`` for one anchor per level."""
    s1 = 9 * c1 * c * h * w + 4 * (4 * c1 * h * w + 2 * c1 * h * w)
    s2 = (9 * c1 * c * h * w + anchors_per_level * (4 * c1 * h * w + 2 * c1 * h * w)) * 85 / 64  # 1 + 1/4 + 1/16 + 1/64
    return s1, s2


def retinaface_complexity(size: int | tuple[int, int] = 800) -> dict:
    """GMACs (plain and thop's convention) and parameters of the peer RetinaFace-mnet0.25 (:mod:`gslib.retinaface`,
    its released architecture) on one ``size`` image: {"total_gmacs", "total_gmacs_thop", "params_m"}."""
    height, width = (size, size) if isinstance(size, int) else size
    with torch.device("meta"):
        model = RetinaFace().eval()
        images = torch.empty(1, 3, height, width)
    return {"total_gmacs": count_macs(model, images)["total"] / 1e9,
            "total_gmacs_thop": count_macs(model, images, thop=True)["total"] / 1e9,
            "params_m": sum(p.numel() for p in model.parameters()) / 1e6}


def table11(thop: bool = True) -> list[dict]:
    """Table 11 beside ours, in the paper's split: feature extraction = the ResNet-50 trunk,
    RPN head = top-down pathway + head (see the module docstring)."""
    rows = []
    for name, (feat, head, total) in TABLE11.items():
        c = complexity(name, "resnet50", 800, thop=thop)
        rows.append({"method": name, "paper_feature": feat, "ours_feature": c["trunk_gmacs"],
                     "paper_head": head, "ours_head": c["top_down_gmacs"] + c["head_gmacs"],
                     "paper_total": total, "ours_total": c["total_gmacs"]})
    return rows


def table15(thop: bool = True) -> list[dict]:
    """Table 15's rows of our detectors beside ours (GFLOPs as GMACs, #params in millions)."""
    rows = []
    for row, (backbone, name, feature, stride, gflops, params) in TABLE15.items():
        c = complexity(name, backbone, 800, feature, stride, thop=thop)
        rows.append({"method": row, "paper_gflops": gflops, "ours_gflops": c["total_gmacs"],
                     "paper_params_m": params, "ours_params_m": c["params_m"]})
    return rows


def main(argv: list[str] | None = None) -> dict:
    """``python -m gslib flops``: print one detector's complexity (JSON with ``--json``)."""
    parser = argparse.ArgumentParser(prog="python -m gslib flops", description=__doc__.split("\n\n")[0])
    parser.add_argument("--backbone", default="resnet50", help="resnet10/18/34/50/101/152")
    parser.add_argument("--detector", default="FPN",
                        help="RPN, FPN, FPN-finest, FPN-finest-stride, FPN-finest-sampling, FPN-finest-DC, "
                             "FPN-single (with --feature and --stride), FPN-P3-DC, ...")
    parser.add_argument("--feature", help="FPN-single's map, e.g. P3")
    parser.add_argument("--stride", type=positive_int, help="FPN-single's anchor stride, e.g. 8")
    parser.add_argument("--size", type=positive_int, nargs="+", default=[800], help="side, or height and width (800)")
    parser.add_argument("--coco", action="store_true", help="COCO anchors: 5 scales x 3 ratios, P6 for FPN")
    parser.add_argument("--channels", type=positive_int, default=256, help="c, the top-down width (256)")
    parser.add_argument("--head-channels", type=positive_int, default=256, help="c', the head's 3x3 width (256)")
    parser.add_argument("--width-divisor", type=positive_int, default=1, help="thin the trunk (CPU profiles)")
    parser.add_argument("--thop", action="store_true",
                        help="count as thop, the paper's counter (bias, BatchNorm, bilinear; fc parameters)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    if len(args.size) not in (1, 2):
        parser.error("--size takes a side or a height and a width")
    size = args.size[0] if len(args.size) == 1 else tuple(args.size)
    try:
        result = complexity(args.detector, args.backbone, size, args.feature, args.stride, args.coco,
                            args.channels, args.head_channels, args.width_divisor, args.thop)
    except ValueError as e:
        parser.error(str(e))
    if args.json:
        print(json.dumps(result))
    else:
        h, w = result["size"]
        print(f"{result['detector']} on {result['backbone']}, {h}x{w}, {result['convention']} convention")
        for key in ("trunk_gmacs", "top_down_gmacs", "feature_gmacs", "head_gmacs", "total_gmacs"):
            print(f"  {key.removesuffix('_gmacs'):<9} {result[key]:9.3f} GMACs")
        print(f"  params    {result['params_m']:9.3f} M")
    return result


if __name__ == "__main__":
    main()
