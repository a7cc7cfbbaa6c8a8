"""Low-level pieces of the ROOT file format used by :mod:`wms2.sandbox.rootfile` (big-endian throughout).

ROOT streams an object as a *byte count* (the number of bytes that follow it, OR-ed with
:data:`BYTE_COUNT_MASK`) and a 16-bit class version, then its base classes and members in declaration
order.  Polymorphic members (an element of a ``TObjArray``) are written as "any object": a byte count,
the new-class tag :data:`NEW_CLASS_TAG` and the class name as a C string, then the object itself.
Every record in the file is preceded by a ``TKey`` header naming its class, name, title and position.
Sources: ROOT's "ROOT file format" documentation (``TFile``, ``TKey``, ``TDirectory``, ``TFree``
records) and the class versions ROOT 6 writes (``TTree`` v20, ``TBranch`` v13, ``TLeaf`` v2).
"""

from __future__ import annotations

import struct
import time
import zlib
from dataclasses import dataclass

#: Marks a 32-bit word as a byte count (ROOT's ``kByteCountMask``).
BYTE_COUNT_MASK = 0x40000000
#: Class tag announcing a class name that follows as a C string (ROOT's ``kNewClassTag``).
NEW_CLASS_TAG = 0xFFFFFFFF
#: Offset ROOT adds to buffer positions used as object references (ROOT's ``kMapOffset``).
MAP_OFFSET = 2
#: ``TObject::fBits`` as ROOT writes them for a heap object: ``kNotDeleted | kIsOnHeap``.
OBJECT_BITS = 0x03000000
#: Key class version with 32-bit seek fields (files under :data:`START_BIG_FILE`).
KEY_VERSION = 4
#: Size from which ROOT switches to 64-bit seeks (``TFile::kStartBigFile``): this writer stays below it.
START_BIG_FILE = 2_000_000_000


def tstring(text: str) -> bytes:
    """A ``TString``: one length byte (255 announces a 32-bit length) then the bytes, no terminator."""
    raw = text.encode("utf-8")
    if len(raw) < 255:
        return bytes([len(raw)]) + raw
    return b"\xff" + struct.pack(">I", len(raw)) + raw


def versioned(version: int, body: bytes) -> bytes:
    """``body`` preceded by its byte count and class ``version`` (the count covers the version)."""
    return struct.pack(">Ih", (len(body) + 2) | BYTE_COUNT_MASK, version) + body


def any_object(class_name: str, body: bytes) -> bytes:
    """An element of a polymorphic collection: byte count, new-class tag, class name, the object."""
    tagged = struct.pack(">I", NEW_CLASS_TAG) + class_name.encode("ascii") + b"\x00" + body
    return struct.pack(">I", len(tagged) | BYTE_COUNT_MASK) + tagged


def any_object_header_size(class_name: str) -> int:
    """Bytes :func:`any_object` puts before the object (for computing reference positions)."""
    return 4 + 4 + len(class_name) + 1


def tobject(bits: int = OBJECT_BITS) -> bytes:
    """``TObject`` as a base class: version 1, ``fUniqueID``, ``fBits`` (no byte count)."""
    return struct.pack(">hII", 1, 0, bits)


def tnamed(name: str, title: str, bits: int = OBJECT_BITS) -> bytes:
    """``TNamed`` v1 as a base class: ``TObject``, ``fName``, ``fTitle``."""
    return versioned(1, tobject(bits) + tstring(name) + tstring(title))


def tobjarray(elements: bytes, count: int) -> bytes:
    """``TObjArray`` v3 with ``count`` already-serialised ``elements`` (unnamed, lower bound 0)."""
    return versioned(3, tobject() + tstring("") + struct.pack(">ii", count, 0) + elements)


def datime(epoch: float | None = None) -> int:
    """``TDatime``: the date packed in 32 bits, years counted from 1995 (UTC, as ROOT's ``Set``)."""
    t = time.gmtime(epoch)
    return ((t.tm_year - 1995) << 26 | t.tm_mon << 22 | t.tm_mday << 17
            | t.tm_hour << 12 | t.tm_min << 6 | t.tm_sec)


@dataclass(frozen=True)
class Key:
    """A ``TKey`` header (version 4: 32-bit seeks).  ``extra`` is appended to the header (a basket's)."""

    class_name: str
    name: str
    title: str
    objlen: int
    seek: int
    parent: int
    cycle: int = 1
    stamp: int = 0
    extra: bytes = b""
    stored: int | None = None  # bytes on disk after the header when compressed (else objlen)

    @property
    def keylen(self) -> int:
        return (26 + len(tstring(self.class_name)) + len(tstring(self.name)) + len(tstring(self.title))
                + len(self.extra))

    @property
    def nbytes(self) -> int:
        """Header plus object, as stored."""
        return self.keylen + (self.objlen if self.stored is None else self.stored)

    def header(self) -> bytes:
        fixed = struct.pack(">ihiIhhii", self.nbytes, KEY_VERSION, self.objlen, self.stamp, self.keylen,
                            self.cycle, self.seek, self.parent)
        return (fixed + tstring(self.class_name) + tstring(self.name) + tstring(self.title)
                + self.extra)


def zlib_block(data: bytes, level: int) -> bytes:
    """``data`` as one ROOT compression block: "ZL", method 8 (deflate), the compressed and the original
    size (3 bytes each, little-endian), then the zlib stream.  A key whose stored size is below its
    ``objlen`` holds such blocks; ROOT and uproot inflate it whatever the file's own setting."""
    packed = zlib.compress(data, level)
    if max(len(data), len(packed)) >= 1 << 24:
        raise ValueError(f"compression block of {len(data)} bytes: ROOT blocks hold under 16 MiB")
    return b"ZL\x08" + len(packed).to_bytes(3, "little") + len(data).to_bytes(3, "little") + packed


def basket_header(buffer_size: int, entry_size: int, entries: int, last: int) -> bytes:
    """The ``TBasket`` v3 fields that end a basket's key: buffer size, bytes per entry, entries, end."""
    return struct.pack(">hiiiib", 3, buffer_size, entry_size, entries, last, 0)


#: Length of :func:`basket_header`'s output.
BASKET_HEADER_SIZE = 2 + 4 * 4 + 1


def tfree(first: int, last: int) -> bytes:
    """One ``TFree`` record (version 1, 32-bit bounds): the bytes ``first..last`` are unused."""
    return struct.pack(">hii", 1, first, last)


def uuid_record(raw: bytes) -> bytes:
    """A ``TUUID``: version 1 and 16 bytes."""
    return struct.pack(">h", 1) + raw


def tdirectory(stamp: int, nbytes_keys: int, nbytes_name: int, seek_dir: int, seek_keys: int,
               uuid: bytes) -> bytes:
    """``TDirectory`` v5 record with 32-bit seeks, padded by ROOT's 12 spare bytes for later 64-bit ones."""
    return (struct.pack(">hIIiiiii", 5, stamp, stamp, nbytes_keys, nbytes_name, seek_dir, 0, seek_keys)
            + uuid_record(uuid) + b"\x00" * 12)


#: Size of :func:`tdirectory`'s output.
TDIRECTORY_SIZE = 2 + 4 * 7 + 18 + 12


def file_header(version: int, begin: int, end: int, seek_free: int, nbytes_free: int, nfree: int,
                nbytes_name: int, seek_info: int, nbytes_info: int, uuid: bytes) -> bytes:
    """The ``root`` magic and the small-file (32-bit) ``TFile`` header, padded to ``begin`` bytes."""
    units, compress = 4, 0
    head = (b"root" + struct.pack(">iiiiiiiBiii", version, begin, end, seek_free, nbytes_free, nfree,
                                  nbytes_name, units, compress, seek_info, nbytes_info)
            + uuid_record(uuid))
    return head + b"\x00" * (begin - len(head))
