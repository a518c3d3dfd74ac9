"""Tiny writers for the file types the examples produce, using only the standard library.

Real projects use matplotlib, pandas or a PDF library; the examples avoid those dependencies but
still write files a viewer opens: ``write_png`` writes a valid PNG (signature, IHDR, IDAT, IEND
chunks with CRCs), ``write_pdf`` a valid one-page PDF with a correct cross-reference table.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence
from pathlib import Path

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

Colour = tuple[int, int, int]


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def line_chart(values: Sequence[float], width: int = 160, height: int = 90,
               colour: Colour = (31, 119, 180)) -> list[list[Colour]]:
    """Pixels of a simple line chart of ``values`` on a white background with grey axes."""
    white, grey = (255, 255, 255), (150, 150, 150)
    pixels = [[white] * width for _ in range(height)]
    for x in range(width):
        pixels[height - 5][x] = grey
    for y in range(height):
        pixels[y][4] = grey
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    points = [
        (5 + round(i * (width - 10) / max(len(values) - 1, 1)),
         height - 6 - round((v - low) / span * (height - 12)))
        for i, v in enumerate(values)
    ]
    for (x0, y0), (x1, y1) in zip(points, points[1:], strict=False):
        steps = max(abs(x1 - x0), abs(y1 - y0), 1)
        for s in range(steps + 1):
            x = x0 + round((x1 - x0) * s / steps)
            y = y0 + round((y1 - y0) * s / steps)
            for dy in (0, 1):
                if 0 <= y + dy < height:
                    pixels[y + dy][x] = colour
    return pixels


def bar_chart(values: Sequence[float], width: int = 160, height: int = 90,
              colour: Colour = (214, 39, 40)) -> list[list[Colour]]:
    """Pixels of a simple bar chart of non-negative ``values``."""
    white = (255, 255, 255)
    pixels = [[white] * width for _ in range(height)]
    top = max(values) or 1.0
    slot = width // max(len(values), 1)
    for i, v in enumerate(values):
        bar_height = round(v / top * (height - 10))
        for x in range(i * slot + 2, (i + 1) * slot - 2):
            for y in range(height - bar_height, height):
                pixels[y][x] = colour
    return pixels


def write_png(path: str | Path, pixels: Sequence[Sequence[Colour]]) -> None:
    """Write ``pixels`` (rows of RGB tuples) as an 8-bit RGB PNG file."""
    height, width = len(pixels), len(pixels[0])
    raw = b"".join(b"\x00" + bytes(c for pixel in row for c in pixel) for row in pixels)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8 bits, RGB, no interlace
    data = PNG_SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(raw, 9)) + _chunk(b"IEND", b"")
    Path(path).write_bytes(data)


def write_pdf(path: str | Path, title: str, lines: Sequence[str]) -> None:
    """Write a one-page A4 PDF showing ``title`` and ``lines`` in Helvetica."""

    def escape(text: str) -> str:
        return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")

    text = [f"BT /F1 18 Tf 56 780 Td ({escape(title)}) Tj ET"]
    for i, line in enumerate(lines):
        text.append(f"BT /F1 11 Tf 56 {750 - 16 * i} Td ({escape(line)}) Tj ET")
    stream = "\n".join(text).encode("latin-1", "replace")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    Path(path).write_bytes(bytes(out))
