"""The training dataset: readers, pixel/box augmentation agreement, padding collation, batch order."""
import numpy as np
import pytest
import torch
from PIL import Image

from gslib.augment import Jitter
from gslib.datasets import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    NORMALISED_LEVELS,
    TrainingBatches,
    WiderDataset,
    epoch_order,
    jitter_image,
    pad_collate,
    read_records,
    to_tensor,
)


@pytest.fixture(scope="module")
def smoke_set(smoke_train_set):
    return smoke_train_set


def _dataset(root, **kw):
    return WiderDataset(root / "WIDER_train" / "images", root / "wider_face_split" / "wider_face_train_bbx_gt.txt",
                        **kw)


def test_wider_txt_and_coco_json_give_the_same_records(smoke_set):
    txt = read_records(smoke_set / "wider_face_split" / "wider_face_train_bbx_gt.txt")
    coco = read_records(smoke_set / "annotations" / "instances_train.json")
    assert [r.name for r in txt] == [r.name for r in coco]
    for a, b in zip(txt, coco):
        assert torch.allclose(a.boxes, b.boxes)
        assert a.boxes.shape[1] == 4 and a.ignore.dtype == torch.bool
        assert (a.boxes[:, 2:] >= a.boxes[:, :2]).all()  # x1y1x2y2


def test_item_shapes_and_determinism(smoke_set):
    ds = _dataset(smoke_set, seed=3, scales=(1.0, 2.0, 4.0), max_side=160)
    assert len(ds) == 6
    s = ds[(2, 4)]
    assert s.image.dtype == torch.float32 and s.image.shape[0] == 3
    assert max(s.image.shape[1:]) <= 160
    assert (s.image.shape[2], s.image.shape[1]) == (s.jitter.width, s.jitter.height)
    assert s.boxes.shape == (s.ignore.shape[0], 4) and (s.epoch, s.index) == (2, 4)
    # Boxes lie inside the crop.
    assert (s.boxes >= 0).all() and (s.boxes[:, [0, 2]] <= s.jitter.width).all()
    assert (s.boxes[:, [1, 3]] <= s.jitter.height).all()
    # A pure function of (seed, epoch, index): same key, same pixels; another epoch, another draw.
    again = ds[(2, 4)]
    assert torch.equal(s.image, again.image) and torch.equal(s.boxes, again.boxes)
    draws = {ds[(e, 4)].jitter for e in range(6)}
    assert len(draws) > 1


@pytest.mark.parametrize("flip", [False, True])
@pytest.mark.parametrize("scale", [0.5, 1.0, 2.5])
def test_pixels_follow_the_boxes(scale, flip):
    # A white rectangle on black: after the jitter its bright pixels must sit where jitter_boxes puts it.
    from gslib.augment import jitter_boxes

    img = np.zeros((120, 200, 3), np.uint8)
    box = torch.tensor([[40.0, 30.0, 100.0, 70.0]])
    img[30:70, 40:100] = 255
    jit = Jitter(scale, x0=int(20 * scale), y0=int(10 * scale), width=int(150 * scale), height=int(90 * scale),
                 flip=flip)
    out = np.asarray(jitter_image(Image.fromarray(img), jit))[..., 0]
    assert out.shape == (jit.height, jit.width)
    moved, _ = jitter_boxes(box, torch.tensor([False]), jit)
    x1, y1, x2, y2 = moved[0].tolist()
    ys, xs = np.nonzero(out > 127)
    # Half-intensity edges: the rectangle's pixels are within one pixel of the box.
    assert abs(xs.min() - x1) <= 1 and abs(xs.max() + 1 - x2) <= 1
    assert abs(ys.min() - y1) <= 1 and abs(ys.max() + 1 - y2) <= 1


def test_no_augmentation_keeps_the_image(smoke_set):
    ds = _dataset(smoke_set, augment=False)
    s = ds[0]
    rec = ds.records[0]
    pil = Image.open(smoke_set / "WIDER_train" / "images" / rec.name).convert("RGB")
    expected = (torch.from_numpy(np.asarray(pil, np.float32) / 255).permute(2, 0, 1)
                - torch.tensor(IMAGENET_MEAN).view(3, 1, 1)) / torch.tensor(IMAGENET_STD).view(3, 1, 1)
    assert torch.allclose(s.image, expected, atol=1e-6)
    assert torch.equal(s.boxes, rec.boxes) and torch.equal(s.ignore, rec.ignore)


def test_pad_collate(smoke_set):
    ds = _dataset(smoke_set, scales=(0.5, 1.0), max_side=200)
    samples = [ds[(0, i)] for i in range(3)]
    batch = pad_collate(samples)
    b, c, h, w = batch.images.shape
    assert (b, c) == (3, 3) and h % 32 == 0 and w % 32 == 0
    assert h == -(-max(s.image.shape[1] for s in samples) // 32) * 32
    for i, s in enumerate(samples):
        sh, sw = s.image.shape[1:]
        assert batch.sizes[i].tolist() == [sh, sw]
        assert torch.equal(batch.images[i, :, :sh, :sw], s.image)
        assert batch.images[i, :, sh:].abs().sum() == 0 and batch.images[i, :, :, sw:].abs().sum() == 0
        assert torch.equal(batch.boxes[i], s.boxes) and batch.keys[i].tolist() == [0, i]


def test_training_batches_cover_epochs_and_split_over_ranks():
    n, g = 10, 4  # 2 iterations per epoch, 2 images left out of each epoch
    single = list(TrainingBatches(n, g, seed=5, start=0, stop=6))
    assert len(single) == 6 and all(len(b) == 4 for b in single)
    for epoch in range(3):
        keys = [k for b in single[2 * epoch: 2 * epoch + 2] for k in b]
        assert {e for e, _ in keys} == {epoch}
        assert [i for _, i in keys] == epoch_order(n, 5, epoch)[:8].tolist()
    # Two ranks split every global batch into consecutive halves.
    r0 = list(TrainingBatches(n, g, seed=5, start=0, stop=6, rank=0, world_size=2))
    r1 = list(TrainingBatches(n, g, seed=5, start=0, stop=6, rank=1, world_size=2))
    assert [a + b for a, b in zip(r0, r1)] == single
    # Starting mid-way (a resumed run) gives the tail of the same sequence.
    assert list(TrainingBatches(n, g, seed=5, start=3, stop=6)) == single[3:]
    with pytest.raises(ValueError):
        TrainingBatches(n, 3, seed=0, start=0, stop=1, world_size=2)


def test_training_records_ignore_negative_boxes_with_a_warning_and_refuse_unreadable_lines(tmp_path):
    """The official train file holds two boxes of negative width: training reads it, ignores them and says so
    (file and line); a line it cannot read is an error naming the file and line (regression: the strict
    reader refused the whole official file)."""
    path = tmp_path / "gt.txt"
    path.write_text("e/a.jpg\n2\n10 10 -4 8 0 0 0 0 0 0 \n20 20 8 8 0 0 0 0 0 0 \n")
    with pytest.warns(UserWarning, match=r"gt.txt:3: .*negative width -4"):
        (record,) = read_records(path)
    assert record.ignore.tolist() == [True, False]
    path.write_text("e/a.jpg\n2\n10 10 x 8 0 0 0 0 0 0 \n20 20 8 8 0 0 0 0 0 0 \n")
    with pytest.raises(ValueError, match=r"(?s)gt.txt: unreadable.*gt.txt:3: .*'x' is not a number"):
        read_records(path)


def _normalised_per_pixel(image: Image.Image) -> torch.Tensor:
    """The formula to_tensor's look-up replaced (convert, subtract, divide every pixel)."""
    x = torch.from_numpy(np.asarray(image, dtype=np.float32) / 255.0).permute(2, 0, 1)
    return (x - torch.tensor(IMAGENET_MEAN).view(3, 1, 1)) / torch.tensor(IMAGENET_STD).view(3, 1, 1)


def test_to_tensor_looks_up_the_per_pixel_formula_to_the_bit():
    every_level = np.broadcast_to(np.arange(256, dtype=np.uint8)[None, :, None], (2, 256, 3)).copy()
    every_level[1] = every_level[1, ::-1]  # each channel's levels in another order on the second row
    every_level[1, :, 1] = np.roll(every_level[1, :, 1], 7)
    noise = np.random.default_rng(0).integers(0, 256, (37, 53, 3), dtype=np.uint8)
    for pixels in (every_level, noise):
        image = Image.fromarray(pixels)
        out = to_tensor(image)
        assert out.shape == (3, *pixels.shape[:2]) and out.dtype == torch.float32 and out.is_contiguous()
        assert torch.equal(out, _normalised_per_pixel(image))
    assert torch.equal(NORMALISED_LEVELS[:, 255], _normalised_per_pixel(Image.new("RGB", (1, 1), (255,) * 3))[:, 0, 0])
    with pytest.raises(ValueError, match="RGB image, got mode L"):
        to_tensor(Image.new("L", (4, 4)))


def test_decoded_images_are_cached_within_the_budget_and_change_no_item(smoke_set):
    uncached = _dataset(smoke_set, seed=1, scales=(1.0, 2.0), max_side=160, cache_bytes=0)
    cached = _dataset(smoke_set, seed=1, scales=(1.0, 2.0), max_side=160)
    sizes = [im.width * im.height * 3 for im in (uncached.image(i) for i in range(len(uncached)))]
    budget = _dataset(smoke_set, seed=1, scales=(1.0, 2.0), max_side=160, cache_bytes=sum(sizes[:2]))
    for epoch in range(2):
        for i in range(len(cached)):
            a, b, c = uncached[(epoch, i)], cached[(epoch, i)], budget[(epoch, i)]
            assert torch.equal(a.image, b.image) and torch.equal(a.image, c.image) and a.jitter == b.jitter
    assert uncached._decoded == {} and sorted(cached._decoded) == list(range(len(cached)))
    assert sorted(budget._decoded) == [0, 1] and budget._cached_bytes == sum(sizes[:2])
    assert cached.image(3) is cached.image(3)  # decoded once
