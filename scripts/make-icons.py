"""Draw the default feed icons (the orange feed symbol) as PNGs, byte for byte the same on every run.

Usage: python scripts/make-icons.py  → feeds/web/static/icon-512.png, feeds/web/static/favicon-64.png
"""

from __future__ import annotations

import math
import struct
import zlib
from pathlib import Path

STATIC = Path(__file__).resolve().parent.parent / "feeds" / "web" / "static"
ORANGE = (0xF2, 0x6B, 0x1D)
WHITE = (0xFF, 0xFF, 0xFF)


def coverage(x: float, y: float) -> tuple[float, float]:
    """Return (inside the rounded square, inside the white symbol) for a point in the unit square."""
    r = 0.18  # corner radius
    cx, cy = min(max(x, r), 1 - r), min(max(y, r), 1 - r)
    square = float(math.hypot(x - cx, y - cy) <= r)
    # The symbol: a dot and two quarter rings centred on the bottom-left dot.
    ox, oy = 0.27, 0.73
    d = math.hypot(x - ox, y - oy)
    in_quadrant = x >= ox - 0.08 and y <= oy + 0.08
    dot = d <= 0.085
    ring1 = in_quadrant and 0.26 <= d <= 0.37 and x >= ox - 0.085 and y <= oy + 0.085
    ring2 = in_quadrant and 0.47 <= d <= 0.58 and x >= ox - 0.085 and y <= oy + 0.085
    return square, float(dot or ring1 or ring2)


def render(size: int, samples: int = 4) -> bytes:
    """Return RGBA rows of the icon at ``size`` pixels, anti-aliased by supersampling."""
    rows = bytearray()
    for py in range(size):
        rows.append(0)  # PNG filter type: none
        for px in range(size):
            bg = fg = 0.0
            for sy in range(samples):
                for sx in range(samples):
                    s, f = coverage((px + (sx + 0.5) / samples) / size, (py + (sy + 0.5) / samples) / size)
                    bg += s
                    fg += s * f
            n = samples * samples
            alpha, white = bg / n, (fg / bg if bg else 0.0)
            rgb = [round(o + (w - o) * white) for o, w in zip(ORANGE, WHITE, strict=True)]
            rows += bytes([*rgb, round(alpha * 255)])
    return bytes(rows)


def png(size: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)  # 8-bit RGBA
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(render(size), 9)) + chunk(b"IEND", b"")


def main() -> None:
    for name, size in (("icon-512.png", 512), ("favicon-64.png", 64)):
        (STATIC / name).write_bytes(png(size))
        print(f"wrote {STATIC / name} ({size}x{size})")


if __name__ == "__main__":
    main()
