"""Rendering: the pixels of a planned scene (step 5 of :mod:`gslib.data.synth`)."""
from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from gslib.data.synth.plan import HAIR_COLORS, HAIR_P, Scene, _skin_colors

# Background palettes per event: base colours of gradients and shapes (RGB).
PALETTES = {
    "0--Street": [(120, 140, 170), (170, 170, 165), (90, 90, 95), (200, 190, 170), (60, 70, 80), (150, 60, 50)],
    "1--Parade": [(200, 40, 40), (240, 200, 40), (40, 90, 200), (230, 230, 230), (30, 140, 70), (140, 140, 150)],
    "2--Hall": [(200, 185, 160), (150, 120, 90), (230, 225, 210), (90, 70, 60), (120, 130, 150), (180, 160, 120)],
    "3--Park": [(70, 120, 50), (40, 80, 30), (130, 160, 90), (140, 110, 70), (150, 190, 230), (100, 90, 60)],
    "4--Stage": [(20, 20, 30), (60, 20, 80), (10, 30, 70), (200, 60, 160), (240, 220, 120), (40, 40, 40)],
    "5--Market": [(210, 120, 40), (200, 200, 180), (60, 110, 160), (170, 50, 60), (90, 140, 60), (230, 210, 90)],
}


def render_scene(scene: Scene) -> Image.Image:
    """Pixels of a planned image: background, distractors, people from far to near, light and noise."""
    rng = np.random.default_rng(list(scene.pixel_seed))
    event = scene.name.split("/")[0]
    img = _background(rng, scene.width, scene.height, PALETTES[event])
    _draw_distractors(rng, img, scene)
    draw = ImageDraw.Draw(img)
    for i in reversed(range(len(scene.boxes))):  # far to near
        _draw_body(draw, scene, i)
        patch, offset = _render_head(scene, i)
        img.paste(patch.convert("RGB"), offset, mask=patch.getchannel("A"))
        if not np.isnan(scene.occluder[i, 0]):
            _draw_occluder(draw, rng, scene.occluder[i], scene.occluder_color[i])
    return _finish(rng, img, scene.image_gain)


def _fractal_noise(rng: np.random.Generator, width: int, height: int, octaves: int = 4, base: int = 3) -> np.ndarray:
    """(height, width) float32 in [0, 1]: octaves of bicubically upsampled uniform noise.

    The octaves are summed at a quarter of the resolution and upsampled once (cheap, and smooth anyway).
    """
    qw, qh = max(width // 4, 8), max(height // 4, 8)
    out = np.zeros((qh, qw), np.float32)
    amp = 1.0
    for o in range(octaves):
        gw = base * 2**o + 1
        gh = max(2, round(gw * height / width) + 1)
        small = rng.random((gh, gw), dtype=np.float32)
        out += amp * np.asarray(Image.fromarray(small).resize((qw, qh), Image.BICUBIC))
        amp *= 0.5
    out -= out.min()
    out /= max(float(out.max()), 1e-6)
    return np.asarray(Image.fromarray(out).resize((width, height), Image.BICUBIC))


def _jitter(rng: np.random.Generator, color, sd: float = 18.0) -> tuple[int, int, int]:
    return tuple(int(v) for v in np.clip(np.asarray(color, float) + rng.normal(0, sd, 3), 0, 255))


def _background(rng: np.random.Generator, width: int, height: int, palette: list) -> Image.Image:
    """Clutter: a gradient, fractal texture and blotches, then buildings, signs, stripes, foliage, lights."""
    pal = np.asarray(palette, np.float32)
    c1, c2, c3 = pal[rng.choice(len(pal), size=3, replace=False)]
    angle = rng.uniform(0, 2 * np.pi)
    g = _ramp(width, height, angle)
    tex = _fractal_noise(rng, width, height, octaves=5, base=int(rng.integers(2, 8)))
    blot = _fractal_noise(rng, width, height, octaves=3, base=int(rng.integers(2, 5)))
    mask = np.clip((blot - np.float32(rng.uniform(0.45, 0.7))) * 6, 0, 1)
    shade, shade3 = 0.65 + 0.7 * tex, 0.7 + 0.6 * tex
    channels = []
    for c in range(3):  # per channel: contiguous (H, W) arithmetic is several times faster than (H, W, 3)
        base = (c1[c] + (c2[c] - c1[c]) * g) * shade
        base += mask * (c3[c] * shade3 - base)
        channels.append(np.clip(base, 0, 255).astype(np.uint8))
    img = Image.fromarray(np.stack(channels, axis=-1))
    draw = ImageDraw.Draw(img)
    area = width * height
    for _ in range(int(rng.integers(2, 9))):  # buildings, stalls, furniture, with windows
        w, h = rng.uniform(0.08, 0.45) * width, rng.uniform(0.1, 0.7) * height
        x, y = rng.uniform(-0.1, 1.0) * width, rng.uniform(0.0, 1.0) * height - h / 2
        draw.rectangle([x, y, x + w, y + h], fill=_jitter(rng, pal[rng.integers(len(pal))], 30))
        if rng.random() < 0.5:
            step = rng.uniform(0.025, 0.06) * width
            win = _jitter(rng, pal[rng.integers(len(pal))], 40)
            for wx in np.arange(x + step / 2, x + w - step / 2, step * 1.6):
                for wy in np.arange(y + step / 2, y + h - step / 2, step * 1.8):
                    draw.rectangle([wx, wy, wx + step, wy + step * 1.1], fill=win)
    for _ in range(int(rng.integers(0, 4))):  # banners and flags with stripes
        w, h = rng.uniform(0.1, 0.5) * width, rng.uniform(0.03, 0.15) * height
        x, y = rng.uniform(0, 1) * width - w / 2, rng.uniform(0, 1) * height - h / 2
        ca, cb = _jitter(rng, pal[rng.integers(len(pal))], 40), _jitter(rng, pal[rng.integers(len(pal))], 40)
        stripe = rng.uniform(0.01, 0.04) * width
        for k, sx in enumerate(np.arange(x, x + w, stripe)):
            draw.rectangle([sx, y, sx + stripe, y + h], fill=ca if k % 2 else cb)
    for _ in range(int(rng.integers(0, 4))):  # signs with text-like marks
        w, h = rng.uniform(0.05, 0.2) * width, rng.uniform(0.03, 0.08) * width
        x, y = rng.uniform(0, 1) * width, rng.uniform(0, 1) * height
        draw.rectangle([x, y, x + w, y + h], fill=_jitter(rng, (235, 235, 225), 20))
        ink = _jitter(rng, (30, 30, 40), 20)
        for lx in np.arange(x + 0.1 * h, x + w - 0.3 * h, 0.45 * h):
            if rng.random() < 0.85:
                draw.rectangle([lx, y + 0.3 * h, lx + 0.3 * h, y + 0.7 * h], fill=ink)
    for _ in range(int(rng.integers(3, 15))):  # poles, wires, edges
        x1, y1, x2, y2 = rng.uniform(0, 1, 4) * (width, height, width, height)
        draw.line([x1, y1, x2, y2], fill=_jitter(rng, pal[rng.integers(len(pal))], 40), width=int(rng.integers(1, 5)))
    for _ in range(int(rng.integers(3, 12))):  # polygons: roofs, bunting, tents
        cx, cy = rng.uniform(0, 1) * width, rng.uniform(0, 1) * height
        r = rng.uniform(0.01, 0.12) * width
        pts = [(cx + r * math.cos(t), cy + r * math.sin(t)) for t in np.sort(rng.uniform(0, 2 * np.pi, 5))]
        draw.polygon(pts, fill=_jitter(rng, pal[rng.integers(len(pal))], 40))
    n_blobs = int(rng.integers(10, 40) * area / 200_000) + 5  # foliage, stones, lamps, balloons
    for _ in range(n_blobs):
        cx, cy = rng.uniform(0, 1) * width, rng.uniform(0, 1) * height
        rx = rng.lognormal(np.log(0.01 * width), 0.7)
        ry = rx * rng.uniform(0.5, 1.5)
        draw.ellipse([cx - rx, cy - ry, cx + rx, cy + ry], fill=_jitter(rng, pal[rng.integers(len(pal))], 50))
    return img


def _draw_distractors(rng: np.random.Generator, img: Image.Image, scene: Scene) -> None:
    """Face-like things that are NOT faces, at the sizes of the image's faces (or WIDER-like ones)."""
    draw = ImageDraw.Draw(img)
    width, height = scene.width, scene.height
    n = int(rng.integers(3, 12)) + len(scene.boxes) // 4
    if len(scene.boxes):
        sizes = scene.scales[rng.integers(0, len(scene.boxes), size=n)] * rng.uniform(0.6, 1.6, size=n)
    else:
        sizes = rng.lognormal(np.log(0.03 * width), 0.8, size=n)
    kinds = rng.choice(7, size=n, p=[0.22, 0.16, 0.2, 0.1, 0.1, 0.1, 0.12])
    for kind, s in zip(kinds, sizes):
        a, b = s * 0.45, s * 0.56
        cx, cy = rng.uniform(0, 1) * width, rng.uniform(0.05, 0.95) * height
        skin = tuple(int(v) for v in _skin_colors(rng, 1)[0])
        other = _jitter(rng, PALETTES["5--Market"][rng.integers(6)], 60)
        dark = _jitter(rng, (30, 25, 25), 10)
        if kind == 0:  # bare skin: a hand, an arm, a knee
            draw.ellipse([cx - a, cy - b * rng.uniform(0.6, 1.4), cx + a, cy + b], fill=skin)
        elif kind == 1:  # a round object with two dots: button, ball, plate
            draw.ellipse([cx - a, cy - a, cx + a, cy + a], fill=other)
            for sx in (-0.35, 0.35):
                d = max(0.12 * a, 0.4)
                draw.ellipse([cx + sx * a - d, cy - 0.2 * a - d, cx + sx * a + d, cy - 0.2 * a + d], fill=dark)
        elif kind == 2:  # the back of a head on shoulders: hair, ears, no face
            hair = tuple(int(v) for v in HAIR_COLORS[rng.choice(len(HAIR_COLORS), p=HAIR_P)])
            draw.rounded_rectangle([cx - 1.9 * a, cy + 1.4 * b, cx + 1.9 * a, cy + 4 * b], radius=a, fill=other)
            for sx in (-1, 1):
                draw.ellipse([cx + sx * a - 0.25 * a, cy - 0.1 * b, cx + sx * a + 0.25 * a, cy + 0.4 * b], fill=skin)
            draw.ellipse([cx - a, cy - 1.2 * b, cx + a, cy + 1.05 * b], fill=hair)
        elif kind == 3:  # a clock or a wheel
            rim = max(1, int(0.15 * a))
            draw.ellipse([cx - a, cy - a, cx + a, cy + a], fill=(235, 235, 230), outline=dark, width=rim)
            draw.line([cx, cy, cx + 0.6 * a, cy - 0.3 * a], fill=dark, width=max(1, int(0.08 * a)))
            draw.line([cx, cy, cx - 0.1 * a, cy + 0.7 * a], fill=dark, width=max(1, int(0.08 * a)))
        elif kind == 4:  # an eye-like pair on the background (an animal, two lamps)
            for sx in (-0.4, 0.4):
                ex = cx + sx * a
                draw.ellipse([ex - 0.18 * a, cy - 0.1 * a, ex + 0.18 * a, cy + 0.1 * a], fill=(240, 240, 235))
                d = max(0.08 * a, 0.4)
                draw.ellipse([cx + sx * a - d, cy - d, cx + sx * a + d, cy + d], fill=dark)
        elif kind == 5:  # a skin-coloured oval with blobs in the wrong places
            draw.ellipse([cx - a, cy - b, cx + a, cy + b], fill=skin)
            for _ in range(int(rng.integers(2, 6))):
                px, py = cx + rng.uniform(-0.6, 0.6) * a, cy + rng.uniform(-0.7, 0.7) * b
                d = max(rng.uniform(0.06, 0.16) * a, 0.4)
                draw.ellipse([px - d, py - d, px + d, py + d], fill=_jitter(rng, (70, 50, 40), 30))
        else:  # a balloon or a lamp: a plain oval of any colour
            draw.ellipse([cx - a, cy - b, cx + a, cy + b], fill=other)


def _draw_body(draw: ImageDraw.ImageDraw, scene: Scene, i: int) -> None:
    """Shoulders and chest below face i (inside :func:`_body_rect`'s rectangle)."""
    x, y, w, h = scene.boxes[i]
    cx = x + w / 2
    shirt = tuple(int(v) for v in scene.shirt[i])
    radius = max(0.55 * w, 0.5)
    draw.rounded_rectangle([cx - 1.15 * w, y + 1.2 * h, cx + 1.15 * w, y + 3.2 * h], radius=radius, fill=shirt)


def _render_head(scene: Scene, i: int) -> tuple[Image.Image, tuple[int, int]]:
    """RGBA patch of head i (hair, ears, neck, face, features, accessories; roll, blur, light) and its
    top-left corner in the image. Drawn at a higher resolution and downsampled, so tiny faces are the
    average of a real face drawing, not a single dot."""
    x, y, w, h = scene.boxes[i]
    a, b = scene.axes[i]
    cx, cy = x + w / 2, y + h / 2
    radius = 2.05 * max(a, b)  # room for a hat above and the neck below
    x0, y0 = math.floor(cx - radius), math.floor(cy - radius)
    pw, ph = math.ceil(cx + radius) - x0, math.ceil(cy + radius) - y0
    k = int(np.clip(math.ceil(24.0 / b), 1, 16))
    skin = tuple(int(v) for v in scene.skin[i])
    img = Image.new("RGBA", (pw * k, ph * k), (*skin, 0))  # transparent skin: no dark fringe when blurred
    _draw_face(ImageDraw.Draw(img), scene, i, X=(cx - x0) * k, Y=(cy - y0) * k, A=a * k, B=b * k)
    if abs(scene.roll[i]) > 2.0:
        img = img.rotate(float(scene.roll[i]), resample=Image.BILINEAR, center=((cx - x0) * k, (cy - y0) * k))
    if scene.blur_sigma[i] > 0:
        img = img.filter(ImageFilter.GaussianBlur(radius=float(scene.blur_sigma[i]) * k))
    img = img.resize((pw, ph), Image.BOX)
    arr = np.asarray(img).astype(np.float32)
    arr[..., :3] *= _light_map(scene.light[i], pw, ph)[..., None]
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)), (x0, y0)


def _light_map(light: np.ndarray, width: int, height: int) -> np.ndarray:
    """(height, width) gain: light = (gain, angle, strength); a linear gradient across the patch."""
    gain, angle, strength = light
    proj = (2 * _ramp(width, height, angle) - 1) * 2  # -1..1 over the middle half of the patch
    return np.float32(gain) * np.clip(1.0 + np.float32(strength) * np.clip(proj, -1, 1), 0.05, None)


def _ramp(width: int, height: int, angle: float) -> np.ndarray:
    """(height, width) float32 from 0 to 1 along the direction ``angle`` (radians)."""
    x = np.arange(width, dtype=np.float32) * np.float32(math.cos(angle))
    y = np.arange(height, dtype=np.float32) * np.float32(math.sin(angle))
    g = y[:, None] + x[None, :]
    lo, hi = float(g.min()), float(g.max())
    return (g - lo) / max(hi - lo, 1e-6)


def _scaled(color, f: float) -> tuple[int, int, int]:
    return tuple(int(min(255, max(0, c * f))) for c in color)


def _draw_face(d: ImageDraw.ImageDraw, scene: Scene, i: int, X: float, Y: float, A: float, B: float) -> None:
    """Draw head i centred at (X, Y) with face semi-axes (A, B), in patch pixels.

    Coordinates (u, v) are in units of the semi-axes, u right, v down. Yaw turns the features on a
    cylinder: a feature at angle alpha on the head sits at u = sin(alpha) and shows if cos(alpha) > 0.
    """
    skin = tuple(int(v) for v in scene.skin[i])
    hair = tuple(int(v) for v in scene.hair[i])
    style, accessory, mouth = int(scene.hair_style[i]), int(scene.accessory[i]), int(scene.mouth[i])
    psi = math.asin(float(np.clip(scene.yaw[i], -1, 1)))
    down = 0.22 if scene.look_down[i] else 0.0
    line = max(1, round(0.06 * B))

    def pt(u, v):
        return (X + u * A, Y + v * B)

    def box(u, v, ru, rv):
        return [*pt(u - ru, v - rv), *pt(u + ru, v + rv)]

    if style == 2:  # long hair, behind the head
        d.rounded_rectangle([X - 1.2 * A, Y - 1.3 * B, X + 1.2 * A, Y + 1.1 * B], radius=A, fill=hair)
    d.rectangle([X - 0.33 * A, Y + 0.5 * B, X + 0.33 * A, Y + 1.9 * B], fill=_scaled(skin, 0.9))  # neck
    for side in (-1, 1):  # ears at alpha = psi -+ 90 degrees
        if -side * math.sin(psi) > -0.4:
            u = side * 0.97 * math.cos(psi) - 0.2 * math.sin(psi)
            d.ellipse(box(u, 0.05 + down / 2, 0.14, 0.24), fill=_scaled(skin, 0.9))
    if style != 0:
        d.ellipse(box(0, -0.18, 1.02, 1.12), fill=hair)  # skull
    d.ellipse(box(0, 0, 1, 1), fill=skin)  # the face: the annotated box
    if style != 0:  # fringe down to the hairline
        d.chord(box(0, -0.18, 1.02, 1.12), 185 if down else 200, 355 if down else 340, fill=hair)
    if scene.beard[i]:
        d.chord(box(0, 0, 1, 1), 15, 165, fill=hair)

    eye_v = -0.12 + down
    eyes = []
    for side in (-1, 1):
        alpha = psi + side * 0.42
        if math.cos(alpha) > 0.15:
            eyes.append((0.95 * math.sin(alpha), math.cos(alpha)))
    brow = _scaled(hair, 0.8) if style != 0 else (60, 45, 35)
    for u, c in eyes:
        if scene.look_down[i]:  # eyelids down
            d.line([pt(u - 0.15 * c, eye_v), pt(u + 0.15 * c, eye_v)], fill=(50, 35, 30), width=line)
        else:
            d.ellipse(box(u, eye_v, 0.17 * c, 0.09), fill=(245, 245, 240))
            d.ellipse(box(u + 0.04 * math.sin(psi), eye_v, 0.08 * c, 0.08), fill=(45, 35, 30))
        d.line([pt(u - 0.2 * c, eye_v - 0.2), pt(u + 0.2 * c, eye_v - 0.23)], fill=brow, width=line)

    nose_u = 0.98 * math.sin(psi)
    tip = nose_u + 0.16 * math.sin(psi)
    d.polygon(
        [pt(nose_u, -0.05 + down), pt(tip, 0.26 + down), pt(nose_u - 0.1 * math.cos(psi), 0.3 + down)],
        fill=_scaled(skin, 0.8),
    )
    if abs(math.sin(psi)) > 0.7:  # profile: the nose stands out of the outline
        d.polygon(
            [pt(0.9 * nose_u, -0.05 + down), pt(1.15 * tip, 0.24 + down), pt(0.9 * nose_u, 0.32 + down)],
            fill=skin,
        )

    mu, mv, mw = 0.85 * math.sin(psi), 0.55 + down * 0.6, 0.3 * math.cos(psi) + 0.05
    lips = (int(skin[0] * 0.7), int(skin[1] * 0.42), int(skin[2] * 0.45))
    if mouth == 0:
        d.line([pt(mu - mw, mv), pt(mu + mw, mv)], fill=lips, width=line)
    elif mouth == 1:
        d.arc(box(mu, mv - 0.12, mw, 0.15), 20, 160, fill=lips, width=line)
    elif mouth == 2:  # exaggerated: a wide open "O"
        d.ellipse(box(mu, mv, 0.5 * mw + 0.05, 0.22), fill=(60, 20, 25))
    else:  # exaggerated: a laugh with teeth
        d.chord(box(mu, mv - 0.12, mw * 1.2, 0.32), 0, 180, fill=(60, 20, 25))
        d.rectangle([pt(mu - mw, mv - 0.12), pt(mu + mw, mv - 0.02)], fill=(240, 240, 230))

    if accessory == 1:  # glasses: see-through rings
        for u, c in eyes:
            d.ellipse(box(u, eye_v, 0.27 * c, 0.16), outline=(30, 30, 30), width=line)
        if len(eyes) == 2:
            (u0, c0), (u1, c1) = eyes
            d.line([pt(u0 + 0.27 * c0, eye_v), pt(u1 - 0.27 * c1, eye_v)], fill=(30, 30, 30), width=line)
    elif accessory == 2:  # sunglasses: the two lenses of _ACCESSORY_COVER
        for u in (-0.38, 0.38):
            d.ellipse(box(u + 0.3 * math.sin(psi), -0.12, 0.32, 0.2), fill=(15, 15, 20))
        shift = 0.3 * math.sin(psi)
        d.line([pt(shift - 0.1, -0.15), pt(shift + 0.1, -0.15)], fill=(15, 15, 20), width=line)
    elif accessory == 3:  # mask: the face below v = 0.05
        color = (210, 225, 235) if (i % 3) else (40, 40, 45)
        d.chord(box(0, 0, 1.02, 1.02), 3, 177, fill=color)
        d.line([X - 1.0 * A, Y + 0.1 * B, X - 0.85 * A, Y - 0.1 * B], fill=color, width=line)
        d.line([X + 1.0 * A, Y + 0.1 * B, X + 0.85 * A, Y - 0.1 * B], fill=color, width=line)
    elif accessory in (4, 5):  # hat: brim above the face (4) or over the brows (5)
        color = _scaled(hair, 0.6) if (i % 2) else tuple(int(v) for v in scene.shirt[i][[2, 0, 1]])
        brim = -1.02 if accessory == 4 else -0.62
        d.rectangle([X - 0.9 * A, Y + (brim - 0.95) * B, X + 0.9 * A, Y + brim * B], fill=color)
        d.ellipse(box(0, brim, 1.3, 0.1), fill=color)


def _draw_occluder(draw: ImageDraw.ImageDraw, rng: np.random.Generator, rect: np.ndarray, color: np.ndarray) -> None:
    """An object in front of a face (sign, bag, hand, another head's hat): the planned rectangle."""
    fill = tuple(int(v) for v in color)
    if rng.random() < 0.3:  # some are skin: a hand or an arm in front
        fill = tuple(int(v) for v in _skin_colors(rng, 1)[0])
    draw.rectangle([float(v) for v in rect], fill=fill)


def _finish(rng: np.random.Generator, img: Image.Image, gain: float) -> Image.Image:
    """Image lighting (a mild gradient, or dim with a colour cast) and sensor noise."""
    arr = np.asarray(img)
    h, w = arr.shape[:2]
    light = _light_map(np.array([gain, rng.uniform(0, 2 * np.pi), rng.uniform(0.0, 0.15)]), w, h)
    cast = np.ones(3) if gain >= 0.45 else rng.uniform(0.7, 1.2, size=3)
    sd = np.float32(rng.uniform(1.5, 6.0))
    channels = []
    for c in range(3):  # per channel, as in _background
        out = arr[..., c] * (light * np.float32(cast[c]))
        out += rng.standard_normal(size=(h, w), dtype=np.float32) * sd
        channels.append(np.clip(out, 0, 255).astype(np.uint8))
    return Image.fromarray(np.stack(channels, axis=-1))
