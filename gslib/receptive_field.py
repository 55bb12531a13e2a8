"""Receptive fields measured by gradients (Sec. 4.3, Fig. 4 and 5): which input pixels an output depends on.

A receptive field is read off a gradient: the input pixels whose gradient of one output is non-zero are its
*support* (the theoretical receptive field), and how the gradient's mass spreads over them is the *effective*
receptive field (Luo et al., NIPS 2016). Both are computed here through gslib's own modules, never assumed:

- :func:`upsampled_conv_footprint` (Fig. 4): a 3x3 convolution on a map that :class:`gslib.model.TopDown`
  up-sampled x2, against a 2x2 convolution on the original map, as footprints on the original map;
- :func:`head_footprint` (Fig. 5): a head's footprint on its map, in cells;
- :func:`effective_receptive_field`: the mean |gradient| over input images of a trained detector's head
  logits at one cell of its map (FPN-finest against FPN-finest-DC's dilated head of Fig. 5).

Footprints: ``(H, W)`` float tensors of |d output / d input|, summed over channels.
"""
from __future__ import annotations

import copy

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from gslib.model import Detector, RPNHead, TopDown


def gradient_footprint(fn, x: torch.Tensor, at: tuple[int, int]) -> torch.Tensor:
    """|d fn(x)[..., at] / d x| summed over batch and channels. x: (B, C, H, W); fn(x): (B, C', h, w); at:
    the output cell (row, column) -> (H, W)."""
    x = x.detach().clone().requires_grad_(True)
    fn(x)[..., at[0], at[1]].sum().backward()
    return x.grad.abs().sum(dim=(0, 1))


def _ones_conv(kernel: int) -> nn.Conv2d:
    conv = nn.Conv2d(1, 1, kernel, bias=False)
    nn.init.ones_(conv.weight)
    return conv


def upsampled_conv_footprint(size: int = 8) -> dict[str, torch.Tensor]:
    """Fig. 4 computed. On an original map of ``size x size`` (C3 of one channel):

    - ``"3x3 on x2 (gslib)"``: :class:`gslib.model.TopDown` builds P2 = L2(C2) + up(P3) with identity
      laterals and C2 = C4 = C5 = 0, so P2 is C3 up-sampled x2 by the pathway's own interpolation
      (bilinear); then the 3x3 convolution of :class:`gslib.model.RPNHead` (weights 1), at the cell
      ``(size, size)`` of P2;
    - ``"3x3 on x2 (nearest)"``: the same with nearest-neighbour up-sampling;
    - ``"2x2 on original"``: a 2x2 convolution (weights 1) on C3, at the cell ``(size // 2 - 1, ...)``,
      whose window covers the pixels that P2's cell ``(size, size)`` sits between.

    Returns the footprints on C3, each ``(size, size)``."""
    top_down = TopDown({f"C{i}": 1 for i in range(2, 6)}, channels=1, finest=2)
    head = RPNHead(1, 1, num_anchors=1)
    with torch.no_grad():
        for conv in top_down.lateral.values():
            conv.weight.fill_(1.0)
            conv.bias.zero_()
        head.conv.weight.fill_(1.0)
        head.conv.bias.zero_()
    shapes = {i: (1, 1, size * 2 // 2 ** (i - 2), size * 2 // 2 ** (i - 2)) for i in range(2, 6)}

    def through_top_down(c3):
        c = {f"C{i}": torch.zeros(shapes[i]) for i in (2, 4, 5)} | {"C3": c3}
        return head.conv(top_down(c)["P2"])

    def nearest(c3):
        return head.conv(F.interpolate(c3, scale_factor=2, mode="nearest"))

    x = torch.zeros(shapes[3])
    return {"3x3 on x2 (gslib)": gradient_footprint(through_top_down, x, (size, size)),
            "3x3 on x2 (nearest)": gradient_footprint(nearest, x, (size, size)),
            "2x2 on original": gradient_footprint(_ones_conv(2), x, (size // 2 - 1, size // 2 - 1))}


def head_footprint(head: nn.Module, in_channels: int, size: int = 41) -> torch.Tensor:
    """Fig. 5's receptive field in cells of the map: |d logits / d map| of ``head`` (an RPN or dilated head)
    at the centre cell of a ``size x size`` map of ``in_channels`` -> (size, size). The 3x3 head sees 3 x 3
    cells; a 3x3/d branch sees ``2 d + 1`` a side. Measured on a copy with unit weights, no biases and a map
    of ones, so that every ReLU passes and every tap shows (random weights would hide the taps of a branch
    whose ReLU is off), and the footprint is the same whatever the head's initialisation (it was |weights|
    until 2026-12-07, which redrew Fig. 5's shades with every fresh head)."""
    head = copy.deepcopy(head)
    with torch.no_grad():
        for m in head.modules():
            if isinstance(m, nn.Conv2d):
                m.weight.fill_(1.0)
                if m.bias is not None:
                    m.bias.zero_()
    return gradient_footprint(lambda x: head(x)[0], torch.ones(1, in_channels, size, size), (size // 2, size // 2))


def support(footprint: torch.Tensor) -> tuple[int, int]:
    """(rows, columns) of the smallest box holding every non-zero of ``footprint``."""
    rows, cols = torch.nonzero(footprint, as_tuple=True)
    return int(rows.max() - rows.min() + 1), int(cols.max() - cols.min() + 1)


def best_window_share(footprint: torch.Tensor, k: int) -> float:
    """The largest share of ``footprint``'s mass inside any ``k x k`` window."""
    windows = F.avg_pool2d(footprint[None, None], k, stride=1) * k * k
    return float(windows.max() / footprint.sum())


def effective_receptive_field(detector: Detector, images: list[torch.Tensor], half: int = 64) -> np.ndarray:
    """The mean over ``images`` of |d logits / d image| of the head at the centre cell of the detector's
    first map, summed over its anchors' logits and the colour channels, normalised to sum 1, on the
    ``(2 half + 1)^2`` pixels around that cell's centre. images: (3, H, W) normalised (as
    :func:`gslib.datasets.to_tensor` gives), each at least ``2 half + 1`` on a side. A copy of the detector is
    used, in eval mode, fp32 and contiguous whatever it trained in: with channels_last weights, the gradient
    with respect to the image corrupted the heap in torch 2.14.1's oneDNN convolution backward (a 256 x 171
    image; "free(): invalid next size", reproduced with random pixels), and contiguous weights do not."""
    detector = copy.deepcopy(detector).float().to(memory_format=torch.contiguous_format).eval()
    level = detector.level_features[0]
    stride = detector.layout.levels[0].stride
    total = torch.zeros(2 * half + 1, 2 * half + 1)
    for image in images:
        h, w = image.shape[-2:]
        cell = (h // stride // 2, w // stride // 2)
        grad = gradient_footprint(lambda x: detector.head(detector.features(x)[level])[0], image[None], cell)
        cy, cx = (int(c * stride + stride // 2) for c in cell)
        if min(cy, cx) < half or cy + half >= h or cx + half >= w:
            raise ValueError(f"an image of {h} x {w} is too small for a window of {2 * half + 1} around its centre")
        window = grad[cy - half:cy + half + 1, cx - half:cx + half + 1]
        total += window / window.sum()
    return (total / len(images)).numpy()


def radius_of_mass(erf: np.ndarray, share: float) -> float:
    """The radius (pixels, from the centre of ``erf``) of the smallest disc holding ``share`` of its mass."""
    half = erf.shape[0] // 2
    yy, xx = np.mgrid[-half:half + 1, -half:half + 1]
    r = np.hypot(yy, xx).ravel()
    order = np.argsort(r, kind="stable")
    mass = np.cumsum(erf.ravel()[order]) / erf.sum()
    return float(r[order][np.searchsorted(mass, share)])


def fig4_verdict(footprints: dict[str, torch.Tensor]) -> dict:
    """The claim "rf-equiv" judged on :func:`upsampled_conv_footprint`'s footprints: replicated when the 3x3
    on gslib's x2 map (the top-down pathway's own up-sampling) has exactly the 2x2's support, not replicated
    otherwise; ``ours`` gives the supports and the share of the gradient in the best 2x2 window."""
    ours, nearest, square = (footprints[k] for k in ("3x3 on x2 (gslib)", "3x3 on x2 (nearest)", "2x2 on original"))
    same = support(ours) == support(square) and torch.equal(ours != 0, square != 0)
    text = (f"3x3 on the top-down pathway's x2 map (bilinear): support {support(ours)[0]}x{support(ours)[1]} on the "
            f"original map, {best_window_share(ours, 2):.0%} of the gradient in its best 2x2; with nearest "
            f"up-sampling: support {support(nearest)[0]}x{support(nearest)[1]}, exactly the 2x2's pixels "
            f"({'yes' if torch.equal(nearest != 0, square != 0) else 'no'})")
    return {"claim": "rf-equiv", "ours": text, "verdict": "replicated" if same else "not replicated"}


def plot_footprints(footprints: dict[str, torch.Tensor | np.ndarray], unit: str = "pixel of the original map"):
    """One heat map per footprint, side by side, each normalised to its maximum."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(footprints), figsize=(3.2 * len(footprints), 3.2), squeeze=False)
    for ax, (name, f) in zip(axes[0], footprints.items()):
        f = np.asarray(f, dtype=float)
        ax.imshow(f / f.max(), cmap="viridis", vmin=0, vmax=1)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel(unit, fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return fig


def plot_erf(fields: dict[str, np.ndarray]):
    """Effective receptive fields: each mean field as a heat map (log scale), and the share of its mass
    within each radius of the centre, one line per detector."""
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm

    fig, axes = plt.subplots(1, len(fields) + 1, figsize=(3.4 * (len(fields) + 1), 3.3))
    for ax, (name, erf) in zip(axes, fields.items()):
        ax.imshow(erf, cmap="magma", norm=LogNorm(vmin=erf.max() * 1e-3, vmax=erf.max()))
        ax.set_title(name, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    for name, erf in fields.items():
        radii = np.arange(0, erf.shape[0] // 2 + 1)
        half = erf.shape[0] // 2
        yy, xx = np.mgrid[-half:half + 1, -half:half + 1]
        r = np.hypot(yy, xx)
        axes[-1].plot(radii, [erf[r <= k].sum() / erf.sum() for k in radii], label=name)
    axes[-1].set_xlabel("radius from the cell's centre (px)")
    axes[-1].set_ylabel("share of the gradient")
    axes[-1].grid(alpha=0.3)
    axes[-1].legend(fontsize=7)
    fig.tight_layout()
    return fig
