"""The detectors of Fig. 1: a ResNet trunk, the top-down pathway of Fig. 3, and an RPN head (Fig. 5's
dilated one for the "-DC" models) tiled on the levels of an :class:`~gslib.anchors.AnchorLayout`.

Trunk. torchvision's ResNet-18/34/50/101/152 without avgpool and fc, returning ``C2..C5`` (strides 4, 8,
16, 32; a ``H x W`` input gives ``ceil(H / s) x ceil(W / s)`` cells, as the anchors assume). Randomly
initialised, or loaded from a torchvision ImageNet ``state_dict`` file whose path the user gives (nothing
is downloaded). ``resnet10`` (BasicBlock, one block per stage) and ``width_divisor`` (every width divided)
give the small trunks of the CPU profiles.

Top-down pathway (Fig. 3, Sec. 3). ``P5 = L5(C5)``, ``P_i = L_i(C_i) + up(P_{i+1})`` for ``i = 4, 3, 2``:
``L_i`` a 1x1 convolution to ``channels`` (c = 256), ``up`` bilinear up-sampling to ``C_i``'s size (x2
when the input side is a multiple of 32), the sum element-wise. Nothing else: no 3x3 "smoothing"
convolution after the sum (Fig. 3 has none, and the paper's parameter counts of Table 15 leave no room
for one, see :mod:`gslib.flops`). Only the levels a layout needs are built (``P3..P5`` for a P3
detector: no ``L2``). COCO's ``P6`` (Sec. 3: "max pooling and then two 3x3 convolutions over P5"):
2x2 max pooling of stride 2 (ceil mode, so ``ceil(H / 64)`` cells), then 3x3 conv, ReLU, 3x3 conv. The
ReLU between the two convolutions is ours (the paper does not say); without it the two would collapse
into one linear 5x5 filter.

Plain maps, ``top_down=False`` (RPN on C4 of Fig. 1a, the ``C_n`` rows of Table 5): level ``i`` is
``L_i(C_i)``, the same 1x1 convolution to ``channels`` without the up-sampled sum, keyed ``"C{i}"``. The
1x1 is there so that one head serves every trunk and every level (C4 of ResNet-50 has 1024 channels),
and so that top-down and plain maps of the same levels differ only in the sums (on P2..P5: the same
parameters, the same head).

Heads. :class:`RPNHead` (Faster R-CNN's RPN: 3x3 conv ``channels -> head_channels``, ReLU, 1x1 to 2
logits per anchor (2-way softmax) and 1x1 to 4 deltas per anchor). :class:`DilatedHead` (Fig. 5, see
its docstring for our reading of the figure). One head is shared by all levels, as in FPN [33]: the
same weights run on every level's map, so every level must tile the same number of anchors per cell
(1 per level for WIDER FACE's FPN and FPN-finest-stride, 3 for COCO's; single-level layouts trivially).
FPN-finest-stride's levels all read P2, sub-sampled by 1, 2, 4, 8: the shared head sees them as four
maps, like FPN's four levels, so FPN and FPN-finest-stride differ only in where the maps come from
(Sec. 3: "the only difference ... lies in whether the features ... come from one single layer or from
multiple layers").

Sub-sampled levels (FPN-finest-stride, FPN-single at a stride larger than its map's): the head runs on
``feature[..., ::k, ::k]``, the cells whose centres carry the level's anchors (see :mod:`gslib.anchors`),
which is also why these detectors cost less than running the head on the whole map.

Output order: level by level; within a level row-major over cells, then scale, then ratio -- exactly
``layout.anchors(H, W)``. A head output ``(B, A * k, h, w)`` is viewed as ``(B, A, k, h, w)`` and
permuted to ``(B, h, w, A, k)`` (torchvision's ``permute_and_flatten``).
"""
from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn.functional as F
import torchvision
from torch import nn
from torchvision.models.resnet import BasicBlock, Bottleneck, ResNet, conv1x1
from torchvision.ops import FrozenBatchNorm2d

from gslib import anchors
from gslib.anchors import AnchorLayout

# name -> (block, blocks per stage); ResNet-10 is ResNet-18 with one block per stage.
RESNETS = {
    "resnet10": (BasicBlock, (1, 1, 1, 1)),
    "resnet18": (BasicBlock, (2, 2, 2, 2)),
    "resnet34": (BasicBlock, (3, 4, 6, 3)),
    "resnet50": (Bottleneck, (3, 4, 6, 3)),
    "resnet101": (Bottleneck, (3, 4, 23, 3)),
    "resnet152": (Bottleneck, (3, 8, 36, 3)),
}
TORCHVISION_BUILDERS = {
    "resnet18": torchvision.models.resnet18,
    "resnet34": torchvision.models.resnet34,
    "resnet50": torchvision.models.resnet50,
    "resnet101": torchvision.models.resnet101,
    "resnet152": torchvision.models.resnet152,
}
STAGE_WIDTHS = (64, 128, 256, 512)


def _narrow_resnet(block, layers, width_divisor: int, norm_layer) -> nn.Module:
    """A ResNet with every width divided by ``width_divisor``, built from torchvision's own blocks.

    torchvision's ``ResNet`` hard-codes the stem (64) and stage widths (64, 128, 256, 512) -- its
    ``width_per_group`` only thins a Bottleneck's inner 3x3 -- so the stages are assembled here the way
    ``ResNet._make_layer`` does, with the same attribute names (``conv1, bn1, layer1..4``) and the same
    initialisation (Kaiming normal fan-out, BN weight 1 and bias 0).
    """
    widths = [w // width_divisor for w in STAGE_WIDTHS]
    net = nn.Module()
    net.conv1 = nn.Conv2d(3, widths[0], kernel_size=7, stride=2, padding=3, bias=False)
    net.bn1 = norm_layer(widths[0])
    net.relu = nn.ReLU(inplace=True)
    net.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
    inplanes = widths[0]
    for stage, (planes, blocks) in enumerate(zip(widths, layers)):
        stride = 1 if stage == 0 else 2
        downsample = None
        if stride != 1 or inplanes != planes * block.expansion:
            downsample = nn.Sequential(conv1x1(inplanes, planes * block.expansion, stride),
                                       norm_layer(planes * block.expansion))
        stack = [block(inplanes, planes, stride, downsample, norm_layer=norm_layer)]
        inplanes = planes * block.expansion
        stack += [block(inplanes, planes, norm_layer=norm_layer) for _ in range(1, blocks)]
        setattr(net, f"layer{stage + 1}", nn.Sequential(*stack))
    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.constant_(m.weight, 1)
            nn.init.constant_(m.bias, 0)
    return net


class ResNetTrunk(nn.Module):
    """``C2..C5`` of a ResNet: torchvision's ``ResNet`` without avgpool and fc.

    The attribute names are torchvision's (``conv1, bn1, layer1..4``), so a torchvision ImageNet
    ``state_dict`` loads as it is, minus its ``fc.*`` (:meth:`load_imagenet`).
    ``forward(x: (B, 3, H, W)) -> {"C2": (B, out_channels["C2"], ceil(H/4), ceil(W/4)), ..., "C5": ...}``.
    """

    def __init__(self, resnet: nn.Module):
        super().__init__()
        self.conv1, self.bn1, self.relu, self.maxpool = resnet.conv1, resnet.bn1, resnet.relu, resnet.maxpool
        self.layer1, self.layer2, self.layer3, self.layer4 = resnet.layer1, resnet.layer2, resnet.layer3, resnet.layer4
        layers = (self.layer1, self.layer2, self.layer3, self.layer4)
        # A stage's output width is the out_channels of its last convolution (conv2 or conv3, or the
        # identical downsample of a one-block stage).
        self.out_channels = {f"C{i + 2}": [m for m in layer.modules() if isinstance(m, nn.Conv2d)][-1].out_channels
                             for i, layer in enumerate(layers)}

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        c2 = self.layer1(x)
        c3 = self.layer2(c2)
        c4 = self.layer3(c3)
        c5 = self.layer4(c4)
        return {"C2": c2, "C3": c3, "C4": c4, "C5": c5}

    def load_imagenet(self, path: str | os.PathLike) -> None:
        """Load a torchvision ResNet ``state_dict`` saved at ``path`` (``torch.save(model.state_dict())``,
        or the ``.pth`` files torchvision downloads). Its ``fc.*`` entries are dropped; every other key
        must match this trunk's, name and shape, or a ``ValueError`` says which do not."""
        state = {k: v for k, v in _read_state_dict(path).items() if not k.startswith("fc.")}
        own = self.state_dict()
        # FrozenBatchNorm2d has no num_batches_tracked; it is bookkeeping, not a weight.
        missing = [k for k in own if k not in state and not k.endswith("num_batches_tracked")]
        unexpected = [k for k in state if k not in own and not k.endswith("num_batches_tracked")]
        wrong = [f"{k} {tuple(state[k].shape)} != {tuple(v.shape)}" for k, v in own.items()
                 if k in state and state[k].shape != v.shape]
        if missing or unexpected or wrong:
            raise ValueError(
                f"the weights in {path} do not fit this trunk: {len(missing)} missing (e.g. {missing[:3]}), "
                f"{len(unexpected)} unexpected (e.g. {unexpected[:3]}), {len(wrong)} of another shape "
                f"(e.g. {wrong[:3]}). Is it the state_dict of the same torchvision ResNet at full width?")
        self.load_state_dict(state, strict=False)


# MobileNetV2's blocks (torchvision's ``features``) ending each stride: 4, 8, 16, 32. The last 1x1 to 1,280
# channels (``features[18]``) feeds only the classifier and is left out, as torchvision's SSDlite does.
MOBILENET_STAGE_ENDS = {"C2": 3, "C3": 6, "C4": 13, "C5": 17}
BACKBONES = (*RESNETS, "mobilenet_v2")


class MobileNetTrunk(nn.Module):
    """``C2..C5`` of torchvision's MobileNetV2 (strides 4, 8, 16, 32; 24, 32, 96, 320 channels): its
    ``features[:18]`` under the same attribute names, so torchvision's ImageNet ``state_dict`` (which loads
    strictly into ``torchvision.models.mobilenet_v2()``) fits it minus ``features.18`` and ``classifier``.
    ``forward(x: (B, 3, H, W)) -> {"C2": (B, 24, ceil(H/4), ceil(W/4)), ..., "C5": (B, 320, ..)}``.
    """

    def __init__(self, norm_layer=nn.BatchNorm2d):
        super().__init__()
        net = torchvision.models.mobilenet_v2(weights=None, norm_layer=norm_layer)
        self.features = net.features[: MOBILENET_STAGE_ENDS["C5"] + 1]
        self.out_channels = {k: self.features[i].out_channels for k, i in MOBILENET_STAGE_ENDS.items()}

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        out, ends = {}, {i: k for k, i in MOBILENET_STAGE_ENDS.items()}
        for i, block in enumerate(self.features):
            x = block(x)
            if i in ends:
                out[ends[i]] = x
        return out

    def load_imagenet(self, path: str | os.PathLike) -> None:
        """Load torchvision's MobileNetV2 ImageNet ``state_dict`` (e.g. ``mobilenet_v2-b0353104.pth``): it
        must load strictly into ``torchvision.models.mobilenet_v2()`` (a ``RuntimeError`` names the keys that
        do not); this trunk keeps its ``features.0..17``."""
        full = torchvision.models.mobilenet_v2(weights=None)
        full.load_state_dict(_read_state_dict(path), strict=True)
        own = self.state_dict()
        self.load_state_dict({k: v for k, v in full.state_dict().items() if k in own})  # strict: all of own


def _read_state_dict(path: str | os.PathLike) -> dict:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"ImageNet weights not found: {path}. gslib never downloads weights: fetch the torchvision "
            f"state_dict yourself and pass the path of the file.")
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict):
        raise ValueError(f"{path} holds a {type(state).__name__}, not a state_dict")
    return state


def build_trunk(backbone: str = "resnet50", width_divisor: int = 1, pretrained: str | os.PathLike | None = None,
                frozen_bn: bool = False) -> ResNetTrunk | MobileNetTrunk:
    """A :class:`ResNetTrunk` or :class:`MobileNetTrunk`. ``backbone``: one of :data:`BACKBONES`.
    ``width_divisor``: every width divided by it (1: torchvision's own network; ResNets only).
    ``pretrained``: path of a torchvision ImageNet state_dict. ``frozen_bn``: torchvision's FrozenBatchNorm2d
    (fixed statistics and affine, as detection fine-tuning of a pre-trained trunk usually does) instead of
    BatchNorm2d."""
    norm_layer = FrozenBatchNorm2d if frozen_bn else nn.BatchNorm2d
    if backbone == "mobilenet_v2":
        if width_divisor != 1:
            raise ValueError(f"mobilenet_v2 comes at torchvision's width only (width_divisor 1, got {width_divisor})")
        trunk = MobileNetTrunk(norm_layer)
        if pretrained is not None:
            trunk.load_imagenet(pretrained)
        return trunk
    if backbone not in RESNETS:
        raise ValueError(f"unknown backbone {backbone!r}; one of {list(BACKBONES)}")
    if width_divisor < 1 or any(w % width_divisor for w in STAGE_WIDTHS):
        raise ValueError(f"width_divisor must divide 64, got {width_divisor}")
    block, layers = RESNETS[backbone]
    if width_divisor > 1:
        resnet = _narrow_resnet(block, layers, width_divisor, norm_layer)
    elif backbone in TORCHVISION_BUILDERS:
        resnet = TORCHVISION_BUILDERS[backbone](weights=None, norm_layer=norm_layer)
    else:
        resnet = ResNet(block, list(layers), norm_layer=norm_layer)
    trunk = ResNetTrunk(resnet)
    if pretrained is not None:
        trunk.load_imagenet(pretrained)
    return trunk


class TopDown(nn.Module):
    """The top-down pathway of Fig. 3 from ``C_finest..C5`` (plus COCO's P6 when ``p6``).

    in_channels: {"C2": 256, ..., "C5": 2048}. forward({"C2".., "C5"}) -> {"P{finest}": (B, channels, ..),
    ..., "P5", ["P6"]}; ``P_i`` has ``C_i``'s size.
    """

    def __init__(self, in_channels: dict[str, int], channels: int, finest: int = 2, p6: bool = False):
        super().__init__()
        self.finest = finest
        self.lateral = nn.ModuleDict({f"C{i}": nn.Conv2d(in_channels[f"C{i}"], channels, 1)
                                      for i in range(finest, 6)})
        self.p6 = _p6_block(channels) if p6 else None

    def forward(self, c: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        p = {"P5": self.lateral["C5"](c["C5"])}
        for i in range(4, self.finest - 1, -1):
            lateral = self.lateral[f"C{i}"](c[f"C{i}"])
            # Bilinear to C_i's size: x2 for sides that are multiples of 32, and exact for the others.
            up = F.interpolate(p[f"P{i + 1}"], size=lateral.shape[-2:], mode="bilinear", align_corners=False)
            p[f"P{i}"] = lateral + up
        if self.p6 is not None:
            p["P6"] = self.p6(p["P5"])
        return p


class Plain(nn.Module):
    """Trunk maps without the top-down pathway: ``C_i -> L_i(C_i)``, a 1x1 convolution to ``channels``.

    levels: e.g. (4,) for RPN's C4. forward({"C2".., "C5"}) -> {"C{i}": (B, channels, ..)} (+ "C6", COCO's
    extra level built over ``L_5(C5)`` like P6, when ``p6``)."""

    def __init__(self, in_channels: dict[str, int], channels: int, levels: tuple[int, ...], p6: bool = False):
        super().__init__()
        needed = sorted(set(levels) | ({5} if p6 else set()))
        self.lateral = nn.ModuleDict({f"C{i}": nn.Conv2d(in_channels[f"C{i}"], channels, 1) for i in needed})
        self.p6 = _p6_block(channels) if p6 else None

    def forward(self, c: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        out = {name: conv(c[name]) for name, conv in self.lateral.items()}
        if self.p6 is not None:
            out["C6"] = self.p6(out["C5"])
        return out


def _p6_block(channels: int) -> nn.Sequential:
    """Sec. 3's P6: max pooling, then two 3x3 convolutions (ReLU between, ours)."""
    return nn.Sequential(
        nn.MaxPool2d(kernel_size=2, stride=2, ceil_mode=True),
        nn.Conv2d(channels, channels, 3, padding=1),
        nn.ReLU(inplace=True),
        nn.Conv2d(channels, channels, 3, padding=1),
    )


class RPNHead(nn.Module):
    """Faster R-CNN's RPN head: 3x3 conv ``in_channels -> mid_channels``, ReLU, then 1x1 convs to
    ``2 * num_anchors`` logits and ``4 * num_anchors`` deltas. Initialised as torchvision's RPNHead
    (weights N(0, 0.01), biases 0).

    forward(x: (B, in_channels, h, w)) -> logits (B, 2 * num_anchors, h, w), deltas (B, 4 * num_anchors, h, w);
    channel ``2 a + j`` is logit ``j`` of the cell's anchor ``a``, channel ``4 a + j`` its delta ``j``.
    """

    def __init__(self, in_channels: int, mid_channels: int, num_anchors: int):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, mid_channels, 3, padding=1)
        self.cls = nn.Conv2d(mid_channels, 2 * num_anchors, 1)
        self.reg = nn.Conv2d(mid_channels, 4 * num_anchors, 1)
        _init_normal(self)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        t = F.relu(self.conv(x))
        return self.cls(t), self.reg(t)


class DilatedHead(nn.Module):
    """The RPN head of FPN-finest-DC (Fig. 5): parallel 3x3 convolutions of dilation ``d`` ("3x3/d"),
    concatenated, ReLU, then the RPN head's 1x1 C and R.

    Our reading of Fig. 5 (only its caption survives in the text): the head replaces the RPN head's
    single 3x3 by dilated 3x3 convolutions, all of stride 1, "for enlarging the receptive field"
    (Sec. 4.3), citing [62]-[64], which are all dilated *inception* modules: parallel branches of
    different dilation whose outputs are concatenated. The default dilations (1, 2, 4, 8) are P2..P5's
    strides over P2's: a 3x3/d on P2 spans the input pixels of a 3x3 on P_{2 + log2 d} (Fig. 4's
    argument), so each anchor scale finds the context FPN would give it on its own level, on the map
    FPN-finest uses. The branches split ``mid_channels`` between them, so the head costs what the RPN
    head costs (the paper reports no cost for it) and only the receptive field changes.

    forward(x: (B, in_channels, h, w)) -> logits (B, 2 * num_anchors, h, w), deltas (B, 4 * num_anchors, h, w).
    """

    def __init__(self, in_channels: int, mid_channels: int, num_anchors: int, dilations=(1, 2, 4, 8)):
        super().__init__()
        if mid_channels % len(dilations):
            raise ValueError(f"mid_channels {mid_channels} is not divisible by {len(dilations)} branches")
        width = mid_channels // len(dilations)
        self.branches = nn.ModuleList(nn.Conv2d(in_channels, width, 3, padding=d, dilation=d) for d in dilations)
        self.cls = nn.Conv2d(mid_channels, 2 * num_anchors, 1)
        self.reg = nn.Conv2d(mid_channels, 4 * num_anchors, 1)
        _init_normal(self)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        t = F.relu(torch.cat([branch(x) for branch in self.branches], dim=1))
        return self.cls(t), self.reg(t)


def _init_normal(module: nn.Module) -> None:
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.normal_(m.weight, std=0.01)
            nn.init.constant_(m.bias, 0)


def _level_index(feature: str) -> int:
    """"P3" -> 3, "C4" -> 4."""
    return int(feature[1:])


class Detector(nn.Module):
    """A single-shot detector (an RPN) for ``layout``.

    layout: where the anchors sit (:mod:`gslib.anchors`); its levels name maps ``P2..P6`` or ``C4``.
    backbone, width_divisor, pretrained, frozen_bn: the trunk (:func:`build_trunk`).
    top_down: build ``P_i`` with the top-down pathway of Fig. 3; False gives the plain maps ``L_i(C_i)``
        (a layout level named ``P_i`` then reads ``C_i``; a level named ``C_i`` requires False).
    dilated_head, dilations: Fig. 5's :class:`DilatedHead` instead of :class:`RPNHead`.
    channels: c, the width of the maps (256). head_channels: c', the width of the head's 3x3 (256).

    ``forward(images: (B, 3, H, W) float, normalised as the trunk expects (ImageNet mean and std))``
    returns ``logits (B, A, 2)`` (2-way softmax logits, index 1 = face) and ``deltas (B, A, 4)`` (eq. 13),
    ``A = layout.num_anchors(H, W)``, in the order of ``layout.anchors(H, W)``.
    ``features(images) -> {name: (B, channels, h, w)}`` and ``head_outputs(features, (H, W))`` split it,
    so a second stage can reuse the maps; ``level_features[j]`` is the key level ``j`` reads.
    """

    def __init__(self, layout: AnchorLayout, backbone: str = "resnet50", *, top_down: bool = True,
                 dilated_head: bool = False, channels: int = 256, head_channels: int = 256,
                 dilations: tuple[int, ...] = (1, 2, 4, 8), width_divisor: int = 1,
                 pretrained: str | os.PathLike | None = None, frozen_bn: bool = False):
        super().__init__()
        self.layout = layout
        per_cell = {len(lv.scales) * len(lv.ratios) for lv in layout.levels}
        if len(per_cell) != 1:
            raise ValueError(f"{layout.name}: the shared head needs the same number of anchors per cell on every "
                             f"level, got {sorted(per_cell)}")
        if top_down and any(lv.feature.startswith("C") for lv in layout.levels):
            raise ValueError(f"{layout.name} tiles anchors on trunk maps (C*): pass top_down=False")
        self.num_cell_anchors = per_cell.pop()
        indices = sorted({_level_index(lv.feature) for lv in layout.levels})
        prefix = "P" if top_down else "C"
        self.level_features = tuple(f"{prefix}{_level_index(lv.feature)}" for lv in layout.levels)

        self.trunk = build_trunk(backbone, width_divisor, pretrained, frozen_bn)
        p6 = 6 in indices
        if top_down:
            self.top_down = TopDown(self.trunk.out_channels, channels, finest=indices[0], p6=p6)
            self.plain = None
        else:
            self.top_down = None
            self.plain = Plain(self.trunk.out_channels, channels, tuple(i for i in indices if i <= 5), p6=p6)
        if dilated_head:
            self.head = DilatedHead(channels, head_channels, self.num_cell_anchors, dilations)
        else:
            self.head = RPNHead(channels, head_channels, self.num_cell_anchors)

    def features(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """images: (B, 3, H, W) -> {"P2": (B, channels, ceil(H/4), ceil(W/4)), ...} (or "C4", ...): every map
        the top-down pathway (or the plain laterals) computed, not only those the layout reads."""
        # In the memory format of the weights: channels_last weights with a contiguous input take oneDNN's
        # reordering path at every convolution (a 960 x 1280 forward measured 0.55 s instead of 0.09 s).
        c = self.trunk(images.contiguous(memory_format=weights_memory_format(self)))
        return self.top_down(c) if self.top_down is not None else self.plain(c)

    def head_outputs(self, features: dict[str, torch.Tensor],
                     image_size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        """The head on every level of the layout, flattened in anchor order.

        features: from :meth:`features`; image_size: (H, W) of the input they came from.
        Returns logits (B, A, 2) and deltas (B, A, 4), A = layout.num_anchors(H, W).
        """
        height, width = image_size
        all_logits, all_deltas = [], []
        for lv, name in zip(self.layout.levels, self.level_features):
            x = features[name]
            if lv.subsample > 1:
                x = x[..., :: lv.subsample, :: lv.subsample]
            grid = lv.grid_size(height, width)
            if tuple(x.shape[-2:]) != grid:
                raise ValueError(f"{name} sub-sampled by {lv.subsample} has {tuple(x.shape[-2:])} cells, but a "
                                 f"{height}x{width} input has {grid} anchor cells on it")
            logits, deltas = self.head(x)
            all_logits.append(_flatten(logits, 2))
            all_deltas.append(_flatten(deltas, 4))
        return torch.cat(all_logits, dim=1), torch.cat(all_deltas, dim=1)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.head_outputs(self.features(images), images.shape[-2:])


def weights_memory_format(model: nn.Module) -> torch.memory_format:
    """``torch.channels_last`` when the first convolution's weight is stored so (``model.to(memory_format=
    torch.channels_last)``), else ``torch.contiguous_format``."""
    conv = next(m for m in model.modules() if isinstance(m, nn.Conv2d))
    if conv.weight.is_contiguous(memory_format=torch.channels_last) and not conv.weight.is_contiguous():
        return torch.channels_last
    return torch.contiguous_format


def _flatten(x: torch.Tensor, k: int) -> torch.Tensor:
    """(B, A * k, h, w) -> (B, h * w * A, k): row-major over cells, then the cell's anchors."""
    b, _, h, w = x.shape
    return x.reshape(b, -1, k, h, w).permute(0, 3, 4, 1, 2).reshape(b, -1, k)


def paper_detector(name: str, feature: str | None = None, stride: int | None = None,
                   coco: bool = False) -> tuple[AnchorLayout, bool, bool]:
    """The network of a detector named in Tables 1-5 and 9: ``(layout, top_down, dilated_head)``.

    Names: RPN, FPN, FPN-finest, FPN-finest-stride, FPN-finest-DC, FPN-single (give ``feature`` and
    ``stride``), FPN-P3-DC (Table 9b: P3, stride 8, dilated head). Suffixes ``-sampling`` (GS) and
    ``-WRS`` are training choices: the same network (Fig. 1: FPN-finest and FPN-finest-sampling "have the
    same network architecture"). ``coco``: COCO's 5 scales x 3 ratios (and P6 for FPN) instead of
    WIDER FACE's 4 scales.
    """
    scales, ratios = (anchors.COCO_SCALES, anchors.COCO_RATIOS) if coco else (anchors.WIDER_SCALES,
                                                                             anchors.WIDER_RATIOS)
    base = name.removesuffix("-WRS").removesuffix("-sampling")
    dilated = base.endswith("-DC")
    base = base.removesuffix("-DC")
    if base == "RPN":
        return anchors.rpn(scales, ratios), False, dilated
    if base == "FPN":
        return anchors.fpn(scales, ratios), True, dilated
    if base == "FPN-finest":
        return anchors.fpn_finest(scales, ratios), True, dilated
    if base == "FPN-finest-stride":
        return anchors.fpn_finest_stride(scales, ratios), True, dilated
    if base == "FPN-P3":
        return anchors.fpn_single("P3", 8, scales, ratios), True, dilated
    if base == "FPN-single":
        if feature is None or stride is None:
            raise ValueError("FPN-single needs a feature map and a stride, e.g. feature='P3', stride=8")
        return anchors.fpn_single(feature, stride, scales, ratios), True, dilated
    raise ValueError(f"unknown detector {name!r}")
