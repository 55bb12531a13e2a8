"""The anchor-distribution analysis of Fig. 2: how many positive and negative training samples each
anchor scale receives, before and after sampling, for a layout and a sampler.

It replays training-time matching and sampling over a dataset's training annotations, boxes and image
sizes only (no pixels): for each image, draw the training augmentation (:mod:`gslib.augment`), tile the
layout's anchors on the augmented size, label them with the two-pass matcher, draw the training samples,
and count per anchor scale. Point it at any WIDER FACE (.txt or .mat) or COCO (.json) annotation file:

    python -m gslib.analyze anchors --annotations wider_face_train.mat --sizes image_sizes.csv \\
        --layout fpn-finest --sampler gs --max-images 2000
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from gslib import anchors as layouts
from gslib.augment import JITTER_SCALES, draw_jitter, jitter_boxes
from gslib.cli import positive_int
from gslib.data.coco import load_coco
from gslib.datasets import read_records
from gslib.matcher import NEGATIVE, POSITIVE, TwoPassMatcher
from gslib.sampling import GroupSampler, RandomSampler, Sampler


class AnnotatedImage(NamedTuple):
    """name; width, height in pixels; boxes (N, 4) float32 x1y1x2y2; ignore (N,) bool."""

    name: str
    width: int
    height: int
    boxes: torch.Tensor
    ignore: torch.Tensor


def read_sizes(path) -> dict[str, tuple[int, int]]:
    """A CSV with columns ``image``, ``width``, ``height`` (others ignored) -> {image: (width, height)}."""
    with open(path, newline="") as f:
        rows = csv.DictReader(f)
        missing = {"image", "width", "height"} - set(rows.fieldnames or ())
        if missing:
            raise ValueError(f"{path}: missing column(s) {sorted(missing)}")
        return {r["image"]: (int(r["width"]), int(r["height"])) for r in rows}


def load_annotations(path, sizes: dict[str, tuple[int, int]] | None = None) -> list[AnnotatedImage]:
    """Boxes and image sizes of a training set.

    path: a WIDER FACE annotation file (``*_bbx_gt.txt`` or ``wider_face_*.mat``) or a COCO JSON, read by
        :func:`gslib.datasets.read_records` (WIDER's "invalid" and COCO's ``iscrowd`` become ignore).
    sizes: {image name: (width, height)}, needed for WIDER FACE files (COCO JSON carries its own); an
        image without a size is an error naming it.
    """
    path = Path(path)
    if sizes is None and path.suffix == ".json":
        sizes = {im["file_name"]: (im["width"], im["height"]) for im in load_coco(path).dataset["images"]}
    if sizes is None:
        raise ValueError(f"{path}: WIDER FACE annotations carry no image sizes; pass sizes (e.g. --sizes CSV)")
    out = []
    for r in read_records(path):
        if r.name not in sizes:
            raise KeyError(f"{path}: no size for image {r.name!r}")
        out.append(AnnotatedImage(r.name, *sizes[r.name], r.boxes, r.ignore))
    return out


def count_training_samples(images: Sequence[AnnotatedImage], layout: layouts.AnchorLayout, sampler: Sampler,
                           matcher: TwoPassMatcher | None = None, seed: int = 0, max_side: int = 1200,
                           scales=JITTER_SCALES, progress: bool = True) -> pd.DataFrame:
    """Replay matching and sampling over ``images``; count positives and negatives per anchor scale.

    sampler: a :mod:`gslib.sampling` sampler that draws without logits (``RandomSampler``, ``GroupSampler``,
    or ``FocalStarSampler``'s draw), as in training.

    Returns a DataFrame with one row per anchor scale: ``scale``, ``pos_all``, ``neg_all`` (labelled
    anchors before sampling), ``pos``, ``neg`` (the training samples drawn), summed over images.
    Deterministic under ``seed``.
    """
    matcher = matcher or TwoPassMatcher()
    generator = torch.Generator().manual_seed(seed)
    num_groups = len(layout.group_scales)
    totals = torch.zeros(4, num_groups, dtype=torch.int64)
    cache: dict[tuple[int, int], tuple[torch.Tensor, torch.Tensor]] = {}
    for im in tqdm(images, desc=f"{layout.name}", disable=not progress, mininterval=2):
        jit = draw_jitter(im.width, im.height, generator, scales, max_side, flip=False)
        boxes, ignore = jitter_boxes(im.boxes, im.ignore, jit)
        key = (jit.height, jit.width)
        if key not in cache:
            if len(cache) > 64:
                cache.clear()
            # Group-major order (each scale row by row) lets the matcher skip far more anchor-box pairs;
            # counts do not depend on the order.
            anchor_boxes, groups = layout.anchors(jit.height, jit.width)
            order = torch.argsort(groups, stable=True)
            cache[key] = anchor_boxes[order], groups[order]
        anchor_boxes, groups = cache[key]
        labels, _ = matcher(anchor_boxes, boxes, ignore)
        s = sampler(labels, groups, num_groups, None, generator)
        totals[0] += torch.bincount(groups[labels == POSITIVE], minlength=num_groups)
        totals[1] += torch.bincount(groups[labels == NEGATIVE], minlength=num_groups)
        totals[2] += torch.bincount(groups[s.pos], minlength=num_groups)
        totals[3] += torch.bincount(groups[s.neg], minlength=num_groups)
    return pd.DataFrame({"scale": layout.group_scales, "pos_all": totals[0].numpy(), "neg_all": totals[1].numpy(),
                         "pos": totals[2].numpy(), "neg": totals[3].numpy()})


def sample_balance(images: Sequence[AnnotatedImage], detectors: dict[str, tuple[layouts.AnchorLayout, Sampler]],
                   seed: int = 0, max_side: int = 1200, scales=JITTER_SCALES) -> pd.DataFrame:
    """How positive each detector's drawn training samples are, by the replay of :func:`count_training_samples`
    (``detectors``: {name: (layout, sampler)}). One row per detector: ``positive share`` (positives among the
    samples drawn), ``lowest scale share`` (the same at the anchor scale where it is lowest), ``positives per
    image`` and ``samples per image`` (means over ``images``)."""
    rows = []
    for name, (layout, sampler) in detectors.items():
        counts = count_training_samples(images, layout, sampler, seed=seed, max_side=max_side, scales=scales,
                                        progress=False)
        drawn = counts["pos"] + counts["neg"]
        rows.append({"detector": name, "positive share": counts["pos"].sum() / drawn.sum(),
                     "lowest scale share": (counts["pos"] / drawn.where(drawn > 0)).min(),
                     "positives per image": counts["pos"].sum() / len(images),
                     "samples per image": drawn.sum() / len(images)})
    return pd.DataFrame(rows)


def shares(counts: pd.DataFrame) -> pd.DataFrame:
    """Fig. 2's normalisation: each scale's positives and negatives as a share of all training samples."""
    total = counts["pos"].sum() + counts["neg"].sum()
    return pd.DataFrame({"scale": counts["scale"], "pos": counts["pos"] / total, "neg": counts["neg"] / total})


# The five detectors of Fig. 2 (a-e): layout and sampler (RS 1024 per image, GS 256 per scale: the same total).
def figure2_detectors(rs_samples: int = 1024, gs_per_group: int = 256) -> dict[str, tuple]:
    return {
        "RPN": (layouts.rpn(), RandomSampler(rs_samples)),
        "FPN": (layouts.fpn(), RandomSampler(rs_samples)),
        "FPN-finest-stride": (layouts.fpn_finest_stride(), RandomSampler(rs_samples)),
        "FPN-finest": (layouts.fpn_finest(), RandomSampler(rs_samples)),
        "FPN-finest-sampling": (layouts.fpn_finest(), GroupSampler(gs_per_group)),
    }


def figure2(images: Sequence[AnnotatedImage], detectors: dict[str, tuple] | None = None, seed: int = 0,
            max_side: int = 1200, scales=JITTER_SCALES, progress: bool = True) -> pd.DataFrame:
    """Fig. 2 (a-e): long table ``detector, scale, pos, neg, pos_count, neg_count, pos_all, neg_all``
    (shares of all training samples, and raw counts)."""
    rows = []
    for name, (layout, sampler) in (detectors or figure2_detectors()).items():
        counts = count_training_samples(images, layout, sampler, seed=seed, max_side=max_side, scales=scales,
                                        progress=progress)
        share = shares(counts)
        rows.append(pd.DataFrame({"detector": name, "scale": counts["scale"], "pos": share["pos"],
                                  "neg": share["neg"], "pos_count": counts["pos"], "neg_count": counts["neg"],
                                  "pos_all": counts["pos_all"], "neg_all": counts["neg_all"]}))
    return pd.concat(rows, ignore_index=True)


def _cells(table: pd.DataFrame, detector: str) -> pd.DataFrame:
    return table[table["detector"] == detector].set_index("scale")[["pos", "neg"]]


def _tv(a: pd.DataFrame, b: pd.DataFrame) -> float:
    """Total-variation distance between two share tables (pos and neg per scale, each summing to 1)."""
    return 0.5 * float((a - b).abs().to_numpy().sum())


def _cv(values) -> float:
    values = np.asarray(values, dtype=float)
    return float(values.std() / values.mean())


# The ids of these observations in gslib.claims.CLAIMS, in the order they are checked below.
CLAIM_IDS = ("fig2-rpn", "fig2-fpn", "fig2-stride", "fig2-finest", "fig2-contrast", "fig2-gs")


def figure2_observations(table: pd.DataFrame, tv_similar: float = 0.1) -> pd.DataFrame:
    """The paper's reading of Fig. 2 (Sec. 1 and 3), each turned into a check on :func:`figure2`'s table.

    Returns one row per observation: ``claim`` (its id in :data:`gslib.claims.CLAIMS`), ``observation``,
    ``check`` (what is measured, with its threshold),
    ``ours`` (the measured value) and ``verdict`` ("replicated" / "not replicated"). Two distributions
    count as similar when their total-variation distance is at most ``tv_similar``.
    """
    rpn, fpn = _cells(table, "RPN"), _cells(table, "FPN")
    stride, finest = _cells(table, "FPN-finest-stride"), _cells(table, "FPN-finest")
    sampling = _cells(table, "FPN-finest-sampling")
    s_min, s_max = rpn.index.min(), rpn.index.max()
    rows = []

    def add(observation, check, ours, ok):
        rows.append({"claim": CLAIM_IDS[len(rows)], "observation": observation, "check": check, "ours": ours,
                     "verdict": "replicated" if ok else "not replicated"})

    add("RPN (2a): small anchors get few positives",
        f"RPN pos share at {s_min} below its mean pos share per scale",
        f"{rpn.pos[s_min]:.3g} vs {rpn.pos.mean():.3g}", rpn.pos[s_min] < rpn.pos.mean())
    ratio = fpn.neg[s_min] / max(fpn.neg[s_max], 1e-12)
    add("FPN (2b): far more negatives for small scales than for large",
        f"FPN neg share falls with scale and neg({s_min}) / neg({s_max}) >= 4",
        f"ratio {ratio:.1f}", bool(fpn.neg.is_monotonic_decreasing) and ratio >= 4)
    tv = _tv(stride, fpn)
    add("FPN-finest-stride (2c) is distributed like FPN (2b)", f"TV distance <= {tv_similar}", f"{tv:.3f}",
        tv <= tv_similar)
    tv = _tv(finest, rpn)
    add("FPN-finest (2d) is distributed like RPN (2a)", f"TV distance <= {tv_similar}", f"{tv:.3f}",
        tv <= tv_similar)
    add("FPN-finest-stride has more small negatives, FPN-finest more large positives",
        f"neg({s_min}): stride > finest and pos({s_max}): finest > stride",
        f"neg {stride.neg[s_min]:.3f} vs {finest.neg[s_min]:.3f}; pos {finest.pos[s_max]:.3g} vs "
        f"{stride.pos[s_max]:.3g}", stride.neg[s_min] > finest.neg[s_min] and finest.pos[s_max] > stride.pos[s_max])
    totals = {name: _cv((t.pos + t.neg).to_numpy()) for name, t in
              (("sampling", sampling), ("finest", finest), ("fpn", fpn))}
    add("FPN-finest-sampling (2e) is balanced across scales",
        "CV of per-scale sample share: sampling < FPN-finest and < FPN; CV of positives: sampling < FPN-finest",
        f"CV {totals['sampling']:.2f} vs {totals['finest']:.2f} / {totals['fpn']:.2f}; pos CV "
        f"{_cv(sampling.pos):.2f} vs {_cv(finest.pos):.2f}",
        totals["sampling"] < min(totals["finest"], totals["fpn"]) and _cv(sampling.pos) < _cv(finest.pos))
    return pd.DataFrame(rows)


def plot_figure2(table: pd.DataFrame, title: str = ""):
    """Fig. 2: share of all training samples per anchor scale, positives (top row, their own axis: they are
    a few percent) and negatives (bottom row), one column per detector."""
    import matplotlib.pyplot as plt

    detectors = list(dict.fromkeys(table["detector"]))
    fig, axes = plt.subplots(2, len(detectors), figsize=(2.9 * len(detectors), 4.6), sharey="row",
                             squeeze=False)
    for col, (name, letter) in enumerate(zip(detectors, "abcdefgh")):
        t = table[table["detector"] == name]
        labels = [str(s) for s in t["scale"]]
        for row, (kind, colour) in enumerate((("pos", "#d62728"), ("neg", "#1f77b4"))):
            ax = axes[row, col]
            ax.bar(labels, t[kind], color=colour)
            ax.grid(axis="y", alpha=0.3)
        axes[0, col].set_title(f"({letter}) {name}", fontsize=10)
        axes[1, col].set_xlabel("anchor scale")
    axes[0, 0].set_ylabel("positives / all samples")
    axes[1, 0].set_ylabel("negatives / all samples")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


LAYOUTS = {"rpn": layouts.rpn, "fpn": layouts.fpn, "fpn-finest": layouts.fpn_finest,
           "fpn-finest-stride": layouts.fpn_finest_stride}
# --sampler: the sampler and its default N (RS: per image, GS: per scale group).
SAMPLERS = {"rs": (RandomSampler, 1024), "gs": (GroupSampler, 256)}


def main(argv: Iterable[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m gslib.analyze", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="what", required=True)
    a = sub.add_parser("anchors", help="positive/negative training samples per anchor scale (Fig. 2)")
    a.add_argument("--annotations", type=Path, required=True, help="WIDER .txt/.mat or COCO .json")
    a.add_argument("--sizes", type=Path, help="CSV image,width,height (WIDER FACE annotations need it)")
    a.add_argument("--layout", choices=sorted(LAYOUTS), default="fpn-finest")
    a.add_argument("--coco", action="store_true", help="COCO anchors: scales 32-512, ratios 0.5/1/2")
    a.add_argument("--sampler", choices=sorted(SAMPLERS), default="rs")
    a.add_argument("--num-samples", type=positive_int, default=None,
                   help="RS: per image (1024); GS: per group (256)")
    a.add_argument("--max-images", type=positive_int, default=None, help="analyse the first N images (all)")
    a.add_argument("--max-side", type=positive_int, default=1200, help="crop limit of the training augmentation")
    a.add_argument("--seed", type=int, default=0)
    a.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)

    try:
        images = load_annotations(args.annotations, read_sizes(args.sizes) if args.sizes else None)
    except (OSError, ValueError, KeyError) as err:
        sys.exit(f"error: {err}")
    images = images[: args.max_images]
    layout = (LAYOUTS[args.layout](layouts.COCO_SCALES, layouts.COCO_RATIOS) if args.coco
              else LAYOUTS[args.layout]())
    make, default_num = SAMPLERS[args.sampler]
    sampler = make(default_num if args.num_samples is None else args.num_samples)
    counts = count_training_samples(images, layout, sampler, seed=args.seed, max_side=args.max_side)
    table = counts.assign(pos_share=shares(counts)["pos"], neg_share=shares(counts)["neg"])
    if args.json:
        print(json.dumps({"layout": layout.name, "sampler": args.sampler, "images": len(images),
                          "rows": table.to_dict(orient="records")}, default=int))
    else:
        print(f"{layout.name}, sampler {args.sampler}, {len(images)} images")
        print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))


if __name__ == "__main__":
    main()
