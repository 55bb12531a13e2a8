"""SynthWIDER: the embedded face detection benchmark, generated deterministically from a seed.

No public face dataset can be downloaded on the study's machines, so the ``default`` profile runs on
this generated stand-in for WIDER FACE. It is faithful on the axis the paper is about, the distribution
of face scales, and written in WIDER FACE's own formats so that the same readers and evaluators serve it
and the real dataset::

    OUT/WIDER_train/images/<event>/<name>.jpg        OUT/WIDER_val/images/<event>/<name>.jpg
    OUT/wider_face_split/wider_face_{train,val}_bbx_gt.txt
    OUT/eval_tools/ground_truth/wider_face_val.mat, wider_{easy,medium,hard}_val.mat
    OUT/annotations/instances_{train,val}.json      (COCO, one category "face")
    OUT/manifest.json                               (profile, seed, counts, version, seconds taken)

How a split is made (split-wide draws come from ``numpy.random.default_rng((profile.seed, split))``,
each image's from ``(profile.seed, split, image index, 0)`` for its plan and ``(..., 1)`` for its pixels,
so one seed and split size give byte-identical files, with or without pixels):

1. Faces per image: WIDER val's share of images per bin (1 / 2-5 / 6-20 / 21-100 / >100) from
   ``wider_val_statistics.json``, as exact quotas of the split's images; inside a bin ``P(n) ~ n^-beta``
   with beta fitted to WIDER val's mean count per bin (:data:`FACES_PER_IMAGE_BETA`); capped at
   ``profile.max_faces``.
2. Face scales ``sqrt(w h)``: one stratified draw per face from WIDER val's scale distribution (the stats'
   percentiles and bin shares, interpolated in log scale, tails extended to 0.5 x p1 and 2.5 x p99), in
   WIDER's 1024-px units, then multiplied by ``profile.image_width / 1024``. The draws are handed to
   faces by rank of a key ``-0.8 log min(n, 70) + N(0, 0.8) per image + N(0, 0.3) per face``, so that
   crowded images hold small faces; handing out by rank keeps the marginal distribution exact. The key
   is calibrated on WIDER val; a 3,226-image plan (seed 2022) gives Spearman(n, scale) -0.63 (WIDER
   -0.67), median scale of images with 1 / 2-5 / 6-20 / 21-100 / >100 faces 161 / 74 / 32 / 15 / 11
   (WIDER 162 / 75 / 32 / 18 / 10.8), within-image sd of log scale 0.20 (WIDER 0.20). Aspect ``w / h``
   follows the stats' percentiles.
3. Attributes: blur, expression, illumination, occlusion, pose and invalid are drawn per face with the
   probabilities WIDER val shows in the face's scale bin (:data:`BLUR_BY_BIN` and the like), then
   rendered to match: blur -> a Gaussian blur whose sigma grows with the label; expression -> an open
   mouth or laugh; illumination -> a dark, burnt or half-shadowed face (or a dim image); pose -> profile,
   strong roll or a face looking down; occlusion -> the covered share of the face ellipse, measured on the
   plan from what is drawn over it (nearer people's heads and bodies, a mask, sunglasses, a hat brim, an
   object in front), labelled 0 below 3 %, 1 up to 30 %, 2 above (WIDER's partial / heavy split).
   Invalid faces are rendered like the rest and ignored by the evaluation, as in WIDER.
4. Layout: faces are placed nearest (largest) first; in images with 4 or more faces smaller faces sit
   higher (perspective). A new face takes the first of a batch of 48 random positions whose cover by
   nearer people stays within an allowance (0 for faces meant to be unoccluded and for half of the
   others, else a share in the range of the face's occlusion label), so dense images have mild,
   crowd-like overlap; when no position qualifies the least covered one is taken: no face is dropped.
5. Pixels: a procedural background (gradients, fractal noise, buildings, foliage, stripes, lights), face-
   like distractors that are NOT faces (skin-coloured blobs, round objects with two dots, backs of heads,
   clocks, eye-like pairs), then people from far to near (body, head with hair, ears, eyes, brows, nose,
   mouth, beard, accessories; roll, blur and lighting), then image lighting and sensor noise; JPEG q=90.

Easy / medium / hard (val): WIDER's subsets come from EdgeBox detection rates, which we cannot rerun, so
they are defined by a rule of the same spirit. Every valid face gets an *effective scale*, its scale in
WIDER's 1024-px units discounted by what makes it hard::

    eff = scale_1024 * (1, 0.9, 0.75)[blur] * (1, 0.8, 0.6)[occlusion]
                     * (0.85 if illumination else 1) * (0.85 if pose else 1)
    easy = eff >= 37.4     medium = eff >= 19.4     hard = eff >= 5.4       (invalid faces: in none)

so easy ⊂ medium ⊂ hard by construction. The thresholds were calibrated once on a 3,226-image val plan
(seed 2022) so that the shares of boxes match WIDER val's (easy 7,211 / medium 13,319 / hard 31,958 of
39,708 boxes, i.e. 18.2 % / 33.5 % / 80.5 %); another seed gives 18.1 / 33.8 / 80.2 %, and a 500-image
val set 18.0 +- 0.5 / 32 +- 1 / 80.6 %. Like WIDER's, the hard set leaves out the tiniest faces (below
about 5 px at 1024 px width), which remain in the ground truth as "ignore" boxes.

What differs from WIDER FACE: cartoon-like faces and people (no identities, no real photographs); the
attribute labels are exact (what was rendered) rather than annotators' judgements; the subsets are the
rule above; images are ``profile.image_width`` px wide (512 for ``default``) instead of 1024, with every
scale rescaled accordingly. ``scale_quantiles`` and ``plot_scale_comparison`` check the scale
distribution against WIDER's.

CLI: ``python -m gslib.data.synth --profile default --out data/synthwider`` (see ``--help``).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from gslib.paths import DATA, WIDER_STATS

GENERATOR_VERSION = "1.0"

# WIDER FACE images are 1024 px wide; every scale statistic below is in those units.
WIDER_IMAGE_WIDTH = 1024

DEFAULT_STATS_PATH = WIDER_STATS


# ----------------------------------------------------------------------------------------------------
# Profiles
# ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Profile:
    """Size of a generated benchmark. ``image_width`` sets the rescale factor ``image_width / 1024``."""

    name: str
    image_width: int
    num_train: int
    num_val: int
    seed: int
    max_faces: int  # cap on faces per image (WIDER val's largest image has 709)
    jpeg_quality: int = 90

    @property
    def scale_factor(self) -> float:
        """Generated pixels per WIDER pixel: faces are ``scale_factor`` times their WIDER size."""
        return self.image_width / WIDER_IMAGE_WIDTH

    def training_jitter(self, paper_scales=tuple(0.25 * n for n in range(1, 9)), paper_max_side: int = 1200):
        """Sec. 5's augmentation carried over to this benchmark: (jitter scales, crop limit).

        Faces here are ``scale_factor`` times smaller than in WIDER, so the jitter scales are divided by it:
        the faces then meet the anchors 16-128 at exactly the sizes they do in the paper's training. The crop
        limit is multiplied by it to keep an iteration's cost at this benchmark's size; a crop then sees
        ``scale_factor ** 2`` of the scene area the paper's crop sees at the same jitter.
        """
        return tuple(s / self.scale_factor for s in paper_scales), round(paper_max_side * self.scale_factor)


SMOKE = Profile(name="smoke", image_width=256, num_train=24, num_val=12, seed=0, max_faces=60)
DEFAULT = Profile(name="default", image_width=512, num_train=1500, num_val=500, seed=2022, max_faces=709)
PROFILES = {"smoke": SMOKE, "default": DEFAULT}

SPLIT_CODES = {"train": 1, "val": 2}  # part of every seed, so the splits are independent draws


# ----------------------------------------------------------------------------------------------------
# WIDER FACE statistics
# ----------------------------------------------------------------------------------------------------

# Scale bins (sqrt(w h), 1024-px units) of the per-bin attribute tables below.
SCALE_BIN_EDGES = np.array([8.0, 16.0, 32.0, 64.0, 128.0, 256.0])

# Shares of WIDER FACE val boxes per scale bin (0-8, 8-16, 16-32, 32-64, 64-128, 128-256, >256), measured
# once on the official val annotations and rounded. Columns are the label values.
BLUR_BY_BIN = np.array(
    [[0.06, 0.03, 0.91], [0.03, 0.12, 0.85], [0.05, 0.36, 0.59], [0.23, 0.59, 0.18],
     [0.59, 0.37, 0.04], [0.87, 0.12, 0.01], [0.98, 0.02, 0.00]]
)
OCCLUSION_BY_BIN = np.array(
    [[0.29, 0.29, 0.42], [0.53, 0.24, 0.23], [0.67, 0.15, 0.18], [0.75, 0.10, 0.15],
     [0.84, 0.08, 0.08], [0.88, 0.05, 0.07], [0.91, 0.05, 0.04]]
)
EXPRESSION_BY_BIN = np.array([0.001, 0.001, 0.007, 0.019, 0.047, 0.034, 0.027])  # P(exaggerated)
ILLUMINATION_BY_BIN = np.array([0.019, 0.052, 0.090, 0.053, 0.059, 0.061, 0.066])  # P(extreme)
POSE_BY_BIN = np.array([0.022, 0.022, 0.042, 0.066, 0.092, 0.089, 0.062])  # P(atypical)
INVALID_BY_BIN = np.array([0.081, 0.007, 0.0, 0.0, 0.0, 0.0, 0.0])  # 585 / 39,708 overall

# Faces per image inside a count bin: P(n) ~ n^-beta, beta fitted to WIDER val's mean count per bin
# (3.1, 11.0, 40.7, 246).
FACES_PER_IMAGE_BINS = {"1": (1, 1), "2-5": (2, 5), "6-20": (6, 20), "21-100": (21, 100), ">100": (101, 709)}
FACES_PER_IMAGE_BETA = {"1": 0.0, "2-5": 1.07, "6-20": 1.26, "21-100": 2.03, ">100": 1.76}

# Image height / width: WIDER val heights at 1024 px width have quartiles 682 / 754 / 1024 and a tail of
# portrait images (p90 ~1530).
IMAGE_ASPECTS = np.array([0.5625, 0.667, 0.75, 1.0, 1.333, 1.5])
IMAGE_ASPECT_P = np.array([0.10, 0.22, 0.38, 0.12, 0.08, 0.10])

# Coupling of scale to faces-per-image (step 2 of the module docstring), in units of the standard normal
# that the ranks of the scales follow.
COUPLING_LOG_N = 0.8
COUPLING_COUNT_CAP = 70  # beyond ~70 faces WIDER's crowds no longer get smaller faces as fast
COUPLING_IMAGE_SD = 0.8
COUPLING_FACE_SD = 0.3

# Easy / medium / hard rule (see the module docstring).
SUBSET_BLUR_FACTOR = np.array([1.0, 0.9, 0.75])
SUBSET_OCCLUSION_FACTOR = np.array([1.0, 0.8, 0.6])
SUBSET_THRESHOLDS = {"easy": 37.4, "medium": 19.4, "hard": 5.4}

EVENTS = ("0--Street", "1--Parade", "2--Hall", "3--Park", "4--Stage", "5--Market")


def load_wider_stats(path: str | Path | None = None) -> dict:
    """Read ``wider_val_statistics.json`` (the measured distribution of WIDER FACE val)."""
    path = Path(path) if path is not None else DEFAULT_STATS_PATH
    if not path.is_file():
        raise FileNotFoundError(
            f"WIDER FACE val statistics not found at {path}. The file is the study's "
            "shared/wider_val_statistics.json, which sits beside the repository (../shared/ from the repo "
            "root); pass its location with --stats PATH (or stats_path=...). It is never copied into the "
            "project."
        )
    return json.loads(path.read_text())


def scale_cdf_knots(stats: dict) -> tuple[np.ndarray, np.ndarray]:
    """Knots of WIDER val's face-scale CDF: (K,) cumulative shares and (K,) scales in 1024-px units.

    Merges the stats' percentiles and bin shares (both are points of the same CDF), and extends the tails
    to 0.5 x p1 (share 0) and 2.5 x p99 (share 1). Interpolate between knots in log scale.
    """
    points = {float(p) / 100.0: float(v) for p, v in stats["scale_sqrt_wh_percentiles"].items()}
    cum = 0.0
    for key, share in stats["scale_share_by_bin"].items():
        cum += float(share)
        upper = float(key.split("-")[1])
        if cum < 0.999:
            points[round(cum, 6)] = upper
    points[0.0] = 0.5 * points[0.01]
    points[1.0] = 2.5 * points[0.99]
    cdf = np.array(sorted(points))
    scales = np.array([points[c] for c in cdf])
    keep = np.concatenate([[True], np.diff(scales) > 0])  # a CDF is increasing; drop inconsistent knots
    return cdf[keep], scales[keep]


def wider_scale_quantile(u: np.ndarray, stats: dict) -> np.ndarray:
    """Inverse CDF of WIDER val face scales. u: (N,) in [0, 1] -> (N,) scales in 1024-px units."""
    cdf, scales = scale_cdf_knots(stats)
    return np.exp(np.interp(u, cdf, np.log(scales)))


def wider_aspect_quantile(u: np.ndarray, stats: dict) -> np.ndarray:
    """Inverse CDF of WIDER val box aspect w / h. u: (N,) in [0, 1] -> (N,). Tails: x0.75 and x1.2."""
    pts = {float(p) / 100.0: float(v) for p, v in stats["aspect_w_over_h_percentiles"].items()}
    cdf = np.array(sorted(pts))
    vals = np.array([pts[c] for c in cdf])
    cdf = np.concatenate([[0.0], cdf, [1.0]])
    vals = np.concatenate([[0.75 * vals[0]], vals, [1.2 * vals[-1]]])
    return np.exp(np.interp(u, cdf, np.log(vals)))


def scale_bin(scale_1024: np.ndarray) -> np.ndarray:
    """(N,) scales in 1024-px units -> (N,) index of the WIDER scale bin (0..6)."""
    return np.searchsorted(SCALE_BIN_EDGES, scale_1024, side="right")


# ----------------------------------------------------------------------------------------------------
# The plan of a split: boxes, attributes and everything the renderer needs, without pixels
# ----------------------------------------------------------------------------------------------------


@dataclass
class Scene:
    """Plan of one image. N faces in placement order (nearest first); they are drawn in reverse.

    boxes: (N, 4) float64 x y w h in output pixels; attributes: (N, 6) int64 in WIDER's columns.
    The remaining (N, ...) arrays are render parameters; ``occluder`` rows are x1 y1 x2 y2 of an object
    drawn right after the face (NaN when none).
    """

    name: str
    width: int
    height: int
    boxes: np.ndarray
    attributes: np.ndarray
    axes: np.ndarray  # (N, 2) semi-axes of the face ellipse before roll, output pixels
    skin: np.ndarray  # (N, 3) uint8
    hair: np.ndarray  # (N, 3) uint8
    shirt: np.ndarray  # (N, 3) uint8
    hair_style: np.ndarray  # (N,) 0 bald, 1 short, 2 long
    yaw: np.ndarray  # (N,) sine of the yaw angle, >0 looks to the image right
    roll: np.ndarray  # (N,) degrees
    look_down: np.ndarray  # (N,) bool
    mouth: np.ndarray  # (N,) 0 closed, 1 smile, 2 open "O" (exaggerated), 3 laugh (exaggerated)
    accessory: np.ndarray  # (N,) 0 none, 1 glasses, 2 sunglasses, 3 mask, 4 hat, 5 low hat
    beard: np.ndarray  # (N,) bool
    blur_sigma: np.ndarray  # (N,) output pixels
    light: np.ndarray  # (N, 3) gain, gradient angle (rad), gradient strength
    occluder: np.ndarray  # (N, 4) x1 y1 x2 y2 or NaN
    occluder_color: np.ndarray  # (N, 3) uint8
    image_gain: float  # < 0.45 is a dim image: every face in it has extreme illumination
    pixel_seed: tuple

    @property
    def scales(self) -> np.ndarray:
        """(N,) sqrt(w h) in output pixels."""
        return np.sqrt(self.boxes[:, 2] * self.boxes[:, 3])


def sample_faces_per_image(rng: np.random.Generator, num_images: int, stats: dict, max_faces: int) -> np.ndarray:
    """(num_images,) int64 face counts following WIDER val's faces-per-image shares (module docstring)."""
    shares = stats["faces_per_image"]["share_of_images_with"]
    names = list(FACES_PER_IMAGE_BINS)
    p = np.array([shares[k] for k in names], dtype=float)
    # Exact numbers of images per bin (largest remainder), so a 500-image split has WIDER's mix
    # and its ~9 crowd images, not a random 4 or 14.
    quota = p / p.sum() * num_images
    per_bin = np.floor(quota).astype(np.int64)
    extra = num_images - per_bin.sum()
    per_bin[np.argsort(-(quota - per_bin), kind="stable")[:extra]] += 1
    which = rng.permutation(np.repeat(np.arange(len(names)), per_bin))
    counts = np.empty(num_images, dtype=np.int64)
    for b, key in enumerate(names):
        lo, hi = FACES_PER_IMAGE_BINS[key]
        n = np.arange(lo, hi + 1)
        pn = n ** -FACES_PER_IMAGE_BETA[key]
        sel = which == b
        counts[sel] = rng.choice(n, size=int(sel.sum()), p=pn / pn.sum())
    return np.minimum(counts, max_faces)


def assign_scales(rng: np.random.Generator, counts: np.ndarray, stats: dict) -> list[np.ndarray]:
    """Draw sum(counts) face scales (1024-px units) and hand them to images, small ones to crowds.

    counts: (I,) faces per image -> list of I arrays (n_i,) of scales. The draw is stratified (one face per
    1/N quantile slice), so the marginal matches WIDER's closely even for a few thousand faces.
    """
    total = int(counts.sum())
    u = (rng.permutation(total) + rng.random(total)) / total
    scales = np.sort(wider_scale_quantile(u, stats))
    image_of = np.repeat(np.arange(len(counts)), counts)
    image_effect = rng.normal(0.0, COUPLING_IMAGE_SD, size=len(counts))
    key = -COUPLING_LOG_N * np.log(np.minimum(counts, COUPLING_COUNT_CAP))[image_of] + image_effect[image_of]
    key = key + rng.normal(0.0, COUPLING_FACE_SD, size=total)
    out = np.empty(total)
    out[np.argsort(key, kind="stable")] = scales
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    return [out[s : s + n] for s, n in zip(starts, counts)]


def plan_split(profile: Profile, split: str, num_images: int, stats: dict) -> list[Scene]:
    """Plans of every image of a split (no pixels). Deterministic in (profile.seed, split, num_images)."""
    code = SPLIT_CODES[split]
    rng = np.random.default_rng([profile.seed, code])
    counts = sample_faces_per_image(rng, num_images, stats, profile.max_faces)
    scales = assign_scales(rng, counts, stats)
    events = rng.integers(0, len(EVENTS), size=num_images)
    scenes = []
    for i in range(num_images):
        event = EVENTS[events[i]]
        eid, ename = event.split("--")
        name = f"{event}/{eid}_{ename}_synth_{split}_{i}.jpg"
        image_rng = np.random.default_rng([profile.seed, code, i, 0])
        scenes.append(plan_scene(image_rng, name, scales[i], profile.image_width, stats, (profile.seed, code, i, 1)))
    return scenes


def plan_scene(rng, name, scales_1024, width, stats, pixel_seed) -> Scene:
    """Plan of one image holding faces of the given scales. scales_1024: (N,) in 1024-px units."""
    factor = width / WIDER_IMAGE_WIDTH
    n = len(scales_1024)
    order = np.argsort(-scales_1024, kind="stable")  # nearest (largest) first
    scales_1024 = scales_1024[order]
    aspect = wider_aspect_quantile(rng.random(n), stats)
    s = scales_1024 * factor
    wh = np.stack([s * np.sqrt(aspect), s / np.sqrt(aspect)], axis=1)

    bins = scale_bin(scales_1024)
    blur = _draw_categorical(rng, BLUR_BY_BIN[bins])
    occlusion_target = _draw_categorical(rng, OCCLUSION_BY_BIN[bins])
    expression = (rng.random(n) < EXPRESSION_BY_BIN[bins]).astype(np.int64)
    pose = (rng.random(n) < POSE_BY_BIN[bins]).astype(np.int64)
    invalid = (rng.random(n) < INVALID_BY_BIN[bins]).astype(np.int64)

    # A few images (1 %) are dim as a whole (all their faces count as extreme illumination); the per-face
    # probability is lowered by the share of faces that dim images already account for (~0.5 %).
    image_gain = float(rng.uniform(0.25, 0.42)) if rng.random() < 0.01 else float(rng.uniform(0.8, 1.1))
    if image_gain < 0.45:
        illumination = np.ones(n, dtype=np.int64)
    else:
        illumination = (rng.random(n) < np.maximum(ILLUMINATION_BY_BIN[bins] - 0.005, 0.005)).astype(np.int64)

    # Pose: profile (yaw), strong roll or looking down; typical faces turn and tilt a little.
    kind = rng.choice(3, size=n, p=[0.6, 0.25, 0.15])
    yaw = np.clip(rng.normal(0.0, 0.3, size=n), -0.6, 0.6)
    roll = np.clip(rng.normal(0.0, 6.0, size=n), -15.0, 15.0)
    side = rng.choice([-1.0, 1.0], size=n)
    atypical = pose == 1
    yaw = np.where(atypical & (kind == 0), side * rng.uniform(0.85, 1.0, size=n), yaw)
    roll = np.where(atypical & (kind == 1), side * rng.uniform(35.0, 60.0, size=n), roll)
    look_down = atypical & (kind == 2)
    # Rolled faces: the box is the bounding box of the rotated face ellipse, both rescaled to keep the
    # drawn scale.
    wh, axes = _rolled_box_size(wh, roll)

    height = _image_height(rng, width, wh)
    # Occlusion is realised in three ways, tried in turn: nearer people in a crowd (allowance), an
    # accessory that hides part of the face, then an object in front for what is still missing.
    allowance = np.select(
        [occlusion_target == 0, occlusion_target == 1],
        [np.zeros(n), rng.uniform(0.05, 0.28, size=n)],
        rng.uniform(0.35, 0.6, size=n),
    )
    allowance = np.where(rng.random(n) < 0.5, allowance, 0.0)
    boxes, cover_by_people = _place_faces(rng, wh, allowance, width, height)
    boxes = _round_boxes(boxes)

    accessory = np.select(
        [occlusion_target == 0, occlusion_target == 1],
        [
            rng.choice(6, size=n, p=[0.78, 0.10, 0.0, 0.0, 0.12, 0.0]),
            rng.choice(6, size=n, p=[0.55, 0.05, 0.15, 0.0, 0.0, 0.25]),
        ],
        rng.choice(6, size=n, p=[0.70, 0.05, 0.0, 0.20, 0.05, 0.0]),
    )
    occluder = np.full((n, 4), np.nan)
    occluder_color = rng.integers(0, 256, size=(n, 3)).astype(np.uint8)
    for i in range(n):
        have = _union_cover(cover_by_people[i], _ACCESSORY_COVER[accessory[i]])
        want = occlusion_target[i]
        if (want == 1 and have < 0.03) or (want == 2 and have <= 0.30):
            target = rng.uniform(0.08, 0.28) if want == 1 else rng.uniform(0.38, 0.75)
            occluder[i] = _occluder_rect(rng, boxes[i], target, width, height)
    occlusion = _occlusion_labels(boxes, accessory, occluder)

    mouth = np.where(expression == 1, rng.choice([2, 3], size=n), rng.choice([0, 1], size=n, p=[0.6, 0.4]))
    # Face light (gain, gradient direction, gradient strength). Extreme illumination is a dark face, a
    # burnt-out face or a half shadow (a strong gradient across the face).
    extreme = rng.choice(3, size=n)  # 0 dark, 1 burnt, 2 half shadow
    extreme_gain = np.choose(extreme, [rng.uniform(0.2, 0.38, size=n), rng.uniform(1.7, 2.1, size=n), np.ones(n)])
    gain = np.where(illumination == 1, extreme_gain, rng.uniform(0.8, 1.15, size=n))
    if image_gain < 0.45:  # the whole image is dim already
        gain = np.minimum(gain, 1.0)
    half_shadow = (illumination == 1) & (extreme == 2)
    strength = np.where(half_shadow, rng.uniform(0.8, 1.0, size=n), rng.uniform(0.0, 0.25, size=n))
    light = np.stack([gain, rng.uniform(0.0, 2 * np.pi, size=n), strength], axis=1)

    s_out = np.sqrt(wh[:, 0] * wh[:, 1])
    blur_sigma = np.select([blur == 0, blur == 1], [0.0 * s_out, 0.025 * s_out + 0.25], 0.06 * s_out + 0.45)

    attributes = np.stack([blur, expression, illumination, invalid, occlusion, pose], axis=1).astype(np.int64)
    return Scene(
        name=name,
        width=width,
        height=height,
        boxes=boxes,
        attributes=attributes,
        axes=axes,
        skin=_skin_colors(rng, n),
        hair=HAIR_COLORS[rng.choice(len(HAIR_COLORS), size=n, p=HAIR_P)],
        shirt=_shirt_colors(rng, n),
        hair_style=rng.choice(3, size=n, p=[0.08, 0.62, 0.30]),
        yaw=yaw,
        roll=roll,
        look_down=look_down,
        mouth=mouth,
        accessory=accessory,
        beard=rng.random(n) < 0.08,
        blur_sigma=blur_sigma,
        light=light,
        occluder=occluder,
        occluder_color=occluder_color,
        image_gain=image_gain,
        pixel_seed=tuple(int(v) for v in pixel_seed),
    )


def _round_boxes(boxes: np.ndarray) -> np.ndarray:
    """Boxes (N, 4) to 2 decimals, as the shortest decimal floats (short, exact annotation files)."""
    return np.array([float(f"{v:.2f}") for v in boxes.ravel()]).reshape(boxes.shape)


def _draw_categorical(rng: np.random.Generator, p: np.ndarray) -> np.ndarray:
    """p: (N, K) rows of probabilities -> (N,) int64 draws."""
    c = np.cumsum(p / p.sum(axis=1, keepdims=True), axis=1)
    return (rng.random((len(p), 1)) > c[:, :-1]).sum(axis=1).astype(np.int64)


def _rolled_box_size(wh: np.ndarray, roll: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Face ellipse inscribed in boxes wh (N, 2), rotated by roll (N,) degrees.

    Returns the (N, 2) box of the rotated ellipse and the (N, 2) semi-axes of the ellipse, both rescaled so
    that the box keeps the scale sqrt(w h) that was drawn.
    """
    t = np.deg2rad(roll)
    a, b = wh[:, 0] / 2, wh[:, 1] / 2
    bw = 2 * np.sqrt((a * np.cos(t)) ** 2 + (b * np.sin(t)) ** 2)
    bh = 2 * np.sqrt((a * np.sin(t)) ** 2 + (b * np.cos(t)) ** 2)
    k = np.sqrt(wh[:, 0] * wh[:, 1] / (bw * bh))
    return np.stack([bw * k, bh * k], axis=1), np.stack([a * k, b * k], axis=1)


def _image_height(rng: np.random.Generator, width: int, wh: np.ndarray) -> int:
    """Height like WIDER's (mostly landscape), tall enough for the largest face and for the crowd."""
    aspect = float(rng.choice(IMAGE_ASPECTS, p=IMAGE_ASPECT_P))
    height = width * aspect
    if len(wh):
        # the largest head with its hair and hat must fit; the faces' total area (with room around them)
        # must stay below ~40 % of the image
        height = max(height, 1.8 * wh[:, 1].max() + 4, 2.5 * float((wh[:, 0] * wh[:, 1]).sum()) / width)
    return math.ceil(min(height, 2.0 * width))


# Points spread evenly over the unit disk (Vogel's spiral): covered shares of a face ellipse are measured
# on them, in the plan and in the tests, so labels do not depend on pixels.
_DISK_K = 64
_k = np.arange(_DISK_K)
DISK_POINTS = np.stack(
    [np.sqrt((_k + 0.5) / _DISK_K) * np.cos(_k * 2.39996323), np.sqrt((_k + 0.5) / _DISK_K) * np.sin(_k * 2.39996323)],
    axis=1,
)

# Points of the unit face disk (u right, v down) hidden by each accessory: none, glasses (see-through),
# sunglasses (two dark lenses), mask (below the nose tip), hat (brim above the face), low hat (brim over
# the brows).
_u, _v = DISK_POINTS[:, 0], DISK_POINTS[:, 1]
_LENS = (((np.abs(_u) - 0.38) / 0.32) ** 2 + ((_v + 0.12) / 0.2) ** 2) <= 1
_NONE = np.zeros(_DISK_K, bool)
_ACCESSORY_COVER = [_NONE, _NONE, _LENS, _v > 0.05, _NONE, _v < -0.55]


def _union_cover(people: np.ndarray, accessory: np.ndarray) -> float:
    """Share of the face disk's points hidden by either. Both (K,) bool."""
    return float((people | accessory).mean())


def _head_shape(boxes: np.ndarray) -> np.ndarray:
    """What a person's head hides (face, skull, hair, ears): (N, 4) ellipse centre x, y and semi-axes."""
    x, y, w, h = boxes.T
    return np.stack([x + w / 2, y + 0.45 * h, 0.56 * w, 0.62 * h], axis=1)


def _body_rect(boxes: np.ndarray) -> np.ndarray:
    """A person's shoulders and chest below the face: (N, 4) x1 y1 x2 y2."""
    x, y, w, h = boxes.T
    cx = x + w / 2
    return np.stack([cx - 1.15 * w, y + 1.15 * h, cx + 1.15 * w, y + 3.2 * h], axis=1)


def _face_points(box: np.ndarray) -> np.ndarray:
    """(K, 2) image points of the face ellipse inscribed in box (x y w h)."""
    x, y, w, h = box
    return np.stack([x + w / 2 + DISK_POINTS[:, 0] * w / 2, y + h / 2 + DISK_POINTS[:, 1] * h / 2], axis=1)


def _points_in_shapes(pts: np.ndarray, ellipses: np.ndarray, rects: np.ndarray) -> np.ndarray:
    """pts: (K, 2); ellipses: (E, 4) cx cy ax ay; rects: (R, 4) x1 y1 x2 y2 -> (K,) bool inside any."""
    px, py = pts[:, :1], pts[:, 1:]
    hit = np.zeros(len(pts), bool)
    if len(ellipses):
        e = ellipses
        hit |= ((((px - e[:, 0]) / e[:, 2]) ** 2 + ((py - e[:, 1]) / e[:, 3]) ** 2) <= 1).any(axis=1)
    if len(rects):
        r = rects
        hit |= ((px >= r[:, 0]) & (px <= r[:, 2]) & (py >= r[:, 1]) & (py <= r[:, 3])).any(axis=1)
    return hit


def _place_faces(rng: np.random.Generator, wh: np.ndarray, allowance: np.ndarray, width: int, height: int):
    """Place faces (nearest first) inside the image with crowd-like, mild overlap.

    wh: (N, 2) box sizes sorted by decreasing scale; allowance: (N,) largest share of each face that nearer
    people may hide (estimated on boxes) -> boxes (N, 4) x y w h and (N, K) bool, the points of each face
    hidden by nearer people (heads and bodies placed before it).
    """
    n = len(wh)
    boxes = np.zeros((n, 4))
    covers = np.zeros((n, _DISK_K), bool)
    heads = np.zeros((n, 4))
    bodies = np.zeros((n, 4))
    occluders = np.zeros((2 * n, 4))  # bounding rectangles of heads and bodies, for the quick estimate
    perspective = n >= 4
    candidates = 48
    for i in range(n):
        w, h = wh[i]
        # 0.01 px from the borders: boxes stay inside the image after rounding to 2 decimals
        x = rng.uniform(0.01, max(width - w - 0.01, 0.01), size=candidates)
        if perspective:
            depth = i / max(n - 1, 1)  # 0 for the nearest, which sits lowest in the image
            yc = height * (0.85 - 0.65 * depth)
            y = rng.normal(yc, 0.15 * height, size=candidates) - h / 2
        else:
            y = rng.uniform(0.05, 0.75, size=candidates) * height - h / 2
        y = np.clip(y, 0.01, max(height - h - 0.01, 0.01))
        est = _estimate_cover(x, y, w, h, occluders[: 2 * i])
        ok = np.flatnonzero(est <= allowance[i] + 1e-9)
        j = ok[0] if len(ok) else int(np.argmin(est))
        boxes[i] = (x[j], y[j], w, h)
        heads[i] = _head_shape(boxes[i : i + 1])[0]
        bodies[i] = _body_rect(boxes[i : i + 1])[0]
        occluders[2 * i] = np.concatenate([heads[i, :2] - heads[i, 2:], heads[i, :2] + heads[i, 2:]])
        occluders[2 * i + 1] = bodies[i]
        if i:
            near = _intersecting(boxes[i], occluders[: 2 * i])
            pts = _face_points(boxes[i])
            covers[i] = _points_in_shapes(pts, heads[:i][near[0::2]], bodies[:i][near[1::2]])
    return boxes, covers


def _estimate_cover(x, y, w, h, rects: np.ndarray) -> np.ndarray:
    """Quick upper estimate of the share of a w x h box at (x, y) (M candidates) hidden by rects (R, 4)."""
    if len(rects) == 0:
        return np.zeros(len(x))
    ix = np.clip(np.minimum(x[:, None] + w, rects[:, 2]) - np.maximum(x[:, None], rects[:, 0]), 0, None)
    iy = np.clip(np.minimum(y[:, None] + h, rects[:, 3]) - np.maximum(y[:, None], rects[:, 1]), 0, None)
    return np.minimum((ix * iy).sum(axis=1) / (w * h), 1.0)


def _intersecting(box: np.ndarray, rects: np.ndarray) -> np.ndarray:
    """(R,) bool: rects (R, 4) x1y1x2y2 that intersect box (x y w h)."""
    x, y, w, h = box
    return (rects[:, 0] < x + w) & (rects[:, 2] > x) & (rects[:, 1] < y + h) & (rects[:, 3] > y)


def _occluder_rect(rng, box, target, width, height) -> np.ndarray:
    """A rectangle in front of the face hiding about ``target`` of its ellipse, entering from one side.

    The cut is found on the disk points, so the share is exact in the plan's own measure.
    """
    x, y, w, h = box
    side = rng.choice(4, p=[0.45, 0.2, 0.2, 0.15])  # bottom, left, right, top
    coord = DISK_POINTS[:, 1] if side in (0, 3) else DISK_POINTS[:, 0]
    sign = 1.0 if side in (0, 2) else -1.0
    cut = np.quantile(sign * coord, 1.0 - target)  # points with sign * coord > cut are hidden
    ext = rng.uniform(0.3, 1.2)  # how far the object reaches beyond the face
    lat = rng.uniform(0.3, 0.8)  # how far it reaches sideways
    cx, cy = x + w / 2, y + h / 2
    if side in (0, 3):
        edge = cy + sign * cut * h / 2
        far = cy + sign * (1 + ext) * h / 2
        x1, x2 = cx - (1 + lat) * w / 2, cx + (1 + lat) * w / 2
        y1, y2 = min(edge, far), max(edge, far)
    else:
        edge = cx + sign * cut * w / 2
        far = cx + sign * (1 + ext) * w / 2
        y1, y2 = cy - (1 + lat) * h / 2, cy + (1 + lat) * h / 2
        x1, x2 = min(edge, far), max(edge, far)
    return np.array([max(x1, 0.0), max(y1, 0.0), min(x2, width), min(y2, height)])


def _occlusion_labels(boxes: np.ndarray, accessory: np.ndarray, occluder: np.ndarray) -> np.ndarray:
    """WIDER occlusion label (0 / 1 / 2) of each face from everything drawn over it.

    Faces are drawn from far to near (index n-1 first): face i is covered by the heads, bodies and
    occluders of faces j < i, by its own occluder and by its accessory. Returns (N,) int64.
    """
    n = len(boxes)
    heads = _head_shape(boxes)
    bodies = _body_rect(boxes)
    has_occ = ~np.isnan(occluder[:, 0])
    labels = np.zeros(n, dtype=np.int64)
    for i in range(n):
        pts = _face_points(boxes[i])
        rects = [bodies[:i], occluder[: i + 1][has_occ[: i + 1]]]
        hit = _points_in_shapes(pts, heads[:i], np.concatenate(rects)) | _ACCESSORY_COVER[accessory[i]]
        share = hit.mean()
        labels[i] = 0 if share < 0.03 else (1 if share <= 0.30 else 2)
    return labels


# ----------------------------------------------------------------------------------------------------
# Appearance
# ----------------------------------------------------------------------------------------------------

SKIN_TONES = np.array(
    [[255, 224, 196], [241, 194, 125], [224, 172, 105], [198, 134, 66], [141, 85, 36], [92, 58, 36],
     [255, 205, 148], [234, 192, 134], [205, 150, 110], [120, 75, 50]],
    dtype=float,
)
HAIR_COLORS = np.array(
    [[25, 20, 18], [55, 38, 25], [105, 72, 45], [195, 165, 110], [150, 148, 145], [135, 60, 30], [70, 70, 160]],
    dtype=np.uint8,
)
HAIR_P = np.array([0.42, 0.25, 0.13, 0.08, 0.06, 0.04, 0.02])


def _shirt_colors(rng: np.random.Generator, n: int) -> np.ndarray:
    """(n, 3) uint8 clothes: random hues, mostly muted (mixed with a grey), some dark."""
    hue = rng.integers(0, 256, size=(n, 3)).astype(float)
    grey = rng.uniform(20, 220, size=(n, 1))
    mix = rng.uniform(0.2, 0.8, size=(n, 1))
    return np.clip(mix * hue + (1 - mix) * grey, 0, 255).astype(np.uint8)


def _skin_colors(rng: np.random.Generator, n: int) -> np.ndarray:
    """(n, 3) uint8 skin tones: a palette entry with a small jitter."""
    base = SKIN_TONES[rng.integers(0, len(SKIN_TONES), size=n)]
    return np.clip(base + rng.normal(0, 8, size=(n, 3)), 0, 255).astype(np.uint8)


# ----------------------------------------------------------------------------------------------------
# Subsets
# ----------------------------------------------------------------------------------------------------


def effective_scale(scales_1024: np.ndarray, attributes: np.ndarray) -> np.ndarray:
    """The subset rule's difficulty-discounted scale. scales_1024: (N,), attributes: (N, 6) -> (N,)."""
    blur, _, illumination, _, occlusion, pose = attributes.T
    return (
        scales_1024
        * SUBSET_BLUR_FACTOR[blur]
        * SUBSET_OCCLUSION_FACTOR[occlusion]
        * np.where(illumination == 1, 0.85, 1.0)
        * np.where(pose == 1, 0.85, 1.0)
    )


def subset_indices(boxes: np.ndarray, attributes: np.ndarray, image_width: int) -> dict[str, np.ndarray]:
    """0-based indices of the boxes in each of easy / medium / hard (nested). boxes: (N, 4) x y w h."""
    scales_1024 = np.sqrt(boxes[:, 2] * boxes[:, 3]) * WIDER_IMAGE_WIDTH / image_width
    eff = effective_scale(scales_1024, attributes)
    valid = attributes[:, 3] == 0
    return {k: np.flatnonzero(valid & (eff >= t)).astype(np.int64) for k, t in SUBSET_THRESHOLDS.items()}


# ----------------------------------------------------------------------------------------------------
# Pixels
# ----------------------------------------------------------------------------------------------------

# Background palettes per event: base colours of gradients and shapes (RGB).
PALETTES = {
    "0--Street": [(120, 140, 170), (170, 170, 165), (90, 90, 95), (200, 190, 170), (60, 70, 80), (150, 60, 50)],
    "1--Parade": [(200, 40, 40), (240, 200, 40), (40, 90, 200), (230, 230, 230), (30, 140, 70), (140, 140, 150)],
    "2--Hall": [(200, 185, 160), (150, 120, 90), (230, 225, 210), (90, 70, 60), (120, 130, 150), (180, 160, 120)],
    "3--Park": [(70, 120, 50), (40, 80, 30), (130, 160, 90), (140, 110, 70), (150, 190, 230), (100, 90, 60)],
    "4--Stage": [(20, 20, 30), (60, 20, 80), (10, 30, 70), (200, 60, 160), (240, 220, 120), (40, 40, 40)],
    "5--Market": [(210, 120, 40), (200, 200, 180), (60, 110, 160), (170, 50, 60), (90, 140, 60), (230, 210, 90)],
}


def render_scene(scene: Scene) -> Image.Image:
    """Pixels of a planned image: background, distractors, people from far to near, light and noise."""
    rng = np.random.default_rng(list(scene.pixel_seed))
    event = scene.name.split("/")[0]
    img = _background(rng, scene.width, scene.height, PALETTES[event])
    _draw_distractors(rng, img, scene)
    draw = ImageDraw.Draw(img)
    for i in reversed(range(len(scene.boxes))):  # far to near
        _draw_body(draw, scene, i)
        patch, offset = _render_head(scene, i)
        img.paste(patch.convert("RGB"), offset, mask=patch.getchannel("A"))
        if not np.isnan(scene.occluder[i, 0]):
            _draw_occluder(draw, rng, scene.occluder[i], scene.occluder_color[i])
    return _finish(rng, img, scene.image_gain)


def _fractal_noise(rng: np.random.Generator, width: int, height: int, octaves: int = 4, base: int = 3) -> np.ndarray:
    """(height, width) float32 in [0, 1]: octaves of bicubically upsampled uniform noise.

    The octaves are summed at a quarter of the resolution and upsampled once (cheap, and smooth anyway).
    """
    qw, qh = max(width // 4, 8), max(height // 4, 8)
    out = np.zeros((qh, qw), np.float32)
    amp = 1.0
    for o in range(octaves):
        gw = base * 2**o + 1
        gh = max(2, round(gw * height / width) + 1)
        small = rng.random((gh, gw), dtype=np.float32)
        out += amp * np.asarray(Image.fromarray(small).resize((qw, qh), Image.BICUBIC))
        amp *= 0.5
    out -= out.min()
    out /= max(float(out.max()), 1e-6)
    return np.asarray(Image.fromarray(out).resize((width, height), Image.BICUBIC))


def _jitter(rng: np.random.Generator, color, sd: float = 18.0) -> tuple[int, int, int]:
    return tuple(int(v) for v in np.clip(np.asarray(color, float) + rng.normal(0, sd, 3), 0, 255))


def _background(rng: np.random.Generator, width: int, height: int, palette: list) -> Image.Image:
    """Clutter: a gradient, fractal texture and blotches, then buildings, signs, stripes, foliage, lights."""
    pal = np.asarray(palette, np.float32)
    c1, c2, c3 = pal[rng.choice(len(pal), size=3, replace=False)]
    angle = rng.uniform(0, 2 * np.pi)
    g = _ramp(width, height, angle)
    tex = _fractal_noise(rng, width, height, octaves=5, base=int(rng.integers(2, 8)))
    blot = _fractal_noise(rng, width, height, octaves=3, base=int(rng.integers(2, 5)))
    mask = np.clip((blot - np.float32(rng.uniform(0.45, 0.7))) * 6, 0, 1)
    shade, shade3 = 0.65 + 0.7 * tex, 0.7 + 0.6 * tex
    channels = []
    for c in range(3):  # per channel: contiguous (H, W) arithmetic is several times faster than (H, W, 3)
        base = (c1[c] + (c2[c] - c1[c]) * g) * shade
        base += mask * (c3[c] * shade3 - base)
        channels.append(np.clip(base, 0, 255).astype(np.uint8))
    img = Image.fromarray(np.stack(channels, axis=-1))
    draw = ImageDraw.Draw(img)
    area = width * height
    for _ in range(int(rng.integers(2, 9))):  # buildings, stalls, furniture, with windows
        w, h = rng.uniform(0.08, 0.45) * width, rng.uniform(0.1, 0.7) * height
        x, y = rng.uniform(-0.1, 1.0) * width, rng.uniform(0.0, 1.0) * height - h / 2
        draw.rectangle([x, y, x + w, y + h], fill=_jitter(rng, pal[rng.integers(len(pal))], 30))
        if rng.random() < 0.5:
            step = rng.uniform(0.025, 0.06) * width
            win = _jitter(rng, pal[rng.integers(len(pal))], 40)
            for wx in np.arange(x + step / 2, x + w - step / 2, step * 1.6):
                for wy in np.arange(y + step / 2, y + h - step / 2, step * 1.8):
                    draw.rectangle([wx, wy, wx + step, wy + step * 1.1], fill=win)
    for _ in range(int(rng.integers(0, 4))):  # banners and flags with stripes
        w, h = rng.uniform(0.1, 0.5) * width, rng.uniform(0.03, 0.15) * height
        x, y = rng.uniform(0, 1) * width - w / 2, rng.uniform(0, 1) * height - h / 2
        ca, cb = _jitter(rng, pal[rng.integers(len(pal))], 40), _jitter(rng, pal[rng.integers(len(pal))], 40)
        stripe = rng.uniform(0.01, 0.04) * width
        for k, sx in enumerate(np.arange(x, x + w, stripe)):
            draw.rectangle([sx, y, sx + stripe, y + h], fill=ca if k % 2 else cb)
    for _ in range(int(rng.integers(0, 4))):  # signs with text-like marks
        w, h = rng.uniform(0.05, 0.2) * width, rng.uniform(0.03, 0.08) * width
        x, y = rng.uniform(0, 1) * width, rng.uniform(0, 1) * height
        draw.rectangle([x, y, x + w, y + h], fill=_jitter(rng, (235, 235, 225), 20))
        ink = _jitter(rng, (30, 30, 40), 20)
        for lx in np.arange(x + 0.1 * h, x + w - 0.3 * h, 0.45 * h):
            if rng.random() < 0.85:
                draw.rectangle([lx, y + 0.3 * h, lx + 0.3 * h, y + 0.7 * h], fill=ink)
    for _ in range(int(rng.integers(3, 15))):  # poles, wires, edges
        x1, y1, x2, y2 = rng.uniform(0, 1, 4) * (width, height, width, height)
        draw.line([x1, y1, x2, y2], fill=_jitter(rng, pal[rng.integers(len(pal))], 40), width=int(rng.integers(1, 5)))
    for _ in range(int(rng.integers(3, 12))):  # polygons: roofs, bunting, tents
        cx, cy = rng.uniform(0, 1) * width, rng.uniform(0, 1) * height
        r = rng.uniform(0.01, 0.12) * width
        pts = [(cx + r * math.cos(t), cy + r * math.sin(t)) for t in np.sort(rng.uniform(0, 2 * np.pi, 5))]
        draw.polygon(pts, fill=_jitter(rng, pal[rng.integers(len(pal))], 40))
    n_blobs = int(rng.integers(10, 40) * area / 200_000) + 5  # foliage, stones, lamps, balloons
    for _ in range(n_blobs):
        cx, cy = rng.uniform(0, 1) * width, rng.uniform(0, 1) * height
        rx = rng.lognormal(np.log(0.01 * width), 0.7)
        ry = rx * rng.uniform(0.5, 1.5)
        draw.ellipse([cx - rx, cy - ry, cx + rx, cy + ry], fill=_jitter(rng, pal[rng.integers(len(pal))], 50))
    return img


def _draw_distractors(rng: np.random.Generator, img: Image.Image, scene: Scene) -> None:
    """Face-like things that are NOT faces, at the sizes of the image's faces (or WIDER-like ones)."""
    draw = ImageDraw.Draw(img)
    width, height = scene.width, scene.height
    n = int(rng.integers(3, 12)) + len(scene.boxes) // 4
    if len(scene.boxes):
        sizes = scene.scales[rng.integers(0, len(scene.boxes), size=n)] * rng.uniform(0.6, 1.6, size=n)
    else:
        sizes = rng.lognormal(np.log(0.03 * width), 0.8, size=n)
    kinds = rng.choice(7, size=n, p=[0.22, 0.16, 0.2, 0.1, 0.1, 0.1, 0.12])
    for kind, s in zip(kinds, sizes):
        a, b = s * 0.45, s * 0.56
        cx, cy = rng.uniform(0, 1) * width, rng.uniform(0.05, 0.95) * height
        skin = tuple(int(v) for v in _skin_colors(rng, 1)[0])
        other = _jitter(rng, PALETTES["5--Market"][rng.integers(6)], 60)
        dark = _jitter(rng, (30, 25, 25), 10)
        if kind == 0:  # bare skin: a hand, an arm, a knee
            draw.ellipse([cx - a, cy - b * rng.uniform(0.6, 1.4), cx + a, cy + b], fill=skin)
        elif kind == 1:  # a round object with two dots: button, ball, plate
            draw.ellipse([cx - a, cy - a, cx + a, cy + a], fill=other)
            for sx in (-0.35, 0.35):
                d = max(0.12 * a, 0.4)
                draw.ellipse([cx + sx * a - d, cy - 0.2 * a - d, cx + sx * a + d, cy - 0.2 * a + d], fill=dark)
        elif kind == 2:  # the back of a head on shoulders: hair, ears, no face
            hair = tuple(int(v) for v in HAIR_COLORS[rng.choice(len(HAIR_COLORS), p=HAIR_P)])
            draw.rounded_rectangle([cx - 1.9 * a, cy + 1.4 * b, cx + 1.9 * a, cy + 4 * b], radius=a, fill=other)
            for sx in (-1, 1):
                draw.ellipse([cx + sx * a - 0.25 * a, cy - 0.1 * b, cx + sx * a + 0.25 * a, cy + 0.4 * b], fill=skin)
            draw.ellipse([cx - a, cy - 1.2 * b, cx + a, cy + 1.05 * b], fill=hair)
        elif kind == 3:  # a clock or a wheel
            rim = max(1, int(0.15 * a))
            draw.ellipse([cx - a, cy - a, cx + a, cy + a], fill=(235, 235, 230), outline=dark, width=rim)
            draw.line([cx, cy, cx + 0.6 * a, cy - 0.3 * a], fill=dark, width=max(1, int(0.08 * a)))
            draw.line([cx, cy, cx - 0.1 * a, cy + 0.7 * a], fill=dark, width=max(1, int(0.08 * a)))
        elif kind == 4:  # an eye-like pair on the background (an animal, two lamps)
            for sx in (-0.4, 0.4):
                ex = cx + sx * a
                draw.ellipse([ex - 0.18 * a, cy - 0.1 * a, ex + 0.18 * a, cy + 0.1 * a], fill=(240, 240, 235))
                d = max(0.08 * a, 0.4)
                draw.ellipse([cx + sx * a - d, cy - d, cx + sx * a + d, cy + d], fill=dark)
        elif kind == 5:  # a skin-coloured oval with blobs in the wrong places
            draw.ellipse([cx - a, cy - b, cx + a, cy + b], fill=skin)
            for _ in range(int(rng.integers(2, 6))):
                px, py = cx + rng.uniform(-0.6, 0.6) * a, cy + rng.uniform(-0.7, 0.7) * b
                d = max(rng.uniform(0.06, 0.16) * a, 0.4)
                draw.ellipse([px - d, py - d, px + d, py + d], fill=_jitter(rng, (70, 50, 40), 30))
        else:  # a balloon or a lamp: a plain oval of any colour
            draw.ellipse([cx - a, cy - b, cx + a, cy + b], fill=other)


def _draw_body(draw: ImageDraw.ImageDraw, scene: Scene, i: int) -> None:
    """Shoulders and chest below face i (inside :func:`_body_rect`'s rectangle)."""
    x, y, w, h = scene.boxes[i]
    cx = x + w / 2
    shirt = tuple(int(v) for v in scene.shirt[i])
    radius = max(0.55 * w, 0.5)
    draw.rounded_rectangle([cx - 1.15 * w, y + 1.2 * h, cx + 1.15 * w, y + 3.2 * h], radius=radius, fill=shirt)


def _render_head(scene: Scene, i: int) -> tuple[Image.Image, tuple[int, int]]:
    """RGBA patch of head i (hair, ears, neck, face, features, accessories; roll, blur, light) and its
    top-left corner in the image. Drawn at a higher resolution and downsampled, so tiny faces are the
    average of a real face drawing, not a single dot."""
    x, y, w, h = scene.boxes[i]
    a, b = scene.axes[i]
    cx, cy = x + w / 2, y + h / 2
    radius = 2.05 * max(a, b)  # room for a hat above and the neck below
    x0, y0 = math.floor(cx - radius), math.floor(cy - radius)
    pw, ph = math.ceil(cx + radius) - x0, math.ceil(cy + radius) - y0
    k = int(np.clip(math.ceil(24.0 / b), 1, 16))
    skin = tuple(int(v) for v in scene.skin[i])
    img = Image.new("RGBA", (pw * k, ph * k), (*skin, 0))  # transparent skin: no dark fringe when blurred
    _draw_face(ImageDraw.Draw(img), scene, i, X=(cx - x0) * k, Y=(cy - y0) * k, A=a * k, B=b * k)
    if abs(scene.roll[i]) > 2.0:
        img = img.rotate(float(scene.roll[i]), resample=Image.BILINEAR, center=((cx - x0) * k, (cy - y0) * k))
    if scene.blur_sigma[i] > 0:
        img = img.filter(ImageFilter.GaussianBlur(radius=float(scene.blur_sigma[i]) * k))
    img = img.resize((pw, ph), Image.BOX)
    arr = np.asarray(img).astype(np.float32)
    arr[..., :3] *= _light_map(scene.light[i], pw, ph)[..., None]
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)), (x0, y0)


def _light_map(light: np.ndarray, width: int, height: int) -> np.ndarray:
    """(height, width) gain: light = (gain, angle, strength); a linear gradient across the patch."""
    gain, angle, strength = light
    proj = (2 * _ramp(width, height, angle) - 1) * 2  # -1..1 over the middle half of the patch
    return np.float32(gain) * np.clip(1.0 + np.float32(strength) * np.clip(proj, -1, 1), 0.05, None)


def _ramp(width: int, height: int, angle: float) -> np.ndarray:
    """(height, width) float32 from 0 to 1 along the direction ``angle`` (radians)."""
    x = np.arange(width, dtype=np.float32) * np.float32(math.cos(angle))
    y = np.arange(height, dtype=np.float32) * np.float32(math.sin(angle))
    g = y[:, None] + x[None, :]
    lo, hi = float(g.min()), float(g.max())
    return (g - lo) / max(hi - lo, 1e-6)


def _scaled(color, f: float) -> tuple[int, int, int]:
    return tuple(int(min(255, max(0, c * f))) for c in color)


def _draw_face(d: ImageDraw.ImageDraw, scene: Scene, i: int, X: float, Y: float, A: float, B: float) -> None:
    """Draw head i centred at (X, Y) with face semi-axes (A, B), in patch pixels.

    Coordinates (u, v) are in units of the semi-axes, u right, v down. Yaw turns the features on a
    cylinder: a feature at angle alpha on the head sits at u = sin(alpha) and shows if cos(alpha) > 0.
    """
    skin = tuple(int(v) for v in scene.skin[i])
    hair = tuple(int(v) for v in scene.hair[i])
    style, accessory, mouth = int(scene.hair_style[i]), int(scene.accessory[i]), int(scene.mouth[i])
    psi = math.asin(float(np.clip(scene.yaw[i], -1, 1)))
    down = 0.22 if scene.look_down[i] else 0.0
    line = max(1, round(0.06 * B))

    def pt(u, v):
        return (X + u * A, Y + v * B)

    def box(u, v, ru, rv):
        return [*pt(u - ru, v - rv), *pt(u + ru, v + rv)]

    if style == 2:  # long hair, behind the head
        d.rounded_rectangle([X - 1.2 * A, Y - 1.3 * B, X + 1.2 * A, Y + 1.1 * B], radius=A, fill=hair)
    d.rectangle([X - 0.33 * A, Y + 0.5 * B, X + 0.33 * A, Y + 1.9 * B], fill=_scaled(skin, 0.9))  # neck
    for side in (-1, 1):  # ears at alpha = psi -+ 90 degrees
        if -side * math.sin(psi) > -0.4:
            u = side * 0.97 * math.cos(psi) - 0.2 * math.sin(psi)
            d.ellipse(box(u, 0.05 + down / 2, 0.14, 0.24), fill=_scaled(skin, 0.9))
    if style != 0:
        d.ellipse(box(0, -0.18, 1.02, 1.12), fill=hair)  # skull
    d.ellipse(box(0, 0, 1, 1), fill=skin)  # the face: the annotated box
    if style != 0:  # fringe down to the hairline
        d.chord(box(0, -0.18, 1.02, 1.12), 185 if down else 200, 355 if down else 340, fill=hair)
    if scene.beard[i]:
        d.chord(box(0, 0, 1, 1), 15, 165, fill=hair)

    eye_v = -0.12 + down
    eyes = []
    for side in (-1, 1):
        alpha = psi + side * 0.42
        if math.cos(alpha) > 0.15:
            eyes.append((0.95 * math.sin(alpha), math.cos(alpha)))
    brow = _scaled(hair, 0.8) if style != 0 else (60, 45, 35)
    for u, c in eyes:
        if scene.look_down[i]:  # eyelids down
            d.line([pt(u - 0.15 * c, eye_v), pt(u + 0.15 * c, eye_v)], fill=(50, 35, 30), width=line)
        else:
            d.ellipse(box(u, eye_v, 0.17 * c, 0.09), fill=(245, 245, 240))
            d.ellipse(box(u + 0.04 * math.sin(psi), eye_v, 0.08 * c, 0.08), fill=(45, 35, 30))
        d.line([pt(u - 0.2 * c, eye_v - 0.2), pt(u + 0.2 * c, eye_v - 0.23)], fill=brow, width=line)

    nose_u = 0.98 * math.sin(psi)
    tip = nose_u + 0.16 * math.sin(psi)
    d.polygon(
        [pt(nose_u, -0.05 + down), pt(tip, 0.26 + down), pt(nose_u - 0.1 * math.cos(psi), 0.3 + down)],
        fill=_scaled(skin, 0.8),
    )
    if abs(math.sin(psi)) > 0.7:  # profile: the nose stands out of the outline
        d.polygon(
            [pt(0.9 * nose_u, -0.05 + down), pt(1.15 * tip, 0.24 + down), pt(0.9 * nose_u, 0.32 + down)],
            fill=skin,
        )

    mu, mv, mw = 0.85 * math.sin(psi), 0.55 + down * 0.6, 0.3 * math.cos(psi) + 0.05
    lips = (int(skin[0] * 0.7), int(skin[1] * 0.42), int(skin[2] * 0.45))
    if mouth == 0:
        d.line([pt(mu - mw, mv), pt(mu + mw, mv)], fill=lips, width=line)
    elif mouth == 1:
        d.arc(box(mu, mv - 0.12, mw, 0.15), 20, 160, fill=lips, width=line)
    elif mouth == 2:  # exaggerated: a wide open "O"
        d.ellipse(box(mu, mv, 0.5 * mw + 0.05, 0.22), fill=(60, 20, 25))
    else:  # exaggerated: a laugh with teeth
        d.chord(box(mu, mv - 0.12, mw * 1.2, 0.32), 0, 180, fill=(60, 20, 25))
        d.rectangle([pt(mu - mw, mv - 0.12), pt(mu + mw, mv - 0.02)], fill=(240, 240, 230))

    if accessory == 1:  # glasses: see-through rings
        for u, c in eyes:
            d.ellipse(box(u, eye_v, 0.27 * c, 0.16), outline=(30, 30, 30), width=line)
        if len(eyes) == 2:
            (u0, c0), (u1, c1) = eyes
            d.line([pt(u0 + 0.27 * c0, eye_v), pt(u1 - 0.27 * c1, eye_v)], fill=(30, 30, 30), width=line)
    elif accessory == 2:  # sunglasses: the two lenses of _ACCESSORY_COVER
        for u in (-0.38, 0.38):
            d.ellipse(box(u + 0.3 * math.sin(psi), -0.12, 0.32, 0.2), fill=(15, 15, 20))
        shift = 0.3 * math.sin(psi)
        d.line([pt(shift - 0.1, -0.15), pt(shift + 0.1, -0.15)], fill=(15, 15, 20), width=line)
    elif accessory == 3:  # mask: the face below v = 0.05
        color = (210, 225, 235) if (i % 3) else (40, 40, 45)
        d.chord(box(0, 0, 1.02, 1.02), 3, 177, fill=color)
        d.line([X - 1.0 * A, Y + 0.1 * B, X - 0.85 * A, Y - 0.1 * B], fill=color, width=line)
        d.line([X + 1.0 * A, Y + 0.1 * B, X + 0.85 * A, Y - 0.1 * B], fill=color, width=line)
    elif accessory in (4, 5):  # hat: brim above the face (4) or over the brows (5)
        color = _scaled(hair, 0.6) if (i % 2) else tuple(int(v) for v in scene.shirt[i][[2, 0, 1]])
        brim = -1.02 if accessory == 4 else -0.62
        d.rectangle([X - 0.9 * A, Y + (brim - 0.95) * B, X + 0.9 * A, Y + brim * B], fill=color)
        d.ellipse(box(0, brim, 1.3, 0.1), fill=color)


def _draw_occluder(draw: ImageDraw.ImageDraw, rng: np.random.Generator, rect: np.ndarray, color: np.ndarray) -> None:
    """An object in front of a face (sign, bag, hand, another head's hat): the planned rectangle."""
    fill = tuple(int(v) for v in color)
    if rng.random() < 0.3:  # some are skin: a hand or an arm in front
        fill = tuple(int(v) for v in _skin_colors(rng, 1)[0])
    draw.rectangle([float(v) for v in rect], fill=fill)


def _finish(rng: np.random.Generator, img: Image.Image, gain: float) -> Image.Image:
    """Image lighting (a mild gradient, or dim with a colour cast) and sensor noise."""
    arr = np.asarray(img)
    h, w = arr.shape[:2]
    light = _light_map(np.array([gain, rng.uniform(0, 2 * np.pi), rng.uniform(0.0, 0.15)]), w, h)
    cast = np.ones(3) if gain >= 0.45 else rng.uniform(0.7, 1.2, size=3)
    sd = np.float32(rng.uniform(1.5, 6.0))
    channels = []
    for c in range(3):  # per channel, as in _background
        out = arr[..., c] * (light * np.float32(cast[c]))
        out += rng.standard_normal(size=(h, w), dtype=np.float32) * sd
        channels.append(np.clip(out, 0, 255).astype(np.uint8))
    return Image.fromarray(np.stack(channels, axis=-1))


# ----------------------------------------------------------------------------------------------------
# Writing a benchmark
# ----------------------------------------------------------------------------------------------------


def to_wider_image(scene: Scene):
    """The annotation of a scene as a :class:`gslib.data.wider.WiderImage`."""
    from gslib.data.wider import WiderImage

    return WiderImage(scene.name, scene.boxes.copy(), scene.attributes.copy())


def write_split(out_dir: Path, split: str, scenes: list[Scene], annotations_only: bool = False,
                jpeg_quality: int = 90, progress: bool = True) -> dict:
    """Write one split in WIDER FACE's layout (images, txt, COCO JSON; for val the four .mat files).

    Returns the split's counts for the manifest.
    """
    from gslib.data.coco import write_coco_json
    from gslib.data.wider import write_wider_mat, write_wider_txt

    out_dir = Path(out_dir)
    images = [to_wider_image(s) for s in scenes]
    if not annotations_only:
        from tqdm.auto import tqdm

        root = out_dir / f"WIDER_{split}" / "images"
        for scene in tqdm(scenes, desc=f"synthwider {split}", unit="img", disable=not progress):
            path = root / scene.name
            path.parent.mkdir(parents=True, exist_ok=True)
            render_scene(scene).save(path, format="JPEG", quality=jpeg_quality)
    (out_dir / "wider_face_split").mkdir(parents=True, exist_ok=True)
    write_wider_txt(out_dir / "wider_face_split" / f"wider_face_{split}_bbx_gt.txt", images)
    write_coco_json(out_dir / "annotations" / f"instances_{split}.json", images, [(s.width, s.height) for s in scenes])
    boxes = sum(len(s.boxes) for s in scenes)
    counts = {
        "images": len(scenes),
        "boxes": boxes,
        "invalid": int(sum(int(s.attributes[:, 3].sum()) for s in scenes)),
        "faces_per_image_max": int(max((len(s.boxes) for s in scenes), default=0)),
    }
    if split == "val":
        subsets = {k: [] for k in SUBSET_THRESHOLDS}
        for s in scenes:
            for k, index in subset_indices(s.boxes, s.attributes, s.width).items():
                subsets[k].append(index)
        # The official files are event-major; keep every image with its subset lists.
        order = sorted(range(len(images)), key=lambda k: (images[k].event, k))
        gt_dir = out_dir / "eval_tools" / "ground_truth"
        write_wider_mat(gt_dir, [images[k] for k in order], {k: [v[j] for j in order] for k, v in subsets.items()})
        for path in sorted(gt_dir.glob("*.mat")):
            _fix_mat_header(path)
        counts["subsets"] = {k: int(sum(len(v) for v in lists)) for k, lists in subsets.items()}
    return counts


def _fix_mat_header(path: Path) -> None:
    """Replace the creation time scipy writes into a MAT file's 116-byte text header by a fixed text,
    so that one seed gives byte-identical files (the header is free text; readers ignore it)."""
    text = b"MATLAB 5.0 MAT-file, written by gslib.data.synth"
    with open(path, "r+b") as f:
        head = f.read(116)
        if head.startswith(b"MATLAB 5.0 MAT-file"):
            f.seek(0)
            f.write(text.ljust(116, b" "))


def generate(out_dir, profile: Profile = DEFAULT, stats_path=None, num_train: int | None = None,
             num_val: int | None = None, annotations_only: bool = False, seed: int | None = None,
             progress: bool = True) -> dict:
    """Generate the benchmark into ``out_dir`` (layout in the module docstring) and return the manifest.

    num_train, num_val, seed override the profile's; 0 images skips a split. ``annotations_only`` writes
    every annotation file but no image (fast: used to time the evaluator on a full-size val set).
    """
    start = time.perf_counter()
    overrides = {k: v for k, v in (("num_train", num_train), ("num_val", num_val), ("seed", seed)) if v is not None}
    profile = dataclasses.replace(profile, **overrides)
    stats = load_wider_stats(stats_path)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    splits = {}
    for split, num in (("train", profile.num_train), ("val", profile.num_val)):
        if num <= 0:
            continue
        t0 = time.perf_counter()
        scenes = plan_split(profile, split, num, stats)
        splits[split] = write_split(out_dir, split, scenes, annotations_only, profile.jpeg_quality, progress)
        splits[split]["seconds"] = round(time.perf_counter() - t0, 2)
    manifest = {
        "generator": "gslib.data.synth",
        "version": GENERATOR_VERSION,
        "profile": dataclasses.asdict(profile),
        "seed": profile.seed,
        "annotations_only": annotations_only,
        "scale_factor": profile.image_width / WIDER_IMAGE_WIDTH,
        "statistics": {"file": Path(stats_path or DEFAULT_STATS_PATH).name, "source": stats.get("source")},
        "subset_rule": {
            "thresholds": SUBSET_THRESHOLDS,
            "blur_factor": SUBSET_BLUR_FACTOR.tolist(),
            "occlusion_factor": SUBSET_OCCLUSION_FACTOR.tolist(),
            "illumination_factor": 0.85,
            "pose_factor": 0.85,
        },
        "splits": splits,
        "seconds": round(time.perf_counter() - start, 2),
    }
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


# ----------------------------------------------------------------------------------------------------
# Comparison with WIDER FACE
# ----------------------------------------------------------------------------------------------------

QUANTILE_PERCENTILES = (1, 5, 10, 25, 50, 75, 90, 95, 99)


def _scales_1024(images, image_width: int) -> np.ndarray:
    """(N,) face scales of records with ``.boxes`` (x y w h), in WIDER's 1024-px units."""
    boxes = np.concatenate([np.asarray(im.boxes, dtype=np.float64).reshape(-1, 4) for im in images])
    return np.sqrt(boxes[:, 2] * boxes[:, 3]) * WIDER_IMAGE_WIDTH / image_width


def scale_quantiles(images, image_width: int, stats: dict | None = None):
    """Generated vs WIDER FACE val face-scale percentiles (sqrt(w h), in WIDER's 1024-px units).

    images: records with ``.boxes`` (WiderImage or Scene); image_width: the width they were generated at
    (the rescale is undone). Returns a pandas DataFrame indexed by percentile with columns
    ``generated``, ``wider`` and ``ratio`` (generated / wider).
    """
    import pandas as pd

    stats = stats if stats is not None else load_wider_stats()
    generated = np.percentile(_scales_1024(images, image_width), QUANTILE_PERCENTILES)
    wider = np.array([float(stats["scale_sqrt_wh_percentiles"][str(p)]) for p in QUANTILE_PERCENTILES])
    table = pd.DataFrame({"generated": generated.round(2), "wider": wider, "ratio": (generated / wider).round(3)},
                         index=pd.Index(QUANTILE_PERCENTILES, name="percentile"))
    return table


def plot_scale_comparison(images, image_width: int, stats: dict | None = None):
    """Figure: share of faces per WIDER scale bin (bars) and the CDF on a log axis, generated vs WIDER.

    Scales are in WIDER's 1024-px units (the generated ones divided by ``image_width / 1024``).
    """
    import matplotlib.pyplot as plt

    stats = stats if stats is not None else load_wider_stats()
    scales = _scales_1024(images, image_width)
    labels = list(stats["scale_share_by_bin"])
    edges = [0.0] + [float(k.split("-")[1]) for k in labels]
    edges[-1] = np.inf
    generated = np.histogram(scales, bins=edges)[0] / max(len(scales), 1)
    wider = np.array([stats["scale_share_by_bin"][k] for k in labels])

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    pos = np.arange(len(labels))
    ax1.bar(pos - 0.2, wider, width=0.4, label="WIDER FACE val")
    ax1.bar(pos + 0.2, generated, width=0.4, label=f"generated ({len(scales):,} faces)")
    ax1.set_xticks(pos, [k.replace("-100000", "+") for k in labels], rotation=30)
    ax1.set_xlabel("face scale sqrt(wh), 1024-px units")
    ax1.set_ylabel("share of faces")
    ax1.legend()

    cdf, knots = scale_cdf_knots(stats)
    ax2.plot(np.sort(scales), (np.arange(len(scales)) + 0.5) / max(len(scales), 1), label="generated")
    ax2.plot(knots, cdf, "o--", ms=4, label="WIDER FACE val (percentiles, bin shares)")
    ax2.set_xscale("log")
    ax2.set_xlabel("face scale sqrt(wh), 1024-px units (log)")
    ax2.set_ylabel("cumulative share of faces")
    ax2.legend()
    fig.suptitle(f"Face scales: generated benchmark (at {image_width} px, rescaled) vs WIDER FACE val")
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------------------------------
# Command line
# ----------------------------------------------------------------------------------------------------


def benchmark_dir(profile: Profile) -> Path:
    """Where a profile's benchmark lives: data/synthwider (default), data/synthwider-<name> otherwise."""
    return DATA / ("synthwider" if profile.name == "default" else f"synthwider-{profile.name}")


def ensure(profile: Profile = DEFAULT, out_dir=None, progress: bool = True) -> Path:
    """The profile's benchmark folder, generated first if it is missing or was made with other settings."""
    out_dir = Path(out_dir) if out_dir is not None else benchmark_dir(profile)
    manifest = out_dir / "manifest.json"
    if manifest.is_file():
        made = json.loads(manifest.read_text())
        if (made.get("profile") == dataclasses.asdict(profile) and made.get("version") == GENERATOR_VERSION
                and not made.get("annotations_only")):
            return out_dir
    generate(out_dir, profile, progress=progress)
    return out_dir


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m gslib.data.synth",
        description="Generate the embedded WIDER-FACE-like benchmark (deterministic from the profile's seed).",
    )
    parser.add_argument("--profile", choices=sorted(PROFILES), default="default")
    parser.add_argument("--out", default="data/synthwider", help="output folder (default: data/synthwider)")
    parser.add_argument("--stats", default=None, help=f"wider_val_statistics.json (default: {DEFAULT_STATS_PATH})")
    parser.add_argument("--num-train", type=int, default=None, help="override the profile's train images")
    parser.add_argument("--num-val", type=int, default=None, help="override the profile's val images")
    parser.add_argument("--seed", type=int, default=None, help="override the profile's seed")
    parser.add_argument("--annotations-only", action="store_true", help="write annotations but no images")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--ensure", action="store_true",
                        help="generate only if OUT is missing or was made with other settings (make data)")
    args = parser.parse_args(argv)
    if args.ensure:
        if any(v is not None for v in (args.num_train, args.num_val, args.seed)) or args.annotations_only:
            parser.error("--ensure regenerates the profile as it is: no overrides")
        try:
            out = ensure(PROFILES[args.profile], args.out, progress=not args.quiet)
        except FileNotFoundError as e:
            parser.exit(1, f"error: {e}\n")
        print(f"{out}: up to date ({args.profile} profile)")
        return 0
    try:
        manifest = generate(args.out, PROFILES[args.profile], args.stats, args.num_train, args.num_val,
                            args.annotations_only, args.seed, progress=not args.quiet)
    except FileNotFoundError as e:
        parser.exit(1, f"error: {e}\n")
    for split, counts in manifest["splits"].items():
        print(f"{split}: {counts}")
    print(f"wrote {args.out} in {manifest['seconds']:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
