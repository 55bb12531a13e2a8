"""Trunk pre-training: the default profile's stand-in for ImageNet weights.

The paper fine-tunes every detector from an ImageNet-pre-trained ResNet (Sec. 5). No weights can be
downloaded here, and a detector trained from scratch for the few CPU minutes the default profile allows
stays near zero AP. So the default profile pre-trains its trunk once, on a task that knows nothing of
anchors, feature maps or samplers, and every detector of the study starts from that same trunk, as every
detector of the paper starts from the same ImageNet weights.

The task is image classification of square crops of the training images: "a face fills the centre of the
crop" (1) or not (0). Half the crops are centred on a face, sized 1.6-2.4x its side; the other half are
anywhere, of any size, so most negatives are clutter and face-like distractors. A crop's label follows
from the annotations by :func:`crop_labels`, whichever way it was drawn. Crops are cut and resized by
``torchvision.ops.roi_align`` from the (normalised) image.

The trunk is stored once per setting under ``<results>/runs/trunk-<hash>/``: ``trunk.pt`` (a torchvision
ResNet ``state_dict`` with a 2-way ``fc``, loadable by :meth:`gslib.model.ResNetTrunk.load_imagenet`),
``config.json`` and ``metrics.json`` (accuracy on crops of the validation images).

Pre-training is kill-safe: every ``checkpoint_every`` iterations it writes ``pretrain_checkpoint.pt``
(atomically) with the model, optimizer, scheduler, the crop generator's and the global RNG states, the loss
history and the accuracy counts, and a restarted :func:`pretrain` resumes from it. The crops are drawn from
that one generator, so a resumed run draws and trains exactly as one that never stopped; on the CPU the
trunk is bit-identical. The checkpoint is deleted once ``trunk.pt`` is stored.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image
from torch import nn
from torchvision.ops import roi_align
from tqdm.auto import tqdm

from gslib.datasets import ensure_data, read_records, to_tensor
from gslib.experiments import Profile
from gslib.model import build_trunk
from gslib.paths import results_dir
from gslib.store import (
    canonical_json,
    default_device,
    digest,
    resume,
    rng_states,
    save_checkpoint,
    seed_everything,
    write_atomic,
)

TRUNK = "trunk.pt"
CHECKPOINT = "pretrain_checkpoint.pt"
# The trunk is pre-trained on one CPU thread whatever the profile's cpu_threads: its weights depend on the
# thread count (the order of float sums; measured: held-out accuracy 0.9607 on 1 thread, 0.9641 on 2), and
# every run of a profile starts from them, so they must come out the same on every machine.
CPU_THREADS = 1
# The fields of metrics.json that the weights decide (not the time): a re-made trunk must reproduce them.
DETERMINED = ("loss_first_100", "loss_last_100", "train_accuracy", "val")


@dataclass(frozen=True)
class Pretraining:
    """What decides the pre-trained trunk (its hash names the stored trunk)."""

    data_root: str
    train_images: str
    train_annotations: str
    backbone: str
    width_divisor: int
    iterations: int
    images_per_batch: int = 4       # images read per iteration
    crops_per_image: int = 32       # crops cut from each (a batch of 128 crops)
    crop: int = 64                  # crop side after resizing, pixels
    lr: float = 0.1                 # SGD, momentum 0.9, cosine decay to 0, as for ImageNet ResNets
    weight_decay: float = 1e-4
    min_face: float = 6.0           # faces smaller than this (sqrt(w h), pixels) are not crop centres
    seed: int = 0


def pretraining(profile: Profile) -> Pretraining:
    """The trunk pre-training of ``profile`` (``profile.pretrain_iterations > 0``)."""
    return Pretraining(profile.data_root, profile.train_images, profile.train_annotations, profile.backbone,
                       profile.width_divisor, profile.pretrain_iterations)


class Classifier(nn.Module):
    """The trunk with global average pooling and a linear layer: torchvision's ResNet classifier layout, so
    its ``state_dict`` loads into a detector's trunk like ImageNet weights (``fc.*`` dropped).
    ``forward(x: (B, 3, h, w)) -> (B, classes)`` logits."""

    def __init__(self, backbone: str, width_divisor: int, classes: int = 2):
        super().__init__()
        self.trunk = build_trunk(backbone, width_divisor)
        self.fc = nn.Linear(self.trunk.out_channels["C5"], classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.trunk(x)["C5"].mean(dim=(2, 3)))

    def torchvision_state_dict(self) -> dict[str, torch.Tensor]:
        return {**self.trunk.state_dict(), "fc.weight": self.fc.weight, "fc.bias": self.fc.bias}


def draw_crops(boxes: torch.Tensor, ignore: torch.Tensor, width: int, height: int, count: int,
               generator: torch.Generator, min_face: float = 6.0, context=(1.6, 2.4)) -> torch.Tensor:
    """(count, 4) square crops x1y1x2y2 of a ``width x height`` image with faces ``boxes`` (N, 4): the first
    half centred (+-15 % of the side) on faces of side >= ``min_face`` drawn at random, sized ``context``
    times the face; the rest (all of them if there is no such face) anywhere in the image, side
    log-uniform between ``context[0] * min_face`` and the image's shorter side."""
    side = (boxes[:, 2:] - boxes[:, :2]).clamp(min=0).prod(dim=1).sqrt()
    usable = torch.nonzero((side >= min_face) & ~ignore).flatten()
    on_faces = count // 2 if len(usable) else 0
    pick = usable[torch.randint(max(len(usable), 1), (on_faces,), generator=generator)]
    u = torch.rand(on_faces, 3, generator=generator)
    s = side[pick] * (context[0] + (context[1] - context[0]) * u[:, 0])
    cx = (boxes[pick, 0] + boxes[pick, 2]) / 2 + (u[:, 1] - 0.5) * 0.3 * s
    cy = (boxes[pick, 1] + boxes[pick, 3]) / 2 + (u[:, 2] - 0.5) * 0.3 * s
    rest = count - on_faces
    lo, hi = math.log(context[0] * min_face), math.log(max(min(width, height), context[0] * min_face))
    v = torch.rand(rest, 3, generator=generator)
    s2 = torch.exp(lo + (hi - lo) * v[:, 0])
    cx2 = s2 / 2 + v[:, 1] * (width - s2).clamp(min=0)
    cy2 = s2 / 2 + v[:, 2] * (height - s2).clamp(min=0)
    s, cx, cy = torch.cat([s, s2]), torch.cat([cx, cx2]), torch.cat([cy, cy2])
    return torch.stack([cx - s / 2, cy - s / 2, cx + s / 2, cy + s / 2], dim=1)


def crop_labels(crops: torch.Tensor, boxes: torch.Tensor, ignore: torch.Tensor, context=(1.6, 2.4),
                slack: float = 1.25) -> torch.Tensor:
    """(C,) int64 label of each crop (C, 4): 1 when a face's centre lies in the crop's central half and its
    side is the crop's divided by ``context`` (widened by ``slack`` either way); -1 (not trained on) when
    only an ignored face does; 0 otherwise."""
    if len(boxes) == 0:
        return torch.zeros(len(crops), dtype=torch.int64)
    s = (crops[:, 2] - crops[:, 0])[:, None]
    centre = (crops[:, :2] + crops[:, 2:])[:, None] / 2
    face_centre = (boxes[:, :2] + boxes[:, 2:])[None] / 2
    side = (boxes[:, 2:] - boxes[:, :2]).clamp(min=0).prod(dim=1).sqrt()[None]
    inside = ((face_centre - centre).abs() <= s[..., None] / 4).all(dim=2)
    fits = (side >= s / (context[1] * slack)) & (side <= s * slack / context[0])
    hit = inside & fits
    labels = hit[:, ~ignore].any(dim=1).long()
    labels[(labels == 0) & hit[:, ignore].any(dim=1)] = -1
    return labels


def crop_batch(images_root: Path, records, indices, cfg: Pretraining, generator: torch.Generator,
               flip: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Cut ``cfg.crops_per_image`` crops from each image of ``records[indices]``: (B, 3, crop, crop) float32
    and (B,) labels in {0, 1} (crops labelled -1 are left out)."""
    patches, labels = [], []
    for i in indices:
        rec = records[int(i)]
        with Image.open(images_root / rec.name) as im:
            image = to_tensor(im.convert("RGB"))
        h, w = image.shape[1:]
        crops = draw_crops(rec.boxes, rec.ignore, w, h, cfg.crops_per_image, generator, cfg.min_face)
        y = crop_labels(crops, rec.boxes, rec.ignore)
        keep = y >= 0
        patches.append(roi_align(image[None], [crops[keep]], cfg.crop, aligned=True))
        labels.append(y[keep])
    x, y = torch.cat(patches), torch.cat(labels)
    if flip:
        flipped = torch.rand(len(x), generator=generator) < 0.5
        x[flipped] = x[flipped].flip(-1)
    return x, y


def trunk_dir(profile: Profile) -> Path:
    return results_dir(profile.name) / "runs" / f"trunk-{digest(pretraining(profile))}"


def pretrained_trunk(profile: Profile, progress: bool = True, checkpoint_every: int = 250) -> Path:
    """Path of ``profile``'s pre-trained trunk (``trunk.pt``), pre-training it first when it is missing (or
    resuming an interrupted pre-training).

    The committed runs store the trunk's record (config.json, metrics.json) but not its weights: a fresh
    clone re-makes them, and :func:`pretrain` raises if they do not reproduce that record."""
    directory = trunk_dir(profile)
    if not (directory / TRUNK).is_file():
        pretrain(pretraining(profile), directory, profile, progress=progress, checkpoint_every=checkpoint_every)
    return directory / TRUNK


def pretrain(cfg: Pretraining, directory: Path, profile: Profile, progress: bool = True,
             checkpoint_every: int = 250) -> dict:
    """Pre-train the trunk of ``cfg`` and store it in ``directory`` (see the module docstring), resuming from
    ``directory/pretrain_checkpoint.pt`` if there is one; a checkpoint is written every ``checkpoint_every``
    iterations (not a field of :class:`Pretraining`: it does not change the trunk, so it must not change the
    hash). On the CPU it runs on :data:`CPU_THREADS` threads, restoring the caller's count afterwards.

    Where ``directory`` already holds a ``metrics.json`` (the committed record of this trunk), the new
    trunk must reproduce its :data:`DETERMINED` fields exactly; the record is then left as it is (its time
    included), and otherwise :class:`TrunkMismatchError` is raised, with the new weights kept beside as
    ``trunk.mismatch.pt`` for inspection, so that no run is trained on a trunk other than the one its
    record names."""
    ensure_data(profile)
    device = default_device()
    threads = torch.get_num_threads()
    if device.type == "cpu":
        torch.set_num_threads(CPU_THREADS)
    try:
        return _pretrain(cfg, directory, Path(profile.path("")), device, progress, checkpoint_every)
    finally:
        torch.set_num_threads(threads)


class TrunkMismatchError(RuntimeError):
    """A re-made trunk does not reproduce its committed metrics.json."""


def _pretrain(cfg: Pretraining, directory: Path, root: Path, device: torch.device, progress: bool,
              checkpoint_every: int) -> dict:
    seed_everything(cfg.seed)
    records = read_records(root / cfg.train_annotations)
    model = Classifier(cfg.backbone, cfg.width_divisor).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=0.9, weight_decay=cfg.weight_decay)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, cfg.iterations)
    g = torch.Generator().manual_seed(cfg.seed)
    losses, correct, seen, start, seconds = [], 0, 0, 0, 0.0
    key, checkpoint = digest(cfg), directory / CHECKPOINT
    # A kill during a checkpoint write leaves this half file; the checkpoint itself is still whole.
    checkpoint.with_name(CHECKPOINT + ".tmp").unlink(missing_ok=True)
    if checkpoint.is_file():
        state = resume(checkpoint, key, device, model=model, optimizer=optimizer, scheduler=schedule)
        g.set_state(state["generator"])  # every crop is drawn from g: the next batch is the one not trained on
        start, seconds = state["iteration"], state["seconds"]
        losses, correct, seen = state["losses"], state["correct"], state["seen"]
    model.train()
    tic = time.perf_counter()
    for iteration in tqdm(range(start, cfg.iterations), initial=start, total=cfg.iterations,
                          desc="trunk pre-training", disable=not progress, mininterval=2):
        indices = torch.randint(len(records), (cfg.images_per_batch,), generator=g)
        x, y = crop_batch(root / cfg.train_images, records, indices, cfg, g)
        x, y = x.to(device), y.to(device)
        logits = model(x)
        loss = nn.functional.cross_entropy(logits, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        losses.append(float(loss.detach()))
        correct += int((logits.argmax(1) == y).sum())
        seen += len(y)
        # The last iteration needs none: trunk.pt follows.
        if (iteration + 1) % checkpoint_every == 0 and iteration + 1 < cfg.iterations:
            seconds += time.perf_counter() - tic
            directory.mkdir(parents=True, exist_ok=True)
            save_checkpoint(checkpoint, {
                "hash": key, "iteration": iteration + 1, "model": model.state_dict(),
                "optimizer": optimizer.state_dict(), "scheduler": schedule.state_dict(), "generator": g.get_state(),
                "rng": rng_states(), "losses": losses, "correct": correct, "seen": seen, "seconds": seconds})
            tic = time.perf_counter()  # checkpoint writing is not training time
    seconds += time.perf_counter() - tic
    metrics = {"iterations": cfg.iterations, "train_seconds": round(seconds, 2),
               "loss_first_100": sum(losses[:100]) / max(1, len(losses[:100])),
               "loss_last_100": sum(losses[-100:]) / max(1, len(losses[-100:])),
               "train_accuracy": correct / max(seen, 1),
               "val": held_out_accuracy(model, root, cfg, device)}
    directory.mkdir(parents=True, exist_ok=True)
    weights = {k: v.detach().cpu() for k, v in model.torchvision_state_dict().items()}
    record = directory / "metrics.json"
    if record.is_file():
        committed = json.loads(record.read_text())
        differ = [k for k in DETERMINED if committed.get(k) != metrics[k]]
        if differ:
            save_checkpoint(directory / "trunk.mismatch.pt", weights)
            raise TrunkMismatchError(
                f"{record}: the re-made trunk does not reproduce its committed record ("
                + "; ".join(f"{k}: committed {committed.get(k)}, now {metrics[k]}" for k in differ)
                + f"); its weights are in {directory / 'trunk.mismatch.pt'}. Runs trained on it would not be "
                "the committed runs: restore the committed trunk.pt, or remove the record to pre-train anew")
        metrics = committed
    else:
        write_atomic(record, json.dumps(metrics, indent=1) + "\n")
    write_atomic(directory / "config.json", json.dumps(json.loads(canonical_json(cfg)), indent=1) + "\n")
    save_checkpoint(directory / TRUNK, weights)
    # Done: the checkpoint and any half-written file of a killed run are of no further use.
    checkpoint.unlink(missing_ok=True)
    for tmp in directory.glob("*.tmp"):
        tmp.unlink()
    return metrics


@torch.no_grad()
def held_out_accuracy(model: Classifier, root: Path, cfg: Pretraining, device, images: int = 128) -> dict:
    """Accuracy on crops of the first ``images`` validation images (``WIDER_val``), by class."""
    annotations = root / "wider_face_split" / "wider_face_val_bbx_gt.txt"
    if not annotations.is_file():
        return {}
    records = read_records(annotations)[:images]
    g = torch.Generator().manual_seed(cfg.seed + 1)
    x, y = crop_batch(root / "WIDER_val" / "images", records, range(len(records)), cfg, g, flip=False)
    model.eval()
    pred = torch.cat([model(b.to(device)).argmax(1).cpu() for b in x.split(256)])
    model.train()
    out = {"crops": len(y), "accuracy": float((pred == y).float().mean())}
    for c in (0, 1):
        out[f"accuracy_class_{c}"] = float((pred[y == c] == c).float().mean()) if (y == c).any() else None
    return out


__all__ = ["Classifier", "Pretraining", "crop_labels", "draw_crops", "pretrain", "pretrained_trunk",
           "pretraining"]
