"""The real-photo sample of WIDER FACE val (``../shared/wider-real-sample/``: 204 images; their official
``wider_face_val_bbx_gt.txt`` entries hold 4,700 faces, the evaluation set notebook 07 builds 4,699, where the
sample's README says 4,370) as a WIDER-format evaluation set: the official ground truth
(``../shared/widerface/ground_truth``, the four .mat files of ``eval_tools``) restricted to those images,
written with :func:`gslib.data.wider.write_wider_mat`, so that :func:`gslib.evaluate.wider.evaluate_wider`
evaluates it exactly as it does SynthWIDER val.

Squashed images (200 of 204, stored at 416 x 416 whatever their original size) are resized back to their
original size when they are opened (:func:`open_image`), and the official boxes are kept as they are. We chose
that over rescaling the boxes (x by stored / original width, y by height), which the sample's README also
allows, because it is the more faithful of the two: the ground truth stays the official one verbatim (its
integer boxes, its easy / medium / hard lists, and the protocol's ``w + 1`` pixel convention, which in
416-px units would weigh 2.5 times more on a tiny face), and every detector sees faces at their original
size and aspect ratio, as on WIDER FACE (at 416 x 416 a 20-px face shrinks to 8 px, below the smallest anchor
of most detectors, and turns anisotropic). What the down-and-up sampling blurred stays blurred.
"""
from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from gslib.data.wider import WiderGroundTruth, read_wider_mat, write_wider_mat
from gslib.paths import SHARED

SAMPLE = SHARED / "wider-real-sample"
WIDERFACE_GT = SHARED / "widerface" / "ground_truth"
MANIFEST = "manifest.csv"
IMAGES = "images"
MANIFEST_COLUMNS = ("image", "stored_width", "stored_height", "original_width", "original_height", "kind", "source")
KINDS = ("squashed", "original")


@dataclass(frozen=True)
class SampleImage:
    """One row of ``manifest.csv``: the official relative path, its stored and original sizes (w, h), kind."""

    name: str
    stored: tuple[int, int]
    original: tuple[int, int]
    kind: str


def read_manifest(root: str | os.PathLike = SAMPLE) -> list[SampleImage]:
    """``root/manifest.csv`` -> one :class:`SampleImage` per row. Bad rows raise ValueError naming file and line."""
    path = Path(root) / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(f"missing real-photo sample manifest: {path}")
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        if tuple(reader.fieldnames or ()) != MANIFEST_COLUMNS:
            raise ValueError(f"{path}:1: expected the columns {','.join(MANIFEST_COLUMNS)}, got {reader.fieldnames}")
        rows = []
        for line, row in enumerate(reader, start=2):
            try:
                sizes = [int(row[c]) for c in MANIFEST_COLUMNS[1:5]]
            except (TypeError, ValueError):
                raise ValueError(f"{path}:{line}: sizes must be integers, got {row}") from None
            if min(sizes) < 1 or row["kind"] not in KINDS:
                raise ValueError(f"{path}:{line}: sizes must be positive and kind one of {KINDS}, got {row}")
            rows.append(SampleImage(row["image"], (sizes[0], sizes[1]), (sizes[2], sizes[3]), row["kind"]))
    return rows


def restrict_ground_truth(gt: WiderGroundTruth, names) -> WiderGroundTruth:
    """The images of ``gt`` whose name (``"<event>/<image>.jpg"``) is in ``names``, in ``gt``'s order, with
    their boxes, attributes and subset lists unchanged. Raises ValueError naming the names ``gt`` lacks."""
    wanted = set(names)
    missing = wanted - {image.name for image in gt.images}
    if missing:
        raise ValueError(f"{len(missing)} images are not in the ground truth, e.g. {sorted(missing)[:3]}")
    kept = [k for k, image in enumerate(gt.images) if image.name in wanted]
    return WiderGroundTruth([gt.images[k] for k in kept],
                            {s: [lists[k] for k in kept] for s, lists in gt.subsets.items()}, gt.labels)


def write_ground_truth(out_dir: str | os.PathLike, sample: str | os.PathLike = SAMPLE,
                       official: str | os.PathLike = WIDERFACE_GT) -> WiderGroundTruth:
    """Write the official ground truth (the folder of the four .mat files) restricted to the sample's images
    into ``out_dir``, in the official format, and return it (read back, as the evaluation will read it)."""
    names = [row.name for row in read_manifest(sample)]
    restricted = restrict_ground_truth(read_wider_mat(official), names)
    write_wider_mat(out_dir, restricted.images, restricted.subsets)
    return read_wider_mat(out_dir)


def open_image(image: SampleImage, sample: str | os.PathLike = SAMPLE) -> Image.Image:
    """The image in RGB at its original size: a squashed one resized back (bicubic) to ``image.original``,
    where the official boxes are. Raises ValueError naming the file if its size is not the manifest's."""
    path = Path(sample) / IMAGES / image.name
    with Image.open(path) as im:
        if im.size != image.stored:
            raise ValueError(f"{path} is {im.size[0]} x {im.size[1]}, the manifest says {image.stored}")
        rgb = im.convert("RGB")
    return rgb if rgb.size == image.original else rgb.resize(image.original, Image.BICUBIC)


def count_faces(gt: WiderGroundTruth) -> int:
    """Boxes in the ground truth (every annotated face, invalid ones included)."""
    return int(np.sum([len(image.boxes) for image in gt.images]))


__all__ = ["SAMPLE", "WIDERFACE_GT", "SampleImage", "count_faces", "open_image", "read_manifest",
           "restrict_ground_truth", "write_ground_truth"]
