"""Rendering: an identity's appearance painted through head pose (a painter and its draw functions), aligned like a
detection pipeline or cut as a loose crop, then degraded by the image's nuisance."""

from __future__ import annotations

import math

import cv2
import numpy as np
from scipy.special import ndtr

from x2softmax.data.align import similarity_transform, template
from x2softmax.data.pixels import blend, correlate, motion_kernel
from x2softmax.data.synthetic.nuisance import draw_condition, nuisance_at
from x2softmax.data.synthetic.population import FIELDS, S_BENCH, image_latent, population, stream_rng
from x2softmax.data.synthetic.settings import resolve_config

TEMPLATE_112 = template(112)
_LOW = np.array([f[1] for f in FIELDS])
_SPAN = np.array([f[2] - f[1] for f in FIELDS])
_NAMES = tuple(f[0] for f in FIELDS)

_SKIN = np.array([[255, 226, 200], [240, 196, 165], [222, 170, 120], [196, 136, 90], [150, 96, 60], [95, 60, 42]])
_HAIR = np.array(
    [[22, 18, 16], [55, 36, 26], [95, 62, 38], [135, 70, 38], [170, 130, 80], [215, 190, 130], [232, 215, 170]]
)
_IRIS = np.array([[45, 28, 18], [90, 55, 30], [120, 95, 45], [70, 110, 70], [70, 110, 160], [120, 130, 140]])
_FRAMES = np.array([[20, 20, 20], [90, 55, 30], [170, 170, 175], [190, 160, 80], [140, 30, 40], [30, 50, 120]])
_GREY_HAIR = np.array([195.0, 195.0, 198.0])
_CIRCLE = np.exp(1j * np.linspace(0.0, 2.0 * np.pi, 20, endpoint=False))


def _palette(table: np.ndarray, t: float) -> np.ndarray:
    pos = float(np.clip(t, 0.0, 1.0)) * (len(table) - 1)
    i = min(int(pos), len(table) - 2)
    return table[i] + (pos - i) * (table[i + 1] - table[i])


def _colour(c: np.ndarray) -> tuple[float, float, float]:
    c = np.clip(c, 0, 255)
    return float(c[0]), float(c[1]), float(c[2])


def _appearance(latent: np.ndarray, age_shift: float) -> dict:
    """Physical appearance (geometry in face units, colours in RGB) of one image of an identity."""
    v = dict(zip(_NAMES, (_LOW + _SPAN * ndtr(latent)).tolist()))
    age = float(np.clip(v["age"] + age_shift, 0.0, 1.0))
    v["age"] = age
    skin = _palette(_SKIN, v["skin_tone"]) + v["skin_hue"] * np.array([6.0, 0.0, -8.0])
    v["skin"] = skin * (1.0 - 0.1 * age) + np.array([4.0, 2.0, -6.0]) * age
    hair = _palette(_HAIR, v["hair_color"])
    grey = float(np.clip((age - 0.45) / 0.4, 0.0, 1.0))
    v["hair"] = hair + grey * (_GREY_HAIR - hair)
    v["brow"] = v["hair"] * (1.1 - 0.55 * v["brow_dark"]) + 0.2 * (1 - v["brow_dark"]) * skin
    v["iris_rgb"] = _palette(_IRIS, v["iris"])
    v["lip"] = v["skin"] * 0.62 + np.array([178.0, 62.0, 72.0]) * (0.12 + 0.28 * v["lip_red"])
    v["frame"] = _FRAMES[min(int(v["glasses_color"] * len(_FRAMES)), len(_FRAMES) - 1)]
    v["hairline"] += 12.0 * max(0.0, age - 0.5) * (v["beard"] > 0.5)
    v["wrinkles"] = float(np.clip((age - 0.3) / 0.5, 0.0, 1.0))
    return v


class _Painter:
    """Draws face-unit geometry onto an image through head pose (yaw, pitch) and a similarity a*z + b."""

    def __init__(self, img: np.ndarray, face_hw: float, yaw: float, pitch: float) -> None:
        self.img = img
        self.depth = face_hw * 1.05
        self.cy, self.sy = math.cos(yaw), math.sin(yaw)
        self.cp, self.sp = math.cos(pitch), math.sin(pitch)
        self.a, self.b = 1.0 + 0j, 0j
        self.centre_y = 62.0

    def surface(self, x: np.ndarray, y: np.ndarray, lift: float | np.ndarray = 0.0) -> np.ndarray:
        """Project points on the face surface (depth from a round head, plus `lift`) to posed face units."""
        z = self.depth * np.sqrt(np.maximum(1.0 - (x / self.depth) ** 2, 0.0)) + lift
        return (x * self.cy + z * self.sy) + 1j * (self.centre_y + (y - self.centre_y) * self.cp + 0.6 * z * self.sp)

    def silhouette(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Posed face units of silhouette points (the head outline barely moves with pose)."""
        return x * math.sqrt(self.cy**2 + 0.8 * self.sy**2) + 1j * (self.centre_y + (y - self.centre_y) * self.cp)

    def pixels(self, z: np.ndarray) -> np.ndarray:
        """Posed face units (complex) to output pixels (complex)."""
        return self.a * z + self.b

    def _pts(self, z: np.ndarray) -> list[np.ndarray]:
        p = self.pixels(np.asarray(z)) * 16.0
        return [np.stack([p.real, p.imag], axis=-1).round().astype(np.int32).reshape(-1, 1, 2)]

    def fill(self, z: np.ndarray, colour: np.ndarray, alpha: float = 1.0) -> None:
        """Fill the polygon `z` (posed face units), blended with `alpha`."""
        if alpha >= 0.999:
            cv2.fillPoly(self.img, self._pts(z), _colour(colour), cv2.LINE_AA, 4)
            return
        layer = self.img.copy()
        cv2.fillPoly(layer, self._pts(z), _colour(colour), cv2.LINE_AA, 4)
        self.img[:] = blend(layer, self.img, alpha)

    def line(self, z: np.ndarray, colour: np.ndarray, width: float, closed: bool = False) -> None:
        """Draw the polyline `z` (posed face units) `width` face units wide."""
        thickness = max(1, int(round(width * abs(self.a))))
        cv2.polylines(self.img, self._pts(z), closed, _colour(colour), thickness, cv2.LINE_AA, 4)


def _ellipse(cx: float, cy: float, rx: float, ry: float, tilt: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    pts = (_CIRCLE.real * rx + 1j * _CIRCLE.imag * ry) * np.exp(1j * tilt)
    return cx + pts.real, cy + pts.imag


def _landmarks(v: dict, cond: dict, painter: _Painter) -> np.ndarray:
    """The 5 landmarks (left eye, right eye, nose tip, left/right mouth corner) in posed face units."""
    mouth_hw = v["mouth_hw"] * (1.0 + 0.1 * cond["smile"])
    corner_y = v["mouth_y"] - 2.5 * cond["smile"]
    x = np.array([-v["eye_dx"], v["eye_dx"], 0.0, -mouth_hw, mouth_hw])
    y = np.array([v["eye_y"], v["eye_y"], v["nose_y"], corner_y, corner_y])
    lift = np.array([0.0, 0.0, 0.45 * v["nose_len"], 1.5, 1.5])
    return painter.surface(x, y, lift)


def _outline(v: dict, n: int = 36) -> tuple[np.ndarray, np.ndarray]:
    """Head outline (unposed face units), clockwise from the right cheek."""
    t = np.linspace(0.0, 2.0 * np.pi, n, endpoint=False)
    s = np.sin(t)
    y0, ry = 0.5 * (v["face_top"] + v["chin_y"]), 0.5 * (v["chin_y"] - v["face_top"])
    shape = np.where(s > 0, 1.0 - (1.0 - v["jaw"]) * s**2, 1.0 - (1.0 - v["cheek"]) * s**2)
    return v["face_hw"] * np.cos(t) * shape, y0 + ry * s


def _draw_scene(p: _Painter, v: dict, cond: dict, rng: np.random.Generator) -> None:
    """Background, body, hair, face and features, accessories and occluder, in drawing order."""
    img, hw = p.img, v["face_hw"]
    h, w = img.shape[:2]
    small = np.empty((24, 24, 3), np.uint8)  # blurred clutter, drawn small and enlarged (cheap bokeh)
    small[:] = cond["background"]
    for _ in range(3):
        centre = (int(rng.uniform(0, 24)), int(rng.uniform(0, 24)))
        axes = (int(rng.uniform(2, 12)), int(rng.uniform(2, 12)))
        cv2.ellipse(small, centre, axes, rng.uniform(0, 180), 0, 360, _colour(rng.uniform(0, 255, 3)), -1)
    cv2.resize(cv2.GaussianBlur(small, (0, 0), 0.8), (w, h), dst=img, interpolation=cv2.INTER_LINEAR)

    skin, hair = v["skin"], v["hair"]
    style = min(int(v["hair_style"] * 7), 6)  # bald, buzz, short, long, fringe, swept, curly
    volume = v["hair_volume"] * (2.0 if style == 6 else 1.0)
    ox, oy = _outline(v)
    back = -0.5 * hw * p.sy
    if style == 3:  # long hair behind the head and neck
        hx = np.array([-hw - volume, hw + volume, hw + volume + 6, -hw - volume - 6])
        hy = np.array([v["face_top"] + 15, v["face_top"] + 15, v["chin_y"] + 28, v["chin_y"] + 28])
        p.fill(p.silhouette(hx, hy) + back, hair)
    nx = np.array([-0.5 * hw, 0.5 * hw, 0.55 * hw, -0.55 * hw])
    ny = np.array([v["chin_y"] - 25, v["chin_y"] - 25, 230.0, 230.0])
    p.fill(p.silhouette(nx, ny), skin * 0.8)
    sx = np.array([-0.6 * hw, 0.6 * hw, 2.8 * hw, 2.8 * hw, -2.8 * hw, -2.8 * hw])
    sy = np.array([v["chin_y"] + 12, v["chin_y"] + 12, v["chin_y"] + 40, 260.0, 260.0, v["chin_y"] + 40])
    p.fill(p.silhouette(sx, sy), cond["clothes"])
    if style >= 2:  # hair cap behind the face
        up = oy < 0.5 * (v["face_top"] + v["chin_y"]) + 6
        cap = p.silhouette(ox * (1 + volume / hw), oy - volume * (oy < 60))
        p.fill(cap[up] if up.sum() > 2 else cap, hair)

    ear_y, ear = v["eye_y"] + 10.0, v["ear_size"]
    side = math.copysign(1.0, -p.sy) if abs(p.sy) > 0.25 else 0.0
    if side == 0.0:  # frontal: both ears peek out behind the cheeks
        for sgn in (-1.0, 1.0):
            ex, ey = _ellipse(sgn * (hw * 0.97 + 2.0 * ear), ear_y, 4.5 * ear, 9.0 * ear)
            p.fill(p.silhouette(ex, ey), skin * 0.9)
    chin = np.clip((oy - oy.mean()) / (v["chin_y"] - oy.mean()), 0.0, 1.0) ** 4  # the chin turns with the head
    p.fill(p.silhouette(ox, oy) + 0.35 * hw * p.sy * chin, skin)
    if side != 0.0:  # turned head: the trailing ear lies on the side of the head
        ex, ey = _ellipse(side * hw * 0.98, ear_y, 4.0 * ear, 9.0 * ear)
        z = ex * p.cy + 1j * (p.centre_y + (ey - p.centre_y) * p.cp)
        p.fill(z, skin * 0.88)
        p.line(z, skin * 0.7, 0.8, closed=True)

    _draw_marks(p, v)
    _draw_eyes(p, v, cond)
    _draw_brows(p, v, cond)
    _draw_nose(p, v)
    _draw_beard(p, v, ox, oy)
    _draw_mouth(p, v, cond)
    if style != 0:
        _draw_front_hair(p, v, style, volume, ox, oy)
    if v["glasses"] > 0.82 or cond["sunglasses"]:
        _draw_glasses(p, v, cond)
    if cond["occlusion"]:
        _draw_occluder(p, v, cond, rng)


def _draw_marks(p: _Painter, v: dict) -> None:
    skin, hw = v["skin"], v["face_hw"]
    if v["blush"] > 0.5:
        for sgn in (-1.0, 1.0):
            bx, by = _ellipse(sgn * v["eye_dx"] * 1.1, v["nose_y"] + 2.0, 6.0, 4.0)
            p.fill(p.surface(bx, by), np.array([220.0, 90.0, 90.0]), alpha=0.35 * (v["blush"] - 0.5))
    if v["mole"] > 0.7:
        mx, my = _ellipse(v["mole_x"] * hw * 0.6, v["nose_y"] - 6.0 + 16.0 * v["mole_y"], 1.1, 1.1)
        p.fill(p.surface(mx, my), skin * 0.45)
    wr = v["wrinkles"]
    if wr > 0:
        line_colour = skin * (1.0 - 0.3 * wr)
        for k in range(3):
            y = v["hairline"] + 5.0 + 4.0 * k
            if y < v["eye_y"] - v["brow_gap"] - 5:
                x = np.linspace(-0.45 * hw, 0.45 * hw, 7)
                p.line(p.surface(x, y - 1.5 * np.cos(x / hw * 3.0)), line_colour, 0.8)
        for sgn in (-1.0, 1.0):
            x = sgn * np.array([0.55 * v["nose_w"] + 1, 0.6 * v["mouth_hw"] + 3, v["mouth_hw"] + 3])
            y = np.array([v["nose_y"] - 1.0, v["nose_y"] + 8.0, v["mouth_y"] + 4.0])
            p.line(p.surface(x, y), line_colour, 0.9)


def _draw_eyes(p: _Painter, v: dict, cond: dict) -> None:
    t = np.linspace(0, 2 * np.pi, 16, endpoint=False)
    open_ = cond["eye_open"]
    eh_up, eh_low = v["eye_h"] * open_, 0.7 * v["eye_h"] * open_
    for sgn in (-1.0, 1.0):
        ex, ey = sgn * v["eye_dx"], v["eye_y"]
        tilt = -sgn * v["eye_tilt"]
        dx, dy = v["eye_w"] * np.cos(t), np.where(np.sin(t) < 0, eh_up, eh_low) * np.sin(t)
        rot = (dx + 1j * dy) * np.exp(1j * tilt)
        p.fill(p.surface(ex + rot.real, ey + rot.imag), np.array([228.0, 222.0, 215.0]))
        radius = min(0.9 * v["eye_w"], 1.3 * v["eye_h"] * v["iris_size"])
        ix, iy = _ellipse(ex + cond["gaze"] * v["eye_w"] * 0.5, ey, radius, radius)
        iy = np.clip(iy, ey - eh_up * 0.95, ey + eh_low * 0.95)
        p.fill(p.surface(ix, iy), v["iris_rgb"])
        px, py = _ellipse(ex + cond["gaze"] * v["eye_w"] * 0.5, ey, 0.42 * radius, 0.42 * radius)
        p.fill(p.surface(px, np.clip(py, ey - eh_up, ey + eh_low)), np.array([15.0, 12.0, 12.0]))
        upper = np.sin(t) <= 0
        p.line(p.surface(ex + rot.real[upper], ey + rot.imag[upper]), v["skin"] * 0.35, 0.9)


def _draw_brows(p: _Painter, v: dict, cond: dict) -> None:
    t = np.linspace(0.0, 1.0, 8)
    base_y = v["eye_y"] - v["brow_gap"] - 3.0 * cond["brow_raise"]
    for sgn in (-1.0, 1.0):
        x = sgn * (v["eye_dx"] - 0.45 * v["brow_len"] + v["brow_len"] * t)
        y = base_y - v["brow_arch"] * np.sin(np.pi * t) - v["brow_slant"] * (t - 0.5) * v["brow_len"]
        half = 0.5 * v["brow_thick"] * (1.0 - 0.5 * t)
        p.fill(p.surface(np.concatenate([x, x[::-1]]), np.concatenate([y - half, (y + half)[::-1]])), v["brow"])


def _draw_nose(p: _Painter, v: dict) -> None:
    skin, ny, nw, nl = v["skin"], v["nose_y"], v["nose_w"], v["nose_len"]
    tip = 0.45 * nl
    s = -1.0 if p.sy >= 0 else 1.0
    t = np.linspace(0.0, 1.0, 6)
    p.line(p.surface(s * (1.0 + 0.8 * t), ny - nl + (nl - 3.0) * t, tip * t), skin * 0.78, 1.2)
    for sgn in (-1.0, 1.0):
        wx = sgn * np.array([0.3 * nw, 0.5 * nw, 0.45 * nw, 0.25 * nw])
        wy = ny + np.array([-3.0, -0.5, 2.0, 2.5])
        p.line(p.surface(wx, wy, 0.3 * tip), skin * 0.7, 1.0)
        nx, nyy = _ellipse(sgn * 0.28 * nw, ny + 1.8, 1.7, 1.0)
        p.fill(p.surface(nx, nyy, 0.35 * tip), skin * 0.4)
    hx, hy = _ellipse(0.0, ny - 1.5, 1.6, 1.4)
    p.fill(p.surface(hx, hy, tip), skin * 1.1 + 8.0)


def _draw_mouth(p: _Painter, v: dict, cond: dict) -> None:
    smile, open_ = cond["smile"], 5.0 * cond["open"]
    hw = v["mouth_hw"] * (1.0 + 0.1 * smile)
    x = np.linspace(-hw, hw, 11)
    r = np.sqrt(np.clip(1.0 - (x / hw) ** 2, 0.0, 1.0)) ** 0.6
    mid = v["mouth_y"] - 2.5 * smile * (x / hw) ** 2
    upper = mid - v["lip_up"] * r * (1.0 - 0.35 * np.exp(-((x / 2.5) ** 2)))
    lower = mid + open_ * r + v["lip_low"] * r
    if open_ > 0.4:
        p.fill(p.surface(np.concatenate([x, x[::-1]]), np.concatenate([mid, (mid + open_ * r)[::-1]]), 1.5),
               np.array([70.0, 25.0, 30.0]))
        if smile > 0.3:
            xi, top, teeth = x[2:-2], mid[2:-2], (mid + 0.45 * open_ * r)[2:-2]
            band = p.surface(np.concatenate([xi, xi[::-1]]), np.concatenate([top, teeth[::-1]]), 1.5)
            p.fill(band, np.array([235.0, 230.0, 215.0]))
    p.fill(p.surface(np.concatenate([x, x[::-1]]), np.concatenate([upper, mid[::-1]]), 1.5), v["lip"] * 0.92)
    p.fill(p.surface(np.concatenate([x, x[::-1]]), np.concatenate([mid + open_ * r, lower[::-1]]), 1.5), v["lip"])
    p.line(p.surface(x, mid + (open_ * r if open_ > 0.4 else 0.0), 1.5), v["lip"] * 0.6, 0.7)


def _draw_beard(p: _Painter, v: dict, ox: np.ndarray, oy: np.ndarray) -> None:
    kind = v["beard"]
    if kind < 0.62:
        return
    colour, density = v["hair"] * 0.9, v["beard_density"]
    mx = np.linspace(-(v["mouth_hw"] + 2.0), v["mouth_hw"] + 2.0, 7)
    top = v["nose_y"] + 4.0
    moustache_x = np.concatenate([mx, mx[::-1]])
    moustache_y = np.concatenate([np.full(7, top), np.full(7, v["mouth_y"] - 0.5 * v["lip_up"])])
    if kind < 0.72:  # moustache
        p.fill(p.surface(moustache_x, moustache_y, 1.0), colour, alpha=density)
    elif kind < 0.8:  # goatee
        p.fill(p.surface(moustache_x, moustache_y, 1.0), colour, alpha=density)
        height = 0.5 * (v["chin_y"] - v["mouth_y"])
        gx, gy = _ellipse(0.0, v["mouth_y"] + height + 3.0, 0.6 * v["mouth_hw"], height)
        p.fill(p.surface(gx, gy, 1.0), colour, alpha=density)
    else:  # full beard (dense) or stubble (faint)
        low = oy > v["nose_y"] + 2.0
        jaw = p.silhouette(ox[low], oy[low]) + 0.35 * v["face_hw"] * p.sy * 0.5
        x = np.linspace(-v["face_hw"] * 0.85, v["face_hw"] * 0.85, 7)
        across = p.surface(x, top + 10.0 * (x / v["face_hw"]) ** 2, 1.0)
        alpha = density if kind < 0.92 else 0.3 * density
        p.fill(np.concatenate([jaw, across]), colour, alpha=alpha)


def _draw_front_hair(p: _Painter, v: dict, style: int, volume: float, ox: np.ndarray, oy: np.ndarray) -> None:
    hw, hair = v["face_hw"], v["hair"]
    line_y = v["hairline"] + (10.0 if style == 4 else 0.0)
    x = np.linspace(-hw * 0.92, hw * 0.92, 13)
    curve = line_y + 4.0 * (x / hw) ** 2 * (style != 4)
    if style == 5:
        curve = curve + 6.0 * v["hair_part"] * (x / hw)
    front = p.surface(x, np.minimum(curve, v["eye_y"] - v["brow_gap"] - 4.0))
    upper = oy < line_y
    order = np.argsort(-ox[upper])  # right to left across the top
    top = p.silhouette((ox[upper] * (1 + volume / hw))[order], (oy[upper] - volume)[order])
    p.fill(np.concatenate([front, top]), hair, alpha=0.45 if style == 1 else 1.0)


def _draw_glasses(p: _Painter, v: dict, cond: dict) -> None:
    t = np.linspace(0, 2 * np.pi, 20, endpoint=False)
    power = 2.0 + 6.0 * v["glasses_shape"]
    c, s = np.cos(t), np.sin(t)
    sx = np.sign(c) * np.abs(c) ** (2.0 / power)
    sy = np.sign(s) * np.abs(s) ** (2.0 / power)
    a = 1.7 * v["eye_w"] * v["glasses_size"]
    b = (2.4 * v["eye_h"] + 2.5) * v["glasses_size"]
    lens = cond["sunglasses"] or v["glasses"] > 0.97
    frame = v["frame"] if v["glasses"] > 0.82 else np.array([20.0, 20.0, 20.0])
    inner = []
    for sgn in (-1.0, 1.0):
        ex = sgn * v["eye_dx"]
        ring = p.surface(ex + a * sx, v["eye_y"] + 1.0 + b * sy, 3.0)
        if lens:
            p.fill(ring, np.array([25.0, 25.0, 32.0]), alpha=0.9 if cond["sunglasses"] else 0.5)
        p.line(ring, frame, 1.2, closed=True)
        inner.append(p.surface(np.array([ex - sgn * a]), np.array([v["eye_y"]]), 3.0)[0])
        temple_x = np.array([ex + sgn * a, sgn * v["face_hw"]])
        p.line(p.surface(temple_x, np.array([v["eye_y"], v["eye_y"] + 1.0]), np.array([3.0, 0.0])), frame, 1.0)
    p.line(np.array(inner), frame, 1.2)


def _draw_occluder(p: _Painter, v: dict, cond: dict, rng: np.random.Generator) -> None:
    kind, hw = cond["occlusion"], v["face_hw"]
    colour = rng.uniform(0, 255, 3)
    if kind == 1:  # bar across the face
        angle = rng.uniform(0, np.pi)
        centre = rng.uniform(-15, 15) + 1j * rng.uniform(45, 95)
        ends = centre + np.array([-1.0, 1.0]) * 90.0 * np.exp(1j * angle)
        p.line(ends, colour, rng.uniform(6.0, 14.0))
    elif kind == 2:  # rectangular patch
        cx, cy = rng.uniform(-25, 25), rng.uniform(40, 100)
        sx, sy = rng.uniform(10, 22), rng.uniform(10, 22)
        p.fill(cx + 1j * cy + np.array([-sx - 1j * sy, sx - 1j * sy, sx + 1j * sy, -sx + 1j * sy]), colour)
    elif kind == 3:  # hand-like blob in skin colour
        centre_x, centre_y = rng.uniform(-25, 25), rng.uniform(60, 105)
        hx, hy = _ellipse(centre_x, centre_y, rng.uniform(10, 16), rng.uniform(16, 24), rng.uniform(-1, 1))
        p.fill(hx + 1j * hy, v["skin"] * rng.uniform(0.8, 1.1))
    elif kind == 4:  # scarf / mask over the lower face
        top = v["nose_y"] + rng.uniform(-4, 8)
        p.fill(p.silhouette(np.array([-hw - 4, hw + 4, hw + 8, -hw - 8]), np.array([top, top, 150.0, 150.0])), colour)
    else:  # hat over the forehead
        brim = v["eye_y"] - v["brow_gap"] - rng.uniform(0, 8)
        hat_x = np.array([-hw - 12, hw + 12, hw + 5, -hw - 5])
        p.fill(p.silhouette(hat_x, np.array([brim, brim, -30.0, -30.0])), colour)


def _similarity(src: np.ndarray, dst: np.ndarray) -> tuple[complex, complex]:
    """The alignment's least-squares similarity from complex points src onto dst, as dst ~ a * src + b."""
    matrix = similarity_transform(np.stack([src.real, src.imag], axis=1), np.stack([dst.real, dst.imag], axis=1))
    return complex(matrix[0, 0], matrix[1, 0]), complex(matrix[0, 2], matrix[1, 2])


def _finish(img: np.ndarray, cond: dict, scale: float, rng: np.random.Generator) -> np.ndarray:
    """Illumination, low resolution, blur, noise and JPEG artefacts (vectorised over the whole image)."""
    h, w = img.shape[:2]
    gx, gy = math.cos(cond["light_dir"]), math.sin(cond["light_dir"])
    ramp = np.linspace(-gx, gx, w, dtype=np.float32)[None, :] + np.linspace(-gy, gy, h, dtype=np.float32)[:, None]
    gain = (cond["brightness"] * (1.0 + cond["light"] * ramp))[:, :, None] * cond["tint"].astype(np.float32)
    out = np.clip(img.astype(np.float32) * gain, 0, 255).astype(np.uint8)
    lut = np.clip(255.0 * (np.arange(256) / 255.0) ** cond["gamma"], 0, 255).astype(np.uint8)
    out = cv2.LUT(out, lut)
    if cond["lowres"] > 1.0:
        small = (max(8, int(w / cond["lowres"])), max(8, int(h / cond["lowres"])))
        out = cv2.resize(cv2.resize(out, small, interpolation=cv2.INTER_AREA), (w, h), interpolation=cv2.INTER_LINEAR)
    sigma = cond["blur"] * scale
    if sigma > 0.3:
        out = cv2.GaussianBlur(out, (0, 0), sigma)
    if cond["motion"] * scale > 0.5:
        length = int(2 * cond["motion"] * scale) + 1
        out = correlate(out, motion_kernel(length, rng.uniform(0, 180)))
    if cond["noise"] > 0.5:
        noisy = out.astype(np.float32) + rng.standard_normal(out.shape, dtype=np.float32) * cond["noise"]
        out = np.clip(noisy, 0, 255).astype(np.uint8)
    if cond["jpeg"]:
        ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, cond["jpeg"]])
        out = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    return out


def faceness_score(cond: dict, nz_blur: float) -> float:
    """Detector-like confidence: high for clear frontal faces, lower with yaw, occlusion, blur and low resolution."""
    score = 0.995 - 0.25 * (abs(cond["yaw"]) / 1.3) ** 2 - 0.2 * (cond["occlusion"] > 0)
    score -= 0.05 * cond["blur"] / max(nz_blur, 1e-6) + 0.05 * (cond["lowres"] > 1.0) + 0.1 * cond["sunglasses"]
    return float(np.clip(score, 0.05, 1.0))


def render_face(
    latent: np.ndarray, cond: dict, rng: np.random.Generator, crop: tuple[int, int] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Render an identity's image: aligned 112x112 (crop None) or a loose (h, w) crop; RGB uint8, landmarks [5, 2]."""
    v = _appearance(latent, cond["age"])
    if crop is None:
        h = w = 112
    else:
        h, w = crop
    img = np.empty((h, w, 3), np.uint8)
    painter = _Painter(img, v["face_hw"], cond["yaw"], cond["pitch"])
    marks = _landmarks(v, cond, painter)
    if crop is None:  # align like a pipeline would: similarity from noisy detected landmarks onto the template
        detected = marks + cond["landmark_noise"][:, 0] + 1j * cond["landmark_noise"][:, 1]
        painter.a, painter.b = _similarity(detected, TEMPLATE_112[:, 0] + 1j * TEMPLATE_112[:, 1])
    else:
        scale = min(h, w) * rng.uniform(0.5, 0.72) / 100.0
        centre = w * rng.uniform(0.4, 0.6) + 1j * h * rng.uniform(0.4, 0.6)
        painter.a = scale * np.exp(1j * cond["roll"])
        painter.b = centre - painter.a * (0.0 + 62.0j)
    _draw_scene(painter, v, cond, rng)
    img = _finish(img, cond, abs(painter.a), rng)
    px = painter.pixels(marks)
    return img, np.stack([px.real, px.imag], axis=1).astype(np.float32)


def generate_images(cfg: dict | None, n: int, rng_seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Render n aligned training-style images (uint8 [n, 112, 112, 3]) and their landmarks (float32 [n, 5, 2])."""
    cfg = resolve_config(cfg)
    latents, _ = population(cfg, "train")
    nz = nuisance_at(cfg["nuisance"], cfg["train"]["nuisance"])
    images = np.empty((n, 112, 112, 3), np.uint8)
    marks = np.empty((n, 5, 2), np.float32)
    for i in range(n):
        rng = stream_rng(rng_seed, S_BENCH, i)
        latent = image_latent(latents[i % len(latents)], rng, cfg["population"]["appearance_jitter"])
        images[i], marks[i] = render_face(latent, draw_condition(rng, nz), rng)
    return images, marks
