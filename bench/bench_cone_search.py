"""Benchmark: Q3C cone searches of radius 1 arcmin on a 1,000,000-object hsc_object.

On a throwaway embedded cluster (or ``HSCANOM_DATABASE_URL``): loads 1M objects over a
300 deg^2 field crossing ra = 0, then runs 1,000 cone searches at random positions with
``q3c_radial_query`` (Q3C index) and reports the median and 95th-percentile latency per
query. Baseline, same run: the same search without the index (``q3c_dist`` on every row),
median of 10. Goal: median < 10 ms.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import psycopg

sys.path.insert(0, str(Path(__file__).parent))
from _common import database, load_positions  # noqa: E402

INDEXED = "SELECT object_id, ra, dec FROM hsc_object WHERE q3c_radial_query(ra, dec, %s, %s, %s)"
SCAN = "SELECT object_id, ra, dec FROM hsc_object WHERE q3c_dist(ra, dec, %s, %s) < %s"


def latencies(conn, sql: str, centres: np.ndarray, radius: float) -> tuple[np.ndarray, int]:
    """Seconds per query, and the total rows found."""
    out, found = [], 0
    for ra, dec in centres.tolist():
        t0 = time.perf_counter()
        found += len(conn.execute(sql, (ra, dec, radius), prepare=True).fetchall())
        out.append(time.perf_counter() - t0)
    return np.array(out), found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=1000)
    args = parser.parse_args()
    radius = 1 / 60
    rng = np.random.default_rng(11)
    centres = np.column_stack([rng.uniform(-14, 14, args.queries) % 360.0, rng.uniform(-4.5, 4.5, args.queries)])
    with database() as url:
        load_positions(url, args.objects)
        with psycopg.connect(url) as conn:
            latencies(conn, INDEXED, centres[:50], radius)  # warm the cache
            times, found = latencies(conn, INDEXED, centres, radius)
            conn.execute("SET max_parallel_workers_per_gather = 0")
            scan, scan_found = latencies(conn, SCAN, centres[:10], radius)
            _, check = latencies(conn, INDEXED, centres[:10], radius)
        median, p95 = np.median(times) * 1e3, np.percentile(times, 95) * 1e3
        print(f"Q3C cone search, r = 1 arcmin, {args.objects:,} objects: median {median:.2f} ms, 95th percentile {p95:.2f} ms "
              f"over {args.queries:,} queries ({found / args.queries:.1f} objects per cone)")
        print(f"baseline without the index (q3c_dist on every row): median {np.median(scan) * 1e3:.0f} ms; "
              f"same cones found the same objects: {scan_found == check}")
        print(f"speed-up: {np.median(scan) / np.median(times):,.0f}x  (goal: median < 10 ms)")


if __name__ == "__main__":
    main()
