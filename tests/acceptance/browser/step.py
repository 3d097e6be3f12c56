"""A test pipeline's step: a text in; a CSV table, a PNG bar chart and a JSON summary of its lines out."""

from __future__ import annotations

import argparse
import csv
import json
import struct
import zlib
from pathlib import Path


def png(width: int, height: int, pixels: list[list[tuple[int, int, int]]]) -> bytes:
    """A truecolour PNG from rows of RGB pixels (no imaging library needed)."""
    raw = b"".join(b"\x00" + bytes(c for px in row for c in px) for row in pixels)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("text")
    parser.add_argument("table")
    parser.add_argument("chart")
    parser.add_argument("summary")
    parser.add_argument("--rows", type=int, default=10)
    parser.add_argument("--style", default="plain")
    parser.add_argument("--title", default="")
    parser.add_argument("--upper", action="store_true")
    args = parser.parse_args()
    lines = Path(args.text).read_text(encoding="utf-8").splitlines()[: args.rows]
    if args.upper:
        lines = [line.upper() for line in lines]
    with open(args.table, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["line", "words", "text"])
        for n, line in enumerate(lines, 1):
            writer.writerow([n, len(line.split()), line])
    counts = [len(line.split()) for line in lines] or [0]
    bar, gap, height = 24, 8, 120
    width = len(counts) * (bar + gap) + gap
    colour = (11, 87, 208) if args.style == "plain" else (180, 83, 9)
    scale = (height - 10) / max(max(counts), 1)
    rows = []
    for y in range(height):
        row = []
        for x in range(width):
            column, offset = divmod(x - gap, bar + gap)
            filled = 0 <= column < len(counts) and x >= gap and offset < bar and height - y <= counts[column] * scale
            row.append(colour if filled else (255, 255, 255))
        rows.append(row)
    with open(args.chart, "wb") as out:
        out.write(png(width, height, rows))
    with open(args.summary, "w", encoding="utf-8") as out:
        json.dump({"title": args.title, "style": args.style, "lines": len(lines), "words": sum(counts)}, out)


if __name__ == "__main__":
    main()
