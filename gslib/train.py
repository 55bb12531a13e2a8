"""The training engine: two-pass matching, the configured sampler and eq. 2 per image; SGD with step
decays; checkpoints that resume bit-identically; DistributedDataParallel under ``torchrun``.

One iteration, for each image ``i`` of the batch (:func:`image_loss`):

1. anchors of the padded batch size (cached per size), in *group-major* order -- every scale group row
   by row -- which lets the matcher skip far more anchor-box pairs than the head's order; the head's
   outputs stay in the head's order, and eq. 2 reads the drawn anchors' rows through the cached ``order``;
2. anchors whose centre lies in the padding (outside image ``i``'s true size) are ignored (IGNORE): no
   face can be there and their receptive field is mostly padding; the others are labelled by the two-pass
   matcher (Sec. 4.1, lambda 0.6 / 0.4);
3. the sampler object of the config (:func:`gslib.build.build_samplers`, one of :mod:`gslib.sampling`'s)
   draws the training anchors, from a generator seeded by ``(seed, epoch, image index)``;
4. eq. 2 (:func:`gslib.losses.detection_loss`): per group ``L_cls / (|P_s| + |N_s|) + eta L_reg / |P_s|``
   for the samplers with ``per_group`` (the GS variants), one group for RS, OHEM, WRS and Focal*, with the
   sampler's classification loss (softmax CE, or Focal*).

Across images: the batch loss is the **mean** of the images' eq. 2 losses over the global batch. With
DDP each process takes the mean over its own images and DDP averages the gradients, which gives the same
mean; this is also the paper's synchronised SGD over 8 GPUs x 1 image.

Resuming: the checkpoint holds model, optimizer, scheduler, GradScaler, iteration, the loss history and
every RNG state (torch, CUDA, Python, NumPy); the data order, augmentation and sampling draws are pure
functions of ``(seed, epoch, index)`` (:mod:`gslib.datasets`), so a run resumed from iteration ``k`` reads
and draws exactly what the uninterrupted run did after ``k``. On the CPU the result is bit-identical.

CPU threads: the thread count changes the order of float sums inside torch's kernels, so a run's bits
depend on it (FPN-finest-sampling, 150 iterations: another loss curve on 1 thread than on 2). A run trains
on ``profile.cpu_threads`` unless :func:`train` is given ``threads`` (the queue's workers,
:mod:`gslib.runs`); a resumed run keeps the count it started with (its checkpoint's), and metrics.json
records it (``cpu_threads``) for :func:`remake_weights`. Like the device, it is not part of the run's name.

A non-finite loss stops the run with :class:`NonFiniteLossError` naming the iteration, before the
optimizer steps; the last good checkpoint stays on disk.

The committed runs hold records, not weights. :func:`remake_weights` trains a stored run again where its
weights are needed (a figure read off the trained network) and keeps them only if they reproduce the
record's loss curve exactly.
"""
from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
import torch.distributed as dist
from tqdm.auto import tqdm

from gslib.build import build_detector, build_samplers
from gslib.data.synth import MANIFEST
from gslib.datasets import (
    SAMPLE_STREAM,
    Batch,
    TrainingBatches,
    WiderDataset,
    data_digest,
    ensure_data,
    item_seed,
    pad_collate,
)
from gslib.experiments import (
    Experiment,
    Profile,
    iterations_per_epoch,
    read_config,
    run_hash,
    total_iterations,
    write_config,
)
from gslib.fast_rcnn import second_stage_loss
from gslib.losses import detection_loss, ls_iou_loss, neg_ln_iou_loss, smooth_l1_loss
from gslib.matcher import IGNORE, TwoPassMatcher
from gslib.pretrain import pretrained_trunk
from gslib.sampling import Sampler
from gslib.store import (
    WorkClock,
    cpu_threads,
    default_device,
    resume,
    rng_states,
    save_checkpoint,
    seed_everything,
    write_atomic,
)

CHECKPOINT = "checkpoint.pt"
METRICS = "metrics.json"


class NonFiniteLossError(RuntimeError):
    """The loss became NaN or inf; the run stopped before the optimizer step."""


# ----------------------------------------------------------------------------------------------------
# Sampling and the loss of one image
# ----------------------------------------------------------------------------------------------------


# The regression losses by their Experiment name: LS-IoU (eq. 5), -ln IoU (UnitBox), smooth-L1 (Table 8).
REGRESSION_LOSSES = {"ls_iou": ls_iou_loss, "neg_ln_iou": neg_ln_iou_loss, "smooth_l1": smooth_l1_loss}


def image_loss(sampler: Sampler, matcher: TwoPassMatcher, logits: torch.Tensor, deltas: torch.Tensor,
               anchors: torch.Tensor, groups: torch.Tensor, num_groups: int, boxes: torch.Tensor,
               ignore: torch.Tensor, size: tuple[int, int], generator: torch.Generator, reg_loss=ls_iou_loss,
               eta: float = 1.0, rows: torch.Tensor | None = None, centres: torch.Tensor | None = None):
    """Eq. 2 for one image. anchors: (A, 4), groups: (A,) in the same (group-major) order; logits: (A, 2),
    deltas: (A, 4) the head's outputs, any float dtype, row ``rows[k]`` for anchor ``k`` (``rows`` None: the
    anchors' order); centres: (A, 2) the anchors' centres, or None to compute them; boxes: (M, 4),
    ignore: (M,) bool; size: the image's true (height, width).
    sampler: draws the anchors and names eq. 2's grouping and classification loss; reg_loss, eta: eq. 2's.
    Returns the scalar loss and its parts {"cls", "reg"}."""
    h, w = size
    if centres is None:
        centres = anchor_centres(anchors)
    inside = ((centres[:, 0] < w) & (centres[:, 1] < h)).nonzero().squeeze(1)
    labels = torch.full((anchors.shape[0],), IGNORE, dtype=torch.int64, device=anchors.device)
    matched = torch.full_like(labels, -1)
    labels[inside], matched[inside] = matcher(anchors[inside], boxes, ignore)
    if boxes.shape[0]:
        matched_boxes = boxes[matched.clamp(min=0)]
    else:
        matched_boxes = torch.zeros_like(anchors)
    ranked = None
    if sampler.needs_logits:  # OHEM and WRS rank every anchor by its loss, in the anchors' order
        ranked = (logits.detach() if rows is None else logits.detach()[rows]).float()
    samples = sampler(labels, groups, num_groups, ranked, generator, anchors)
    return detection_loss(logits, deltas, anchors, labels, matched_boxes, samples,
                          groups if sampler.per_group else None, num_groups, sampler.classification_loss,
                          reg_loss, eta, rows)


def anchor_centres(anchors: torch.Tensor) -> torch.Tensor:
    """(A, 4) x1y1x2y2 -> (A, 2) centres (x, y)."""
    return torch.stack([0.5 * (anchors[:, 0] + anchors[:, 2]), 0.5 * (anchors[:, 1] + anchors[:, 3])], dim=1)


class GroupMajorAnchors(NamedTuple):
    """A padded input size's anchors in group-major order: ``anchors (A, 4)``, ``groups (A,)``,
    ``order (A,)`` (``order[k]`` is the head-output row of anchor ``k``) and ``centres (A, 2)``."""

    anchors: torch.Tensor
    groups: torch.Tensor
    order: torch.Tensor
    centres: torch.Tensor


class AnchorCache:
    """:class:`GroupMajorAnchors` of a padded input size, ``cache(height, width)``. Keeps the last ``size``
    input sizes."""

    def __init__(self, layout, device, size: int = 32):
        self.layout, self.device, self.size, self.cache = layout, device, size, {}

    def __call__(self, height: int, width: int) -> GroupMajorAnchors:
        key = (height, width)
        if key not in self.cache:
            if len(self.cache) >= self.size:
                self.cache.pop(next(iter(self.cache)))
            boxes, groups = self.layout.anchors(height, width, device=self.device)
            order = torch.argsort(groups, stable=True)
            self.cache[key] = GroupMajorAnchors(boxes[order], groups[order], order, anchor_centres(boxes[order]))
        return self.cache[key]


def batch_loss(model, batch: Batch, config: Experiment, sampler: Sampler, matcher: TwoPassMatcher,
               cache: AnchorCache, device: torch.device, autocast_dtype: torch.dtype | None,
               rcnn_sampler: Sampler | None = None, rcnn_matcher: TwoPassMatcher | None = None):
    """Mean over the batch's images of eq. 2. Returns the loss and its parts {"cls", "reg"} (detached).

    ``sampler`` and ``matcher`` are the first stage's (:func:`gslib.build.build_samplers`, :func:`matchers`);
    ``config`` gives the seed of the draws and the regression losses. With a second stage (``rcnn_sampler``;
    ``model`` a :class:`gslib.fast_rcnn.TwoStageDetector`, maybe inside DistributedDataParallel), each image
    adds the second stage's eq. 2 on its first stage's proposals (:func:`gslib.fast_rcnn.second_stage_loss`,
    sampled by ``rcnn_sampler`` and matched by ``rcnn_matcher``): both stages are trained together, and the
    parts are the sums of the two stages'."""
    images = batch.images.to(device, non_blocking=True)
    with torch.autocast(device.type, dtype=autocast_dtype, enabled=autocast_dtype is not None):
        logits, deltas, *feature_map = model(images)
    anchors, groups, order, centres = cache(images.shape[2], images.shape[3])
    if logits.shape[1] != anchors.shape[0]:
        raise RuntimeError(f"the detector gives {logits.shape[1]} anchors for a {tuple(images.shape[2:])} input; "
                           f"its layout has {anchors.shape[0]}")
    if bool(feature_map) != (rcnn_sampler is not None):
        raise ValueError("a two-stage detector needs the second stage's sampler, and only it takes one")
    # The head's outputs stay in its order and dtype: eq. 2 reads the drawn rows only (``order`` maps an anchor to
    # its row). Permuting every anchor's outputs to group-major float32 instead, forward and backward, took 5.0 ms
    # against the gather's 0.4 ms (a default batch, 1 thread), for the same bits.
    num_groups = len(cache.layout.group_scales)
    total, parts = 0.0, {"cls": 0.0, "reg": 0.0}
    for i in range(images.shape[0]):
        epoch, index = (int(v) for v in batch.keys[i])
        g = torch.Generator(device=device).manual_seed(item_seed(config.seed, epoch, index, SAMPLE_STREAM))
        size = (int(batch.sizes[i, 0]), int(batch.sizes[i, 1]))
        boxes, ignore = batch.boxes[i].to(device), batch.ignore[i].to(device)
        loss, p = image_loss(sampler, matcher, logits[i], deltas[i], anchors, groups, num_groups, boxes, ignore,
                             size, g, REGRESSION_LOSSES[config.reg_loss], config.eta, order, centres)
        if rcnn_sampler is not None:
            two_stage = model.module if isinstance(model, torch.nn.parallel.DistributedDataParallel) else model
            loss2, p2 = second_stage_loss(two_stage, feature_map[0][i], logits[i].detach()[order].float(),
                                          deltas[i].detach()[order].float(), anchors, size, boxes, ignore, g,
                                          sampler=rcnn_sampler, reg_loss=REGRESSION_LOSSES[config.rcnn_reg_loss],
                                          matcher=rcnn_matcher)
            loss, p = loss + loss2, {k: p[k] + p2[k] for k in p}
        total = total + loss
        parts = {k: parts[k] + p[k] for k in parts}
    n = images.shape[0]
    return total / n, {k: v / n for k, v in parts.items()}


# ----------------------------------------------------------------------------------------------------
# Schedule, devices, distributed, checkpoints
# ----------------------------------------------------------------------------------------------------


def lr_factor(iteration: int, steps: tuple[int, ...], gamma: float, warmup_iterations: int,
              warmup_factor: float) -> float:
    """Multiplier of the base lr at ``iteration``: linear warm-up from ``warmup_factor`` to 1, times
    ``gamma`` per step passed (``steps`` in iterations)."""
    factor = gamma ** sum(iteration >= s for s in steps)
    if iteration < warmup_iterations:
        alpha = iteration / warmup_iterations
        factor *= warmup_factor * (1 - alpha) + alpha
    return factor


def distributed_info() -> tuple[int, int]:
    """(rank, world size); (0, 1) without an initialised process group."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def init_distributed() -> None:
    """Join torchrun's process group (nccl on GPUs, gloo on CPUs) when WORLD_SIZE > 1 and none exists."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
        if torch.cuda.is_available():
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")


def autocast_dtype_for(profile: Profile, device: torch.device) -> torch.dtype | None:
    """Autocast dtype: ``profile.precision`` "bf16", "fp16", "fp32", or "auto" (bf16 on CUDA when
    supported, else fp16; fp32 on the CPU)."""
    p = profile.precision
    if p == "auto":
        if device.type != "cuda":
            return None
        p = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": None}[p]


def memory_format_for(profile: Profile) -> torch.memory_format:
    return torch.channels_last if profile.channels_last else torch.contiguous_format


def _saved_iteration(path: Path) -> int:
    return torch.load(path, map_location="cpu", weights_only=False)["iteration"]


def summarise(history: list[tuple[float, float, float]], windows: int = 50) -> dict:
    """Per-iteration (loss, cls, reg) -> means over at most ``windows`` equal windows of iterations."""
    n = len(history)
    width = max(1, math.ceil(n / windows))
    curve = []
    for start in range(0, n, width):
        chunk = np.asarray(history[start:start + width], dtype=np.float64)
        curve.append({"iteration": start + len(chunk), "loss": float(chunk[:, 0].mean()),
                      "cls": float(chunk[:, 1].mean()), "reg": float(chunk[:, 2].mean())})
    return {"window": width, "curve": curve, "first_loss": history[0][0] if n else None,
            "final_loss": curve[-1]["loss"] if curve else None}


def training_dataset(profile: Profile, seed: int) -> WiderDataset:
    """The profile's augmented training set."""
    return WiderDataset(profile.path(profile.train_images), profile.path(profile.train_annotations), seed=seed,
                        scales=profile.jitter_scales, max_side=profile.max_side, flip=profile.flip,
                        max_images=profile.max_train_images)


# ----------------------------------------------------------------------------------------------------
# Training
# ----------------------------------------------------------------------------------------------------


def matchers(profile: Profile, config: Experiment | None = None) -> tuple[TwoPassMatcher, TwoPassMatcher]:
    """The two-pass matchers of the first and the second stage: Sec. 5's thresholds in ``profile``, the first
    stage's replaced by ``config.match_thresholds`` where the detector sets its own (Table 6's RetinaFace)."""
    first = (config.match_thresholds if config is not None and config.match_thresholds
             else (profile.rpn_pos_thresh, profile.rpn_neg_thresh))
    return (TwoPassMatcher(*first, profile.ignore_ioa),
            TwoPassMatcher(profile.rcnn_pos_thresh, profile.rcnn_neg_thresh, profile.ignore_ioa))


def train(config: Experiment, profile: Profile, run_dir, *, model: torch.nn.Module | None = None,
          dataset: WiderDataset | None = None, device: torch.device | None = None,
          progress: bool = True, threads: int | None = None) -> dict:
    """Train ``config`` under ``profile`` into ``run_dir``, resuming from its checkpoint if there is one.

    Writes ``config.json``, ``checkpoint.pt`` every ``profile.checkpoint_every`` iterations and at the end,
    then ``metrics.json`` (returned). ``model`` and ``dataset`` replace :func:`build_detector` and the
    profile's data (tests pass small ones). Under torchrun (or any initialised process group) every
    process calls this; rank 0 writes the files. On the CPU it trains on ``threads`` threads (default
    ``profile.cpu_threads``; a resumed run on its checkpoint's count: see the module docstring).
    """
    run_dir = Path(run_dir)
    init_distributed()
    rank, world = distributed_info()
    device = device or default_device()
    count = run_threads(run_dir / CHECKPOINT, threads, profile) if device.type == "cpu" else None
    if profile.deterministic and device.type == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    was_deterministic = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(profile.deterministic, warn_only=device.type == "cuda")
    try:
        with cpu_threads(count):
            return _train(config, profile, run_dir, model, dataset, device, progress, rank, world)
    finally:
        torch.use_deterministic_algorithms(was_deterministic)


def run_threads(checkpoint: Path, requested: int | None, profile: Profile) -> int | None:
    """The CPU thread count a run trains on: ``requested`` (None: ``profile.cpu_threads``), or, when it
    resumes from ``checkpoint``, the count it started with (checkpoints written before they recorded it
    trained on ``profile.cpu_threads``)."""
    if not checkpoint.is_file():
        return requested or profile.cpu_threads
    return torch.load(checkpoint, map_location="cpu", weights_only=False).get("cpu_threads", profile.cpu_threads)


def _train(config, profile, run_dir, model, dataset, device, progress, rank, world) -> dict:
    if model is None and profile.pretrain_iterations > 0:
        # The shared pre-trained trunk first (rank 0; it seeds its own draws), so that the detector's
        # initialisation below draws the same numbers whether the trunk was cached or not.
        if rank == 0:
            pretrained_trunk(profile, progress)
        if world > 1:
            dist.barrier()
    seed_everything(config.seed)
    if model is None:
        model = build_detector(config, profile)
    model = model.to(device, memory_format=memory_format_for(profile))
    trained_on = None  # a dataset passed in (tests) is not the profile's files
    if dataset is None:
        if rank == 0:
            ensure_data(profile)
            trained_on = data_digest(profile)
        if world > 1:
            dist.barrier()  # the others wait for rank 0 to generate the benchmark
        dataset = training_dataset(profile, config.seed)
    if profile.images_per_batch % world:
        raise ValueError(f"the global batch of {profile.images_per_batch} does not split over {world} processes")
    per_epoch = iterations_per_epoch(len(dataset), profile)
    total = total_iterations(len(dataset), profile)
    steps = tuple(round(e * per_epoch) for e in profile.lr_steps)

    if profile.optimizer == "sgd":
        optimizer = torch.optim.SGD(model.parameters(), lr=profile.lr, momentum=profile.momentum,
                                    weight_decay=profile.weight_decay)
    else:
        # fused: one kernel for every parameter instead of a loop of small ones (the step measured 2.5 -> 1.2 ms).
        optimizer = torch.optim.AdamW(model.parameters(), lr=profile.lr, weight_decay=profile.weight_decay,
                                      fused=device.type in ("cpu", "cuda"))

    def factor(iteration):
        return lr_factor(iteration, steps, profile.lr_gamma, profile.warmup_iterations, profile.warmup_factor)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    autocast_dtype = autocast_dtype_for(profile, device)
    threads = torch.get_num_threads() if device.type == "cpu" else None  # run_threads' choice, set by train
    scaler = torch.amp.GradScaler(device.type, enabled=autocast_dtype == torch.float16)

    key = run_hash(config, profile)
    checkpoint = run_dir / CHECKPOINT
    start, history, seconds, paused = 0, [], 0.0, 0.0
    if checkpoint.is_file():
        state = resume(checkpoint, key, device, model=model, optimizer=optimizer, scheduler=scheduler,
                       scaler=scaler)
        start, history, seconds = state["iteration"], state["history"], state["seconds"]
        paused = state.get("paused", 0.0)  # checkpoints written before WorkClock: none recorded
    elif rank == 0:
        run_dir.mkdir(parents=True, exist_ok=True)
        write_config(run_dir, config, profile)

    def save(iteration):
        if rank == 0:
            save_checkpoint(checkpoint, {
                "hash": key, "iteration": iteration, "model": model.state_dict(),
                "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                "scaler": scaler.state_dict(), "rng": rng_states(), "history": history, "seconds": clock.seconds,
                "paused": clock.paused,
                "data": {"seed": config.seed, "global_batch": profile.images_per_batch, "per_epoch": per_epoch},
                "cpu_threads": threads,
            })

    sampler, rcnn_sampler = build_samplers(config, profile.rcnn_rois)
    two_stage = rcnn_sampler is not None
    net = model
    if world > 1 and two_stage and not config.top_down:
        raise ValueError(f"{config.name}: a second stage under DistributedDataParallel needs a first stage with the "
                         "top-down pathway (every trunk stage then feeds a map); without it a trunk stage may be "
                         "unused, which DDP can only tolerate by searching for unused parameters, and that search "
                         "would wrongly find the second stage's head unused")
    if world > 1:
        # find_unused_parameters: a trunk stage may feed no level of the layout (C5 for RPN on C4). Not with a
        # second stage: its head runs after forward, where DDP's search would wrongly find it unused (Table
        # 13's first stage, FPN-finest, uses every parameter).
        net = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None,
            find_unused_parameters=not two_stage)
    matcher, rcnn_matcher = matchers(profile, config)
    cache = AnchorCache(model.layout, device)
    batches = TrainingBatches(len(dataset), profile.images_per_batch, config.seed, start, total, rank, world)
    # The loader's own generator: without one, creating its iterator draws from the global RNG, and a
    # resumed run would continue one draw ahead of a run that never stopped.
    loader = torch.utils.data.DataLoader(dataset, batch_sampler=batches, collate_fn=pad_collate,
                                         num_workers=profile.num_workers, pin_memory=device.type == "cuda",
                                         generator=torch.Generator().manual_seed(config.seed))
    model.train()
    bar = tqdm(total=total, initial=start, desc=config.name, disable=not progress or rank != 0, mininterval=2)
    iteration = start
    clock = WorkClock(seconds, start)  # training time without the time the process stood stopped
    clock.paused = paused
    for batch in loader:
        loss, parts = batch_loss(net, batch, config, sampler, matcher, cache, device, autocast_dtype, rcnn_sampler,
                                 rcnn_matcher)
        logged = torch.stack([loss.detach(), parts["cls"], parts["reg"]])
        if world > 1:
            dist.all_reduce(logged)
            logged /= world
        value = float(logged[0])
        if not math.isfinite(value):
            bar.close()
            kept = (f"the last good checkpoint, {checkpoint} (after iteration {_saved_iteration(checkpoint)}), "
                    "is kept" if checkpoint.is_file() else "no checkpoint was written yet")
            raise NonFiniteLossError(f"{config.name}: loss is {value} at iteration {iteration + 1} of {total}; "
                                     f"stopped before its update; {kept}")
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        scheduler.step()
        history.append((value, float(logged[1]), float(logged[2])))
        iteration += 1
        clock.tick()
        bar.update(1)
        bar.set_postfix(loss=f"{value:.3f}", refresh=False)
        if iteration % profile.checkpoint_every == 0 or iteration == total:
            save(iteration)
            clock.restart()  # checkpoint writing is not training time
    bar.close()

    metrics = {
        "experiment": config.name, "hash": key, "iterations": iteration, "epochs": iteration / per_epoch,
        "images": iteration * profile.images_per_batch, "loss": summarise(history),
        "train_seconds": round(clock.seconds, 3), "paused_seconds": round(clock.paused, 1),
        "iterations_per_second": round(iteration / clock.seconds, 4) if clock.seconds > 0 else None,
        "ms_per_iteration": round(1000 * clock.seconds / iteration, 2) if iteration else None,
        "world_size": world, "device": device.type, "precision": str(autocast_dtype or "fp32"),
        "torch": torch.__version__, "data_digest": trained_on, "cpu_threads": threads,
    }
    if rank == 0:
        write_atomic(run_dir / METRICS, json.dumps(metrics, indent=1) + "\n")
    if world > 1:
        dist.barrier()
    return metrics


class WeightsMismatchError(RuntimeError):
    """The weights trained again for a stored run do not reproduce its record (:func:`remake_weights`)."""


# The fields of metrics.json that the training determines (its time and versions aside).
DETERMINED = ("experiment", "hash", "iterations", "images", "loss")
REMAKE = "remake"


def remake_weights(run_dir, progress: bool = True) -> Path:
    """``run_dir/checkpoint.pt`` for a stored run (metrics.json) whose weights are not in this checkout:
    trained again from its config.json into ``run_dir/remake/`` (resumable there), then moved into the run
    only if the new metrics.json equals the record on :data:`DETERMINED` (the whole loss curve, to the last
    bit); otherwise :class:`WeightsMismatchError`, with ``remake/`` kept for inspection. The record itself is
    left as it is. Returns ``run_dir``; at once when the weights are there."""
    run_dir = Path(run_dir)
    if (run_dir / CHECKPOINT).is_file():
        return run_dir
    if not (run_dir / METRICS).is_file():
        raise FileNotFoundError(f"{run_dir / METRICS}: not a stored run (train it with python -m gslib runs)")
    record = json.loads((run_dir / METRICS).read_text())
    config, profile = read_config(run_dir)
    # Records written before metrics.json held data_digest cannot be checked here, only by the loss curve.
    ensure_data(profile)
    here = data_digest(profile)
    if record.get("data_digest") and record["data_digest"] != here:
        raise WeightsMismatchError(f"{run_dir / METRICS}: trained on other data (data_digest "
                                   f"{record['data_digest']}; {profile.path(MANIFEST)} has {here}): its weights "
                                   "cannot be made again from this checkout's files; train the run again")
    # On the thread count it trained on (records without cpu_threads trained on the profile's).
    remade = train(config, profile, run_dir / REMAKE, progress=progress, threads=record.get("cpu_threads"))
    differ = [k for k in DETERMINED if record.get(k) != remade[k]]
    if differ:
        raise WeightsMismatchError(f"{run_dir / METRICS}: the weights trained again in {run_dir / REMAKE} do not "
                                   f"reproduce the record ({', '.join(differ)} differ); the record names other "
                                   "weights, so none were kept")
    os.replace(run_dir / REMAKE / CHECKPOINT, run_dir / CHECKPOINT)
    shutil.rmtree(run_dir / REMAKE)
    return run_dir


def load_trained(run_dir, device: torch.device | None = None) -> torch.nn.Module:
    """The trained detector of a run directory (from its config.json and checkpoint), in eval mode."""
    config, profile = read_config(run_dir)
    model = build_detector(config, profile, initial_weights=False)
    state = torch.load(Path(run_dir) / CHECKPOINT, map_location=device or "cpu", weights_only=False)
    model.load_state_dict(state["model"])
    return model.to(device or "cpu", memory_format=memory_format_for(profile)).eval()


__all__ = ["AnchorCache", "GroupMajorAnchors", "NonFiniteLossError", "WeightsMismatchError", "anchor_centres",
           "batch_loss", "image_loss", "load_trained", "lr_factor", "remake_weights", "train"]
