"""Seal images: only real PNG/JPEG pictures within the caps get in, and what is kept carries no metadata."""

from __future__ import annotations

import io
import struct
import time
import zlib

import pytest
from PIL import Image, PngImagePlugin

from hub.applications import seal
from hub.errors import Problem


def _png(image: Image.Image, **params: object) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG", **params)
    return out.getvalue()


def _red_seal(size: tuple[int, int] = (120, 80)) -> Image.Image:
    image = Image.new("RGB", size, "white")
    for x in range(10, 40):  # a mark on the left, so a rotation is visible
        for y in range(10, 70):
            image.putpixel((x, y), (200, 0, 0))
    return image


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png_header_only(width: int, height: int) -> bytes:
    """A valid PNG signature and header claiming ``width`` x ``height``, with a tiny (wrong-sized) image."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        seal.PNG_MAGIC
        + _chunk(b"IHDR", ihdr)
        + _chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + _chunk(b"IEND", b"")
    )


def test_a_seal_is_reencoded_as_png_without_exif_text_or_icc() -> None:
    image = _red_seal()
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x0132] = "2026:12:01 09:00:00"  # DateTime
    jpeg = io.BytesIO()
    image.save(jpeg, format="JPEG", exif=exif.tobytes(), icc_profile=b"\0" * 128, comment=b"scanner 42")
    raw = jpeg.getvalue()
    assert b"PhoneMaker" in raw

    cleaned = seal.clean_seal(raw)

    assert cleaned.png.startswith(seal.PNG_MAGIC)
    assert b"PhoneMaker" not in cleaned.png and b"scanner 42" not in cleaned.png
    with Image.open(io.BytesIO(cleaned.png)) as out:
        assert out.format == "PNG"
        assert (out.width, out.height) == (120, 80)
        assert not out.getexif()
        assert "icc_profile" not in out.info and "exif" not in out.info
        assert out.convert("RGB").getpixel((20, 40))[0] > 150  # the ink is still there


def test_png_text_chunks_are_dropped() -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "홍길동 900101-1234567")
    raw = _png(_red_seal(), pnginfo=info)
    assert b"Author" in raw
    cleaned = seal.clean_seal(raw)
    assert b"Author" not in cleaned.png and b"1234567" not in cleaned.png
    with Image.open(io.BytesIO(cleaned.png)) as out:
        assert out.info.get("Author") is None


def test_exif_orientation_is_applied_before_it_is_dropped() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    jpeg = io.BytesIO()
    _red_seal((120, 80)).save(jpeg, format="JPEG", exif=exif.tobytes())
    cleaned = seal.clean_seal(jpeg.getvalue())
    assert (cleaned.width, cleaned.height) == (80, 120)


@pytest.mark.parametrize(
    "data",
    [
        b"MZ\x90\x00" + b"\0" * 200,  # a Windows executable, whatever its name
        "도장 seal as text".encode() * 10,
        b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\n%%EOF\n",  # a PDF is an attachment, not a seal
        b"GIF89a" + b"\0" * 100,
        seal.PNG_MAGIC + b"not really a png",  # right magic, no picture behind it
    ],
)
def test_anything_but_a_real_png_or_jpeg_is_refused(data: bytes) -> None:
    with pytest.raises(Problem) as refused:
        seal.clean_seal(data)
    assert (refused.value.status, refused.value.slug) == (415, "file-type-not-allowed")


def test_a_pixel_bomb_is_refused_from_its_header_before_decoding() -> None:
    bomb = _png_header_only(100_000, 100_000)  # 10 gigapixels claimed in under 100 bytes
    started = time.perf_counter()
    with pytest.raises(Problem) as refused:
        seal.clean_seal(bomb)
    assert (refused.value.status, refused.value.slug) == (413, "image-too-many-pixels")
    assert time.perf_counter() - started < 1.0, "refused from the header, not after decoding"


def test_a_small_file_that_unpacks_past_the_pixel_cap_is_refused() -> None:
    raw = _png(Image.new("1", (2500, 2000), 1), optimize=True)  # 5 megapixels of white
    assert len(raw) < 10_000, "a few kilobytes on the wire"
    with pytest.raises(Problem) as refused:
        seal.clean_seal(raw)
    assert refused.value.slug == "image-too-many-pixels"


def test_a_seal_over_the_byte_cap_is_refused() -> None:
    with pytest.raises(Problem) as refused:
        seal.clean_seal(seal.PNG_MAGIC + b"\0" * seal.MAX_SEAL_BYTES)
    assert (refused.value.status, refused.value.slug) == (413, "file-too-large")
