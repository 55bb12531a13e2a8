"""Peers: each installed one finds the faces of a real photo in original pixels with scores in [0, 1]; a missing
package names itself and its install command; the evaluation path (predictions + official protocol) by hand;
the command line on two real images."""
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.ops import box_iou

from gslib import peers
from gslib.data import real_sample
from gslib.data.wider import WiderImage, read_predictions, read_wider_mat, write_wider_mat
from gslib.experiments import SMOKE, experiment
from gslib.inference import Detections
from gslib.study import evaluated_run

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


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    """A trained and evaluated smoke run of FPN-finest-sampling (about a second) in GSLIB_RESULTS's layout."""
    root = tmp_path_factory.mktemp("results")
    run, evaluation = evaluated_run(experiment("FPN-finest-sampling"), SMOKE, progress=False,
                                    runs=root / "smoke" / "runs")
    return root, run, evaluation


def test_our_run_as_a_peer_gives_the_ap_of_its_own_evaluation(smoke_run, tmp_path):
    """RunPeer is gslib.study.evaluate_run's test path: the same detections, the same APs, on SynthWIDER val."""
    _, run, evaluation = smoke_run
    eval_set = peers.synthwider_set(tmp_path, SMOKE.path("."))
    result, figure = peers.evaluate_all(eval_set, tmp_path, keys=(), runs=[run], progress=False)
    record = result["ours"]["FPN-finest-sampling (ours, seed 0)"]
    assert record["run"] == run.name and record["images"] == evaluation["images"] == len(eval_set.names)
    assert record["ap"] == pytest.approx({s: evaluation["ap"][s] for s in peers.SUBSETS}, abs=1e-12)
    assert result["peers"] == {} and result["unavailable"] == {}
    assert len(eval_set.figure_names) == peers.FIGURE_IMAGES
    assert set(figure["FPN-finest-sampling (ours, seed 0)"]) == set(eval_set.figure_names)


def test_a_stored_run_without_its_weights_gets_them_trained_again(smoke_run, tmp_path):
    # The committed records hold no weights: RunPeer re-makes them (gslib.train.remake_weights) and gives the
    # AP of the run's own evaluation; a run that is not stored is unavailable.
    _, run, evaluation = smoke_run
    copy = tmp_path / run.name
    copy.mkdir()
    for name in ("config.json", "metrics.json", "evaluation.json"):
        (copy / name).write_bytes((run / name).read_bytes())
    eval_set = peers.synthwider_set(tmp_path, SMOKE.path("."))
    result, _ = peers.evaluate_all(eval_set, tmp_path, keys=(), runs=[copy], progress=False)
    assert (copy / "checkpoint.pt").is_file()
    record = result["ours"]["FPN-finest-sampling (ours, seed 0)"]
    assert record["ap"] == pytest.approx({s: evaluation["ap"][s] for s in peers.SUBSETS}, abs=1e-12)

    (copy / "evaluation.json").unlink()
    with pytest.raises(peers.PeerUnavailable, match="not a stored run"):
        peers.RunPeer(copy)
    result, figure = peers.evaluate_all(eval_set, tmp_path, keys=(), runs=[copy], progress=False)
    assert result["ours"] == {} and figure == {} and "not a stored run" in result["unavailable"][copy.name]


def test_figure_record_keeps_the_best_boxes_above_the_threshold():
    eval_set = peers.EvalSet("fake", Path("."), ["e/a.jpg", "e/b.jpg"], lambda name: Image.new("RGB", (40, 30)), 0,
                             ("e/b.jpg",))
    boxes = torch.tensor([[1.04, 2.0, 10.0, 12.0], [3.0, 3.0, 9.0, 9.0], [0.0, 0.0, 5.0, 5.0]])
    dets = Detections(boxes, torch.tensor([0.91234, 0.5, 0.1]), torch.full((3,), peers.NO_SCALE))
    record = peers.figure_record(eval_set, {"p": {"e/a.jpg": dets, "e/b.jpg": dets}}, min_score=0.2, max_boxes=5)
    assert record["set"] == "fake" and record["min_score"] == 0.2 and len(record["images"]) == 1
    image = record["images"][0]
    assert (image["name"], image["width"], image["height"]) == ("e/b.jpg", 40, 30)
    assert image["detections"]["p"] == {"boxes": [[1.0, 2.0, 10.0, 12.0], [3.0, 3.0, 9.0, 9.0]],
                                        "scores": [0.912, 0.5]}  # 0.1 < min_score
    one = peers.figure_record(eval_set, {"p": {"e/b.jpg": dets}}, max_boxes=1)["images"][0]["detections"]["p"]
    assert one["scores"] == [0.912]


def test_command_line_with_our_run_and_the_figure(smoke_run, tmp_path, monkeypatch, capsys):
    root, run, evaluation = smoke_run
    monkeypatch.setenv("GSLIB_RESULTS", str(root))  # where ours_run finds the smoke run
    assert peers.ours_run("FPN-finest-sampling", 0, "smoke") == run
    args = ["--set", "synthwider", "--data", str(SMOKE.path(".")), "--peers", "yuface", "--ours", "FPN-finest-sampling",
            "--ours", "FPN", "--profile", "smoke", "--figure", str(tmp_path / "figure.json"), "--json"]
    assert peers.main(args) == 0
    out = capsys.readouterr()
    result = json.loads(out.out)
    assert result["ours"]["FPN-finest-sampling (ours, seed 0)"]["ap"]["all"] == pytest.approx(evaluation["ap"]["all"])
    assert "FPN-" in next(k for k in result["unavailable"] if "FPN-" in k)  # FPN seed 0 was never trained there
    assert "peers: skipping" in out.err
    figure = json.loads((tmp_path / "figure.json").read_text())
    assert len(figure["images"]) == peers.FIGURE_IMAGES
    assert all("FPN-finest-sampling (ours, seed 0)" in im["detections"] for im in figure["images"])


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
