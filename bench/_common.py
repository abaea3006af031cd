"""Shared pieces of the benchmark scripts: a throwaway database and timing helpers."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import psycopg

from hscanom import db
from hscanom.embedded import EmbeddedCluster


@contextmanager
def database() -> Iterator[str]:
    """URL of a migrated database: ``HSCANOM_DATABASE_URL`` if set, else a throwaway
    embedded cluster (fsync off) in a temporary folder, stopped at the end."""
    if os.environ.get("HSCANOM_DATABASE_URL"):
        url = db.database_url()
        db.upgrade(url)
        yield url
        return
    with tempfile.TemporaryDirectory(prefix="hscanom-bench-") as tmp:
        cluster = EmbeddedCluster(Path(tmp), server_settings={"fsync": "off"})
        cluster.start()
        try:
            db.upgrade(cluster.url())
            yield cluster.url()
        finally:
            cluster.stop(mode="immediate")


def load_positions(url: str, n: int, seed: int = 0, ra_range=(-15.0, 15.0), dec_range=(-5.0, 5.0)) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """COPY ``n`` objects uniform in area over a field crossing ra = 0 into hsc_object.

    Returns (object_id int64, ra, dec) [deg]; the table is VACUUM ANALYZEd.
    """
    rng = np.random.default_rng(seed)
    ra = rng.uniform(*ra_range, n) % 360.0
    lo, hi = np.sin(np.radians(dec_range))
    dec = np.degrees(np.arcsin(rng.uniform(lo, hi, n)))
    ids = np.int64(40_000_000_000_000_000) + np.arange(n, dtype=np.int64) * 7919
    with psycopg.connect(url) as conn:
        with conn.cursor().copy("COPY hsc_object (object_id, ra, dec) FROM STDIN") as copy:
            for row in zip(ids.tolist(), ra.tolist(), dec.tolist()):
                copy.write_row(row)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE hsc_object")
    return ids, ra, dec


def store_sample(url: str, objects, cutouts=(), name: str = "bench") -> int:
    """COPY ``objects`` ((object_id, ra, dec) rows) into hsc_object, then ``cutouts``
    ((object_id, band, uri, hdu, format, shape, sha256) rows) into cutout, and register them,
    in that order, as the sample ``name``. Returns the sample id."""
    objects = list(objects)
    with psycopg.connect(url) as conn:
        with conn.cursor().copy("COPY hsc_object (object_id, ra, dec) FROM STDIN") as copy:
            for row in objects:
                copy.write_row(row)
        with conn.cursor().copy("COPY cutout (object_id, band, uri, hdu, format, shape, sha256) FROM STDIN") as copy:
            for row in cutouts:
                copy.write_row(row)
        sid = conn.execute("INSERT INTO sample (name, sql, n_members) VALUES (%s, 'benchmark', %s) RETURNING id", (name, len(objects))).fetchone()[0]
        with conn.cursor().copy("COPY sample_member (sample_id, object_id, idx) FROM STDIN") as copy:
            for idx, row in enumerate(objects):
                copy.write_row((sid, row[0], idx))
    return sid


def timed(fn, *args, **kw) -> tuple[float, object]:
    """(seconds, result) of one call."""
    t0 = time.perf_counter()
    out = fn(*args, **kw)
    return time.perf_counter() - t0, out


def demo_homes(homes: list[Path] | None) -> list[Path]:
    """``homes`` resolved, or the demo's own home when none is given (``$HSCANOM_HOME``, else
    ``./.hscanom``: where ``make demo`` ran), so that ``make bench`` measures the demo."""
    from hscanom.config import Settings

    return [h.resolve() for h in homes] if homes else [Settings.from_env().home]


def simulation_truth(home: Path) -> Path:
    """``home``'s ``simulation/labels.csv`` (the simulator's truth), checked before anything
    starts a database server in a mistyped or empty folder.

    Raises:
        SystemExit: no such folder, or no truth file in it (the message names the folder).
    """
    if not home.is_dir():
        raise SystemExit(f"{home}: no such folder")
    truth = home / "simulation" / "labels.csv"
    if not truth.is_file():
        raise SystemExit(f"{home}: no simulation/labels.csv (a home made by `hscanom demo` or bench/bench_detect.py)")
    return truth
