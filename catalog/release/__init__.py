"""Versioned, immutable catalog releases of a score run: ``hscanom release cut|verify|list|show``.

:func:`cut` writes ``OUT/VERSION/`` (default ``OUT = $HSCANOM_HOME/releases``) with

* the published formats (:mod:`hscanom.catalog.published`): the DataFrame pickles
  ``anomaly_catalog_hsc_full.p`` and ``anomaly_catalog_hsc_disc3sigma.p``, the HDF5 files
  ``results_gri_lambda<L>.h5`` and ``results_gri_lambda<L>_3sigd.h5`` (scores and the
  reals / reconstructions / residuals as uint8 images) and the object arrays
  ``autoencoded_disc3sigma_residuals.npy`` / ``..._reals.npy`` (CAE latents);
* the extended catalog ``anomaly_catalog_hsc_extended.parquet`` / ``.fits``: every scored
  object with all scores, ``object_metadata``, the bright-star-mask flag, cluster labels and
  probabilities and UMAP coordinates, with units and descriptions;
* for the survey ecosystem (:mod:`hscanom.catalog.ecosystem`): the extended catalog and its
  high-anomaly rows as HATS catalogs (folders ``anomaly_catalog_hsc_extended_hats/``,
  ``anomaly_catalog_hsc_disc3sigma_hats/``; LSDB opens them), the footprint MOC
  ``anomaly_catalog_hsc_footprint_moc.fits`` and the VOTable with UCDs
  ``anomaly_catalog_hsc_disc3sigma.vot``;
* ``README.md`` describing every file and column, and ``manifest.json`` (version, time,
  code version, run, models and their configurations, the sample's SQL, mask version, row
  counts, and the sha256 and size of every other file, those inside the HATS folders by
  their relative path), which :func:`verify` re-checks.

Rows are the run's scored objects in sample ``idx`` order; the high-anomaly ("disc3sigma")
files keep those with ``discriminator_score_normalized > 3``.

A version is immutable. The ``release`` row is inserted (status ``cutting``) before any file
is written, so a second cut of the same version is refused, as is a version whose folder
exists. Files are written into a hidden temporary folder next to the target and renamed
into place only when complete; then the row becomes ``complete`` with its manifest. A cut
that fails (or is interrupted) removes its temporary folder and leaves a ``failed`` row
(the trigger of migration 0001 keeps complete and failed rows unchanged for ever). Catalog
files are deterministic: re-cutting the same run to a new version gives byte-identical files
except ``manifest.json`` (its time and version).

The work is split by task (this module keeps the public names):

* :mod:`~hscanom.catalog.release.layout`: the files' names, :class:`ReleaseError`;
* :mod:`~hscanom.catalog.release.columns`: the extended catalog's columns (described by the
  database's column comments where they are ``object_metadata``'s);
* :mod:`~hscanom.catalog.release.plan`: what a cut will write, read and checked first;
* :mod:`~hscanom.catalog.release.writers`: the five kinds of data files;
* :mod:`~hscanom.catalog.release.readme`: ``README.md`` (template ``catalog/templates/``);
* :mod:`~hscanom.catalog.release.manifest`: ``manifest.json`` and ``SHA256SUMS``;
* :mod:`~hscanom.catalog.release.registry`: the ``release`` table (list, show);
* :mod:`~hscanom.catalog.release.cutting`: :func:`cut`, the order of all of the above;
* :mod:`~hscanom.catalog.release.verification`: :func:`verify`, :func:`verify_release`.
"""

from __future__ import annotations

from hscanom.catalog.release.columns import EXTENDED_COLUMNS, METADATA_COLUMNS, RANKING_COLUMNS, describe_columns
from hscanom.catalog.release.cutting import cut, default_out
from hscanom.catalog.release.layout import (
    DISC3_HATS, DISC3_PICKLE, DISC3_VOTABLE, EXTENDED, EXTENDED_HATS, FOOTPRINT_MOC, FULL_PICKLE, MANIFEST, MANIFEST_FORMAT,
    MANIFEST_FORMAT_VERSION, README, REALS_NPY, RESIDUALS_NPY, SHA256SUMS, ReleaseError,
)
from hscanom.catalog.release.manifest import sha256sums
from hscanom.catalog.release.registry import ReleaseInfo, list_releases, show
from hscanom.catalog.release.verification import Verification, verify, verify_release

__all__ = [
    "DISC3_HATS", "DISC3_PICKLE", "DISC3_VOTABLE", "EXTENDED", "EXTENDED_COLUMNS", "EXTENDED_HATS", "FOOTPRINT_MOC",
    "FULL_PICKLE", "MANIFEST", "MANIFEST_FORMAT", "MANIFEST_FORMAT_VERSION", "METADATA_COLUMNS", "RANKING_COLUMNS", "README", "REALS_NPY",
    "RESIDUALS_NPY", "SHA256SUMS", "ReleaseError", "ReleaseInfo", "Verification", "cut", "default_out", "describe_columns", "list_releases",
    "sha256sums", "show", "verify", "verify_release",
]
