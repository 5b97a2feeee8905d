"""Render a QR code into a .y4m video for Chromium's fake camera (pure Python, no ffmpeg).

Chromium's ``--use-file-for-fake-video-capture=<file>.y4m`` plays a YUV4MPEG2 file
in a loop as the camera. We draw the QR modules into the luma (Y) plane, black
on white with a quiet zone, and leave chroma neutral (U = V = 128).
"""

from __future__ import annotations

from pathlib import Path

import segno


def qr_luma(text: str, *, width: int, height: int, scale: int | None = None, border: int = 4) -> bytes:
    """The Y plane (one byte per pixel) of a frame showing ``text`` as a QR code, centred."""
    matrix = [list(row) for row in segno.make(text, micro=False, error="m").matrix]
    size = len(matrix) + 2 * border
    scale = scale or max(1, min(width, height) * 9 // 10 // size)
    side = size * scale
    left, top = (width - side) // 2, (height - side) // 2
    white, black = 235, 16  # video range
    frame = bytearray([white]) * (width * height)
    for r, row in enumerate(matrix):
        for c, dark in enumerate(row):
            if not dark:
                continue
            y0 = top + (r + border) * scale
            x0 = left + (c + border) * scale
            line = bytes([black]) * scale
            for y in range(y0, y0 + scale):
                start = y * width + x0
                frame[start : start + scale] = line
    return bytes(frame)


def write_qr_video(
    path: Path, text: str, *, width: int = 640, height: int = 480, fps: int = 15, frames: int = 15
) -> Path:
    """Write a short looping 4:2:0 video whose every frame shows ``text`` as a QR code."""
    if width % 2 or height % 2:
        raise ValueError("4:2:0 video needs even dimensions")
    luma = qr_luma(text, width=width, height=height)
    chroma = bytes([128]) * ((width // 2) * (height // 2))
    with path.open("wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(frames):
            out.write(b"FRAME\n")
            out.write(luma)
            out.write(chroma)
            out.write(chroma)
    return path
