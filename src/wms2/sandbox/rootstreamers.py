"""The ``StreamerInfo`` list of the files :mod:`wms2.sandbox.rootfile` writes: how each class is laid out.

ROOT stores, next to the objects, one ``TStreamerInfo`` per class version used in the file: the class's
checksum and its members in streaming order (``TStreamerElement`` subclasses with a type code, memory
size and type name).  A reader whose own class has another version uses it for schema evolution.

The tables below are facts about ROOT 6's classes (versions, checksums, member types, ROOT's
``TStreamerInfo::EReadWrite`` type codes), the same in every file; member comments (titles) are left
empty except the ``[counter]`` of variable arrays.  The list is built once per process.
"""

from __future__ import annotations

import struct
from functools import cache

from wms2.sandbox.rootio import (
    OBJECT_BITS,
    any_object,
    tnamed,
    tobjarray,
    tobject,
    tstring,
    versioned,
    zlib_block,
)

# ROOT type codes (TVirtualStreamerInfo::EReadWrite)
_BASE, _COUNTER, _BITS, _OBJECT, _ANY, _OBJECT_POINTER, _TSTRING, _TOBJECT, _TNAMED = 0, 6, 15, 61, 62, 64, 65, 66, 67
_OFFSET_POINTER = 40  # kOffsetP: a basic-type array whose length is another member
#: basic type name -> (type code, size in bytes)
_BASIC = {"char": (1, 1), "short": (2, 2), "int": (3, 4), "float": (5, 4), "double": (8, 8),
          "unsigned char": (11, 1), "unsigned int": (13, 4), "long long": (16, 8), "bool": (18, 1)}
#: In-memory sizes (64-bit ROOT) of the non-basic member types used.
_SIZEOF = {"TString": 24, "TObjArray": 64, "TArrayD": 24, "TArrayI": 24, "ROOT::TIOFeatures": 1, "pointer": 8}

#: class -> (version, checksum) of the ROOT 6 classes in these files.
CLASSES: dict[str, tuple[int, int]] = {
    "TObject": (1, 0x901BC02D), "TNamed": (1, 0xDFB74A3C), "TAttLine": (2, 0x94074549),
    "TAttFill": (2, 0xFFD92A92), "TAttMarker": (2, 0x291D8BEC), "TCollection": (3, 0x57E3CB9C),
    "TSeqCollection": (0, 0xFC6C3BC6), "TObjArray": (3, 0xA99E6552), "ROOT::TIOFeatures": (1, 0x1AA12F10),
    "TLeaf": (2, 0x6D1E8152), "TLeafO": (1, 0x02AE48D3), "TLeafB": (1, 0x0F1E4B5E), "TLeafS": (1, 0x150CEECF),
    "TLeafI": (1, 0x7E6AAE19), "TLeafL": (1, 0xDE320862), "TLeafF": (1, 0x3ADD9D72), "TLeafD": (1, 0x118E8776),
    "TBranch": (13, 0x10978AAC), "TTree": (20, 0x7264E07F),
}
#: Element class -> version ROOT 6 writes; every element also streams its TStreamerElement v4 part.
_ELEMENT_VERSIONS = {"TStreamerBase": 3, "TStreamerBasicType": 2, "TStreamerString": 2, "TStreamerObject": 2,
                     "TStreamerObjectAny": 2, "TStreamerObjectPointer": 2, "TStreamerBasicPointer": 2}
_ELEMENT_VERSION = 4
_INFO_VERSION = 9
_LIST_VERSION = 5
#: zlib level of the streamer list (built once per process; 9 is 1 ms and 2 kB).
_LEVEL = 9


def _element(kind: str, name: str, code: int, size: int, type_name: str, title: str = "",
             max_index: tuple[int, ...] = (0, 0, 0, 0, 0), extra: bytes = b"") -> bytes:
    body = versioned(_ELEMENT_VERSION, tnamed(name, title) + struct.pack(">iiii", code, size, 0, 0)
                     + struct.pack(">5I", *max_index) + tstring(type_name))
    return any_object(kind, versioned(_ELEMENT_VERSIONS[kind], body + extra))


def _base(name: str) -> bytes:
    version, checksum = CLASSES[name]
    code = {"TObject": _TOBJECT, "TNamed": _TNAMED}.get(name, _BASE)
    return _element("TStreamerBase", name, code, 0, "BASE", max_index=(0, checksum, 0, 0, 0),
                    extra=struct.pack(">i", version))


def _basic(name: str, type_name: str, code: int | None = None) -> bytes:
    basic_code, size = _BASIC[type_name]
    return _element("TStreamerBasicType", name, basic_code if code is None else code, size, type_name)


def _string(name: str) -> bytes:
    return _element("TStreamerString", name, _TSTRING, _SIZEOF["TString"], "TString")


def _object(name: str, type_name: str) -> bytes:
    return _element("TStreamerObject", name, _OBJECT, _SIZEOF[type_name], type_name)


def _any(name: str, type_name: str) -> bytes:
    return _element("TStreamerObjectAny", name, _ANY, _SIZEOF[type_name], type_name)


def _pointer(name: str, type_name: str) -> bytes:
    return _element("TStreamerObjectPointer", name, _OBJECT_POINTER, _SIZEOF["pointer"], type_name + "*")


def _array(name: str, type_name: str, counter: str, owner: str) -> bytes:
    """A basic-type array member whose length is the member ``counter`` of class ``owner``."""
    code, size = _BASIC[type_name]
    extra = struct.pack(">i", CLASSES[owner][0]) + tstring(counter) + tstring(owner)
    return _element("TStreamerBasicPointer", name, _OFFSET_POINTER + code, size, type_name + "*",
                    title=f"[{counter}]", extra=extra)


def _members() -> dict[str, list[bytes]]:
    """Class -> its elements, in streaming order (bases first)."""
    leaf_values = {"TLeafO": "bool", "TLeafB": "char", "TLeafS": "short", "TLeafI": "int",
                   "TLeafL": "long long", "TLeafF": "float", "TLeafD": "double"}
    out: dict[str, list[bytes]] = {
        "TObject": [_basic("fUniqueID", "unsigned int"), _basic("fBits", "unsigned int", _BITS)],
        "TNamed": [_base("TObject"), _string("fName"), _string("fTitle")],
        "TAttLine": [_basic("fLineColor", "short"), _basic("fLineStyle", "short"), _basic("fLineWidth", "short")],
        "TAttFill": [_basic("fFillColor", "short"), _basic("fFillStyle", "short")],
        "TAttMarker": [_basic("fMarkerColor", "short"), _basic("fMarkerStyle", "short"),
                       _basic("fMarkerSize", "float")],
        "TCollection": [_base("TObject"), _string("fName"), _basic("fSize", "int")],
        "TSeqCollection": [_base("TCollection")],
        "TObjArray": [_base("TSeqCollection"), _basic("fLowerBound", "int"), _basic("fLast", "int")],
        "ROOT::TIOFeatures": [_basic("fIOBits", "unsigned char")],
        "TLeaf": [_base("TNamed"), _basic("fLen", "int"), _basic("fLenType", "int"), _basic("fOffset", "int"),
                  _basic("fIsRange", "bool"), _basic("fIsUnsigned", "bool"), _pointer("fLeafCount", "TLeaf")],
    }
    for leaf, value in leaf_values.items():
        out[leaf] = [_base("TLeaf"), _basic("fMinimum", value), _basic("fMaximum", value)]
    ints = ("fCompress", "fBasketSize", "fEntryOffsetLen", "fWriteBasket")
    out["TBranch"] = [
        _base("TNamed"), _base("TAttFill"), *(_basic(n, "int") for n in ints), _basic("fEntryNumber", "long long"),
        _any("fIOFeatures", "ROOT::TIOFeatures"), _basic("fOffset", "int"),
        _basic("fMaxBaskets", "int", _COUNTER), _basic("fSplitLevel", "int"),
        *(_basic(n, "long long") for n in ("fEntries", "fFirstEntry", "fTotBytes", "fZipBytes")),
        *(_object(n, "TObjArray") for n in ("fBranches", "fLeaves", "fBaskets")),
        _array("fBasketBytes", "int", "fMaxBaskets", "TBranch"),
        _array("fBasketEntry", "long long", "fMaxBaskets", "TBranch"),
        _array("fBasketSeek", "long long", "fMaxBaskets", "TBranch"), _string("fFileName"),
    ]
    longs = ("fEntries", "fTotBytes", "fZipBytes", "fSavedBytes", "fFlushedBytes")
    limits = ("fMaxEntries", "fMaxEntryLoop", "fMaxVirtualSize", "fAutoSave", "fAutoFlush", "fEstimate")
    out["TTree"] = [
        _base("TNamed"), _base("TAttLine"), _base("TAttFill"), _base("TAttMarker"),
        *(_basic(n, "long long") for n in longs), _basic("fWeight", "double"),
        *(_basic(n, "int") for n in ("fTimerInterval", "fScanField", "fUpdate", "fDefaultEntryOffsetLen")),
        _basic("fNClusterRange", "int", _COUNTER), *(_basic(n, "long long") for n in limits),
        _array("fClusterRangeEnd", "long long", "fNClusterRange", "TTree"),
        _array("fClusterSize", "long long", "fNClusterRange", "TTree"),
        _any("fIOFeatures", "ROOT::TIOFeatures"), _object("fBranches", "TObjArray"), _object("fLeaves", "TObjArray"),
        _pointer("fAliases", "TList"), _any("fIndexValues", "TArrayD"), _any("fIndex", "TArrayI"),
        _pointer("fTreeIndex", "TVirtualIndex"), _pointer("fFriends", "TList"), _pointer("fUserInfo", "TList"),
        _pointer("fBranchRef", "TBranchRef"),
    ]
    return out


@cache
def streamer_list() -> tuple[int, bytes]:
    """The ``TList`` of ``TStreamerInfo`` records stored under the file's "StreamerInfo" key: its size and
    its bytes as one zlib block (13.6 kB -> 2 kB: the records repeat the same few names)."""
    records = b""
    members = _members()
    for name, elements in members.items():
        version, checksum = CLASSES[name]
        array = any_object("TObjArray", tobjarray(b"".join(elements), len(elements)))
        info = versioned(_INFO_VERSION, tnamed(name, "") + struct.pack(">Ii", checksum, version) + array)
        records += any_object("TStreamerInfo", info) + tstring("")  # each list entry carries an option string
    raw = versioned(_LIST_VERSION, tobject(OBJECT_BITS) + tstring("") + struct.pack(">i", len(members)) + records)
    return len(raw), zlib_block(raw, _LEVEL)
