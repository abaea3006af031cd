"""What a release folder holds: the names of its files, and the error of this package.

Every module of :mod:`hscanom.catalog.release` names files through these constants, so a
file is renamed in one place. The formats are described in ``docs/releases.md`` and in each
release's own ``README.md``.
"""

from __future__ import annotations

__all__ = [
    "DISC3_HATS", "DISC3_PICKLE", "DISC3_VOTABLE", "EXTENDED", "EXTENDED_HATS", "FOOTPRINT_MOC", "FULL_PICKLE",
    "MANIFEST", "MANIFEST_FORMAT", "MANIFEST_FORMAT_VERSION", "README", "REALS_NPY", "RESIDUALS_NPY", "SHA256SUMS",
    "ReleaseError",
]

MANIFEST = "manifest.json"
#: Detached checksums of every file (manifest.json included), ``sha256sum -c`` format.
SHA256SUMS = "SHA256SUMS"
README = "README.md"
MANIFEST_FORMAT = "hscanom-release"
MANIFEST_FORMAT_VERSION = 1

FULL_PICKLE = "anomaly_catalog_hsc_full.p"
DISC3_PICKLE = "anomaly_catalog_hsc_disc3sigma.p"
RESIDUALS_NPY = "autoencoded_disc3sigma_residuals.npy"
REALS_NPY = "autoencoded_disc3sigma_reals.npy"
EXTENDED = "anomaly_catalog_hsc_extended"
#: HATS catalogs (folders) of the extended catalog and of its high-anomaly rows, the
#: footprint MOC and the VOTable of the high-anomaly rows (:mod:`hscanom.catalog.ecosystem`).
EXTENDED_HATS = "anomaly_catalog_hsc_extended_hats"
DISC3_HATS = "anomaly_catalog_hsc_disc3sigma_hats"
FOOTPRINT_MOC = "anomaly_catalog_hsc_footprint_moc.fits"
DISC3_VOTABLE = "anomaly_catalog_hsc_disc3sigma.vot"


class ReleaseError(RuntimeError):
    """A release that cannot be cut (bad version, exists, run not ready), read or verified."""
