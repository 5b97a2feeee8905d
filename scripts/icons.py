"""Draw the web-app icons (PNG) of the scanner's manifest from the RedCard mark, without an image library.

    .venv/bin/python scripts/icons.py      # writes static/img/icon-192.png, icon-512.png, icon-180.png

The mark of static/img/redcard.svg (a red card, a darker stripe, a white dot), white on the brand red and filling
the safe zone of a maskable icon (Android crops to a circle or a squircle; iOS rounds the corners itself).
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

RED = (0xE0, 0x24, 0x3A)
DARK = (0xB0, 0x16, 0x29)
WHITE = (0xFF, 0xFF, 0xFF)
OUT = Path(__file__).resolve().parent.parent / "static" / "img"


def _inside_rounded(x: float, y: float, box: tuple[float, float, float, float], r: float) -> bool:
    left, top, right, bottom = box
    if not (left <= x <= right and top <= y <= bottom):
        return False
    cx = min(max(x, left + r), right - r)
    cy = min(max(y, top + r), bottom - r)
    return (x - cx) ** 2 + (y - cy) ** 2 <= r * r


def pixel(x: float, y: float) -> tuple[int, int, int]:
    """The colour at (x, y) in a 64 x 64 design: a white card on red, its stripe dark red, its dot red."""
    # The card of redcard.svg (4,12)-(60,52), shrunk to the maskable safe zone (the inner 80 %).
    u, v = (x - 32) / 0.72 + 32, (y - 32) / 0.72 + 32
    if not _inside_rounded(u, v, (4, 12, 60, 52), 8):
        return RED
    if 22 <= v <= 28:
        return DARK
    if (u - 48) ** 2 + (v - 42) ** 2 <= 25:
        return RED
    return WHITE


def png(size: int) -> bytes:
    """An RGB PNG of the icon at ``size`` pixels (each pixel sampled 4 times: smooth edges)."""
    rows = bytearray()
    scale = 64 / size
    for j in range(size):
        rows.append(0)  # filter: none
        for i in range(size):
            samples = [pixel((i + dx) * scale, (j + dy) * scale) for dx in (0.25, 0.75) for dy in (0.25, 0.75)]
            rows.extend(sum(s[k] for s in samples) // 4 for k in range(3))

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(bytes(rows), 9))
        + chunk(b"IEND", b"")
    )


def main() -> None:
    for size in (180, 192, 512):
        (OUT / f"icon-{size}.png").write_bytes(png(size))


if __name__ == "__main__":
    main()
