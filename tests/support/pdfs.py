"""Real PDFs made in the test: pages drawn by hand (sizes, crop boxes, rotation, no pages, encryption) and, for
picture content, by Pillow (`Image.save(..., "PDF")` puts the image on its page)."""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass

from PIL import Image

RED = b"1 0 0 rg"
BLUE = b"0 0 1 rg"


@dataclass(frozen=True)
class Page:
    """A page of `width` x `height` points whose content stream is `content` (PDF drawing operators)."""

    width: float = 200
    height: float = 100
    content: bytes = RED + b" 0 0 200 100 re f"
    extra: bytes = b""  # more page dictionary entries: /CropBox, /Rotate


def pdf(*pages: Page, password: str | None = None) -> bytes:
    """A well-formed PDF of `pages` (none is allowed); with `password`, encrypted so that it needs one to open
    (the standard security handler, RC4 40-bit, revision 2, which PDFium reads)."""
    kids = " ".join(f"{3 + 2 * i} 0 R" for i in range(len(pages)))
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", f"<< /Type /Pages /Kids [{kids}] /Count {len(pages)} >>".encode()]
    for i, page in enumerate(pages):
        box = f"/MediaBox [0 0 {page.width:g} {page.height:g}]".encode()
        contents = f" /Contents {4 + 2 * i} 0 R >>".encode()
        objects.append(b"<< /Type /Page /Parent 2 0 R " + box + b" " + page.extra + contents)
        objects.append(page.content)  # made a stream below
    file_id = hashlib.md5(b"a test document").digest()
    key = _Rc4Key(password, file_id) if password is not None else None
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(f"{number} 0 obj\n".encode())
        if number >= 4 and number % 2 == 0:  # a content stream
            data = key.encrypt(number, body) if key else body
            out.write(f"<< /Length {len(data)} >>\nstream\n".encode() + data + b"\nendstream")
        else:
            out.write(body)
        out.write(b"\nendobj\n")
    trailer = f"/Size {len(objects) + 1 + (key is not None)} /Root 1 0 R /ID [<{file_id.hex()}> <{file_id.hex()}>]"
    if key is not None:
        offsets.append(out.tell())
        out.write(f"{len(objects) + 1} 0 obj\n".encode() + key.dictionary() + b"\nendobj\n")
        trailer += f" /Encrypt {len(objects) + 1} 0 R"
    xref = out.tell()
    out.write(f"xref\n0 {len(offsets) + 1}\n0000000000 65535 f \n".encode())
    out.write(b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets))
    out.write(f"trailer\n<< {trailer} >>\nstartxref\n{xref}\n%%EOF\n".encode())
    return out.getvalue()


def picture(*colours: str, size: tuple[int, int] = (400, 200), resolution: float = 72.0) -> bytes:
    """A PDF made by Pillow: one page per colour, each the whole page; `resolution` sets the page size in
    points (size / resolution * 72)."""
    first, *rest = (Image.new("RGB", size, colour) for colour in colours)
    out = io.BytesIO()
    first.save(out, "PDF", save_all=True, append_images=rest, resolution=resolution)
    return out.getvalue()


# The standard security handler, revision 2 (PDF 1.7, 7.6.3): what a password protects a document with.
_PAD = bytes.fromhex("28BF4E5E4E758A4164004E56FFFA01082E2E00B6D0683E802F0CA9FE6453697A")
_PERMISSIONS = -4


class _Rc4Key:
    def __init__(self, password: str, file_id: bytes) -> None:
        user = (password.encode("latin-1") + _PAD)[:32]
        self.owner = _rc4(hashlib.md5(user).digest()[:5], user)  # owner password = user password
        seed = user + self.owner + _PERMISSIONS.to_bytes(4, "little", signed=True) + file_id
        self.key = hashlib.md5(seed).digest()[:5]
        self.user = _rc4(self.key, _PAD)

    def dictionary(self) -> bytes:
        o, u = self.owner.hex(), self.user.hex()
        return f"<< /Filter /Standard /V 1 /R 2 /O <{o}> /U <{u}> /P {_PERMISSIONS} >>".encode()

    def encrypt(self, number: int, data: bytes) -> bytes:
        object_key = hashlib.md5(self.key + number.to_bytes(3, "little") + bytes(2)).digest()[:10]
        return _rc4(object_key, data)


def _rc4(key: bytes, data: bytes) -> bytes:
    s = list(range(256))
    j = 0
    for i in range(256):
        j = (j + s[i] + key[i % len(key)]) % 256
        s[i], s[j] = s[j], s[i]
    out = bytearray()
    i = j = 0
    for byte in data:
        i = (i + 1) % 256
        j = (j + s[i]) % 256
        s[i], s[j] = s[j], s[i]
        out.append(byte ^ s[(s[i] + s[j]) % 256])
    return bytes(out)
