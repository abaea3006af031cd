"""The release ``README.md``: every file and column, in prose and tables.

Nothing in it depends on the version or the time (those are in ``manifest.json``), so
re-cutting a run gives the same README.
"""

from __future__ import annotations

import numpy as np

from hscanom.catalog import ecosystem, published
from hscanom.catalog.release.layout import (
    DISC3_HATS, DISC3_PICKLE, DISC3_VOTABLE, EXTENDED, EXTENDED_HATS, FOOTPRINT_MOC, FULL_PICKLE, REALS_NPY, RESIDUALS_NPY,
)
from hscanom.catalog.release.plan import Plan

__all__ = ["render_readme"]


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _columns_md(specs_dtypes) -> list[str]:
    lines = ["| column | type | unit | description |", "| --- | --- | --- | --- |"]
    for spec, dtype in specs_dtypes:
        lines.append(f"| `{spec.name}` | {dtype} | {spec.unit or ''} | {_cell(spec.description)} |")
    return lines


def render_readme(plan: Plan, h5_names: list[str]) -> str:
    """README.md: every file and column. Nothing version- or time-dependent (see manifest.json)."""
    c = plan.catalog
    lam = plan.run["params"].get("lambda_anom")
    n, n_high = len(c["idx"]), len(plan.high)
    d = plan.latents["residual"].shape[1]
    h, w, _ = plan.image_shape
    ext_types = {
        name: ("int64" if arr.dtype == np.int64 else "int32" if arr.dtype == np.int32 else "bool" if arr.dtype == bool else "float64")
        for name, arr in ((s.name, np.ma.getdata(c[s.name])) for s in plan.columns)
    }
    out = [
        "# HSC anomaly catalog release",
        "",
        f"Anomaly scores of {n:,} HSC galaxies from hscanom score run {plan.run['id']} (method {plan.run['method']},",
        f"lambda = {lam}), sample `{plan.sample['name']}`; {n_high:,} objects have discriminator_score_normalized > 3",
        "(the high-anomaly, \"disc3sigma\" sample). The method is that of Storey-Fisher et al.: a WGAN-GP",
        "reconstructs each gri image; s_gen is the pixel residual, s_disc the discriminator-feature residual,",
        "s_anom = (1 - lambda) s_gen + lambda s_disc; normalised scores are (s - mean) / std over the run [sigma].",
        "",
        "Version, creation time, code version, the run, models and their configurations, the sample's SQL,",
        "the bright-star mask version, row counts and the sha256 and size of every file are in",
        "`manifest.json`; `hscanom release verify DIR` re-checks the files against it. Object ids are",
        "int64 in every file (they exceed 2^53: never read them as floats).",
        "",
        "Rows are ordered by `idx`, the object's 0-based index in the scored sample (objects ordered by",
        "object_id), in every file.",
        "",
        f"## `{FULL_PICKLE}`, `{DISC3_PICKLE}`",
        "",
        "pandas DataFrame pickles (`pandas.read_pickle(path)`), index `idx` (int64); the second holds the",
        "rows with discriminator_score_normalized > 3.",
        "",
        *_columns_md(published.PICKLE_COLUMNS),
        "",
        f"## `{h5_names[0]}`, `{h5_names[1]}`",
        "",
        "HDF5 (`h5py.File(path)`), gzip-compressed and chunked; one row per object (the second file: the",
        f"high-anomaly objects). Images are N x {h} x {w} x 3 uint8, channels (R, G, B) = (i, r, g), viewable",
        "with `matplotlib.pyplot.imshow(f['reals'][k])`.",
        "",
        *_columns_md(published.H5_DATASETS),
        *(f"| `{s.name}` | uint8 (N, {h}, {w}, 3) |  | {_cell(s.description)} |" for s in published.IMAGE_DATASETS),
        "",
        f"## `{RESIDUALS_NPY}`, `{REALS_NPY}`",
        "",
        "numpy object arrays (`numpy.load(path, allow_pickle=True)`) of shape (n, 3), one row per",
        "high-anomaly object, in idx order: `(latent, idx, discriminator_score_normalized)`, where `latent`",
        f"is the {d}-d float32 vector of the convolutional autoencoder (CAE) of the object's residual image",
        "(`..._residuals.npy`) or real image (`..._reals.npy`), `idx` an int and the score a float [sigma].",
        "",
        f"## `{EXTENDED}.parquet`, `{EXTENDED}.fits`",
        "",
        "Every scored object, with all scores, object metadata (HSC CModel shapes and photometry), the",
        f"bright-star-mask flag (mask version `{plan.mask_version}`), clusters and UMAP coordinates of the",
        "residual embedding. Parquet: nullable columns, units and descriptions in the field metadata",
        "(`pyarrow.parquet.read_schema(path).field(name).metadata`). FITS: HDU 1 (`CATALOG`), int64 as K;",
        "floats are NaN where NULL; booleans are int16 1/0 with -1 (TNULL) for NULL; nullable integers",
        "have TNULL; units in TUNITn where FITS knows them, descriptions in COMMENT cards.",
        "",
        *_columns_md((s, ext_types[s.name]) for s in plan.columns),
        "",
        *([f"The relevance columns come from ranking {plan.ranking['id']} ({plan.ranking['n_labels']} labels, model "
           f"{plan.ranking['model']}; `ranking` in manifest.json).", ""] if plan.ranking else []),
        f"## `{EXTENDED_HATS}/`, `{DISC3_HATS}/`",
        "",
        "The extended catalog and its high-anomaly rows as HATS catalogs (HEALPix-partitioned Parquet,",
        "made with hats-import), for LSDB: `lsdb.open_catalog(path)`, then `.crossmatch(other, radius_arcsec=1)`",
        "or `.cone_search(ra, dec, radius_arcsec)` against other HATS catalogs (Gaia, ZTF, PanSTARRS, Rubin).",
        "Same columns, units and descriptions as above (in the Parquet field metadata), plus the HATS",
        "index column `_healpix_29`. The second folder is absent when no object is above 3 sigma.",
        "",
        f"## `{FOOTPRINT_MOC}`",
        "",
        f"The footprint as an IVOA MOC 2.0 (FITS): the HEALPix cells of order {ecosystem.MOC_ORDER} that hold at",
        "least one scored object (`mocpy.MOC.from_fits(path)`; Aladin and TOPCAT open it too).",
        "",
        f"## `{DISC3_VOTABLE}`",
        "",
        "The high-anomaly rows of the extended catalog as a VOTable (TABLEDATA) with units, descriptions and",
        "IVOA UCDs (`pos.eq.ra;meta.main`, `pos.eq.dec;meta.main`, `meta.id;meta.main`, `stat.value`, ...),",
        "for TOPCAT and Aladin; `astropy.table.Table.read(path)` reads it with object_id as int64.",
        "",
    ]
    return "\n".join(out)
