"""Sky footprints as IVOA MOCs (HEALPix cells that hold at least one position).

A foundation module (docs/architecture.md): numpy, astropy and mocpy only. Releases write the
footprint of their scored objects as a MOC FITS file (:mod:`hscanom.catalog.ecosystem`) and the
explorer draws the same cells (:func:`moc_cells`).
"""

from __future__ import annotations

import numpy as np

__all__ = ["MOC_ORDER", "footprint_moc", "moc_cells"]

#: HEALPix order of the footprint MOC: cells of 58.6 / 2^(order - 6) arcmin = 3.44 arcmin
#: (order 10; HEALPix pixel side sqrt(4 pi / (12 4^order)) rad, Gorski et al. 2005).
MOC_ORDER = 10


def footprint_moc(ra: np.ndarray, dec: np.ndarray, order: int = MOC_ORDER):
    """The ``mocpy.MOC`` of the HEALPix cells of ``order`` that hold at least one of the
    positions ``ra``, ``dec`` [deg] (1-d, same length; NaN positions are skipped)."""
    import astropy.units as u
    from mocpy import MOC

    ra, dec = np.asarray(ra, dtype=float), np.asarray(dec, dtype=float)
    ok = np.isfinite(ra) & np.isfinite(dec)
    return MOC.from_lonlat(lon=ra[ok] * u.deg, lat=dec[ok] * u.deg, max_norder=order)


def moc_cells(moc) -> list[dict]:
    """The MOC's cells as polygons for plotting: ``[{"order", "ipix", "ra": [4], "dec": [4]}]``
    (vertices in degrees, counter-clockwise, from ``cdshealpix.nested.vertices``)."""
    import cdshealpix

    cells = []
    for order, ipix in sorted(moc.serialize(format="json").items(), key=lambda kv: int(kv[0])):  # {order: [ipix]}
        if not ipix:
            continue
        pix = np.asarray(ipix, dtype=np.uint64)
        lon, lat = cdshealpix.nested.vertices(pix, int(order))
        for k, p in enumerate(pix):
            cells.append({"order": int(order), "ipix": int(p), "ra": [round(float(v), 6) for v in lon[k].deg],
                          "dec": [round(float(v), 6) for v in lat[k].deg]})
    return cells
