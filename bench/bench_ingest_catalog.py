"""Benchmark: catalog ingest of a 1,000,000-row CAS CSV with the paper's 176 columns.

Writes the file (random but CAS-like values: 17-19 digit object ids, True/False flags,
a few NaN and empty values), then, on a throwaway embedded cluster (fsync off) or on
``HSCANOM_DATABASE_URL``:

1. baseline: a bare ``COPY ... FROM STDIN (FORMAT csv, HEADER)`` of the same bytes into an
   untyped table (176 text columns), streamed through psycopg;
2. ``hscanom.ingest.catalog.ingest_catalog`` into an empty ``hsc_object`` (parse, check,
   stage with binary COPY, merge with the Q3C and primary-key indexes in place);
3. the same file again (nothing changes: 0 rows stored).

Prints rows/s for each and the ratio ingest rate / bare COPY rate (goal: >= 100,000 rows/s
and >= 0.5). Usage: ``python bench/bench_ingest_catalog.py [--rows N] [--keep DIR]``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv

from hscanom.ingest.catalog import ingest_catalog
from hscanom.schema.columns import HSC_COLUMNS

sys.path.insert(0, str(Path(__file__).parent))
from _common import database  # noqa: E402


def _column(rng: np.random.Generator, column, n: int, start: int) -> pa.Array:
    name = column.name
    if name == "object_id":
        return pa.array(np.int64(36_407_037_373_222_433) + np.arange(start, start + n, dtype=np.int64) * 7919)
    if name == "ra":
        return pa.array(np.round(rng.uniform(0, 360, n), 8))
    if name == "dec":
        return pa.array(np.round(rng.uniform(-7, 7, n), 8))
    if column.kind == "boolean":
        return pa.array(np.where(rng.random(n) < 0.05, "True", "False"))
    if column.kind in ("integer", "bigint"):
        hi = 10**15 if column.kind == "bigint" else 20_000
        return pa.array(rng.integers(0, hi, n))
    values = np.round(rng.normal(20.0, 2.0, n), 6)
    nulls = rng.random(n) < 0.01
    return pa.array(values, mask=nulls)


def write_cas_csv(path: Path, n_rows: int, seed: int = 0, block: int = 100_000) -> None:
    """Write a CAS-format CSV of ``n_rows`` rows with every column of HSC_COLUMNS."""
    rng = np.random.default_rng(seed)
    names = [c.name for c in HSC_COLUMNS]
    with open(path, "wb") as fh:
        fh.write(("# " + ",".join(names) + "\n").encode())
        for start in range(0, n_rows, block):
            n = min(block, n_rows - start)
            table = pa.table([_column(rng, c, n, start) for c in HSC_COLUMNS], names=names)
            sink = pa.BufferOutputStream()
            pacsv.write_csv(table, sink, pacsv.WriteOptions(include_header=False, quoting_style="none"))
            fh.write(sink.getvalue().to_pybytes())


def bare_copy_seconds(url: str, path: Path) -> float:
    """Seconds for a bare CSV COPY of ``path`` into a new table of text columns."""
    cols = ", ".join(f"{c.name} text" for c in HSC_COLUMNS)
    with psycopg.connect(url) as conn:
        conn.execute(f"CREATE TABLE bench_untyped ({cols})")
        conn.commit()
        t0 = time.perf_counter()
        with conn.cursor().copy("COPY bench_untyped FROM STDIN (FORMAT csv, HEADER true)") as copy, open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                copy.write(chunk)
        conn.commit()
        seconds = time.perf_counter() - t0
        conn.execute("DROP TABLE bench_untyped")
        conn.commit()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--keep", type=Path, help="write the CSV here (reused if present)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hscanom-bench-csv-") as tmp:
        path = args.keep or Path(tmp) / "catalog.csv"
        if not path.exists():
            t0 = time.perf_counter()
            write_cas_csv(path, args.rows)
            print(f"wrote {path} ({path.stat().st_size / 1e6:.0f} MB, {args.rows:,} rows x {len(HSC_COLUMNS)} columns) in {time.perf_counter() - t0:.1f} s")
        with database() as url:
            copy_s = bare_copy_seconds(url, path)
            copy_rate = args.rows / copy_s
            print(f"bare COPY into an untyped table: {copy_s:.2f} s = {copy_rate:,.0f} rows/s")
            t0 = time.perf_counter()
            first = ingest_catalog(path, url=url)
            ingest_s = time.perf_counter() - t0
            rate = first.rows_stored / ingest_s
            print(f"hscanom ingest catalog (new rows): {ingest_s:.2f} s = {rate:,.0f} rows/s, "
                  f"stored {first.rows_stored:,}, rejected {first.rows_rejected:,}")
            t0 = time.perf_counter()
            again = ingest_catalog(path, url=url)
            again_s = time.perf_counter() - t0
            print(f"re-ingest of the same file: {again_s:.2f} s = {args.rows / again_s:,.0f} rows/s, "
                  f"stored {again.rows_stored}, updated {again.rows_updated}")
            print(f"ratio ingest / bare COPY (rows/s): {rate / copy_rate:.2f}  (goal >= 0.5; rate goal >= 100,000 rows/s)")


if __name__ == "__main__":
    main()
