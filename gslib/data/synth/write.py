"""Writing a benchmark in WIDER FACE's formats (images, txt, .mat, COCO JSON, manifest), and finding one
that is up to date."""
from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

from tqdm.auto import tqdm

from gslib.data.coco import write_coco_json
from gslib.data.synth.plan import Scene, plan_split
from gslib.data.synth.profiles import DEFAULT, Profile
from gslib.data.synth.render import render_scene
from gslib.data.synth.subsets import (
    SUBSET_BLUR_FACTOR,
    SUBSET_ILLUMINATION_FACTOR,
    SUBSET_OCCLUSION_FACTOR,
    SUBSET_POSE_FACTOR,
    SUBSET_THRESHOLDS,
    subset_indices,
)
from gslib.data.synth.wider_stats import DEFAULT_STATS_PATH, WIDER_IMAGE_WIDTH, load_wider_stats
from gslib.data.wider import WiderImage, write_wider_mat, write_wider_txt
from gslib.paths import DATA
from gslib.store import tree_digest

GENERATOR_VERSION = "1.0"
MANIFEST = "manifest.json"


def files_digest(out_dir) -> str:
    """The digest of every file of a benchmark but its manifest (:func:`gslib.store.tree_digest`): stored in
    the manifest as ``digest`` and, by gslib.train, in each run's metrics.json as ``data_digest``, so that a
    run can tell whether it was trained on the bytes this checkout holds."""
    return tree_digest(out_dir, exclude=(MANIFEST,))


def to_wider_image(scene: Scene) -> WiderImage:
    """The annotation of a scene as a :class:`gslib.data.wider.WiderImage`."""
    return WiderImage(scene.name, scene.boxes.copy(), scene.attributes.copy())


def write_split(out_dir: Path, split: str, scenes: list[Scene], annotations_only: bool = False,
                jpeg_quality: int = 90, progress: bool = True) -> dict:
    """Write one split in WIDER FACE's layout (images, txt, COCO JSON; for val the four .mat files).

    Returns the split's counts for the manifest.
    """
    out_dir = Path(out_dir)
    images = [to_wider_image(s) for s in scenes]
    if not annotations_only:
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
    """Generate the benchmark into ``out_dir`` (layout in gslib.data.synth's docstring) and return the manifest.

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
            "illumination_factor": SUBSET_ILLUMINATION_FACTOR,
            "pose_factor": SUBSET_POSE_FACTOR,
        },
        "splits": splits,
        "seconds": round(time.perf_counter() - start, 2),
        "digest": files_digest(out_dir),
    }
    (out_dir / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def benchmark_dir(profile: Profile) -> Path:
    """Where a profile's benchmark lives: data/synthwider (default), data/synthwider-<name> otherwise."""
    return DATA / ("synthwider" if profile.name == "default" else f"synthwider-{profile.name}")


def ensure(profile: Profile = DEFAULT, out_dir=None, progress: bool = True) -> Path:
    """The profile's benchmark folder, generated first if it is missing or was made with other settings."""
    out_dir = Path(out_dir) if out_dir is not None else benchmark_dir(profile)
    manifest = out_dir / MANIFEST
    if manifest.is_file():
        made = json.loads(manifest.read_text())
        if (made.get("profile") == dataclasses.asdict(profile) and made.get("version") == GENERATOR_VERSION
                and not made.get("annotations_only")):
            if "digest" not in made:  # written before manifests held one: the digest of the files as they are
                made["digest"] = files_digest(out_dir)
                manifest.write_text(json.dumps(made, indent=1) + "\n")
            return out_dir
    generate(out_dir, profile, progress=progress)
    return out_dir
