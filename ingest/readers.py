"""Streaming readers of catalog files: CAS CSV (plain or gzip'd) and FITS binary tables.

A reader yields :class:`Block` s of at most a few megabytes: an Arrow table with one column
per source column (lower-case names) and the 1-based line (CSV) or row (FITS) number of each
row, so that memory stays bounded for any file size. CSV is parsed by Arrow's C++ parser,
converting each column straight to the requested type; a block whose conversion fails is
parsed again with every column as text, so that :mod:`hscanom.ingest.catalog` can find and
report the bad values one by one. Rows with the wrong number of fields never reach a block:
they become :class:`~hscanom.ingest.batches.Reject` s in :attr:`CatalogReader.rejects`.

The checksum (sha256 of the file bytes as stored, compressed or not) and the byte count for
progress bars are taken while the file streams through, so the file is read once.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from hscanom.ingest.batches import Reject, file_sha256

#: Text values that mean "no value" in CAS output (compared after trimming blanks).
NULL_TOKENS: tuple[str, ...] = (
    "", "NaN", "nan", "NAN", "\\N", "null", "NULL",
    "inf", "+inf", "-inf", "Inf", "+Inf", "-Inf", "INF", "+INF", "-INF",
    "Infinity", "+Infinity", "-Infinity", "infinity", "+infinity", "-infinity",
)  # fmt: skip
#: Spellings of booleans accepted (CAS writes t/f; other tools True/False or 1/0).
TRUE_TOKENS: tuple[str, ...] = ("t", "T", "true", "True", "TRUE", "1")
FALSE_TOKENS: tuple[str, ...] = ("f", "F", "false", "False", "FALSE", "0")

#: A blank line (empty, blanks only, or a CR of a CRLF line end) in a block of CSV text.
_BLANK_LINE = re.compile(rb"(?:^|\n)[ \t\r]*\n")

#: Bytes of CSV text parsed per block.
CSV_BLOCK_BYTES = 8 << 20
#: Rows of a FITS table per block.
FITS_BLOCK_ROWS = 50_000


class CatalogFileError(ValueError):
    """The file as a whole cannot be ingested (unreadable, no header, missing columns).

    Attributes:
        reject: the file-level :class:`Reject` to store with the failed batch.
    """

    def __init__(self, path: Path | str, message: str, line: int | None = None):
        where = f"{path}" + (f", line {line}" if line is not None else "")
        super().__init__(f"{where}: {message}")
        self.reject = Reject(line, None, None, message)


@dataclass
class Block:
    """Rows of a catalog file.

    Attributes:
        table: one column per source column, named in lower case; typed when the reader
            could convert every value, else ``string``.
        lines: shape ``(n_rows,)`` int64, 1-based line (CSV) or row (FITS) numbers.
        typed: True when every column has the type that was asked for.
    """

    table: pa.Table
    lines: np.ndarray
    typed: bool


class _CountingReader(io.RawIOBase):
    """Binary reader that hashes and counts the bytes of the file as they pass."""

    def __init__(self, fh):
        self._fh = fh
        self.sha256 = hashlib.sha256()
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = self._fh.readinto(buffer)
        if n:
            self.sha256.update(memoryview(buffer)[:n])
            self.bytes_read += n
        return n

    def close(self) -> None:
        self._fh.close()
        super().close()


@dataclass
class CatalogReader:
    """Common state of the readers.

    Attributes:
        path: the file.
        names: source column names in file order, lower case.
        bytes_total: size of the file on disk.
        rejects: rows refused for their structure (wrong field count, truncated line).
        truncated: the file ends in the middle of a line (last line not stored).
        warnings: notes about the file (e.g. no newline at the end).
        preamble: the ``#`` lines before the header (e.g. the information block of HSC
            CAS output: job id, release, SQL), as in the file, one per line; ``""`` if none.
    """

    path: Path
    names: list[str] = field(default_factory=list)
    preamble: str = ""
    bytes_total: int = 0
    rejects: list[Reject] = field(default_factory=list)
    truncated: bool = False
    warnings: list[str] = field(default_factory=list)

    @property
    def bytes_done(self) -> int:
        raise NotImplementedError

    @property
    def sha256(self) -> str:
        """Hex checksum of the file; complete once :meth:`blocks` is exhausted."""
        raise NotImplementedError

    def blocks(self, types: Mapping[str, pa.DataType]) -> Iterator[Block]:
        """Yield the rows, converting column ``name`` to ``types[name]`` where possible."""
        raise NotImplementedError

    def close(self) -> None:
        """Release the file."""


def _split_header(line: str) -> list[str]:
    return [name.strip().strip('"').strip().lower() for name in next(csv.reader([line]))]


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


class CsvCatalogReader(CatalogReader):
    """CAS CSV, plain or gzip'd: a header line (may start with ``# ``), then one row a line.

    Lines before the header that start with ``#`` and hold no comma are comments.
    """

    def __init__(self, path: Path):
        super().__init__(path=path, bytes_total=path.stat().st_size)
        self._raw = _CountingReader(open(path, "rb"))
        raw = io.BufferedReader(self._raw, buffer_size=1 << 20)
        self._stream = gzip.GzipFile(fileobj=raw, mode="rb") if raw.peek(2)[:2] == b"\x1f\x8b" else raw
        self._carry = b""
        self._next_line = 1
        self._read_header()

    @property
    def bytes_done(self) -> int:
        return self._raw.bytes_read

    @property
    def sha256(self) -> str:
        return self._raw.sha256.hexdigest()

    def _read_header(self) -> None:
        """Find the header line; keep the ``#`` lines before it as :attr:`preamble`.

        The header is the first line that does not start with ``#`` when none of its
        fields is a number (``object_id,ra,dec``); otherwise (CAS output: an information
        block of ``#`` lines, the header ``# object_id,ra,dec``, then rows) it is the last
        ``#`` line before that first row. Blank lines and a UTF-8 byte-order mark are skipped.
        """
        buf = b""
        comments: list[tuple[int, str]] = []
        while True:
            nl = buf.find(b"\n")
            if nl < 0:
                try:
                    more = self._stream.read(1 << 16)
                except (OSError, EOFError) as exc:
                    raise CatalogFileError(self.path, f"unreadable: {exc}") from None
                if not more:
                    if not buf.strip():
                        if comments:  # only '#' lines: the last one is the header of an empty table
                            self._use_header(comments, len(comments) - 1, b"")
                            return
                        raise CatalogFileError(self.path, "empty file: no header line")
                    nl = len(buf)
                    buf += b"\n"
                else:
                    buf += more
                    continue
            raw_line, buf = buf[:nl], buf[nl + 1 :]
            if self._next_line == 1 and raw_line.startswith(b"\xef\xbb\xbf"):
                raw_line = raw_line[3:]  # UTF-8 byte-order mark (spreadsheets, Windows tools)
            try:
                line = raw_line.decode("utf-8").strip()
            except UnicodeDecodeError:
                raise CatalogFileError(self.path, "not a UTF-8 text file (nor gzip'd text)", self._next_line) from None
            self._next_line += 1
            if not line:
                continue
            if line.startswith("#"):
                comments.append((self._next_line - 1, line))
                continue
            fields = _split_header(line)
            if comments and any(_is_number(f) for f in fields) and "," in comments[-1][1]:
                # a data row: the last '#' line was the header (CAS output)
                self._use_header(comments, len(comments) - 1, raw_line + b"\n" + buf)
                self._next_line -= 1
                return
            self.names = fields
            self.preamble = "\n".join(text for _, text in comments)
            self._carry = buf
            return

    def _use_header(self, comments: list[tuple[int, str]], at: int, rest: bytes) -> None:
        self.names = _split_header(comments[at][1].lstrip("#"))
        self.preamble = "\n".join(text for _, text in comments[:at])
        self._carry = rest

    def close(self) -> None:
        self._stream.close()
        self._raw.close()

    def _chunks(self) -> Iterator[tuple[bytes, bool]]:
        """Yield (text ending at a line end, is_last) pieces of about CSV_BLOCK_BYTES."""
        while True:
            try:
                more = self._stream.read(CSV_BLOCK_BYTES)
            except (OSError, EOFError) as exc:
                raise CatalogFileError(self.path, f"unreadable after line {self._next_line - 1}: {exc}") from None
            if not more:
                if self._carry:
                    yield self._carry, True
                return
            data = self._carry + more
            cut = data.rfind(b"\n") + 1
            if cut == 0:
                self._carry = data
                continue
            self._carry = data[cut:]
            yield data[:cut], False

    def blocks(self, types: Mapping[str, pa.DataType]) -> Iterator[Block]:
        asked = {name: types[name] for name in self.names if name in types}
        text = {name: pa.string() for name in self.names}
        for body, last in self._chunks():
            first = self._next_line
            n_lines = body.count(b"\n") + (0 if body.endswith(b"\n") else 1)
            self._next_line += n_lines
            try:
                table, bad, typed = self._parse_block(body, asked, text)
            except pa.ArrowInvalid as exc:  # not even text: bytes that are not UTF-8
                cleaned = self._valid_utf8(body, first)
                if cleaned is body:
                    raise CatalogFileError(self.path, f"cannot parse lines {first} to {first + n_lines - 1}: {exc}") from None
                body = cleaned
                table, bad, typed = self._parse_block(body, asked, text)
            numbers = np.arange(1, n_lines + 1, dtype=np.int64)
            if bad:
                numbers = np.setdiff1d(numbers, np.array([b[0] for b in bad], dtype=np.int64), assume_unique=True)
                ends_open = last and not body.endswith(b"\n")
                for number, row_text, actual in bad:
                    line = first + number - 1
                    if not row_text.strip():
                        continue  # a line of blanks only: not a row
                    if ends_open and number == n_lines:
                        self.truncated = True
                        reason = (
                            f"truncated last line: {actual} of {len(self.names)} fields and no newline at the "
                            "end of the file (incomplete download?); not stored"
                        )
                    else:
                        reason = f"wrong number of fields: {actual}, expected {len(self.names)}"
                    self.rejects.append(Reject(line, None, row_text, reason))
            elif last and not body.endswith(b"\n"):
                self.warnings.append("no newline at the end of the file (the last line was complete)")
            if len(numbers) != table.num_rows:
                raise CatalogFileError(
                    self.path,
                    f"cannot map rows to lines between lines {first} and {first + n_lines - 1} "
                    "(quoted values spanning lines are not supported)",
                )
            keep = self._not_blank(body, numbers) if table.column(0).null_count else None
            if keep is not None:
                table, numbers = table.filter(pa.array(keep)), numbers[keep]
            yield Block(table, numbers + (first - 1), typed)

    @staticmethod
    def _not_blank(body: bytes, numbers: np.ndarray) -> np.ndarray | None:
        """Mask of rows that are not blank lines (``None``: no blank lines).

        A blank line is empty or only blanks, with ``\\n`` or ``\\r\\n`` line ends.
        """
        if _BLANK_LINE.search(body) is None:
            return None
        blank = [i + 1 for i, line in enumerate(body.split(b"\n")) if not line.strip()]
        return ~np.isin(numbers, np.array(blank, dtype=np.int64))

    def _valid_utf8(self, body: bytes, first: int) -> bytes:
        """``body`` with each line that is not valid UTF-8 blanked (and refused, with the
        column it is in); lines keep their numbers. ``body`` itself when it is all UTF-8.

        Called only when Arrow cannot parse a block even as text, so valid files never pay
        for a second pass over their bytes."""
        try:
            body.decode("utf-8")
            return body
        except UnicodeDecodeError:
            pass
        lines = body.split(b"\n")
        for i, line in enumerate(lines):
            try:
                line.decode("utf-8")
                continue
            except UnicodeDecodeError:
                pass
            fields = next(csv.reader([line.decode("latin-1")]), [])
            column = None
            for name, value in zip(self.names, fields):
                try:
                    value.encode("latin-1").decode("utf-8")
                except UnicodeDecodeError:
                    column = name
                    break
            raw = line.rstrip(b"\r").decode("utf-8", errors="backslashreplace")
            self.rejects.append(Reject(first + i, column, raw, "not valid UTF-8 text"))
            lines[i] = b""
        return b"\n".join(lines)

    def _parse_block(self, body: bytes, asked, text) -> tuple[pa.Table, list[tuple[int, str, int]], bool]:
        """Parse with the asked types, or as text when some value does not convert.

        One thread: the database server needs the machine's other core meanwhile, and
        refused rows get their line numbers only on one thread.
        """
        try:
            return (*self._parse(body, asked), True)
        except pa.ArrowInvalid:
            return (*self._parse(body, text), False)

    def _parse(self, body: bytes, types: Mapping[str, pa.DataType]) -> tuple[pa.Table, list[tuple[int, str, int]]]:
        bad: list[tuple[int, str, int]] = []

        def on_invalid(row) -> str:
            bad.append((row.number, row.text, row.actual_columns))
            return "skip"

        table = pacsv.read_csv(
            pa.BufferReader(body),
            read_options=pacsv.ReadOptions(column_names=self.names, use_threads=False, block_size=len(body) + 1),
            parse_options=pacsv.ParseOptions(invalid_row_handler=on_invalid, ignore_empty_lines=False),
            convert_options=pacsv.ConvertOptions(
                column_types=dict(types),
                null_values=list(NULL_TOKENS),
                true_values=list(TRUE_TOKENS),
                false_values=list(FALSE_TOKENS),
                strings_can_be_null=True,
            ),
        )
        return table, bad


class FitsCatalogReader(CatalogReader):
    """The first binary-table HDU of a FITS file, in blocks of rows.

    NaN and infinite floats and integers equal to the column's ``TNULL`` become nulls;
    types stay as stored (the catalog ingest checks and converts them).
    """

    def __init__(self, path: Path):
        from astropy.io import fits

        super().__init__(path=path, bytes_total=path.stat().st_size)
        try:
            self._hdul = fits.open(path, memmap=True)
            hdu = next((h for h in self._hdul if isinstance(h, fits.BinTableHDU)), None)
        except (OSError, ValueError, TypeError) as exc:
            raise CatalogFileError(path, f"unreadable FITS file: {exc}") from None
        if hdu is None:
            raise CatalogFileError(path, "no binary table HDU in the FITS file")
        self._hdu = hdu
        self._n = len(hdu.data) if hdu.data is not None else 0
        self.names = [c.name.lower() for c in hdu.columns]
        self._done = 0

    @property
    def bytes_done(self) -> int:
        return int(self.bytes_total * self._done / self._n) if self._n else self.bytes_total

    @property
    def sha256(self) -> str:
        return file_sha256(self.path)

    def close(self) -> None:
        self._hdul.close()

    def _column(self, index: int, lo: int, hi: int) -> pa.Array:
        col = self._hdu.columns[index]
        values = np.asarray(self._hdu.data.field(index)[lo:hi])
        if values.ndim > 1:
            return pa.array([str(v.tolist()) for v in values], type=pa.string())
        if values.dtype.kind in "SU":
            strings = np.char.strip(values.astype(str))
            return pa.array(strings, mask=np.isin(strings, NULL_TOKENS))
        values = values.astype(values.dtype.newbyteorder("="))
        mask = None
        if values.dtype.kind == "f":
            mask = ~np.isfinite(values)
        elif values.dtype.kind in "iu" and col.null is not None:
            mask = values == int(col.null)
        return pa.array(values, mask=mask if mask is not None and mask.any() else None)

    def blocks(self, types: Mapping[str, pa.DataType]) -> Iterator[Block]:
        for lo in range(0, self._n, FITS_BLOCK_ROWS):
            hi = min(lo + FITS_BLOCK_ROWS, self._n)
            arrays = [self._column(i, lo, hi) for i in range(len(self.names))]
            self._done = hi
            yield Block(pa.table(arrays, names=self.names), np.arange(lo + 1, hi + 1, dtype=np.int64), typed=False)


def open_catalog(path: Path | str) -> CatalogReader:
    """A reader for ``path``: FITS by its signature, otherwise CSV (gzip'd or not)."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            magic = fh.read(9)
    except OSError as exc:
        raise CatalogFileError(path, f"cannot open: {exc.strerror or exc}") from None
    if magic == b"SIMPLE  =":
        return FitsCatalogReader(path)
    return CsvCatalogReader(path)
