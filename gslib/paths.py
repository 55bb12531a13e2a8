"""Where things live: the repository, its data/ and results/, and the shared WIDER FACE annotations.

Notebooks run with papermill from any working directory; they find everything through these paths.
"""
from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "data"
# The study's shared folder sits beside the repository when there is one (the WIDER FACE annotations,
# without images, and the measured statistics of WIDER FACE val).
SHARED = REPO.parent / "shared"
WIDER_STATS = SHARED / "wider_val_statistics.json"
RESULTS = REPO / "results"  # the committed results (see results_dir)


def results_dir(profile: str) -> Path:
    """results/ for the default and paper profiles; results/smoke/ (git-ignored) for CI's smoke runs,
    so a test run never overwrites the numbers of a real one.

    $GSLIB_RESULTS, when set, replaces results/ as the root (``make reproduce FRESH=1`` sets it to
    results/fresh/, git-ignored: a retrain from scratch never writes over the committed results)."""
    root = Path(os.environ.get("GSLIB_RESULTS") or RESULTS)
    return root / "smoke" if profile == "smoke" else root


def wider_annotations(path: str | os.PathLike | None = None) -> Path | None:
    """The WIDER FACE annotation folder (holding ``wider_face_split/`` and ``image_sizes.csv``), or None.

    ``path`` if given, else $GSLIB_WIDER_ANNOTATIONS, else ``data/widerface``, else ``../shared/widerface``.
    """
    candidates = [path, os.environ.get("GSLIB_WIDER_ANNOTATIONS"), DATA / "widerface", SHARED / "widerface"]
    for c in candidates:
        if c and (Path(c) / "wider_face_split").is_dir():
            return Path(c)
    return None
