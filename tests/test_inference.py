"""Inference: pyramid selection, decoding back to the original image, the two NMS outcomes, file rows."""
import json

import numpy as np
import pytest
import torch
from PIL import Image

from gslib.anchors import fpn_finest
from gslib.fast_rcnn import FastRCNNHead
from gslib.inference import (
    Detections,
    detect,
    detect_files,
    detect_stages,
    detection_threads,
    predict_folder,
    predict_stages,
    pyramid_scales,
    to_wider_rows,
)
from gslib.model import Detector
from gslib.store import cpu_threads


def test_pyramid_scales_respect_the_side_limit():
    assert pyramid_scales(1024, 768, max_side=3000) == [0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0]
    assert pyramid_scales(1024, 768, max_side=1100) == [0.25, 0.5, 0.75, 1.0]
    assert pyramid_scales(9000, 100, max_side=1000) == [0.25]  # the smallest scale is always kept


class OneAnchorDetector(torch.nn.Module):
    """Scores one chosen anchor (by its box in resized pixels) high and everything else low, no deltas."""

    def __init__(self, target_scale: int):
        super().__init__()
        self.layout = fpn_finest()
        self.target_scale = target_scale
        self.dummy = torch.nn.Parameter(torch.zeros(1))

    def forward(self, images):
        h, w = images.shape[-2:]
        anchors, groups = self.layout.anchors(h, w)
        centre = (anchors[:, :2] + anchors[:, 2:]) / 2
        hit = (groups == self.layout.group_scales.index(self.target_scale)) & (centre - 18).abs().max(1).values.lt(1)
        logits = torch.zeros(1, len(anchors), 2)
        logits[0, :, 0] = 3.0  # background: face probability 0.05
        logits[0, hit, 1] = 8.0
        return logits, torch.zeros(1, len(anchors), 4)


def test_boxes_return_to_original_pixels_across_scales_and_flip():
    image = Image.new("RGB", (64, 48))
    final, by_scale = detect(OneAnchorDetector(32), image, scales=(1.0, 2.0), flip=True, min_score=0.5)
    # At scale 1 the anchor is centred on (18, 18), 32 px wide; at scale 2 the same anchor in resized pixels
    # is (9, 9) with side 16 in the original; flipped copies mirror back onto the same boxes.
    got = {tuple(round(v, 3) for v in b) for b in final.boxes.tolist()}
    assert (2.0, 2.0, 34.0, 34.0) in got and (1.0, 1.0, 17.0, 17.0) in got
    assert set(final.scales.tolist()) == {32}
    assert len(by_scale.boxes) >= len(final.boxes)


def test_final_nms_crosses_sub_detectors_but_by_scale_does_not():
    class Two(OneAnchorDetector):
        def forward(self, images):
            h, w = images.shape[-2:]
            anchors, groups = self.layout.anchors(h, w)
            centre = (anchors[:, :2] + anchors[:, 2:]) / 2
            at = (centre - 18).abs().max(1).values.lt(1)
            logits = torch.zeros(1, len(anchors), 2)
            logits[0, :, 0] = 3.0
            logits[0, at & (groups == 1), 1] = 8.0  # scale 32 anchor, box (2, 2, 34, 34)
            logits[0, at & (groups == 0), 1] = 7.0  # scale 16 anchor (10, 10, 26, 26), grown below
            deltas = torch.zeros(1, len(anchors), 4)
            deltas[0, at & (groups == 0), 2:] = float(np.log(2.0))  # grow it onto the scale-32 box
            return logits, deltas

    final, by_scale = detect(Two(32), Image.new("RGB", (64, 64)), scales=(1.0,), min_score=0.5)
    assert final.scales.tolist() == [32]                # the scale-16 copy is suppressed
    assert sorted(by_scale.scales.tolist()) == [16, 32]  # each sub-detector keeps its own


class TwoStage(OneAnchorDetector):
    """OneAnchorDetector as the first stage, with TwoStageDetector's attributes and outputs: a second stage that
    moves every proposal a quarter of its width right and scores it 0.75."""

    num_proposals, grouped, stride = 100, False, 4

    def __init__(self):
        super().__init__(32)
        self.second = FastRCNNHead(2, hidden=4)
        for layer in (self.second.cls, self.second.bbox):
            torch.nn.init.zeros_(layer.weight)
        with torch.no_grad():
            self.second.cls.bias.copy_(torch.tensor([0.0, float(np.log(3.0))]))  # face probability 0.75
            self.second.bbox.bias.copy_(torch.tensor([0.25, 0.0, 0.0, 0.0]))     # a quarter width right

    def forward(self, images):
        logits, deltas = super().forward(images)
        return logits, deltas, torch.zeros(1, 2, images.shape[-2] // 4, images.shape[-1] // 4)


def test_a_second_stage_refines_the_proposals_and_ensembles_the_scores():
    final, _ = detect(TwoStage(), Image.new("RGB", (64, 48)), scales=(1.0,), min_score=0.5)
    # The first stage's box (2, 2, 34, 34), face probability sigmoid(5), moved 8 px right by the second
    # stage; the score is the mean of the two stages' probabilities; the sub-detector stays the anchor's.
    assert final.boxes.tolist() == [[10.0, 2.0, 42.0, 34.0]] and final.scales.tolist() == [32]
    assert final.scores.item() == pytest.approx(0.5 * (torch.sigmoid(torch.tensor(5.0)).item() + 0.75))


def test_rows_and_folders_with_a_real_detector(tmp_path):
    torch.manual_seed(0)
    detector = Detector(fpn_finest(), "resnet10", width_divisor=8, channels=16, head_channels=16).eval()
    rows = to_wider_rows(Detections(torch.tensor([[1.0, 2.0, 11.0, 22.0]]), torch.tensor([0.5]), torch.tensor([64])))
    assert rows.tolist() == [[1.0, 2.0, 10.0, 20.0, 0.5, 64.0]]
    root = tmp_path / "images"
    (root / "0--E").mkdir(parents=True)
    Image.new("RGB", (40, 30), (120, 80, 60)).save(root / "0--E" / "a.jpg")
    gt = {"images": [{"id": 7, "file_name": "0--E/a.jpg", "width": 40, "height": 30}],
          "annotations": [], "categories": [{"id": 1, "name": "face"}]}
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    final, by_scale = predict_folder(detector, root, ["0--E/a.jpg"], tmp_path / "pred", scales=(0.5, 1.0),
                                     min_score=0.0, max_detections=20, coco_gt=tmp_path / "gt.json")
    from gslib.data.wider import read_predictions
    preds = read_predictions(final)
    (key,) = preds
    assert key == "0--E/a" and preds[key].shape[1] == 6 and 0 < len(preds[key]) <= 20
    assert set(preds[key][:, 5]) <= {16.0, 32.0, 64.0, 128.0}
    assert (preds[key][:, 0] >= 0).all() and (preds[key][:, 0] + preds[key][:, 2] <= 40 + 1e-3).all()
    assert read_predictions(by_scale)[key].shape[1] == 6
    # The same final detections as COCO results (x y w h, score), for pycocotools.
    coco = json.loads((tmp_path / "pred" / "coco_results.json").read_text())
    assert len(coco) == len(preds[key]) and {r["image_id"] for r in coco} == {7}
    assert np.allclose(sorted(r["score"] for r in coco), sorted(preds[key][:, 4]), atol=1e-6)
    assert np.allclose(sorted(r["bbox"][2] for r in coco), sorted(preds[key][:, 2]), atol=1e-3)


def test_each_stage_of_a_two_stage_detector_from_one_pass(tmp_path):
    image = Image.new("RGB", (64, 48))
    stages = detect_stages(TwoStage(), image, scales=(1.0,), min_score=0.5)
    face = torch.sigmoid(torch.tensor(5.0)).item()
    # The first stage alone: its own box and score. The second alone: every refined proposal scored 0.75, the
    # face's among them (the first stage's scores, 0.05 for the background, do not count). The output (what
    # detect gives): only the refined face box passes 0.5, scored the mean of the two stages.
    assert stages["first"][0].boxes.tolist() == [[2.0, 2.0, 34.0, 34.0]]
    assert stages["first"][0].scores.item() == pytest.approx(face)
    assert [10.0, 2.0, 42.0, 34.0] in stages["second"][0].boxes.tolist() and len(stages["second"][0].boxes) > 1
    assert torch.allclose(stages["second"][0].scores, torch.tensor(0.75))
    assert stages["output"][0].boxes.tolist() == [[10.0, 2.0, 42.0, 34.0]]
    final, by_scale = detect(TwoStage(), image, scales=(1.0,), min_score=0.5)
    for got, want in zip(stages["output"], (final, by_scale)):
        assert all(torch.equal(a, b) for a, b in zip(got, want))
    assert stages["output"][0].scores.item() == pytest.approx(0.5 * (face + 0.75))
    # A one-stage detector: its first stage is its output, and it has no second.
    one = detect_stages(OneAnchorDetector(32), image, ("output", "first"), scales=(1.0,), min_score=0.5)
    assert torch.equal(one["output"][0].boxes, one["first"][0].boxes)
    with pytest.raises(ValueError, match="no second stage"):
        detect_stages(OneAnchorDetector(32), image, ("second",), scales=(1.0,))
    # Each stage's official prediction folders, from one pass over the images.
    (tmp_path / "images" / "0--E").mkdir(parents=True)
    image.save(tmp_path / "images" / "0--E" / "a.jpg")
    folders = predict_stages(TwoStage(), tmp_path / "images", ["0--E/a.jpg"], tmp_path / "pred", scales=(1.0,),
                             min_score=0.5, progress=False)
    from gslib.data.wider import read_predictions
    assert set(folders) == {"output", "first", "second"}
    assert folders["second"][0] == tmp_path / "pred" / "second" / "final"
    assert np.allclose(read_predictions(folders["second"][0])["0--E/a"][:, 4], 0.75)
    assert read_predictions(folders["output"][0])["0--E/a"].shape == (1, 6)


def _images(root, count):
    """``count`` noisy RGB images of a few sizes under ``root/0--E``; their names."""
    rng = np.random.default_rng(0)
    (root / "0--E").mkdir(parents=True)
    names = []
    for k in range(count):
        size = (96 + 32 * (k % 3), 64 + 16 * (k % 2))
        Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(root / "0--E" / f"{k}.png")
        names.append(f"0--E/{k}.png")
    return names


def _same(a, b):
    return all(torch.equal(x, y) for stage in a for pair in zip(a[stage], b[stage]) for x, y in zip(*pair))


def test_images_detected_side_by_side_have_the_bits_of_one_thread_one_after_the_other(tmp_path):
    torch.manual_seed(0)
    detector = Detector(fpn_finest(), "resnet10", width_divisor=8, channels=16, head_channels=16).eval()
    names = _images(tmp_path, 5)
    args = dict(scales=(0.5, 1.0), min_score=0.0, pre_nms_top_k=200)
    for dtype in (None, torch.bfloat16):
        with cpu_threads(1):
            alone = detect_files(detector, tmp_path, names, autocast_dtype=dtype, **args)
        with cpu_threads(2):
            side = detect_files(detector, tmp_path, names, workers=3, autocast_dtype=dtype, **args)
            assert torch.get_num_threads() == 2  # the caller's count, restored
        assert list(side) == names and all(_same(alone[n], side[n]) for n in names)
        assert all(len(alone[n]["output"][0].scores) for n in names)
        if dtype is None:
            fp32 = side
    # autocast is per thread: each worker enters it (bf16 scores differ from fp32's)
    assert not all(_same(fp32[n], side[n]) for n in names)


def test_an_error_in_a_detecting_thread_reaches_the_caller(tmp_path):
    detector = Detector(fpn_finest(), "resnet10", width_divisor=8, channels=16, head_channels=16).eval()
    names = [*_images(tmp_path, 3), "0--E/missing.png"]
    with pytest.raises(FileNotFoundError, match=r"missing\.png"):
        detect_files(detector, tmp_path, names, workers=2, scales=(1.0,))


def test_the_threads_an_image_is_detected_on():
    with cpu_threads(3):
        assert detection_threads(torch.device("cpu"), 1) == 3  # one image after the other: the process's count
        assert detection_threads(torch.device("cpu"), 3) == 1  # side by side: one thread each
    assert detection_threads(torch.device("cuda"), 1) is None
