"""Real, published face detectors ("peers") behind one small interface, and their evaluation by the official
WIDER FACE protocol on the real-photo sample and on SynthWIDER val.

A peer is an object with ``name`` and ``detect(image: PIL.Image RGB) -> gslib.inference.Detections``: boxes
``(K, 4)`` x1y1x2y2 in the original image's pixels, scores ``(K,)`` in [0, 1], best first; ``scales`` is the
side of the anchor behind each box for RetinaFace and :data:`NO_SCALE` for the others. Every peer runs once
per image at the image's own size (no pyramid, no flip), with a low score threshold so that the PR curve is
complete:

==================  ============================================================  ==============================
name (CLI)          what                                                          package (optional extra)
==================  ============================================================  ==============================
RetinaFace-mnet0.25 :mod:`gslib.retinaface`, ``../shared/peers/`` weights;          torch (always there)
(retinaface)        its own test: softmax > 0.02, top 5,000, NMS 0.4, 750 kept
YuNet-n (yunet)     ``../shared/peers/yunet_n_640_640.onnx`` by OpenCV's            opencv-python-headless
                    ``cv2.FaceDetectorYN`` at the image's size (OpenCV pads it);
                    score > 0.02, top 5,000, NMS 0.3 (OpenCV's default)
yuface (yuface)     libfacedetection compiled into the wheel (its own weights);     yuface==2023.5.1
                    scores are integer percent, divided by 100
MTCNN (mtcnn)       facenet-pytorch's MTCNN (its weights in the wheel), its         facenet-pytorch==2.6.0,
                    defaults: min face 20 px, stage thresholds 0.6 / 0.7 / 0.7      installed with --no-deps
==================  ============================================================  ==============================

A peer whose package is missing raises :class:`PeerUnavailable`, naming the package and its install command.

Our own detectors run as peers too (:class:`RunPeer`): a stored run directory of :mod:`gslib.study` through
:func:`gslib.train.load_trained` and :func:`gslib.inference.detect` with its profile's test settings (the
pyramid, top-k per scale, NMS), in the precision it trained in, as :func:`gslib.study.evaluate_run` tests it on
SynthWIDER val. Its ``checkpoint.pt`` is not committed: where it is not in this checkout, the run is trained
again first (:func:`gslib.train.remake_weights`, which keeps the weights only if they reproduce the run's
record). A run that is not stored is reported as unavailable, like a missing package.

Evaluation (:func:`evaluate_peer`): the peer's detections on every image of an :class:`EvalSet` are written as
an official prediction folder (5 columns) and evaluated with :func:`gslib.evaluate.wider.evaluate_wider`
against the set's four .mat files, exactly as a trained run on SynthWIDER val is (:mod:`gslib.study`). The
sets: ``real`` (:mod:`gslib.data.real_sample`: 204 WIDER FACE val photos, the official ground truth
restricted to them) and ``synthwider`` (``data/synthwider``'s val split, ``make data``). ``max_images`` keeps
that many images spread evenly over the set, with the ground truth restricted to them.

Fig. 10 (:func:`figure_record`): the boxes and scores of every detector on the set's ``figure_names`` (the 4
full-size photos of the real sample; 4 images spread over SynthWIDER val), kept while the set is evaluated, as a
small JSON that a notebook draws over the images (which cannot be committed).

CLI::

    python -m gslib.peers [--set real|synthwider] [--peers retinaface,yunet,yuface,mtcnn] [--max-images N]
                          [--ours FPN-finest-sampling [--seed 0] [--profile default]] [--figure FILE]
                          [--work DIR] [--threads 1] [--json]

prints easy / medium / hard / all AP and the seconds per image (of ``detect`` alone, image decoding excluded)
per peer, or with ``--json`` one JSON object; a peer that is not installed, or an ``--ours`` run that is not
stored, is reported as unavailable (``make peers`` says it skips it). ``--figure`` writes
the Fig. 10 record of the same detectors.
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from PIL import Image
from tqdm.auto import tqdm

from gslib import retinaface
from gslib.cli import positive_int
from gslib.data import real_sample
from gslib.data.wider import image_key, read_wider_mat, write_predictions, write_wider_mat
from gslib.evaluate.wider import evaluate_wider
from gslib.experiments import PROFILES, experiment, is_complete, read_config, run_dir
from gslib.inference import Detections, detect, to_wider_rows
from gslib.paths import DATA, REPO, SHARED
from gslib.store import default_device, write_atomic
from gslib.study import EVALUATION
from gslib.train import autocast_dtype_for, load_trained, remake_weights

YUNET = SHARED / "peers" / "yunet_n_640_640.onnx"
SYNTHWIDER = DATA / "synthwider"
NO_SCALE = -1  # Detections.scales of a peer without anchor scales
SUBSETS = ("easy", "medium", "hard", "all")
INSTALL = "pip install -e '.[peers]'"
FIGURE_IMAGES = 4  # images per set in the Fig. 10 record
FIGURE_MIN_SCORE = 0.2  # boxes kept in it: score >= this, at most FIGURE_MAX_BOXES per detector and image
FIGURE_MAX_BOXES = 300


class PeerUnavailable(RuntimeError):
    """A peer's package is not installed; the message names the package and how to install it."""


def _require(module: str, peer: str, package: str, install: str = INSTALL):
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise PeerUnavailable(f"{peer} needs the PyPI package {package} (module {module!r}), which is not "
                              f"installed: {install}") from e


def _detections(boxes: np.ndarray, scores: np.ndarray) -> Detections:
    """(K, 4) x1y1x2y2 and (K,) scores from a package -> Detections, best first, scales NO_SCALE."""
    boxes = torch.as_tensor(np.asarray(boxes, dtype=np.float32).reshape(-1, 4))
    scores = torch.as_tensor(np.asarray(scores, dtype=np.float32).reshape(-1))
    order = torch.argsort(scores, descending=True, stable=True)
    return Detections(boxes[order], scores[order], torch.full((len(order),), NO_SCALE, dtype=torch.int64))


def _bgr(image: Image.Image) -> np.ndarray:
    """PIL -> (H, W, 3) uint8 BGR, contiguous (OpenCV's and libfacedetection's layout)."""
    return np.ascontiguousarray(np.asarray(image.convert("RGB"))[:, :, ::-1])


def _xywh_to_xyxy(b: np.ndarray) -> np.ndarray:
    b = np.asarray(b, dtype=np.float32).reshape(-1, 4)
    return np.concatenate([b[:, :2], b[:, :2] + b[:, 2:]], axis=1)


class RetinaFacePeer:
    """RetinaFace-mnet0.25 with its released weights, its own single-scale test (:func:`gslib.retinaface.detect`,
    whose keyword arguments ``detect_args`` are)."""

    name = "RetinaFace-mnet0.25"

    def __init__(self, weights: str | os.PathLike = retinaface.WEIGHTS, **detect_args):
        self.model = retinaface.load_retinaface(weights)
        self.detect_args = detect_args

    def detect(self, image: Image.Image) -> Detections:
        return retinaface.detect(self.model, image.convert("RGB"), **self.detect_args)


class YuNetPeer:
    """YuNet-n (libfacedetection.train's ONNX) through OpenCV's ``cv2.FaceDetectorYN`` at each image's size."""

    name = "YuNet-n"

    def __init__(self, model: str | os.PathLike = YUNET, score_threshold: float = 0.02, nms_threshold: float = 0.3,
                 top_k: int = 5000):
        cv2 = _require("cv2", self.name, "opencv-python-headless")
        if not Path(model).is_file():
            raise FileNotFoundError(f"YuNet model not found: {model}")
        self.detector = cv2.FaceDetectorYN.create(str(model), "", (640, 640), score_threshold, nms_threshold, top_k)

    def detect(self, image: Image.Image) -> Detections:
        self.detector.setInputSize((image.width, image.height))
        _, faces = self.detector.detect(_bgr(image))
        faces = np.zeros((0, 15), np.float32) if faces is None else faces  # x y w h, 5 landmarks, score
        return _detections(_xywh_to_xyxy(faces[:, :4]), faces[:, 14])


class YuFacePeer:
    """libfacedetection's detector from PyPI ``yuface``, run on the whole image (its warning that images above
    960 px may detect worse is silenced: the protocol runs every peer at the original size)."""

    name = "yuface"

    def __init__(self, score_threshold: float = 0.0):
        self.yuface = _require("yuface", self.name, "yuface==2023.5.1")
        self.score_threshold = score_threshold

    def detect(self, image: Image.Image) -> Detections:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Image size")
            confs, boxes, _ = self.yuface.detect(_bgr(image), self.score_threshold)
        return _detections(_xywh_to_xyxy(boxes), np.asarray(confs, np.float32) / 100)


class MTCNNPeer:
    """MTCNN from PyPI ``facenet-pytorch`` (every face kept), on the CPU."""

    name = "MTCNN"

    def __init__(self, min_face_size: int = 20, thresholds=(0.6, 0.7, 0.7), factor: float = 0.709):
        facenet = _require("facenet_pytorch", self.name, "facenet-pytorch==2.6.0",
                           "pip install --no-deps facenet-pytorch==2.6.0 (its own pins of torch and numpy are old)")
        self.mtcnn = facenet.MTCNN(keep_all=True, min_face_size=min_face_size, thresholds=list(thresholds),
                                   factor=factor, device="cpu")

    def detect(self, image: Image.Image) -> Detections:
        boxes, probs = self.mtcnn.detect(image.convert("RGB"))
        if boxes is None:  # facenet-pytorch's "no face": (None, [None])
            return _detections(np.zeros((0, 4)), np.zeros(0))
        return _detections(boxes, probs)


# The CLI's names of the peers.
PEERS = {"retinaface": RetinaFacePeer, "yunet": YuNetPeer, "yuface": YuFacePeer, "mtcnn": MTCNNPeer}


class RunPeer:
    """One of our trained detectors, a stored run directory, as a peer (see the module docstring): its weights
    are trained again when they are not in this checkout. Raises :class:`PeerUnavailable` when the run is not
    stored."""

    def __init__(self, run: str | os.PathLike, progress: bool = False):
        self.run = Path(run)
        if not (is_complete(self.run) and (self.run / EVALUATION).is_file()):
            shown = self.run.relative_to(REPO) if self.run.is_relative_to(REPO) else self.run
            raise PeerUnavailable(f"{shown}: not a stored run (trained and evaluated) in this checkout: train it "
                                  "first (make runs)")
        remake_weights(self.run, progress=progress)
        config, self.profile = read_config(self.run)
        self.name = f"{config.name} (ours, seed {config.seed})"
        device = default_device()
        self.model = load_trained(self.run, device)
        self.device_type, self.dtype = device.type, autocast_dtype_for(self.profile, device)

    def detect(self, image: Image.Image) -> Detections:
        p = self.profile
        with torch.autocast(self.device_type, dtype=self.dtype, enabled=self.dtype is not None):
            final, _ = detect(self.model, image.convert("RGB"), scales=p.test_scales, max_side=p.test_max_side,
                              pre_nms_top_k=p.pre_nms_top_n, nms_threshold=p.nms_thresh)
        return final


def ours_run(name: str, seed: int = 0, profile: str = "default") -> Path:
    """The run directory of our experiment ``name`` (``gslib.experiments.experiment``) at ``seed`` in ``profile``."""
    return run_dir(experiment(name, seed=seed), PROFILES[profile])


class EvalSet(NamedTuple):
    """An evaluation set: its ``name``, the folder of its four .mat files, the image names (``"<event>/<x>.jpg"``)
    in the ground truth's order, ``open_image(name) -> PIL RGB`` in the ground truth's pixels, its face count,
    and the names of the images of its Fig. 10 record (:func:`figure_record`)."""

    name: str
    ground_truth: Path
    names: list[str]
    open_image: Callable[[str], Image.Image]
    faces: int
    figure_names: tuple[str, ...] = ()


def _spread(n: int, k: int | None) -> np.ndarray:
    """Indices of ``k`` of ``n`` items spread evenly (first and last included); all when k is None or >= n."""
    if k is None or k >= n:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, k).round().astype(np.int64))


def _subset_ground_truth(gt, max_images: int | None, out_dir: Path) -> tuple:
    """``gt`` restricted to ``max_images`` images spread over it, written to ``out_dir``; (gt, folder)."""
    names = [gt.images[k].name for k in _spread(len(gt.images), max_images)]
    gt = real_sample.restrict_ground_truth(gt, names)
    write_wider_mat(out_dir, gt.images, gt.subsets)
    return read_wider_mat(out_dir), out_dir


def real_set(work_dir: str | os.PathLike, sample: str | os.PathLike = real_sample.SAMPLE,
             official: str | os.PathLike = real_sample.WIDERFACE_GT, max_images: int | None = None) -> EvalSet:
    """The real-photo sample (:mod:`gslib.data.real_sample`): its restricted official ground truth is written to
    ``work_dir/ground_truth``; images are opened at their original size."""
    folder = Path(work_dir) / "ground_truth"
    gt = real_sample.write_ground_truth(folder, sample, official)
    if max_images is not None:
        gt, folder = _subset_ground_truth(gt, max_images, folder)
    rows = {row.name: row for row in real_sample.read_manifest(sample)}
    names = [im.name for im in gt.images]
    full_size = [n for n in names if rows[n].kind == "original"]  # Fig. 10: the photos not squashed and blurred
    return EvalSet("real", folder, names, lambda name: real_sample.open_image(rows[name], sample),
                   real_sample.count_faces(gt), tuple(full_size[:FIGURE_IMAGES]))


def synthwider_set(work_dir: str | os.PathLike, root: str | os.PathLike = SYNTHWIDER,
                   max_images: int | None = None) -> EvalSet:
    """SynthWIDER val: ``root/WIDER_val/images`` against ``root/eval_tools/ground_truth`` (restricted and written
    to ``work_dir/ground_truth`` when ``max_images`` is given)."""
    root = Path(root)
    folder = root / "eval_tools" / "ground_truth"
    if not folder.is_dir():
        raise FileNotFoundError(f"SynthWIDER val not found: {folder} is missing (make it with `make data`)")
    gt = read_wider_mat(folder)
    if max_images is not None:
        gt, folder = _subset_ground_truth(gt, max_images, Path(work_dir) / "ground_truth")

    def open_image(name: str) -> Image.Image:
        with Image.open(root / "WIDER_val" / "images" / name) as im:
            return im.convert("RGB")

    names = [im.name for im in gt.images]
    return EvalSet("synthwider", folder, names, open_image, real_sample.count_faces(gt),
                   tuple(names[k] for k in _spread(len(names), FIGURE_IMAGES)))


def run_peer(peer, eval_set: EvalSet, pred_dir: str | os.PathLike, progress: bool = True,
             figure: dict[str, Detections] | None = None) -> float:
    """Detect every image of ``eval_set`` with ``peer`` into the official prediction folder ``pred_dir``
    (5 columns: x y w h score). Returns the mean seconds of ``peer.detect`` per image. ``figure``: filled with
    the detections of the set's ``figure_names``."""
    rows, seconds = {}, 0.0
    for name in tqdm(eval_set.names, desc=peer.name, mininterval=2, disable=not progress):
        image = eval_set.open_image(name)
        tic = time.perf_counter()
        dets = peer.detect(image)
        seconds += time.perf_counter() - tic
        rows[image_key(name)] = to_wider_rows(dets)[:, :5]
        if figure is not None and name in eval_set.figure_names:
            figure[name] = dets
    write_predictions(pred_dir, rows)
    return seconds / max(1, len(eval_set.names))


def evaluate_peer(peer, eval_set: EvalSet, pred_dir: str | os.PathLike, progress: bool = True,
                  figure: dict[str, Detections] | None = None) -> dict:
    """:func:`run_peer`, then the official protocol: ``{"ap": {easy, medium, hard, all}, "seconds_per_image",
    "images"}``."""
    seconds = run_peer(peer, eval_set, pred_dir, progress, figure)
    curves = evaluate_wider(pred_dir, eval_set.ground_truth)
    return {"ap": {s: float(curves[s].ap) for s in SUBSETS}, "seconds_per_image": round(seconds, 4),
            "images": len(eval_set.names)}


def evaluate_all(eval_set: EvalSet, work: str | os.PathLike, keys=tuple(PEERS), runs=(), threads: int = 1,
                 progress: bool = True) -> tuple[dict, dict[str, dict[str, Detections]]]:
    """Every peer of ``keys`` (:data:`PEERS`) and every run directory of ``runs`` (:class:`RunPeer`) on
    ``eval_set``, predictions under ``work/predictions``. Returns the JSON object of the CLI (``"peers"`` and
    ``"ours"``: {name: :func:`evaluate_peer`'s record and its ``"run"``}, ``"unavailable"``: {peer key or run
    directory name: why}) and the detections on the set's figure images ({detector name: {image name:
    Detections}})."""
    result = {"set": eval_set.name, "images": len(eval_set.names), "faces": eval_set.faces, "peers": {},
              "ours": {}, "unavailable": {}}
    figure = {}
    makers = [("peers", key, PEERS[key]) for key in keys]
    makers += [("ours", Path(run).name, lambda run=run: RunPeer(run, progress)) for run in runs]
    for kind, key, make in makers:
        try:
            peer = make()
        except PeerUnavailable as e:
            result["unavailable"][key] = str(e)
            continue
        if "cv2" in sys.modules:  # OpenCV's own pool (YuNet), beside torch's
            sys.modules["cv2"].setNumThreads(threads)
        figure[peer.name] = {}
        result[kind][peer.name] = evaluate_peer(peer, eval_set, Path(work) / "predictions" / key, progress,
                                                figure[peer.name])
        if kind == "ours":
            result[kind][peer.name]["run"] = key
    return result, figure


def figure_record(eval_set: EvalSet, figure: dict[str, dict[str, Detections]], min_score: float = FIGURE_MIN_SCORE,
                  max_boxes: int = FIGURE_MAX_BOXES) -> dict:
    """The Fig. 10 record: ``{"set", "min_score", "images": [{"name", "width", "height", "detections":
    {detector: {"boxes": [[x1, y1, x2, y2], ...] (pixels, 1 decimal), "scores": [...] (3 decimals)}}}]}``,
    the boxes scoring ``>= min_score``, the ``max_boxes`` best per detector and image."""
    images = []
    for name in eval_set.figure_names:
        width, height = eval_set.open_image(name).size
        detections = {}
        for detector, by_image in figure.items():
            dets = by_image[name]
            keep = (dets.scores >= min_score).nonzero().flatten()[:max_boxes]
            detections[detector] = {"boxes": np.round(dets.boxes[keep].double().numpy(), 1).tolist(),
                                    "scores": np.round(dets.scores[keep].double().numpy(), 3).tolist()}
        images.append({"name": name, "width": width, "height": height, "detections": detections})
    return {"set": eval_set.name, "min_score": min_score, "images": images}


def _peer_names(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in PEERS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown peers {unknown}; choose among {','.join(PEERS)}")
    return names


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m gslib.peers", description=__doc__.split("\n\n")[0])
    parser.add_argument("--set", choices=("real", "synthwider"), default="real", dest="eval_set")
    parser.add_argument("--peers", type=_peer_names, default=list(PEERS), help=f"comma-separated: {','.join(PEERS)}")
    parser.add_argument("--max-images", type=positive_int, help="that many images spread over the set")
    parser.add_argument("--work", type=Path, help="keep the ground truth and predictions here (default: a temp dir)")
    parser.add_argument("--data", type=Path, default=SYNTHWIDER, help="SynthWIDER's folder (--set synthwider)")
    parser.add_argument("--threads", type=positive_int, default=1, help="torch and OpenCV threads")
    parser.add_argument("--ours", action="append", default=[], metavar="EXPERIMENT",
                        help="also our trained run of this experiment (repeatable), when its weights are here")
    parser.add_argument("--seed", type=int, default=0, help="--ours: the run's seed (0)")
    parser.add_argument("--profile", choices=sorted(PROFILES), default="default", help="--ours: the run's profile")
    parser.add_argument("--figure", type=Path, help="write the Fig. 10 record (boxes on the set's figure images) here")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    return parser


def run(args) -> dict:
    """The CLI's work: every requested peer (and ``--ours`` run) on the set; returns the JSON object, and writes
    the Fig. 10 record to ``args.figure`` when given."""
    torch.set_num_threads(args.threads)
    runs = [ours_run(name, args.seed, args.profile) for name in args.ours]
    with tempfile.TemporaryDirectory(prefix="gslib-peers-") as tmp:
        work = Path(args.work or tmp) / args.eval_set
        if args.eval_set == "real":
            eval_set = real_set(work, max_images=args.max_images)
        else:
            eval_set = synthwider_set(work, args.data, args.max_images)
        result, figure = evaluate_all(eval_set, work, args.peers, runs, args.threads)
        for key, why in result["unavailable"].items():
            print(f"peers: skipping {key}: {why}", file=sys.stderr)
        if args.figure:
            args.figure.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(args.figure, json.dumps(figure_record(eval_set, figure)) + "\n")
    return result


def format_table(result: dict) -> str:
    lines = [f"set {result['set']}: {result['images']} images, {result['faces']} faces (official protocol)",
             f"{'peer':<34}" + "".join(f"{s:>8}" for s in SUBSETS) + f"{'s/image':>10}"]
    for name, r in {**result["peers"], **result["ours"]}.items():
        lines.append(f"{name:<34}" + "".join(f"{r['ap'][s]:>8.4f}" for s in SUBSETS)
                     + f"{r['seconds_per_image']:>10.3f}")
    lines += [f"{key}: unavailable: {message}" for key, message in result["unavailable"].items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result = run(args)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(json.dumps(result, indent=1) if args.json else format_table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
