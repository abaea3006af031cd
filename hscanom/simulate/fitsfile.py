"""A small, fast writer of FITS files made of a header-only primary HDU and image extensions.

astropy spends tens of milliseconds verifying and formatting each cutout file; this writer
formats the fixed-format cards directly (FITS standard 4.0, section 4) and is byte-for-byte
deterministic. The files read back with :mod:`astropy.io.fits` and pass its verification
(see tests/test_simulate.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

BLOCK = 2880
_BITPIX = {
    np.dtype(np.float32): -32,
    np.dtype(np.float64): -64,
    np.dtype(np.int32): 32,
    np.dtype(np.int16): 16,
    np.dtype(np.uint8): 8,
}

Card = tuple[str, object, str]


def _value(value: object) -> str:
    if isinstance(value, (bool, np.bool_)):
        return f"{'T' if value else 'F':>20}"
    if isinstance(value, (int, np.integer)):
        return f"{int(value):>20d}"
    if isinstance(value, (float, np.floating)):
        # shortest exact representation, or as many digits as fit the 20-character field
        candidates = [repr(float(value)).upper()] + [format(float(value), f".{d}G") for d in (15, 14, 13)]
        text = next(t for t in candidates if len(t) <= 20)
        if "." not in text and "E" not in text:
            text += ".0"
        return f"{text:>20}"
    text = "'" + str(value).replace("'", "''").ljust(8) + "'"
    return f"{text:<20}"


def format_card(keyword: str, value: object, comment: str = "") -> str:
    """One 80-character header card; keywords longer than 8 characters use ``HIERARCH``."""
    if len(keyword) <= 8 and keyword == keyword.upper():
        card = f"{keyword:<8}= {_value(value)}"
    else:
        card = f"HIERARCH {keyword} = {_value(value).strip()}"
    if comment:
        card += f" / {comment}"
    if len(card) > 80:
        card = card[:80]
    return card.ljust(80)


def _header(cards: Iterable[str]) -> bytes:
    text = "".join(cards) + "END".ljust(80)
    text += " " * (-len(text) % BLOCK)
    return text.encode("ascii")


def _data(array: np.ndarray) -> bytes:
    raw = array.astype(array.dtype.newbyteorder(">"), copy=False).tobytes()
    return raw + b"\0" * (-len(raw) % BLOCK)


def write_fits(
    path: Path, primary: Sequence[Card], extensions: Sequence[tuple[str, np.ndarray, Sequence[Card]]]
) -> None:
    """Write a FITS file: a primary HDU without data, then one image extension per entry.

    Args:
        path: output file.
        primary: extra primary-header cards ``(keyword, value, comment)``.
        extensions: ``(extname, 2-d array, extra cards)``; arrays are float32/float64/int16/int32/uint8.
    """
    chunks = [
        _header(
            [
                format_card("SIMPLE", True, "conforms to FITS standard"),
                format_card("BITPIX", 8),
                format_card("NAXIS", 0),
                format_card("EXTEND", True),
            ]
            + [format_card(*c) for c in primary]
        )
    ]
    for name, array, cards in extensions:
        array = np.ascontiguousarray(array)
        if array.ndim != 2:
            raise ValueError(f"extension {name}: expected a 2-d array, got shape {array.shape}")
        head = [
            format_card("XTENSION", "IMAGE", "Image extension"),
            format_card("BITPIX", _BITPIX[array.dtype]),
            format_card("NAXIS", 2),
            format_card("NAXIS1", array.shape[1]),
            format_card("NAXIS2", array.shape[0]),
            format_card("PCOUNT", 0),
            format_card("GCOUNT", 1),
            format_card("EXTNAME", name),
        ]
        chunks.append(_header(head + [format_card(*c) for c in cards]))
        chunks.append(_data(array))
    Path(path).write_bytes(b"".join(chunks))
