"""Seal (도장) images for proxy applications, and the image checks every uploaded picture goes through.

A proxy applies under a mandate and adds a photo or scan of the principal's seal; it is shown on the case and
printed on the receipt, so what the hub keeps must be a plain picture and nothing else. The upload is checked
from its bytes (PNG or JPEG magic, whatever the file is called), its size is read from the header and refused
when too large *before* any pixel is decoded (a few kilobytes of PNG can unpack into gigabytes: a
decompression bomb), then it is fully decoded and re-encoded by Pillow as a fresh PNG built from the pixels
alone. Nothing of the original file survives: no EXIF (camera, GPS position, time), no text chunks, no ICC
profile (a seal is ink on paper; colour management adds nothing and a profile is one more parser input), no
trailing bytes after the image.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass
from typing import Final, Literal

from PIL import Image, ImageOps, UnidentifiedImageError

from hub.errors import Problem

ImageFormat = Literal["PNG", "JPEG"]
PNG_MAGIC: Final = b"\x89PNG\r\n\x1a\n"
JPEG_MAGIC: Final = b"\xff\xd8\xff"
MAX_SEAL_BYTES: Final = 2 * 1024 * 1024
# A seal scanned at 600 dpi is about 1000 x 1000 pixels; 4 megapixels leaves room for a phone photo.
MAX_SEAL_PIXELS: Final = 4_000_000
_KEPT_MODES: Final = frozenset({"L", "LA", "RGB", "RGBA"})


def sniff_image(data: bytes) -> ImageFormat | None:
    """PNG or JPEG by the file's first bytes (its name and declared type are not trusted), else None."""
    if data.startswith(PNG_MAGIC):
        return "PNG"
    if data.startswith(JPEG_MAGIC):
        return "JPEG"
    return None


def decode_image(data: bytes, *, max_pixels: int) -> Image.Image:
    """Fully decode a PNG or JPEG, refusing any other content and any picture larger than ``max_pixels``.

    ``Image.open`` reads only the header, so the pixel count is checked before the image data is touched;
    Pillow's own bomb guard (``DecompressionBombWarning``/``Error``) is turned into the same refusal. Raises
    ``Problem`` 415 ``file-type-not-allowed`` or 413 ``image-too-many-pixels``.
    """
    kind = sniff_image(data)
    if kind is None:
        raise Problem(415, "file-type-not-allowed", allowed="PNG, JPEG")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=(kind,))
            width, height = image.size
            if width <= 0 or height <= 0:
                raise Problem(415, "file-type-not-allowed", allowed="PNG, JPEG")
            if width * height > max_pixels:
                raise Problem(413, "image-too-many-pixels", limit=max_pixels)
            image.load()
    except Problem:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise Problem(413, "image-too-many-pixels", limit=max_pixels) from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError):
        # A truncated or corrupt picture: the magic bytes matched, the content is not an image.
        raise Problem(415, "file-type-not-allowed", allowed="PNG, JPEG") from None
    return image


@dataclass(frozen=True)
class SealImage:
    """The re-encoded seal: a PNG made from pixels alone, with the hash recorded in the case's audit event."""

    png: bytes
    width: int
    height: int

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.png).hexdigest()


def clean_seal(data: bytes) -> SealImage:
    """Check a seal upload and re-encode it as a metadata-free PNG (see the module docstring for why).

    The EXIF orientation is applied first, so a phone photo taken sideways shows upright, and then dropped
    with the rest. Raises ``Problem`` 413 ``file-too-large`` beyond ``MAX_SEAL_BYTES``, and the refusals of
    :func:`decode_image`.
    """
    if len(data) > MAX_SEAL_BYTES:
        raise Problem(413, "file-too-large", limit=MAX_SEAL_BYTES)
    decoded = decode_image(data, max_pixels=MAX_SEAL_PIXELS)
    try:
        upright = ImageOps.exif_transpose(decoded)
    except (OSError, ValueError, SyntaxError):  # an unreadable EXIF block: keep the pixels as stored
        upright = decoded
    if upright.mode not in _KEPT_MODES:
        transparent = "A" in upright.getbands() or "transparency" in upright.info
        upright = upright.convert("RGBA" if transparent else "RGB")
    # A new image from the raw pixels carries no ``info`` at all: nothing for the encoder to copy over.
    clean = Image.frombytes(upright.mode, upright.size, upright.tobytes())
    out = io.BytesIO()
    clean.save(out, format="PNG", optimize=True)
    return SealImage(out.getvalue(), clean.width, clean.height)
