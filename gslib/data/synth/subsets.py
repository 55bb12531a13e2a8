"""Easy / medium / hard of the generated val set: the effective-scale rule of :mod:`gslib.data.synth`."""
from __future__ import annotations

import numpy as np

from gslib.data.synth.wider_stats import WIDER_IMAGE_WIDTH

# Easy / medium / hard rule (see gslib.data.synth's docstring).
SUBSET_BLUR_FACTOR = np.array([1.0, 0.9, 0.75])
SUBSET_OCCLUSION_FACTOR = np.array([1.0, 0.8, 0.6])
SUBSET_ILLUMINATION_FACTOR = 0.85  # extreme illumination
SUBSET_POSE_FACTOR = 0.85  # atypical pose
SUBSET_THRESHOLDS = {"easy": 37.4, "medium": 19.4, "hard": 5.4}


def effective_scale(scales_1024: np.ndarray, attributes: np.ndarray) -> np.ndarray:
    """The subset rule's difficulty-discounted scale. scales_1024: (N,), attributes: (N, 6) -> (N,)."""
    blur, _, illumination, _, occlusion, pose = attributes.T
    return (
        scales_1024
        * SUBSET_BLUR_FACTOR[blur]
        * SUBSET_OCCLUSION_FACTOR[occlusion]
        * np.where(illumination == 1, SUBSET_ILLUMINATION_FACTOR, 1.0)
        * np.where(pose == 1, SUBSET_POSE_FACTOR, 1.0)
    )


def subset_indices(boxes: np.ndarray, attributes: np.ndarray, image_width: int) -> dict[str, np.ndarray]:
    """0-based indices of the boxes in each of easy / medium / hard (nested). boxes: (N, 4) x y w h."""
    scales_1024 = np.sqrt(boxes[:, 2] * boxes[:, 3]) * WIDER_IMAGE_WIDTH / image_width
    eff = effective_scale(scales_1024, attributes)
    valid = attributes[:, 3] == 0
    return {k: np.flatnonzero(valid & (eff >= t)).astype(np.int64) for k, t in SUBSET_THRESHOLDS.items()}
