"""Turning uploaded bytes into the files Roost stores: CPU work, no I/O, no database.

Every function here is synchronous and pure (bytes in, bytes out); callers run it in a
thread (`asyncio.to_thread`), never on the event loop. The pipeline (docs/media.md):

1. refuse what is too big before decoding any pixel: the byte limit, then the pixel
   limit read from the header by `Image.open` (which decodes nothing yet); Pillow's own
   decompression-bomb guard is raised to an error too, so a bomb is a fast 422;
2. decode fully (`load()`), so a truncated or corrupt file is a 422 and not a broken
   picture later;
3. turn it upright (`ImageOps.exif_transpose`), then re-encode from the pixels alone:
   EXIF (with GPS), XMP, comments and ICC profiles are all dropped, because none of
   them is copied into the new file;
4. shrink the original to at most MAX_ORIGINAL_PIXELS (Mastodon's 8.3 MP), make the
   preview ("small") to fit SMALL_BOX, and compute the blurhash from a tiny copy.

Output format: PNG when the picture has any transparent pixel (JPEG has no alpha),
JPEG (quality 85, progressive) for everything else. GIFs become their first frame, as
a still picture; animated GIFs are not turned into video.
"""

from __future__ import annotations

import contextlib
import io
import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import blurhash  # type: ignore[import-untyped]
from PIL import Image, ImageOps, UnidentifiedImageError

ACCEPTED_FORMATS = frozenset({"JPEG", "PNG", "GIF", "WEBP"})
MAX_ORIGINAL_PIXELS = 3840 * 2160  # 8.3 MP, Mastodon's limit for stored originals
SMALL_BOX = (640, 640)
BLURHASH_SIZE = (32, 32)  # the blurhash package is pure Python: it must see few pixels
JPEG_QUALITY = 85

# Pillow warns above Image.MAX_IMAGE_PIXELS and raises above twice that; Roost's own
# check (`max_pixels`) comes first, and the warning is turned into an error as well.
Image.MAX_IMAGE_PIXELS = 100_000_000


def megabytes(size: int) -> str:
    return f"{size / (1 << 20):.3g} MB"


class MediaRejected(ValueError):
    """The upload cannot be used; the message is shown to the client (a 422)."""


@dataclass(frozen=True)
class Rendition:
    data: bytes
    extension: str  # ".jpg" or ".png"
    width: int
    height: int

    def meta(self) -> dict[str, Any]:
        return {
            "width": self.width,
            "height": self.height,
            "size": f"{self.width}x{self.height}",
            "aspect": round(self.width / self.height, 6) if self.height else 0,
        }


@dataclass(frozen=True)
class Processed:
    original: Rendition
    small: Rendition | None
    blurhash: str | None
    meta: dict[str, Any] = field(default_factory=dict)


def peek(data: bytes, *, max_bytes: int, max_pixels: int) -> tuple[str, int, int]:
    """(format, width, height) from the header alone: a quick check of an upload that
    will be processed later (no pixel is decoded)."""
    image = open_checked(data, max_bytes=max_bytes, max_pixels=max_pixels, decode=False)
    return str(image.format), image.width, image.height


def open_checked(
    data: bytes, *, max_bytes: int, max_pixels: int, decode: bool = True
) -> Image.Image:
    """Opens and fully decodes `data`, refusing it before decoding if it is too big."""
    if len(data) > max_bytes:
        raise MediaRejected(f"File size must be less than {megabytes(max_bytes)}")
    if not data:
        raise MediaRejected("File is empty")
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data), formats=sorted(ACCEPTED_FORMATS))
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise MediaRejected("Image has too many pixels") from exc
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
            raise MediaRejected("File is not a supported image (JPEG, PNG, GIF or WebP)") from exc
        width, height = image.size
        if width < 1 or height < 1 or width * height > max_pixels:
            raise MediaRejected(f"Image has too many pixels ({width}x{height})")
        if not decode:
            return image
        if image.format == "JPEG" and width * height > 2 * MAX_ORIGINAL_PIXELS:
            # libjpeg can decode at 1/2, 1/4 or 1/8 scale directly: a 48 MP photo is
            # read as 12 MP, a quarter of the time and memory, and still covers the
            # 8.3 MP that is kept (draft never goes below the size asked for).
            scale = math.sqrt(MAX_ORIGINAL_PIXELS / (width * height))
            image.draft(image.mode, (math.ceil(width * scale), math.ceil(height * scale)))
        try:
            image.load()  # a GIF or WebP stays on its first frame
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise MediaRejected("Image has too many pixels") from exc
        except (OSError, ValueError, SyntaxError, EOFError, MemoryError) as exc:
            raise MediaRejected("File is not a valid image (it may be truncated)") from exc
    return image


def _upright(image: Image.Image) -> Image.Image:
    """Turned as its EXIF orientation says, in place (no second copy of the pixels)."""
    # Unreadable EXIF: the pixels are kept as they are.
    with contextlib.suppress(OSError, ValueError, SyntaxError, KeyError, TypeError):
        ImageOps.exif_transpose(image, in_place=True)
    return image


def _has_transparency(image: Image.Image) -> bool:
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image if image.mode == "RGBA" else image.convert("RGBA")
        low, _high = rgba.getchannel("A").getextrema()  # one band: (min, max)
        return bool(low < 255)  # type: ignore[operator]
    return False


def _bare(image: Image.Image) -> Image.Image:
    """The pixels alone: a new image carries no info, EXIF, XMP or ICC profile."""
    bare = Image.new(image.mode, image.size)
    bare.paste(image)
    return bare


def _prepared(data: bytes, *, max_bytes: int, max_pixels: int) -> Image.Image:
    """Checked, decoded, upright, RGB or RGBA, at most 8.3 MP, without metadata. Each
    step drops the previous image, so that at most two full-size copies live at once."""
    image = _upright(open_checked(data, max_bytes=max_bytes, max_pixels=max_pixels))
    mode = "RGBA" if _has_transparency(image) else "RGB"
    if image.mode != mode:
        image = image.convert(mode)
    return _bare(_shrink_to_pixels(image, MAX_ORIGINAL_PIXELS))


def _encode(image: Image.Image) -> Rendition:
    out = io.BytesIO()
    if image.mode == "RGBA":
        image.save(out, format="PNG", optimize=True)
        extension = ".png"
    else:
        image.save(out, format="JPEG", quality=JPEG_QUALITY, progressive=True, optimize=True)
        extension = ".jpg"
    return Rendition(out.getvalue(), extension, image.width, image.height)


def _shrink_to_pixels(image: Image.Image, max_pixels: int) -> Image.Image:
    pixels = image.width * image.height
    if pixels <= max_pixels:
        return image
    scale = math.sqrt(max_pixels / pixels)
    size = (max(1, int(image.width * scale)), max(1, int(image.height * scale)))
    return image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)


def _blurhash(image: Image.Image) -> str:
    tiny = image.convert("RGB")
    tiny.thumbnail(BLURHASH_SIZE, Image.Resampling.BILINEAR)
    rows = [
        [tiny.getpixel((x, y)) for x in range(tiny.width)] for y in range(tiny.height)
    ]
    return str(blurhash.encode(rows, components_x=4, components_y=3))


def process_image(
    data: bytes, *, max_bytes: int, max_pixels: int, focus: tuple[float, float] = (0.0, 0.0)
) -> Processed:
    """An uploaded picture as a stored original, a preview and a blurhash."""
    image = _prepared(data, max_bytes=max_bytes, max_pixels=max_pixels)
    original = _encode(image)
    preview = image.copy()
    # draft-quality reduction first would be faster for JPEG, but the pixels are already
    # decoded here; reducing_gap keeps a 24 MP shrink near 100 ms (bench/media_processing.py).
    preview.thumbnail(SMALL_BOX, Image.Resampling.LANCZOS, reducing_gap=3.0)
    small = _encode(preview)
    meta = {
        "original": original.meta(),
        "small": small.meta(),
        "focus": {"x": focus[0], "y": focus[1]},
    }
    return Processed(original, small, _blurhash(preview), meta)


def process_profile_image(
    data: bytes, size: tuple[int, int], *, max_bytes: int, max_pixels: int
) -> Rendition:
    """An avatar or header: cropped to the centre to `size`'s aspect and scaled to it."""
    image = _prepared(data, max_bytes=max_bytes, max_pixels=max_pixels)
    fitted = ImageOps.fit(image, size, Image.Resampling.LANCZOS)
    return _encode(fitted)
