"""Decode untrusted image bytes (whatever a Telegram user sends) into an RGB `PIL.Image`, or a typed error.

Used by the worker for every photo and by `ml predict` for files. It never lets a bad file crash
its caller: every failure is an `ImageError` whose `code` is one of `ImageErrorCode`, whose values
are exactly the image-related `worker.contract.ErrorCode` values (a test keeps them equal), so the
worker can put the code in its result unchanged. Deliberately imports nothing from rq, redis or
the worker.

What it handles: JPEG/PNG/WebP/GIF/BMP/AVIF (first frame of animations), EXIF orientation,
grayscale/CMYK/palette/alpha/16-bit converted to 8-bit RGB (transparency over white), truncated or
corrupt files, zero bytes, byte-size and pixel-count limits (decompression bombs). Only the listed
formats are even tried: Pillow also opens EPS (through Ghostscript), PSD, TIFF and dozens of rare
formats whose decoders are needless attack surface for a photo bot.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from config import MAX_PHOTO_BYTES

# Pillow format ids we decode; everything else is refused before any decoder runs.
ALLOWED_FORMATS: tuple[str, ...] = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "AVIF")
# The Bot API lets bots download files up to 20 MB; anything larger did not come from Telegram.
DEFAULT_MAX_BYTES = MAX_PHOTO_BYTES
# 50 megapixels: above any phone photo (Telegram itself recompresses photos to <= 2560 px a side),
# below Pillow's own bomb limit (~89 Mpx), and ~150 MB of RGB, which a worker can afford.
DEFAULT_MAX_PIXELS = 50_000_000
# Background for transparent pixels: white, as Telegram clients show transparent stickers/PNGs.
BACKGROUND = (255, 255, 255)

# Signatures of things people send that are media but not photos we decode: said "unsupported"
# (the bot can say "send it as a photo") instead of "not an image".
_UNSUPPORTED_SIGNATURES: tuple[tuple[int, bytes, str], ...] = (
    (0, b"%PDF", "PDF"),
    (0, b"%!PS", "PostScript"),
    (0, b"\xc5\xd0\xd3\xc6", "EPS"),
    (0, b"II*\x00", "TIFF"),
    (0, b"MM\x00*", "TIFF"),
    (0, b"8BPS", "PSD"),
    (0, b"\x1aE\xdf\xa3", "Matroska/WebM video"),
    (4, b"ftyp", "HEIC/MP4/MOV (ISO media)"),
    (0, b"\x00\x00\x00\x0cjP  ", "JPEG 2000"),
    (0, b"\xff\x4f\xff\x51", "JPEG 2000"),
)


class ImageErrorCode(StrEnum):
    """Why bytes could not be decoded; values equal the matching `worker.contract.ErrorCode` values."""

    EMPTY = "empty"  # zero bytes
    NOT_AN_IMAGE = "not_an_image"  # no allowed decoder recognises the bytes
    CORRUPT = "corrupt"  # recognised but truncated or broken
    TOO_LARGE = "too_large"  # byte size or pixel count over the limit
    UNSUPPORTED = "unsupported"  # media we recognise but do not decode (PDF, HEIC, video, odd modes)


class ImageError(Exception):
    """A photo that cannot be classified; `code` says why, `detail` is a short English note for logs."""

    def __init__(self, code: ImageErrorCode, detail: str) -> None:
        super().__init__(f"{code.value}: {detail}")
        self.code = code
        self.detail = detail


@dataclass(frozen=True)
class DecodeLimits:
    """Upper bounds applied before any pixel is decoded."""

    max_bytes: int = DEFAULT_MAX_BYTES
    max_pixels: int = DEFAULT_MAX_PIXELS


DEFAULT_LIMITS = DecodeLimits()


def decode_image(
    data: bytes, limits: DecodeLimits = DEFAULT_LIMITS, min_side: int | None = None
) -> Image.Image:
    """Decode `data` into an upright 8-bit RGB image (first frame), or raise `ImageError`.

    `min_side`: the image may come back smaller, as long as both sides stay >= `min_side`: a model
    that resizes to 224 px loses nothing when given 448. JPEGs are decoded at 1/2, 1/4 or 1/8 scale
    (libjpeg's DCT scaling, `Image.draft`: a 1280 px photo decodes 2-3x faster), anything still more
    than twice too big is box-reduced by an integer factor, which also bounds the memory a batch of
    huge images holds."""
    check_size(len(data), limits)
    try:
        image = Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
    except UnidentifiedImageError:
        kind = sniff_unsupported(data)
        if kind:
            raise ImageError(ImageErrorCode.UNSUPPORTED, f"{kind} is not a supported photo format") from None
        raise ImageError(ImageErrorCode.NOT_AN_IMAGE, "no supported image format recognised") from None
    except Image.DecompressionBombError as exc:
        raise ImageError(ImageErrorCode.TOO_LARGE, str(exc)) from None
    except (OSError, SyntaxError, ValueError, EOFError, struct.error) as exc:
        # A recognised header whose fields are broken (Pillow raises a zoo of types here).
        raise ImageError(ImageErrorCode.CORRUPT, f"unreadable header: {exc}") from None
    with image:
        width, height = image.size
        if width < 1 or height < 1:
            raise ImageError(ImageErrorCode.CORRUPT, f"image declares size {width}x{height}")
        if width * height > limits.max_pixels:
            raise ImageError(
                ImageErrorCode.TOO_LARGE,
                f"{width}x{height} is over the {limits.max_pixels}-pixel limit",
            )
        if min_side is not None and image.format in ("JPEG", "MPO"):  # MPO: phones' multi-picture JPEG
            image.draft(image.mode, (min_side, min_side))
        try:
            image.load()  # decodes the first frame of animations; truncation surfaces here, not later
        except Image.DecompressionBombError as exc:
            raise ImageError(ImageErrorCode.TOO_LARGE, str(exc)) from None
        except (OSError, SyntaxError, ValueError, EOFError, struct.error, IndexError) as exc:
            raise ImageError(ImageErrorCode.CORRUPT, f"cannot decode {image.format}: {exc}") from None
        rgb = to_rgb(upright_copy(image))
    if min_side is not None and min(rgb.size) >= 2 * min_side:
        rgb = rgb.reduce(min(rgb.size) // min_side)
    return rgb


def load_image(path: Path, limits: DecodeLimits = DEFAULT_LIMITS, min_side: int | None = None) -> Image.Image:
    """Decode a file like `decode_image`; the byte limit is checked before reading it."""
    check_size(path.stat().st_size, limits)
    return decode_image(path.read_bytes(), limits, min_side)


def check_size(n_bytes: int, limits: DecodeLimits) -> None:
    """Refuse empty and oversized payloads before touching their content."""
    if n_bytes == 0:
        raise ImageError(ImageErrorCode.EMPTY, "zero bytes")
    if n_bytes > limits.max_bytes:
        detail = f"{n_bytes} bytes is over the {limits.max_bytes}-byte limit"
        raise ImageError(ImageErrorCode.TOO_LARGE, detail)


def sniff_unsupported(data: bytes) -> str | None:
    """Name a recognised but unsupported media kind from its leading bytes, else None."""
    for offset, signature, kind in _UNSUPPORTED_SIGNATURES:
        if data[offset : offset + len(signature)] == signature:
            return kind
    return None


def upright_copy(image: Image.Image) -> Image.Image:
    """A copy turned as its EXIF orientation says (the file itself is closed after decoding)."""
    try:
        return ImageOps.exif_transpose(image)
    except Exception:
        # Broken EXIF must not reject pixels that decoded fine: orientation is cosmetic.
        return image.copy()


def to_rgb(image: Image.Image) -> Image.Image:
    """Any decoded mode -> 8-bit RGB (an RGB image is returned as is): alpha composited over white,
    16-bit and float grey scaled to 0..255."""
    mode = image.mode
    if mode == "RGB":
        return image
    if mode == "P":
        # Palette transparency is stored in `info`, not in a band: expand it to RGBA first.
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
        mode = image.mode
    if mode in ("RGBA", "LA", "PA", "La", "RGBa"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (*BACKGROUND, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if mode.startswith("I") or mode == "F":
        return Image.fromarray(_scale_to_uint8(np.asarray(image)), mode="L").convert("RGB")
    try:
        return image.convert("RGB")  # L, 1, CMYK, YCbCr, ...
    except ValueError as exc:
        raise ImageError(ImageErrorCode.UNSUPPORTED, f"colour mode {mode} cannot be converted") from exc


def _scale_to_uint8(values: np.ndarray) -> np.ndarray:
    """16/32-bit integer or float grey levels -> 0..255 without clipping everything to white."""
    if values.dtype.kind == "f":
        low, high = float(np.nanmin(values)), float(np.nanmax(values))
        scaled = (values - low) / (high - low or 1.0) * 255.0
        return np.nan_to_num(scaled).clip(0, 255).astype(np.uint8)
    # Integer modes ("I;16", "I") come from 16-bit files: map 0..65535 onto 0..255.
    return (values.astype(np.int64).clip(0, 65535) // 257).astype(np.uint8)
