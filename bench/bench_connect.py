"""Benchmark: a request's database round trip through the explorer's pool vs a new connection.

On a throwaway embedded cluster (or ``HSCANOM_DATABASE_URL``): times ``N`` times one short
query (``SELECT 1``) on

* a new connection each time (``hscanom.db.connect``, the baseline), and
* a connection borrowed from ``hscanom.db.pool`` (what each explorer request does).

Prints milliseconds per request for both and the ratio (why the explorer owns a pool:
docs/architecture.md, "The database doorway").

Usage: ``python bench/bench_connect.py [N]`` (default 200).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from hscanom import db

sys.path.insert(0, str(Path(__file__).parent))
from _common import database  # noqa: E402


def main(n: int) -> None:
    with database() as url:
        t0 = time.perf_counter()
        for _ in range(n):
            with db.connect(url) as conn:
                conn.execute("SELECT 1").fetchone()
        fresh = (time.perf_counter() - t0) / n
        pool = db.pool(url, max_size=1)
        try:
            pool.wait()
            t0 = time.perf_counter()
            for _ in range(n):
                with pool.connection() as conn:
                    conn.execute("SELECT 1").fetchone()
            pooled = (time.perf_counter() - t0) / n
        finally:
            pool.close()
    print(f"new connection per request: {fresh * 1e3:.2f} ms")
    print(f"pooled connection:          {pooled * 1e3:.2f} ms")
    print(f"ratio (new / pooled):       {fresh / pooled:.0f}x  ({n} requests each)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200)
