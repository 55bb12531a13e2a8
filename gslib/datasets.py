"""Training data: a torch Dataset over WIDER-format data (an images folder and ``*_bbx_gt.txt``, or COCO
JSON), the pixel side of Sec. 5's augmentation, and padding collation.

Reproducibility: every random draw is a pure function of ``(seed, epoch, index)``. A dataset item is
keyed by ``(epoch, index)``; its augmentation comes from a generator seeded by :func:`item_seed`, and the
order of the images in an epoch from :func:`epoch_order`. :class:`TrainingBatches` lists the keys of
every iteration from any starting iteration, so a run resumed mid-epoch reads exactly the images, with
exactly the augmentation, that it would have read without stopping, and DataLoader workers need no
shared state.

Images are float32 RGB, normalised by ImageNet's mean and std (the torchvision weights of Sec. 5), then
zero-padded (i.e. padded with the mean colour) at the bottom and right to a multiple of 32.
"""
from __future__ import annotations

import json
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from PIL import Image

from gslib.augment import JITTER_SCALES, Jitter, draw_jitter, jitter_boxes
from gslib.data import synth
from gslib.data.coco import load_coco
from gslib.data.wider import WiderFormatError, read_wider_mat, read_wider_txt
from gslib.experiments import Profile

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
PAD_MULTIPLE = 32  # the coarsest feature stride of the detectors (P5)

# Independent random streams of one item (the last word of its seed).
AUGMENT_STREAM, SAMPLE_STREAM, ORDER_STREAM = 0, 1, 2


def item_seed(seed: int, epoch: int, index: int, stream: int) -> int:
    """A 32-bit seed for one (epoch, image, stream), the same in every process (numpy's SeedSequence)."""
    return int(np.random.SeedSequence([seed, epoch, index, stream]).generate_state(1)[0])


def epoch_order(num_images: int, seed: int, epoch: int) -> torch.Tensor:
    """(num_images,) int64: the permutation of the training set in ``epoch``."""
    g = torch.Generator().manual_seed(item_seed(seed, epoch, 0, ORDER_STREAM))
    return torch.randperm(num_images, generator=g)


class Record(NamedTuple):
    """name: path below the images root; boxes: (N, 4) float32 x1y1x2y2; ignore: (N,) bool."""

    name: str
    boxes: torch.Tensor
    ignore: torch.Tensor


def to_record(name: str, xywh, ignore) -> Record:
    """x y w h boxes (N, 4) and ignore flags (N,) -> :class:`Record` (x1y1x2y2; degenerate boxes ignored)."""
    xywh = torch.as_tensor(np.asarray(xywh, dtype=np.float32).reshape(-1, 4))
    boxes = torch.cat([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], dim=1)
    # Degenerate boxes (the official train file has 27) can match nothing: ignore them.
    bad = (xywh[:, 2] <= 0) | (xywh[:, 3] <= 0)
    return Record(name, boxes, torch.as_tensor(np.asarray(ignore, dtype=bool)) | bad)


def read_records(annotations) -> list[Record]:
    """Training annotations: WIDER FACE ``*_bbx_gt.txt`` or ``wider_face_*.mat`` (the "invalid" label ->
    ignore) or COCO JSON (``iscrowd`` -> ignore; every category is one class, as for the class-agnostic
    detector of Sec. 5)."""
    annotations = Path(annotations)
    if annotations.suffix == ".json":
        coco = load_coco(annotations)
        out = []
        for img in coco.dataset["images"]:
            anns = coco.imgToAnns.get(img["id"], [])
            out.append(to_record(img["file_name"], [a["bbox"] for a in anns], [a.get("iscrowd", 0) for a in anns]))
        return out
    if annotations.suffix == ".mat":
        images = read_wider_mat(annotations, subsets=()).images
    else:
        # Lenient for the one thing the official train file gets wrong (two boxes of negative width, which
        # to_record ignores, as every degenerate box); anything it would skip stays an error.
        images = read_wider_txt(annotations, lenient=True)
        if sum(images.skipped.values()):
            raise WiderFormatError(annotations, None, "unreadable annotations:\n" + "\n".join(images.problems))
        if images.problems:
            warnings.warn(f"{len(images.problems)} boxes of negative size are ignored in training: "
                          + "; ".join(images.problems), stacklevel=2)
    return [to_record(im.name, im.boxes, im.invalid) for im in images]


def ensure_data(profile: Profile) -> None:
    """Generate the profile's embedded benchmark if it is missing (real datasets are the user's to fetch)."""
    if profile.synth_profile is not None:
        synth.ensure(synth.PROFILES[profile.synth_profile], profile.path(""))


def data_digest(profile: Profile) -> str | None:
    """The digest of the files of the profile's data (its manifest's, :func:`gslib.data.synth.files_digest`);
    None for a folder without one (a real dataset)."""
    manifest = profile.path(synth.MANIFEST)
    return json.loads(manifest.read_text()).get("digest") if manifest.is_file() else None


def jitter_image(image: Image.Image, jitter: Jitter) -> Image.Image:
    """The pixel side of :func:`gslib.augment.jitter_boxes`: resize by ``jitter.scale``, crop, flip.

    Only the crop's source region is resampled (PIL's ``box``), so a 4x jitter of a large image costs no
    more than its crop. Output pixel ``j`` samples source ``(x0 + j + 0.5) / scale``, the map that
    ``jitter_boxes`` applies to box corners (``x * scale - x0``). The source region is clipped to the image
    where the rounded resized size overhangs it (by less than one source pixel).
    """
    s = jitter.scale
    box = (jitter.x0 / s, jitter.y0 / s, min((jitter.x0 + jitter.width) / s, image.width),
           min((jitter.y0 + jitter.height) / s, image.height))
    out = image.resize((jitter.width, jitter.height), Image.BILINEAR, box=box)
    return out.transpose(Image.FLIP_LEFT_RIGHT) if jitter.flip else out


# to_tensor's value of each 8-bit level in each channel: ((v / 255) - mean) / std, computed in float32 as
# the per-pixel formula computes it, so that looking it up gives the same bits (a test checks all 3 x 256).
NORMALISED_LEVELS = ((torch.arange(256, dtype=torch.float32) / 255.0).view(1, 256)
                     - torch.tensor(IMAGENET_MEAN).view(3, 1)) / torch.tensor(IMAGENET_STD).view(3, 1)


def to_tensor(image: Image.Image) -> torch.Tensor:
    """PIL RGB -> (3, H, W) float32 normalised by ImageNet's mean and std.

    A look-up of :data:`NORMALISED_LEVELS` per channel: 2.5-3.5x faster than converting, subtracting and
    dividing every pixel (measured at 320 x 320 to 1280 x 1000; a test image pays it once per pyramid
    scale), with the same result to the bit."""
    pixels = torch.from_numpy(np.array(image, dtype=np.uint8, copy=True))  # (H, W, 3)
    if pixels.ndim != 3 or pixels.shape[2] != 3:
        raise ValueError(f"to_tensor needs an RGB image, got mode {image.mode} of shape {tuple(pixels.shape)}")
    out = torch.empty((3, pixels.shape[0], pixels.shape[1]), dtype=torch.float32)
    for c in range(3):
        torch.index_select(NORMALISED_LEVELS[c], 0, pixels[..., c].reshape(-1).to(torch.int64), out=out[c].view(-1))
    return out


class Sample(NamedTuple):
    """One augmented training image: image (3, h, w) float32; boxes (K, 4) x1y1x2y2 in its pixels;
    ignore (K,) bool; epoch, index (its key); jitter (the draw)."""

    image: torch.Tensor
    boxes: torch.Tensor
    ignore: torch.Tensor
    epoch: int
    index: int
    jitter: Jitter


class WiderDataset(torch.utils.data.Dataset):
    """Augmented training images. ``dataset[(epoch, index)]`` (or ``dataset[index]`` for epoch 0).

    images_root: folder the annotation names are relative to; annotations: ``*_bbx_gt.txt`` or COCO JSON.
    scales, max_side, flip: Sec. 5's jitter scales, crop limit and flip; ``augment=False`` gives the
    image unchanged (scale 1, no crop, no flip). ``max_images`` keeps the first N records.
    cache_bytes: decoded images are kept in memory up to this many bytes (each process its own: a DataLoader
    worker holds its own cache), so that every epoch after the first skips the JPEG decoding, 2.1 of the
    4.7 ms an item of the default profile costs (measured). The items are the same either way.
    """

    def __init__(self, images_root, annotations, seed: int = 0, scales: Sequence[float] = JITTER_SCALES,
                 max_side: int = 1200, flip: bool = True, augment: bool = True, max_images: int | None = None,
                 cache_bytes: int = 2 << 30):
        self.images_root = Path(images_root)
        self.records = read_records(annotations)[:max_images]
        if not self.records:
            raise ValueError(f"{annotations}: no training images")
        self.seed, self.scales, self.max_side, self.flip, self.augment = seed, tuple(scales), max_side, flip, augment
        self.cache_bytes, self._decoded, self._cached_bytes = cache_bytes, {}, 0

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, key) -> Sample:
        epoch, index = key if isinstance(key, tuple) else (0, key)
        rec = self.records[index]
        image = self.image(index)
        if self.augment:
            g = torch.Generator().manual_seed(item_seed(self.seed, epoch, index, AUGMENT_STREAM))
            jit = draw_jitter(image.width, image.height, g, self.scales, self.max_side, self.flip)
        else:
            jit = Jitter(1.0, 0, 0, image.width, image.height, False)
        boxes, ignore = jitter_boxes(rec.boxes, rec.ignore, jit)
        return Sample(to_tensor(jitter_image(image, jit)), boxes, ignore, epoch, index, jit)

    def image(self, index: int) -> Image.Image:
        """Record ``index``'s image, RGB, from the cache when it holds it."""
        image = self._decoded.get(index)
        if image is None:
            with Image.open(self.images_root / self.records[index].name) as im:
                image = im.convert("RGB")
            size = image.width * image.height * 3
            if self._cached_bytes + size <= self.cache_bytes:
                self._decoded[index] = image
                self._cached_bytes += size
        return image


class Batch(NamedTuple):
    """images: (B, 3, H, W) float32, H and W multiples of 32; sizes: (B, 2) int64, each image's true
    (height, width) before padding; boxes, ignore: B tensors (K_i, 4), (K_i,); keys: (B, 2) int64
    (epoch, index) of each image."""

    images: torch.Tensor
    sizes: torch.Tensor
    boxes: list[torch.Tensor]
    ignore: list[torch.Tensor]
    keys: torch.Tensor


def pad_collate(samples: Sequence[Sample], multiple: int = PAD_MULTIPLE) -> Batch:
    """Stack images into one zero-padded batch (bottom and right), each side a multiple of ``multiple``."""
    h = max(s.image.shape[1] for s in samples)
    w = max(s.image.shape[2] for s in samples)
    h, w = -(-h // multiple) * multiple, -(-w // multiple) * multiple
    images = torch.zeros(len(samples), 3, h, w)
    for i, s in enumerate(samples):
        images[i, :, : s.image.shape[1], : s.image.shape[2]] = s.image
    sizes = torch.tensor([[s.image.shape[1], s.image.shape[2]] for s in samples], dtype=torch.int64)
    keys = torch.tensor([[s.epoch, s.index] for s in samples], dtype=torch.int64)
    return Batch(images, sizes, [s.boxes for s in samples], [s.ignore for s in samples], keys)


class TrainingBatches(torch.utils.data.Sampler):
    """The keys ``[(epoch, index), ...]`` of one process's share of each iteration's global batch.

    Iteration ``t`` is batch ``t % per_epoch`` of epoch ``t // per_epoch``, ``per_epoch = num_images //
    global_batch`` (the last partial batch of an epoch is dropped). Of the global batch's ``global_batch``
    positions in :func:`epoch_order`, process ``rank`` of ``world_size`` takes the consecutive
    ``global_batch // world_size`` starting at ``rank * global_batch // world_size`` (DistributedSampler's
    split, without its padding). Yields iterations ``start`` .. ``stop - 1``.
    """

    def __init__(self, num_images: int, global_batch: int, seed: int, start: int, stop: int,
                 rank: int = 0, world_size: int = 1):
        if global_batch % world_size:
            raise ValueError(f"global batch {global_batch} does not split over {world_size} processes")
        if num_images < global_batch:
            raise ValueError(f"{num_images} training images cannot fill a global batch of {global_batch}")
        self.num_images, self.global_batch, self.seed = num_images, global_batch, seed
        self.start, self.stop, self.rank, self.world_size = start, stop, rank, world_size
        self.per_epoch = num_images // global_batch

    def __len__(self) -> int:
        return max(0, self.stop - self.start)

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        local = self.global_batch // self.world_size
        order, order_epoch = None, -1
        for t in range(self.start, self.stop):
            epoch, b = divmod(t, self.per_epoch)
            if epoch != order_epoch:
                order, order_epoch = epoch_order(self.num_images, self.seed, epoch), epoch
            first = b * self.global_batch + self.rank * local
            yield [(epoch, int(i)) for i in order[first:first + local]]
