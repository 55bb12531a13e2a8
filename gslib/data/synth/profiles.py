"""Sizes of a generated benchmark: :class:`Profile` and the ``smoke`` and ``default`` profiles."""
from __future__ import annotations

from dataclasses import dataclass

from gslib.data.synth.wider_stats import WIDER_IMAGE_WIDTH


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
