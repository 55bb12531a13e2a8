"""Scene planning: the boxes, attributes and render parameters of every image of a split, without pixels
(steps 1-4 of :mod:`gslib.data.synth`)."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from gslib.data.synth.occlusion import (
    _ACCESSORY_COVER,
    _occluder_rect,
    _occlusion_labels,
    _place_faces,
    _union_cover,
)
from gslib.data.synth.profiles import Profile
from gslib.data.synth.wider_stats import (
    BLUR_BY_BIN,
    EXPRESSION_BY_BIN,
    ILLUMINATION_BY_BIN,
    IMAGE_ASPECT_P,
    IMAGE_ASPECTS,
    INVALID_BY_BIN,
    OCCLUSION_BY_BIN,
    POSE_BY_BIN,
    WIDER_IMAGE_WIDTH,
    assign_scales,
    sample_faces_per_image,
    scale_bin,
    wider_aspect_quantile,
)

SPLIT_CODES = {"train": 1, "val": 2}  # part of every seed, so the splits are independent draws

EVENTS = ("0--Street", "1--Parade", "2--Hall", "3--Park", "4--Stage", "5--Market")


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


# Appearance of the people: the plan draws their colours; the renderer reuses the palettes for distractors.
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
