"""Occlusion geometry: what hides a face (nearer heads and bodies, accessories, objects in front), measured
on points of the face disk so that labels do not depend on pixels, and the placement of faces within an
allowance of cover (steps 3-4 of :mod:`gslib.data.synth`)."""
from __future__ import annotations

import numpy as np

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
