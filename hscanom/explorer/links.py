"""Links out to the HSC data-release tools for a position on the sky.

* hscMap (the release's sky viewer) centred on (ra, dec): ``/hscMap-pdr2/app/`` and
  ``/hscMap-pdr3/app/`` with the view ``{"a": ra, "d": dec, "fovy": ..., "roll": 0}``
  (radians) JSON-encoded in the URL fragment.
* The image cutout service (DAS cutout): ``/das_cutout/pdr{2,3}/cgi-bin/cutout`` with
  ``ra``, ``dec`` [deg], half-widths ``sw``/``sh``, ``type=coadd``, ``filter=HSC-I`` and the
  wide rerun (``pdr2_wide`` / ``pdr3_wide``). It returns a FITS file and needs an HSC-SSP
  data-release account (free registration).
"""

from __future__ import annotations

import json
import math
from urllib.parse import quote, urlencode

RELEASE_SITE = "https://hsc-release.mtk.nao.ac.jp"

#: Field of view of the hscMap link [arcsec].
HSCMAP_FOV_ARCSEC = 40.0
#: Half-width of the cutout [arcsec] (the paper's 96-pixel stamps are ~16 arcsec wide).
CUTOUT_HALF_WIDTH_ARCSEC = 10.0


def hscmap_url(ra: float, dec: float, release: str = "pdr3") -> str:
    """hscMap of ``release`` (``pdr2`` or ``pdr3``) centred on ``ra``, ``dec`` [deg]."""
    view = {"view": {"a": math.radians(ra), "d": math.radians(dec), "fovy": math.radians(HSCMAP_FOV_ARCSEC / 3600.0), "roll": 0}}
    return f"{RELEASE_SITE}/hscMap-{release}/app/#/?_=" + quote(json.dumps(view, separators=(",", ":")), safe=",")


def cutout_url(ra: float, dec: float, release: str = "pdr3", band: str = "I") -> str:
    """DAS cutout (FITS, coadd, wide layer) of ``release`` around ``ra``, ``dec`` [deg]."""
    half = f"{CUTOUT_HALF_WIDTH_ARCSEC:g}asec"
    query = {"ra": f"{ra:.6f}", "dec": f"{dec:.6f}", "sw": half, "sh": half, "type": "coadd", "image": "on",
             "filter": f"HSC-{band}", "tract": "", "rerun": f"{release}_wide"}
    return f"{RELEASE_SITE}/das_cutout/{release}/cgi-bin/cutout?" + urlencode(query)


def links(ra: float | None, dec: float | None) -> list[dict[str, str]]:
    """The links of one object: ``[{"name", "url"}]`` (empty without coordinates)."""
    if ra is None or dec is None:
        return []
    return [
        {"name": "hscMap PDR3", "url": hscmap_url(ra, dec, "pdr3")},
        {"name": "hscMap PDR2", "url": hscmap_url(ra, dec, "pdr2")},
        {"name": "cutout PDR3 (i, FITS)", "url": cutout_url(ra, dec, "pdr3")},
        {"name": "cutout PDR2 (i, FITS)", "url": cutout_url(ra, dec, "pdr2")},
    ]
