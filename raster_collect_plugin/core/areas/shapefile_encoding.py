"""A shapefile's text encoding when the file does not declare it.

A shapefile declares its encoding in a ``.cpg`` file or in its DBF's language driver id (LDID,
byte 29). Without either, GDAL (and QGIS) read it as Latin-1, so a shapefile written in UTF-8
whose ``.cpg`` was lost (copied without it, zipped by hand) gave "BÃ¤renwald" for "Bärenwald"
in every table. Text that is valid UTF-8 and not plain ASCII is almost never Latin-1 (an "ä"
in Latin-1 is one byte that UTF-8 cannot start a character with before a letter), so such a
file is read as UTF-8, and the run's notes say so.
"""

from __future__ import annotations

import codecs
import struct
from pathlib import Path
from typing import Optional

_CHUNK = 1 << 20


def _sibling(path: Path, suffix: str) -> Optional[Path]:
    """``path`` with ``suffix`` in any letter case (``.dbf``, ``.DBF``), if it exists."""
    for candidate in path.parent.glob(f"{path.stem}.*"):
        if candidate.suffix.lower() == suffix and candidate.stem == path.stem:
            return candidate
    return None


def undeclared_utf8(path: Path) -> bool:
    """True when ``path`` is a ``.shp`` whose DBF declares no encoding (no ``.cpg``, LDID 0)
    and whose field names and values are valid UTF-8 with at least one non-ASCII byte."""
    path = Path(path)
    if path.suffix.lower() != ".shp" or _sibling(path, ".cpg") is not None:
        return False
    dbf = _sibling(path, ".dbf")
    if dbf is None:
        return False
    try:
        with open(dbf, "rb") as handle:
            header = handle.read(32)
            if len(header) < 32 or header[29] != 0:  # a language driver id declares it
                return False
            count, header_length, record_length = struct.unpack("<IHH", header[4:12])
            text = bytearray()
            descriptors = handle.read(max(header_length - 32, 0))
            for start in range(0, len(descriptors) - 31, 32):  # field names: 11 bytes each
                if descriptors[start] == 0x0D:
                    break
                text += descriptors[start:start + 11].rstrip(b"\0")
            decoder = codecs.getincrementaldecoder("utf-8")()
            non_ascii = not text.isascii()
            decoder.decode(bytes(text))
            decoder.reset()
            handle.seek(header_length)
            remaining = count * record_length
            while remaining > 0:
                chunk = handle.read(min(_CHUNK, remaining))
                if not chunk:
                    break
                remaining -= len(chunk)
                non_ascii = non_ascii or not chunk.isascii()
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
    except (OSError, struct.error, UnicodeDecodeError):
        return False
    return non_ascii


def utf8_note(path: Path) -> str:
    """The run's note for a shapefile read as UTF-8 by :func:`undeclared_utf8`."""
    return (f"{Path(path).name} declares no encoding (no .cpg file) and its text is UTF-8: "
            "read as UTF-8, not as Latin-1 (GDAL's and QGIS's default); add a .cpg file "
            "holding UTF-8 so QGIS reads it so too")
