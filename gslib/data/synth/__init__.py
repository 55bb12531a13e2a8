"""SynthWIDER: the embedded face detection benchmark, generated deterministically from a seed.

No public face dataset can be downloaded on the study's machines, so the ``default`` profile runs on
this generated stand-in for WIDER FACE. It is faithful on the axis the paper is about, the distribution
of face scales, and written in WIDER FACE's own formats so that the same readers and evaluators serve it
and the real dataset::

    OUT/WIDER_train/images/<event>/<name>.jpg        OUT/WIDER_val/images/<event>/<name>.jpg
    OUT/wider_face_split/wider_face_{train,val}_bbx_gt.txt
    OUT/eval_tools/ground_truth/wider_face_val.mat, wider_{easy,medium,hard}_val.mat
    OUT/annotations/instances_{train,val}.json      (COCO, one category "face")
    OUT/manifest.json                               (profile, seed, counts, version, seconds taken, digest
                                                     of every other file: files_digest)

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

Files: ``wider_stats`` (the model of WIDER FACE val: inverse CDFs of scale and aspect, faces per image,
per-bin attribute shares), ``profiles`` (:class:`Profile`, ``SMOKE``, ``DEFAULT``), ``plan`` (scenes
without pixels: steps 1-4), ``occlusion`` (what covers a face, on the face disk's points; placing faces
within a cover allowance), ``subsets`` (the easy / medium / hard rule), ``render`` (pixels: step 5),
``write`` (the files, :func:`generate`, :func:`ensure`), ``compare`` (scales against WIDER's), ``cli``
(``python -m gslib.data.synth``).
"""
from gslib.data.synth.cli import main
from gslib.data.synth.compare import QUANTILE_PERCENTILES, plot_scale_comparison, scale_quantiles
from gslib.data.synth.occlusion import _occlusion_labels
from gslib.data.synth.plan import EVENTS, Scene, plan_scene, plan_split
from gslib.data.synth.profiles import DEFAULT, PROFILES, SMOKE, Profile
from gslib.data.synth.render import render_scene
from gslib.data.synth.subsets import SUBSET_THRESHOLDS, effective_scale, subset_indices
from gslib.data.synth.wider_stats import (
    DEFAULT_STATS_PATH,
    WIDER_IMAGE_WIDTH,
    load_wider_stats,
    wider_aspect_quantile,
    wider_scale_quantile,
)
from gslib.data.synth.write import (
    GENERATOR_VERSION,
    MANIFEST,
    benchmark_dir,
    ensure,
    files_digest,
    generate,
    write_split,
)

__all__ = [
    "DEFAULT",
    "DEFAULT_STATS_PATH",
    "EVENTS",
    "GENERATOR_VERSION",
    "MANIFEST",
    "PROFILES",
    "QUANTILE_PERCENTILES",
    "SMOKE",
    "SUBSET_THRESHOLDS",
    "WIDER_IMAGE_WIDTH",
    "Profile",
    "Scene",
    "_occlusion_labels",  # tests/test_synth.py checks the plan's labels with it
    "benchmark_dir",
    "effective_scale",
    "ensure",
    "files_digest",
    "generate",
    "load_wider_stats",
    "main",
    "plan_scene",
    "plan_split",
    "plot_scale_comparison",
    "render_scene",
    "scale_quantiles",
    "subset_indices",
    "wider_aspect_quantile",
    "wider_scale_quantile",
    "write_split",
]
