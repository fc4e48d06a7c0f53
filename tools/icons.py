#!/usr/bin/env python3
"""Draws the toolbar and store icons into extension/icons/ (PNG, no dependencies).

Run once after changing a shape or colour; the PNGs are committed. States: `next` (a chick on
green, as GitLab's performance bar marks canary), `current` (a filled disc on GitLab indigo),
`auto` (half and half), `conflict` (amber with a bar), `app` (the store icon).
"""
import os
import struct
import zlib

OUT = os.path.join(os.path.dirname(__file__), "..", "extension", "icons")
SS = 4  # supersampling factor for anti-aliased edges

INDIGO = (84, 72, 196)
GREEN = (16, 133, 72)
YELLOW = (252, 211, 77)
ORANGE = (234, 88, 12)
GREY = (115, 115, 130)
AMBER = (217, 119, 6)
WHITE = (255, 255, 255)
DARK = (31, 30, 36)


def png(path, w, h, rgba):
    raw = b"".join(b"\x00" + bytes(rgba[y * w * 4:(y + 1) * w * 4]) for y in range(h))
    def chunk(t, d):
        c = struct.pack(">I", len(d)) + t + d
        return c + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 6, 0, 0, 0))
    data += chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")
    with open(path, "wb") as f:
        f.write(data)


def render(size, shapes):
    """shapes: list of (inside(x, y) -> bool in unit coords, colour). Later shapes paint over."""
    n = size * SS
    out = []
    for py in range(size):
        for px in range(size):
            acc = [0.0, 0.0, 0.0, 0.0]
            for sy in range(SS):
                for sx in range(SS):
                    x = (px * SS + sx + 0.5) / n
                    y = (py * SS + sy + 0.5) / n
                    col = None
                    for inside, c in shapes:
                        if inside(x, y):
                            col = c
                    if col is not None:
                        acc[0] += col[0]; acc[1] += col[1]; acc[2] += col[2]; acc[3] += 255
            k = SS * SS
            a = acc[3] / k
            if a == 0:
                out += [0, 0, 0, 0]
            else:
                out += [round(acc[0] / (acc[3] / 255)), round(acc[1] / (acc[3] / 255)),
                        round(acc[2] / (acc[3] / 255)), round(a)]
    return out


def disc(cx, cy, r):
    return lambda x, y: (x - cx) ** 2 + (y - cy) ** 2 <= r * r


def rect(x0, y0, x1, y1):
    return lambda x, y: x0 <= x <= x1 and y0 <= y <= y1


def tri(ax, ay, bx, by, cx, cy):
    def inside(x, y):
        d1 = (x - bx) * (ay - by) - (ax - bx) * (y - by)
        d2 = (x - cx) * (by - cy) - (bx - cx) * (y - cy)
        d3 = (x - ax) * (cy - ay) - (cx - ax) * (y - ay)
        neg = d1 < 0 or d2 < 0 or d3 < 0
        pos = d1 > 0 or d2 > 0 or d3 > 0
        return not (neg and pos)
    return inside


def chick(bg):
    return [
        (disc(0.5, 0.5, 0.48), bg),
        (disc(0.5, 0.6, 0.27), YELLOW),   # body
        (disc(0.56, 0.36, 0.17), YELLOW),  # head
        (tri(0.7, 0.31, 0.86, 0.37, 0.7, 0.43), ORANGE),  # beak
        (disc(0.6, 0.33, 0.04), DARK),   # eye
    ]


STATES = {
    "next": chick(GREEN),
    "current": [(disc(0.5, 0.5, 0.48), INDIGO), (disc(0.5, 0.5, 0.2), WHITE)],
    "auto": [(disc(0.5, 0.5, 0.48), GREY),
             (lambda x, y: disc(0.5, 0.5, 0.48)(x, y) and x > 0.5, GREEN),
             (disc(0.5, 0.5, 0.16), WHITE)],
    "conflict": [(disc(0.5, 0.5, 0.48), AMBER), (rect(0.44, 0.2, 0.56, 0.62), WHITE),
                 (disc(0.5, 0.76, 0.07), WHITE)],
    "app": chick(INDIGO),
}


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, shapes in STATES.items():
        sizes = (16, 32, 48, 128) if name == "app" else (16, 32)
        for s in sizes:
            png(os.path.join(OUT, f"{name}-{s}.png"), s, s, render(s, shapes))


if __name__ == "__main__":
    main()
