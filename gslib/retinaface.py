"""RetinaFace-mnet0.25 (Deng et al., CVPR 2020; Table 6's other pipeline), as the widely used PyTorch
re-implementation builds it, so that its released weights (``../shared/peers/retinaface_mobilenet0.25_Final.pth``)
load strictly, and so that gslib's engine can train the same network.

Architecture (module names are the weights' keys):

- ``body``: MobileNetV1 at width 0.25, ``stage1`` (stride 8, 64 channels), ``stage2`` (16, 128), ``stage3``
  (32, 256). A stage is a list of 3x3 conv-BN-LeakyReLU(0.1) (the stem) or depthwise-separable blocks
  (3x3 depthwise-BN-LeakyReLU, 1x1-BN-LeakyReLU, slope 0.1). 3x3 convolutions of stride 2 and padding 1
  give ``ceil(H / 2)`` rows, so stage ``k`` has ``ceil(H / s_k)`` x ``ceil(W / s_k)`` cells, as the anchors assume.
- ``fpn``: 1x1 conv-BN-LeakyReLU laterals ``output1..3`` to 64 channels, top-down by *nearest* up-sampling
  and a sum, each sum followed by a 3x3 conv-BN-LeakyReLU (``merge2`` on stride 16, then ``merge1`` on 8).
- ``ssh1..3``: SSH context modules, one per level: a 3x3 branch (32 channels) beside two stacked (16) and
  three stacked (16) 3x3s sharing their first conv (the 5x5 and 7x7 receptive fields), concatenated, ReLU.
- ``ClassHead``, ``BboxHead``, ``LandmarkHead``: one 1x1 convolution per level (not shared) to 2 logits,
  4 box deltas and 10 landmark deltas per anchor.

Anchors: 2 square anchors per cell, of sides 16, 32 at stride 8, 64, 128 at 16 and 256, 512 at 32, centred on
``((j + 0.5) s, (i + 0.5) s)`` -- exactly :class:`gslib.anchors.AnchorLayout` with these levels
(:func:`retinaface_layout`), whose order (level, row-major cell, scale) is the one of the heads' outputs and
of the re-implementation's ``PriorBox``. Each anchor's group is the index of its side among the 6 sides, as
for gslib's own detectors, so group sampling can draw per anchor scale.

Two input and output conventions:

- RetinaFace's own (:meth:`RetinaFace.heads`, :func:`detect`): BGR pixels in 0..255 minus (104, 117, 123);
  box deltas with variances 0.1 (centre) and 0.2 (log size), i.e. ``cx = cx_a + 0.1 d_x w_a``,
  ``w = w_a exp(0.2 d_w)`` (:func:`decode`), landmarks ``x = cx_a + 0.1 d w_a`` (:func:`decode_landmarks`);
  face probability = softmax of the 2 logits.
- gslib's (:meth:`RetinaFace.forward`, what :mod:`gslib.train` and :func:`gslib.inference.detect` call): an
  RGB image normalised by ImageNet's mean and std (:func:`gslib.datasets.to_tensor`), mapped inside to
  RetinaFace's input by one per-channel affine map; returns ``(logits (B, A, 2), deltas (B, A, 4))`` with
  eq. 13 deltas (the variances folded in: ``deltas = d * (0.1, 0.1, 0.2, 0.2)``, decoded by
  :func:`gslib.boxes.decode`), ``A = layout.num_anchors(H, W)``, in the order of ``layout.anchors(H, W)``.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn
from torchvision.ops import nms

from gslib import boxes as box_ops
from gslib.anchors import AnchorLayout, AnchorLevel
from gslib.datasets import IMAGENET_MEAN, IMAGENET_STD
from gslib.inference import Detections
from gslib.matcher import NEGATIVE, POSITIVE
from gslib.model import weights_memory_format
from gslib.paths import SHARED
from gslib.sampling import Sampler, Samples, classification_losses

WEIGHTS = SHARED / "peers" / "retinaface_mobilenet0.25_Final.pth"
BGR_MEAN = (104.0, 117.0, 123.0)
VARIANCES = (0.1, 0.2)
MIN_SIZES = ((16, 32), (64, 128), (256, 512))
STRIDES = (8, 16, 32)
FEATURES = ("P3", "P4", "P5")  # gslib's names of the maps of strides 8, 16, 32
NUM_LANDMARKS = 5
LEAKY = 0.1  # every LeakyReLU of mnet0.25 (the re-implementation uses 0.1 whenever a width is <= 64)


def retinaface_layout() -> AnchorLayout:
    """RetinaFace's anchors as a gslib layout: sides ``MIN_SIZES[k]`` at stride ``STRIDES[k]``."""
    return AnchorLayout("RetinaFace-mnet0.25", tuple(AnchorLevel(f, s) for f, s in zip(FEATURES, MIN_SIZES)))


def _conv_bn(cin: int, cout: int, kernel: int = 3, stride: int = 1, groups: int = 1,
             leaky: float | None = LEAKY) -> list[nn.Module]:
    """Conv (no bias), BN, LeakyReLU(leaky) (none when ``leaky`` is None)."""
    layers = [nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
    return layers + ([nn.LeakyReLU(leaky, inplace=True)] if leaky is not None else [])


def _depthwise_separable(cin: int, cout: int, stride: int) -> nn.Sequential:
    """MobileNetV1's block: 3x3 depthwise conv-BN-LeakyReLU, then 1x1 conv-BN-LeakyReLU."""
    return nn.Sequential(*_conv_bn(cin, cin, 3, stride, groups=cin), *_conv_bn(cin, cout, 1))


class MobileNetV1(nn.Module):
    """MobileNetV1 at width 0.25 without its classifier. forward(x: (B, 3, H, W)) -> three maps
    (B, 64, ceil(H/8), ceil(W/8)), (B, 128, ceil(H/16), ..), (B, 256, ceil(H/32), ..)."""

    out_channels = (64, 128, 256)

    def __init__(self):
        super().__init__()
        self.stage1 = nn.Sequential(nn.Sequential(*_conv_bn(3, 8, stride=2)), _depthwise_separable(8, 16, 1),
                                    _depthwise_separable(16, 32, 2), _depthwise_separable(32, 32, 1),
                                    _depthwise_separable(32, 64, 2), _depthwise_separable(64, 64, 1))
        self.stage2 = nn.Sequential(_depthwise_separable(64, 128, 2),
                                    *[_depthwise_separable(128, 128, 1) for _ in range(5)])
        self.stage3 = nn.Sequential(_depthwise_separable(128, 256, 2), _depthwise_separable(256, 256, 1))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        c3 = self.stage1(x)
        c4 = self.stage2(c3)
        return c3, c4, self.stage3(c4)


class FPN(nn.Module):
    """Laterals ``output1..3`` (1x1 to ``channels``), nearest up-sampling, sums smoothed by ``merge2``
    (stride 16) and ``merge1`` (stride 8). forward((c3, c4, c5)) -> (p3, p4, p5), each with its input's size."""

    def __init__(self, in_channels: tuple[int, int, int], channels: int):
        super().__init__()
        self.output1, self.output2, self.output3 = (nn.Sequential(*_conv_bn(c, channels, 1)) for c in in_channels)
        self.merge1 = nn.Sequential(*_conv_bn(channels, channels))
        self.merge2 = nn.Sequential(*_conv_bn(channels, channels))

    def forward(self, c: tuple[torch.Tensor, torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, ...]:
        p3, p4, p5 = self.output1(c[0]), self.output2(c[1]), self.output3(c[2])
        p4 = self.merge2(p4 + F.interpolate(p5, size=p4.shape[-2:], mode="nearest"))
        p3 = self.merge1(p3 + F.interpolate(p4, size=p3.shape[-2:], mode="nearest"))
        return p3, p4, p5


class SSH(nn.Module):
    """SSH context module (Najibi et al.): 3x3 (channels / 2) beside 5x5 and 7x7 receptive fields made of
    stacked 3x3s (channels / 4 each, sharing ``conv5X5_1``), concatenated, ReLU. (B, cin, h, w) ->
    (B, channels, h, w). The branches' last convs have no activation before the concatenation's ReLU."""

    def __init__(self, cin: int, channels: int):
        super().__init__()
        if channels % 4:
            raise ValueError(f"SSH needs channels divisible by 4, got {channels}")
        self.conv3X3 = nn.Sequential(*_conv_bn(cin, channels // 2, leaky=None))
        self.conv5X5_1 = nn.Sequential(*_conv_bn(cin, channels // 4))
        self.conv5X5_2 = nn.Sequential(*_conv_bn(channels // 4, channels // 4, leaky=None))
        self.conv7X7_2 = nn.Sequential(*_conv_bn(channels // 4, channels // 4))
        self.conv7x7_3 = nn.Sequential(*_conv_bn(channels // 4, channels // 4, leaky=None))  # sic: the weights' key

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shared = self.conv5X5_1(x)
        five = self.conv5X5_2(shared)
        seven = self.conv7x7_3(self.conv7X7_2(shared))
        return F.relu(torch.cat([self.conv3X3(x), five, seven], dim=1))


class Head1x1(nn.Module):
    """A 1x1 convolution to ``k`` numbers per anchor. (B, cin, h, w) -> (B, h * w * num_anchors, k): row-major
    over cells, then the cell's anchors (channel ``a k + j`` is number ``j`` of anchor ``a``)."""

    def __init__(self, cin: int, num_anchors: int, k: int):
        super().__init__()
        self.k = k
        self.conv1x1 = nn.Conv2d(cin, num_anchors * k, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv1x1(x).permute(0, 2, 3, 1).reshape(x.shape[0], -1, self.k)


class RetinaFace(nn.Module):
    """RetinaFace-mnet0.25 (see the module docstring). ``layout``: its anchors (:func:`retinaface_layout`).

    ``heads(x)``: RetinaFace's own outputs on its own input (BGR - BGR_MEAN, (B, 3, H, W)):
    ``deltas (B, A, 4)`` (variance-encoded), ``logits (B, A, 2)``, ``landmarks (B, A, 10)``.
    ``forward(images)``: gslib's convention (ImageNet-normalised RGB in; logits, eq. 13 deltas out).
    """

    def __init__(self, channels: int = 64):
        super().__init__()
        self.layout = retinaface_layout()
        anchors_per_cell = len(MIN_SIZES[0])
        self.body = MobileNetV1()
        self.fpn = FPN(MobileNetV1.out_channels, channels)
        self.ssh1, self.ssh2, self.ssh3 = SSH(channels, channels), SSH(channels, channels), SSH(channels, channels)
        self.ClassHead = nn.ModuleList(Head1x1(channels, anchors_per_cell, 2) for _ in STRIDES)
        self.BboxHead = nn.ModuleList(Head1x1(channels, anchors_per_cell, 4) for _ in STRIDES)
        self.LandmarkHead = nn.ModuleList(Head1x1(channels, anchors_per_cell, 2 * NUM_LANDMARKS) for _ in STRIDES)
        # gslib's normalised RGB -> RetinaFace's BGR - mean: x_bgr[c] = x[2 - c] * 255 std[2 - c]
        # + 255 mean[2 - c] - BGR_MEAN[c]. Not persistent, so the released weights' keys are all there is.
        std, mean = torch.tensor(IMAGENET_STD[::-1]), torch.tensor(IMAGENET_MEAN[::-1])
        self.register_buffer("input_scale", (255 * std).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("input_shift", (255 * mean - torch.tensor(BGR_MEAN)).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("variances", torch.tensor([VARIANCES[0]] * 2 + [VARIANCES[1]] * 2), persistent=False)

    def heads(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = x.contiguous(memory_format=weights_memory_format(self))
        p3, p4, p5 = self.fpn(self.body(x))
        features = (self.ssh1(p3), self.ssh2(p4), self.ssh3(p5))
        return tuple(torch.cat([head(f) for head, f in zip(heads, features)], dim=1)
                     for heads in (self.BboxHead, self.ClassHead, self.LandmarkHead))

    def from_gslib_input(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) RGB normalised as :func:`gslib.datasets.to_tensor` -> BGR in 0..255 minus BGR_MEAN."""
        return images.flip(1) * self.input_scale + self.input_shift

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        deltas, logits, _ = self.heads(self.from_gslib_input(images))
        return logits, deltas * self.variances


def load_retinaface(path: str | os.PathLike = WEIGHTS, device: torch.device | str = "cpu") -> RetinaFace:
    """A :class:`RetinaFace` in eval mode with the released weights at ``path`` (a ``state_dict``, keys maybe
    prefixed with ``module.``, as saved from DataParallel), loaded with ``strict=True``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"RetinaFace weights not found: {path}")
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict):
        raise ValueError(f"{path} holds a {type(state).__name__}, not a state_dict")
    state = {k.removeprefix("module."): v for k, v in state.items()}
    model = RetinaFace()
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise ValueError(f"the weights in {path} do not fit RetinaFace-mnet0.25: {' '.join(str(e).split())}") from None
    return model.to(device).eval()


def decode(deltas: torch.Tensor, anchors: torch.Tensor, variances=VARIANCES) -> torch.Tensor:
    """RetinaFace's box decoding. deltas: (A, 4) variance-encoded, anchors: (A, 4) x1y1x2y2 -> (A, 4) x1y1x2y2.
    Equal to eq. 13 (:func:`gslib.boxes.decode`) of ``deltas * (v0, v0, v1, v1)``."""
    v0, v1 = variances
    return box_ops.decode(deltas * deltas.new_tensor([v0, v0, v1, v1]), anchors)


def decode_landmarks(deltas: torch.Tensor, anchors: torch.Tensor, variance: float = VARIANCES[0]) -> torch.Tensor:
    """deltas: (A, 10) (x, y of 5 points), anchors: (A, 4) x1y1x2y2 -> (A, 5, 2) points in pixels,
    ``centre + variance * delta * anchor size``."""
    centre = 0.5 * (anchors[:, :2] + anchors[:, 2:])
    size = anchors[:, 2:] - anchors[:, :2]
    return centre[:, None] + variance * deltas.reshape(-1, NUM_LANDMARKS, 2) * size[:, None]


def bgr_input(image: Image.Image) -> torch.Tensor:
    """RetinaFace's input convention: PIL RGB -> (1, 3, H, W) float32 BGR in 0..255 minus BGR_MEAN."""
    pixels = np.asarray(image.convert("RGB"), dtype=np.float32)[:, :, ::-1] - np.float32(BGR_MEAN)
    return torch.from_numpy(np.ascontiguousarray(pixels.transpose(2, 0, 1)))[None]


@torch.no_grad()
def detect(model: RetinaFace, image: Image.Image, scale: float = 1.0, score_threshold: float = 0.02,
           pre_nms_top_k: int = 5000, nms_threshold: float = 0.4, max_detections: int = 750) -> Detections:
    """RetinaFace's own test: one scale (the original size by default, ``scale`` resizes the image), face
    probabilities above ``score_threshold``, the ``pre_nms_top_k`` best decoded, NMS at ``nms_threshold``
    (``torchvision.ops.nms``), at most ``max_detections``. Boxes in the original image's pixels, not
    clipped (as RetinaFace); ``scales`` is the side of each box's anchor (16 .. 512).
    A multi-scale pyramid goes through gslib's own :func:`gslib.inference.detect` (``model`` fits it)."""
    device = next(model.parameters()).device
    if scale != 1.0:
        w, h = max(1, round(image.width * scale)), max(1, round(image.height * scale))
        resized = image.resize((w, h), Image.BILINEAR)
    else:
        resized = image
    deltas, logits, _ = model.heads(bgr_input(resized).to(device))
    anchors, groups = model.layout.anchors(resized.height, resized.width, device=device)
    scores = torch.softmax(logits[0].float(), dim=1)[:, 1]
    keep = torch.nonzero(scores > score_threshold).squeeze(1)
    keep = keep[scores[keep].topk(min(pre_nms_top_k, keep.numel())).indices]
    boxes = decode(deltas[0, keep].float(), anchors[keep])
    order = nms(boxes, scores[keep], nms_threshold)[:max_detections]
    boxes, chosen = boxes[order], keep[order]
    factor = boxes.new_tensor([image.width / resized.width, image.height / resized.height] * 2)
    group_scales = torch.tensor(model.layout.group_scales, device=device)
    return Detections((boxes * factor).cpu(), scores[chosen].cpu(), group_scales[groups[chosen]].cpu())


class HardNegativeSampler(Sampler):
    """RetinaFace's own sampling (SSD's hard negative mining; RetinaFace, Sec. 4.2: negatives to positives at
    most 3:1): every positive anchor of the image and the ``neg_pos_ratio`` times as many negatives of highest
    classification loss (fewer when the image has fewer). An image without positives trains on nothing.
    Eq. 2 over the whole image (``per_group`` False); RetinaFace divides its classification loss by P, eq. 2 by
    the P + 3P samples: a constant factor. Called as every gslib sampler (:class:`gslib.sampling.Sampler`)."""

    needs_logits = True

    def __init__(self, neg_pos_ratio: int = 3):
        self.neg_pos_ratio = neg_pos_ratio

    def __call__(self, labels, groups, num_groups, logits, generator, boxes=None) -> Samples:
        pos = torch.nonzero(labels == POSITIVE).squeeze(1)
        negatives = torch.nonzero(labels == NEGATIVE).squeeze(1)
        loss = classification_losses(logits, labels)[negatives]
        neg = negatives[loss.topk(min(self.neg_pos_ratio * pos.numel(), negatives.numel())).indices]
        return Samples(pos, neg)


__all__ = ["BGR_MEAN", "FPN", "MIN_SIZES", "SSH", "STRIDES", "VARIANCES", "WEIGHTS", "HardNegativeSampler", "Head1x1",
           "MobileNetV1", "RetinaFace", "bgr_input", "decode", "decode_landmarks", "detect", "load_retinaface",
           "retinaface_layout"]
