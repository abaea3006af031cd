"""Benchmark: flag 1,000,000 objects against 50,000 bright-star mask regions.

On a throwaway embedded cluster (or ``HSCANOM_DATABASE_URL``): loads 1M objects over a
300 deg^2 field crossing ra = 0, writes a DS9 file of 25,000 circles (radius law of
docs/architecture.md for stars of magnitude 8-18) and 25,000 rotated boxes (ghosts, 20"-3' sides),
loads it with ``hscanom.ingest.masks.ingest_masks``, then times flagging every object with
one query over ``bright_star_masked_object`` (pgSphere, GiST index on the objects' points).

Baseline, same data: the straightforward astropy/regions loop, region by region over all
objects (circles: ``SkyCoord.separation``; boxes: ``RectangleSkyRegion.contains`` with a TAN
WCS at the box centre). It is timed on a subset of regions and extrapolated to 50,000 (it
would take hours); the subset's flags are checked against the database's. Prints seconds
and the speed-up (goal: <= 10 s and >= 20x).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psycopg
from astropy import units as u
from astropy.coordinates import Angle, SkyCoord
from astropy.wcs import WCS
from regions import RectangleSkyRegion

from hscanom.ingest.masks import ingest_masks, radius_law

sys.path.insert(0, str(Path(__file__).parent))
from _common import database, load_positions, timed  # noqa: E402

FLAG_SQL = """
SELECT count(*) AS n_objects, count(b.object_id) AS n_masked
FROM hsc_object o
LEFT JOIN (SELECT object_id FROM bright_star_masked_object WHERE mask_version = %s) b USING (object_id)
"""


def write_regions(path: Path, n: int, seed: int = 1) -> list[tuple]:
    """DS9 file of n/2 circles and n/2 boxes; returns (shape, ra, dec, a, b, angle) [deg] rows."""
    rng = np.random.default_rng(seed)
    ra = rng.uniform(-15, 15, n) % 360.0
    dec = rng.uniform(-5, 5, n)
    mag = rng.uniform(8, 18, n)
    rows = []
    with open(path, "w") as fh:
        fh.write("# Region file format: DS9 version 4.1\nicrs\n")
        for k in range(n):
            if k % 2 == 0:
                r = float(radius_law(mag[k])) / 3600
                fh.write(f'circle({ra[k]:.7f},{dec[k]:.7f},{r * 3600:.4f}") # type=halo mag={mag[k]:.3f}\n')
                rows.append(("circle", ra[k], dec[k], r, r, 0.0))
            else:
                w, h, angle = rng.uniform(20, 180) / 3600, rng.uniform(20, 180) / 3600, rng.uniform(0, 180)
                fh.write(f"box({ra[k]:.7f},{dec[k]:.7f},{w:.7f},{h:.7f},{angle:.3f}) # type=ghost\n")
                rows.append(("box", ra[k], dec[k], w, h, angle))
    return rows


def astropy_flags(regions: list[tuple], coords: SkyCoord) -> np.ndarray:
    """The straightforward loop: one vectorised astropy/regions test per region."""
    flags = np.zeros(len(coords), dtype=bool)
    for shape, ra, dec, a, b, angle in regions:
        centre = SkyCoord(ra * u.deg, dec * u.deg)
        if shape == "circle":
            flags |= coords.separation(centre).deg < a
        else:
            wcs = WCS(naxis=2)
            wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
            wcs.wcs.crval = [ra, dec]
            wcs.wcs.crpix = [0.0, 0.0]
            wcs.wcs.cdelt = [-1 / 3600, 1 / 3600]
            flags |= RectangleSkyRegion(centre, a * u.deg, b * u.deg, Angle(angle, u.deg)).contains(coords, wcs)
    return flags


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=1_000_000)
    parser.add_argument("--regions", type=int, default=50_000)
    parser.add_argument("--baseline-regions", type=int, default=40, help="regions timed for the astropy baseline")
    args = parser.parse_args()
    with database() as url, tempfile.TemporaryDirectory() as tmp:
        ids, ra, dec = load_positions(url, args.objects)
        reg = Path(tmp) / "masks.reg"
        regions = write_regions(reg, args.regions)
        load_s, result = timed(ingest_masks, [reg], "bench", url=url)
        print(f"loaded {result.n_regions:,} regions ({result.by_shape}) from DS9 in {load_s:.1f} s")
        with psycopg.connect(url) as conn:
            times = []
            for _ in range(3):
                t0 = time.perf_counter()
                n_objects, n_masked = conn.execute(FLAG_SQL, ("bench",)).fetchone()
                times.append(time.perf_counter() - t0)
            sql_s = float(np.median(times))
            subset = regions[: args.baseline_regions]
            lines = [k + 3 for k in range(len(subset))]
            sub_ids = {r[0] for r in conn.execute(
                "SELECT DISTINCT o.object_id FROM bright_star_mask m JOIN hsc_object o ON "
                "spoint(radians(o.ra), radians(o.dec)) @ m.circle OR spoint(radians(o.ra), radians(o.dec)) @ m.poly "
                "WHERE m.mask_version = 'bench' AND m.source = ANY(%s)", ([f"masks.reg:{k}" for k in lines],))}
        print(f"SQL: flagged {n_objects:,} objects against {result.n_regions:,} regions in {sql_s:.2f} s "
              f"(median of 3; {n_masked:,} masked = {100 * n_masked / n_objects:.1f}%)")
        coords = SkyCoord(ra * u.deg, dec * u.deg)
        base_s, flags = timed(astropy_flags, subset, coords)
        per_region = base_s / len(subset)
        extrapolated = per_region * args.regions
        agree = set(ids[flags].tolist()) == sub_ids
        print(f"astropy/regions loop: {base_s:.1f} s for {len(subset)} regions = {per_region * 1e3:.0f} ms/region, "
              f"extrapolated to {args.regions:,} regions: {extrapolated:,.0f} s; flags agree with SQL on the subset: {agree}")
        print(f"speed-up SQL vs astropy/regions: {extrapolated / sql_s:,.0f}x  (goal: <= 10 s and >= 20x)")


if __name__ == "__main__":
    main()
