"""Client memory of ``hscanom sql run --max-rows 2`` on a big result: server-side cursor vs fetch-all.

Runs the same query (N rows of ~1 kB) twice, each in a fresh Python process, and prints the
peak resident memory of that process (ru_maxrss) and its wall time:

* baseline: the old behaviour, every row fetched to the client (``cursor.fetchall()``) and two printed;
* streamed: ``hscanom.sql.stream`` (reader login, DECLARE ... CURSOR), two rows fetched, the
  rest counted on the server (``MOVE FORWARD ALL``).

Usage: ``python bench/bench_sql_stream.py [N]`` (default 200,000).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import database  # noqa: E402

QUERY = "SELECT g AS n, repeat('x', 1000) AS pad FROM generate_series(1, {n}) g"

CHILD = {
    "baseline": """
import resource, sys, time, psycopg
t = time.perf_counter()
with psycopg.connect(sys.argv[1]) as conn:
    rows = conn.execute(sys.argv[2]).fetchall()
    shown, total = rows[:2], len(rows)
print(total, time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
""",
    "streamed": """
import resource, sys, time
from hscanom import readonly, sql
t = time.perf_counter()
q = sql.NamedQuery("big", "", "", (), (), sys.argv[2], sys.argv[2], "big.sql")
with sql.stream(q, url=sys.argv[1]) as cur:
    shown = cur.fetchmany(2)
    total = len(shown) + readonly.count_rest(cur)
print(total, time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
""",
}


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    query = QUERY.format(n=n)
    with database() as url:
        peak = {}
        for name, code in CHILD.items():
            out = subprocess.run([sys.executable, "-c", code, url, query], capture_output=True, text=True, check=True).stdout.split()
            total, seconds, kib = int(out[0]), float(out[1]), int(out[2])
            assert total == n, (name, total)
            peak[name] = kib
            print(f"{name:9s} rows {total:,}  wall {seconds:6.2f} s  peak RSS {kib / 1024:8.1f} MiB")
        print(f"peak RSS ratio baseline/streamed: {peak['baseline'] / peak['streamed']:.1f}x (rows shown: 2 of {n:,})")


if __name__ == "__main__":
    main()
