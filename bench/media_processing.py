"""What processing an uploaded picture costs (roost.media.processing; docs/media.md).

    .venv/bin/python bench/media_processing.py [--out bench/results/media-processing-DATE.json]

For photos of 1, 12, 24 and 48 megapixels (synthetic: gradients with noise, so that
JPEG has detail to code, saved at quality 90 with an EXIF orientation), each measured
in a fresh subprocess: the median wall time of `process_image` over three runs, and
the peak resident memory it added above the process's state after imports and
reading the file (VmHWM). Then the rejection time of decompression bombs (a PNG
declaring 30000x30000 pixels, 900 MP, in a few hundred KB), which must be refused
from the header, before any pixel is decoded.

One core of the development machine, other work running: compare numbers from one run.
"""

from __future__ import annotations

import argparse
import io
import json
import platform
import resource
import statistics
import struct
import subprocess
import sys
import time
import zlib
from datetime import UTC, datetime
from pathlib import Path

SIZES_MP = (1, 12, 24, 48)
RUNS = 3
NO_LIMIT = 1 << 30


def photo(megapixels: int) -> bytes:
    from PIL import Image

    width = int((megapixels * 1_000_000 * 4 / 3) ** 0.5)
    height = megapixels * 1_000_000 // width
    red = Image.linear_gradient("L").resize((width, height))
    green = Image.effect_noise((width, height), 40).point(lambda v: v // 2 + 64)
    blue = Image.radial_gradient("L").resize((width, height))
    image = Image.merge("RGB", (red, green, blue))
    exif = Image.Exif()
    exif[0x0112] = 6
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90, exif=exif.tobytes())
    return out.getvalue()


def png_bomb(width: int, height: int) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))

    packer = zlib.compressobj(9)
    row = b"\x00" * (width + 1)
    data = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data)
            + chunk(b"IEND", b""))


def high_water_kib() -> int:
    """Peak resident memory of this process (VmHWM: unlike ru_maxrss, not inherited
    from the parent across fork and exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def measure_one(path: str) -> dict[str, float | int]:
    """In a fresh process: time and peak memory of processing the file at `path`."""
    from roost.media.processing import process_image

    data = Path(path).read_bytes()
    baseline_kib = high_water_kib()
    times = []
    result = None
    for _ in range(RUNS):
        started = time.perf_counter()
        result = process_image(data, max_bytes=NO_LIMIT, max_pixels=200_000_000)
        times.append(time.perf_counter() - started)
    assert result is not None
    peak_kib = high_water_kib()
    return {
        "input_bytes": len(data),
        "seconds_median": round(statistics.median(times), 3),
        "seconds_min": round(min(times), 3),
        "peak_added_mib": round((peak_kib - baseline_kib) / 1024, 1),
        "original_bytes": len(result.original.data),
        "original_size": result.meta["original"]["size"],
        "small_bytes": len(result.small.data) if result.small else 0,
    }


def bomb_rejection() -> dict[str, float | int | str]:
    from roost.media.processing import MediaRejected, process_image

    bomb = png_bomb(30000, 30000)
    times = []
    message = ""
    for _ in range(5):
        started = time.perf_counter()
        try:
            process_image(bomb, max_bytes=16 << 20, max_pixels=50_000_000)
        except MediaRejected as error:
            message = str(error)
        times.append(time.perf_counter() - started)
    return {"declared": "30000x30000", "file_bytes": len(bomb),
            "seconds_max": round(max(times), 6), "error": message}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure_one(args.one)))
        return 0
    work = Path("bench/results/.media-inputs")
    work.mkdir(parents=True, exist_ok=True)
    rows = []
    for megapixels in SIZES_MP:
        path = work / f"{megapixels}mp.jpg"
        path.write_bytes(photo(megapixels))
        done = subprocess.run([sys.executable, __file__, "--one", str(path)],  # noqa: S603
                              capture_output=True, text=True, check=True)
        row = {"megapixels": megapixels, **json.loads(done.stdout)}
        print(row, flush=True)
        rows.append(row)
        path.unlink()
    work.rmdir()
    bomb = bomb_rejection()
    print(bomb)
    report = {
        "benchmark": "media_processing",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "runs_per_size": RUNS,
        "photos": rows,
        "bomb": bomb,
    }
    out = args.out or Path(f"bench/results/media-processing-{datetime.now(UTC):%Y-%m-%d}.json")
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
