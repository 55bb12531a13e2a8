"""Peers: each installed one finds the faces of a real photo in original pixels with scores in [0, 1]; a missing
package names itself and its install command; the evaluation path (predictions + official protocol) by hand;
the command line on two real images."""
import json
import sys

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.ops import box_iou

from gslib import peers
from gslib.data import real_sample
from gslib.data.wider import WiderImage, read_predictions, read_wider_mat, write_wider_mat
from gslib.inference import Detections

torch.set_num_threads(1)
PHOTO = "0--Parade/0_Parade_marchingband_1_765.jpg"  # a full-size photo: 132 faces, 1024 x 732
has_shared = (real_sample.SAMPLE / "manifest.csv").is_file() and real_sample.WIDERFACE_GT.is_dir()
needs_shared = pytest.mark.skipif(not has_shared, reason="needs ../shared/wider-real-sample and ../shared/widerface")


def make_peer(key):
    try:
        return peers.PEERS[key]()
    except peers.PeerUnavailable as e:
        pytest.skip(f"peer {key} is not installed: {e}")


@needs_shared
@pytest.mark.parametrize("key", list(peers.PEERS))
def test_each_peer_finds_the_faces_of_a_photo(key):
    peer = make_peer(key)
    with Image.open(real_sample.SAMPLE / "images" / PHOTO) as im:
        image = im.convert("RGB")
    dets = peer.detect(image)
    assert isinstance(dets, Detections) and dets.boxes.shape == (len(dets.scores), 4)
    assert ((dets.scores >= 0) & (dets.scores <= 1)).all() and (dets.scores[:-1] >= dets.scores[1:]).all()
    gt = next(im for im in read_wider_mat(real_sample.WIDERFACE_GT).images if im.name == PHOTO)
    faces = torch.as_tensor(gt.boxes, dtype=torch.float32)
    faces[:, 2:] += faces[:, :2]
    best = dets.boxes[:10]
    assert len(best) == 10  # a marching band: every peer finds ten faces at least
    # Its ten best boxes lie on annotated faces, in the original image's pixels.
    assert (box_iou(best, faces).max(dim=1).values >= 0.4).float().mean() >= 0.8


def test_a_missing_package_names_itself_and_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "yuface", None)  # import yuface now raises ImportError
    with pytest.raises(peers.PeerUnavailable, match=r"yuface needs the PyPI package yuface==2023\.5\.1.*pip install"):
        peers.YuFacePeer()
    monkeypatch.setitem(sys.modules, "facenet_pytorch", None)
    with pytest.raises(peers.PeerUnavailable, match=r"pip install --no-deps facenet-pytorch==2\.6\.0"):
        peers.MTCNNPeer()


class Oracle:
    """A fake peer: the ground truth's boxes of every image but the last, which it misses; one false positive."""

    name = "oracle"

    def __init__(self, boxes):
        self.boxes = boxes

    def detect(self, image):
        found = self.boxes.get(image.info["name"], np.zeros((0, 4)))
        xyxy = torch.as_tensor(np.column_stack([found[:, :2], found[:, :2] + found[:, 2:]]), dtype=torch.float32)
        xyxy = torch.cat([xyxy, torch.tensor([[0.0, 0.0, 3.0, 3.0]])])
        scores = torch.cat([torch.linspace(0.9, 0.5, len(found)), torch.tensor([0.1])])
        return Detections(xyxy, scores, torch.full((len(scores),), peers.NO_SCALE))


def test_evaluate_peer_by_hand(tmp_path):
    """2 images, 3 faces (every face in every subset); the oracle finds image 1's 2 faces and none of image 2's,
    plus one low false positive per image: recall 2/3 at precision 1 -> AP 2/3 on each subset."""
    images = [WiderImage("0--A/a_1.jpg", [[10, 10, 20, 20], [40, 10, 20, 24]]), WiderImage("0--A/a_2.jpg",
                                                                                        [[5, 5, 30, 30]])]
    write_wider_mat(tmp_path / "gt", images, {s: [np.arange(len(im.boxes)) for im in images]
                                              for s in ("easy", "medium", "hard")})

    def open_image(name):
        image = Image.new("RGB", (64, 48))
        image.info["name"] = name
        return image

    eval_set = peers.EvalSet("fake", tmp_path / "gt", [im.name for im in images], open_image, 3)
    result = peers.evaluate_peer(Oracle({"0--A/a_1.jpg": images[0].boxes}), eval_set, tmp_path / "pred",
                                 progress=False)
    assert result["images"] == 2 and result["seconds_per_image"] >= 0
    assert result["ap"] == pytest.approx({s: 2 / 3 for s in peers.SUBSETS})
    written = read_predictions(tmp_path / "pred")
    assert written["0--A/a_1"].shape == (3, 5) and written["0--A/a_2"].shape == (1, 5)  # 5 columns: no scale
    assert written["0--A/a_1"][0].tolist() == pytest.approx([10, 10, 20, 20, 0.9])


def test_spread_keeps_first_and_last():
    assert peers._spread(10, 3).tolist() == [0, 4, 9]  # numpy rounds 4.5 to even
    assert peers._spread(4, None).tolist() == [0, 1, 2, 3] and peers._spread(4, 9).tolist() == [0, 1, 2, 3]


@needs_shared
def test_command_line_on_two_real_images(tmp_path, capsys):
    assert peers.main(["--set", "real", "--peers", "retinaface", "--max-images", "2", "--json",
                       "--work", str(tmp_path)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["set"] == "real" and result["images"] == 2 and result["faces"] > 0
    ap = result["peers"]["RetinaFace-mnet0.25"]["ap"]
    assert set(ap) == {"easy", "medium", "hard", "all"} and all(0 < v <= 1 for v in ap.values() if v == v)
    assert len(list((tmp_path / "real" / "predictions" / "retinaface").glob("*/*.txt"))) == 2
    assert peers.main(["--set", "synthwider", "--data", str(tmp_path / "nowhere")]) == 1
    assert "make data" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        peers.build_parser().parse_args(["--peers", "retinaface,dlib"])
