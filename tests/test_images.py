"""ml.serving.images: every kind of photo users send decodes to upright 8-bit RGB, or fails with the right
code."""

from __future__ import annotations

import io
import os
import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest
from PIL import Image

from ml.serving.images import (
    DEFAULT_LIMITS,
    DecodeLimits,
    ImageError,
    ImageErrorCode,
    decode_image,
    load_image,
    sniff_unsupported,
    to_rgb,
)
from worker.contract import ErrorCode

RED, BLUE, WHITE = (255, 0, 0), (0, 0, 255), (255, 255, 255)


def encode(image: Image.Image, fmt: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **params)
    return buffer.getvalue()


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def raw_png(width: int, height: int, bit_depth: int, colour_type: int, rows: bytes | None) -> bytes:
    """A PNG written by hand, so headers can declare what Pillow would refuse to write."""
    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    body = png_chunk(b"IHDR", header)
    if rows is not None:
        body += png_chunk(b"IDAT", zlib.compress(rows))
    return b"\x89PNG\r\n\x1a\n" + body + png_chunk(b"IEND", b"")


def expect_error(data: bytes, code: ImageErrorCode, limits: DecodeLimits = DEFAULT_LIMITS) -> ImageError:
    with pytest.raises(ImageError) as caught:
        decode_image(data, limits)
    assert caught.value.code is code, caught.value.detail
    return caught.value


def test_error_codes_are_contract_codes() -> None:
    assert {code.value for code in ImageErrorCode} <= {code.value for code in ErrorCode}


def test_module_imports_no_queue_or_worker_code() -> None:
    heavy = ("rq", "redis", "worker", "torch")
    probe = f"import sys, ml.serving.images; print(sorted(m for m in {heavy!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_plain_jpeg_decodes_to_rgb() -> None:
    image = decode_image(encode(Image.new("RGB", (33, 17), RED), "JPEG", quality=95))
    assert (image.mode, image.size) == ("RGB", (33, 17))
    assert np.abs(np.asarray(image, dtype=int) - RED).max() < 8


def test_exif_orientation_is_applied() -> None:
    # Left half red, right half blue, stored with "rotate 90 CW to view" (orientation 6).
    stored = Image.new("RGB", (40, 20), BLUE)
    stored.paste(RED, (0, 0, 20, 20))
    exif = Image.Exif()
    exif[0x0112] = 6
    image = decode_image(encode(stored, "JPEG", quality=95, exif=exif.tobytes()))
    assert image.size == (20, 40)
    pixels = np.asarray(image, dtype=int)
    assert np.abs(pixels[5, 10] - RED).max() < 20  # the red half is now on top
    assert np.abs(pixels[35, 10] - BLUE).max() < 20


@pytest.mark.filterwarnings("ignore:Corrupt EXIF data")
def test_broken_exif_does_not_reject_the_photo() -> None:
    data = encode(Image.new("RGB", (16, 16), RED), "JPEG", exif=b"Exif\x00\x00MM\x00*\xff\xff\xff\xff")
    assert decode_image(data).size == (16, 16)


def test_cmyk_jpeg_becomes_rgb() -> None:
    cyan = Image.new("CMYK", (16, 16), (255, 0, 0, 0))
    image = decode_image(encode(cyan, "JPEG", quality=95))
    assert image.mode == "RGB"
    r, g, b = np.asarray(image, dtype=int)[8, 8]
    assert r < 40 and g > 200 and b > 200


def test_grayscale_becomes_three_equal_channels() -> None:
    image = decode_image(encode(Image.new("L", (8, 8), 90), "PNG"))
    assert image.mode == "RGB"
    assert set(np.asarray(image)[0, 0]) == {90}


def test_16_bit_grayscale_png_is_scaled_not_clipped() -> None:
    grey = Image.fromarray(np.full((8, 8), 32768, dtype=np.uint16))
    image = decode_image(encode(grey, "PNG"))
    assert image.mode == "RGB"
    assert abs(int(np.asarray(image)[0, 0, 0]) - 127) <= 1


def test_16_bit_rgb_png_keeps_colour() -> None:
    # One row of two pixels: (65535, 0, 32768) and (0, 65535, 0), 16 bits per channel.
    row = b"\x00" + struct.pack(">6H", 65535, 0, 32768, 0, 65535, 0)
    image = decode_image(raw_png(2, 1, 16, 2, row))
    assert image.mode == "RGB"
    assert np.abs(np.asarray(image, dtype=int)[0] - [[255, 0, 128], [0, 255, 0]]).max() <= 1


def test_palette_transparency_goes_over_white() -> None:
    palette_image = Image.new("P", (4, 4), 0)
    palette_image.putpalette([*RED, *BLUE] + [0] * (256 - 2) * 3)
    palette_image.putpixel((0, 0), 1)
    image = decode_image(encode(palette_image, "PNG", transparency=0))
    pixels = np.asarray(image, dtype=int)
    assert tuple(pixels[0, 0]) == BLUE  # opaque palette entry kept
    assert tuple(pixels[3, 3]) == WHITE  # transparent entry -> background


@pytest.mark.parametrize("mode", ["RGBA", "LA"])
def test_alpha_is_composited_over_white(mode: str) -> None:
    half = Image.new("RGBA", (2, 1), (0, 0, 0, 0))
    half.putpixel((1, 0), (0, 0, 0, 255))
    image = decode_image(encode(half.convert(mode), "PNG"))
    assert [tuple(p) for p in np.asarray(image)[0]] == [WHITE, (0, 0, 0)]


def test_animated_gif_gives_first_frame() -> None:
    frames = [Image.new("RGB", (10, 10), colour) for colour in (RED, BLUE)]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    assert Image.open(io.BytesIO(data)).n_frames == 2
    assert tuple(np.asarray(decode_image(data))[5, 5]) == RED


def test_multi_picture_jpeg_gives_first_picture() -> None:
    pictures = [Image.new("RGB", (960, 640), colour) for colour in (RED, BLUE)]
    data = encode(pictures[0], "MPO", save_all=True, append_images=pictures[1:])
    assert Image.open(io.BytesIO(data)).format == "MPO"
    image = decode_image(data, min_side=300)
    assert image.size == (480, 320)
    assert np.abs(np.asarray(image, dtype=int)[5, 5] - RED).max() < 8


def test_animated_webp_gives_first_frame() -> None:
    frames = [Image.new("RGB", (10, 10), colour) for colour in (RED, BLUE)]
    data = encode(frames[0], "WEBP", save_all=True, append_images=frames[1:], lossless=True, duration=100)
    assert tuple(np.asarray(decode_image(data))[5, 5]) == RED


def test_webp_with_alpha() -> None:
    data = encode(Image.new("RGBA", (6, 6), (0, 0, 255, 0)), "WEBP", lossless=True)
    assert tuple(np.asarray(decode_image(data))[3, 3]) == WHITE


def test_truncated_jpeg_is_corrupt() -> None:
    noise = Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8))
    data = encode(noise, "JPEG", quality=90)
    expect_error(data[: len(data) // 2], ImageErrorCode.CORRUPT)


def test_png_with_garbage_pixel_data_is_corrupt() -> None:
    data = raw_png(8, 8, 8, 2, None)  # header promises pixels ...
    data = data[:-12] + png_chunk(b"IDAT", b"not zlib at all") + data[-12:]  # ... and gives garbage
    expect_error(data, ImageErrorCode.CORRUPT)


def test_zero_bytes_is_empty() -> None:
    expect_error(b"", ImageErrorCode.EMPTY)


def test_random_bytes_are_not_an_image() -> None:
    expect_error(os.urandom(4096).replace(b"%", b"?"), ImageErrorCode.NOT_AN_IMAGE)
    expect_error(b"hello, I am a text file\n", ImageErrorCode.NOT_AN_IMAGE)


def test_bomb_header_is_too_large_without_allocating() -> None:
    # 100000 x 100000 = 10 gigapixels declared in a 70-byte file.
    error = expect_error(raw_png(100_000, 100_000, 8, 2, None), ImageErrorCode.TOO_LARGE)
    assert "100000" in error.detail


def test_pixel_limit_below_pillows_own() -> None:
    data = encode(Image.new("RGB", (300, 200)), "PNG")
    expect_error(data, ImageErrorCode.TOO_LARGE, DecodeLimits(max_pixels=300 * 200 - 1))
    assert decode_image(data, DecodeLimits(max_pixels=300 * 200)).size == (300, 200)


def test_byte_limit() -> None:
    data = encode(Image.new("RGB", (8, 8)), "PNG")
    expect_error(data, ImageErrorCode.TOO_LARGE, DecodeLimits(max_bytes=len(data) - 1))


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (b"%PDF-1.7\n...", "PDF"),
        (b"%!PS-Adobe-3.0 EPSF-3.0\n", "PostScript"),
        (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00", "HEIC/MP4/MOV (ISO media)"),
    ],
)
def test_known_non_photo_media_is_unsupported(data: bytes, kind: str) -> None:
    assert sniff_unsupported(data) == kind
    expect_error(data, ImageErrorCode.UNSUPPORTED)


def test_formats_outside_the_allow_list_are_not_decoded() -> None:
    # Pillow decodes TIFF and PPM, but they are not photo formats Telegram users send.
    expect_error(encode(Image.new("RGB", (8, 8)), "TIFF"), ImageErrorCode.UNSUPPORTED)
    expect_error(encode(Image.new("RGB", (8, 8)), "PPM"), ImageErrorCode.NOT_AN_IMAGE)


def test_min_side_decodes_big_jpegs_smaller_but_never_below_it() -> None:
    data = encode(Image.new("RGB", (1280, 960), RED), "JPEG", quality=90)
    assert decode_image(data, min_side=448).size == (640, 480)  # 1/2 scale; 1/4 would be < 448
    assert decode_image(data, min_side=961).size == (1280, 960)
    assert decode_image(data).size == (1280, 960)
    exif = Image.Exif()
    exif[0x0112] = 6
    turned = encode(Image.new("RGB", (1280, 960), RED), "JPEG", exif=exif.tobytes())
    assert decode_image(turned, min_side=448).size == (480, 640)  # still upright
    png = encode(Image.new("RGB", (1280, 960), RED), "PNG")
    assert decode_image(png, min_side=300).size == (427, 320)  # box-reduced by 3: 320 >= 300
    assert decode_image(png, min_side=481).size == (1280, 960)  # reducing by 2 would go below
    assert tuple(np.asarray(decode_image(png, min_side=300))[100, 100]) == RED


def test_to_rgb_leaves_rgb_alone_and_scales_float() -> None:
    rgb = Image.new("RGB", (2, 2))
    assert to_rgb(rgb) is rgb
    ramp = Image.fromarray(np.array([[-1.0, 1.0]], dtype=np.float32), mode="F")
    assert [int(v) for v in np.asarray(to_rgb(ramp))[0, :, 0]] == [0, 255]


def test_load_image_checks_size_before_reading(tmp_path) -> None:
    path = tmp_path / "photo.png"
    path.write_bytes(encode(Image.new("RGB", (5, 7), RED), "PNG"))
    assert load_image(path).size == (5, 7)
    with pytest.raises(ImageError) as caught:
        load_image(path, DecodeLimits(max_bytes=10))
    assert caught.value.code is ImageErrorCode.TOO_LARGE
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(ImageError):
        load_image(tmp_path / "empty.jpg")
