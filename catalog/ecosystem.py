"""Release files for the survey ecosystem: HATS catalogs, a footprint MOC and a VOTable.

* :func:`write_hats`: a HATS catalog (HEALPix-partitioned Parquet, as Gaia, ZTF, PanSTARRS
  and the Rubin data products are published; read with ``lsdb.open_catalog``) made by
  ``hats-import`` from one of the release's Parquet tables. The column units and
  descriptions travel in the Parquet field metadata of every partition and of
  ``dataset/_common_metadata``; the release's own keys go into ``hats.properties``.
* :func:`footprint_moc` / :func:`write_moc`: the footprint as an IVOA MOC (``mocpy``): the
  union of the HEALPix cells of order :data:`MOC_ORDER` (about 3.4 arcmin on a side) that
  hold at least one scored object. FITS (MOC 2.0, ``RANGE`` ordering, no date card).
* :func:`write_votable`: a VOTable (TABLEDATA) with the IVOA UCD 1+ of the columns that
  have one (:data:`UCDS`), units and descriptions, so that TOPCAT and Aladin recognise the
  positions and the id.

Every writer here is deterministic: the same table gives the same bytes (the HATS
``hats_creation_date`` is set from the caller, not the clock).
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import warnings
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from hscanom.catalog.formats import ColumnSpec
from hscanom.footprint import MOC_ORDER, footprint_moc, moc_cells

__all__ = ["MOC_ORDER", "UCDS", "footprint_moc", "moc_cells", "write_hats", "write_moc", "write_votable"]


#: IVOA UCD 1+ (https://www.ivoa.net/documents/UCD1+/) of the release columns that have one.
UCDS: dict[str, str] = {
    "idx": "meta.number",
    "object_id": "meta.id;meta.main",
    "HSC_object_id": "meta.id;meta.main",
    "ra": "pos.eq.ra;meta.main",
    "dec": "pos.eq.dec;meta.main",
    "s_gen": "stat.value",
    "s_disc": "stat.value",
    "s_anom": "stat.value",
    "s_gen_sigma": "stat.value",
    "s_disc_sigma": "stat.value",
    "s_anom_sigma": "stat.value",
    "i_cmodel_mag": "phot.mag;em.opt.I",
    "r_eff_arcsec": "phys.angSize;src",
    "e1": "src.ellipticity",
    "e2": "src.ellipticity",
    "ellipticity": "src.ellipticity",
    "axis_ratio": "phys.size.axisRatio",
    "position_angle_deg": "pos.posAng",
    "i_blendedness_abs_flux": "stat.value",
    "blended": "meta.code",
    "g_r": "phot.color",
    "r_i": "phot.color",
    "log_aperture_cmodel_ratio": "phot.flux;arith.ratio",
    "in_bright_star_mask": "meta.code",
    "gmm_label": "meta.code.class",
    "gmm_probability": "stat.probability",
    "hdbscan_label": "meta.code.class",
    "hdbscan_probability": "stat.probability",
}


# -- HATS ---------------------------------------------------------------------------------
def write_hats(
    parquet: str | Path,
    out_dir: str | Path,
    name: str,
    *,
    properties: Mapping[str, str] | None = None,
    scratch: str | Path,
    highest_order: int = 10,
    pixel_threshold: int = 1_000_000,
) -> Path:
    """Partition the Parquet table ``parquet`` into the HATS catalog ``out_dir/name``.

    Runs the ``hats-import`` catalog pipeline on an in-process Dask client (one worker, one
    thread, no dashboard: it neither starts processes nor opens ports). Partitions hold at
    most ``pixel_threshold`` rows, at HEALPix orders up to ``highest_order``.

    Args:
        parquet: a Parquet file with ``ra``, ``dec`` [deg] columns; its schema (with the
            field metadata: units and descriptions) becomes the catalog's schema.
        out_dir: folder that receives the catalog folder ``name``.
        properties: extra ``hats.properties`` keys (e.g. ``obs_title``,
            ``hats_creation_date``).
        scratch: a folder for hats-import's intermediate files; removed afterwards.

    Returns:
        The catalog folder.

    Raises:
        ValueError: the table is empty (HATS has no empty catalogs), or hats-import refused it.
    """
    import pyarrow.parquet as pq
    from dask.distributed import Client
    from hats_import.catalog.arguments import ImportArguments
    from hats_import.pipeline import pipeline_with_client

    parquet = Path(parquet)
    if pq.ParquetFile(parquet).metadata.num_rows == 0:
        raise ValueError(f"{parquet}: no rows, so no HATS catalog {name}")
    scratch = Path(scratch)
    args = ImportArguments(
        output_path=str(out_dir),
        output_artifact_name=name,
        input_file_list=[str(parquet)],
        file_reader="parquet",
        use_schema_file=str(parquet),
        ra_column="ra",
        dec_column="dec",
        highest_healpix_order=highest_order,
        pixel_threshold=pixel_threshold,
        addl_hats_properties=dict(properties or {}),
        tmp_dir=str(scratch / "tmp"),
        dask_tmp=str(scratch / "dask"),
        resume=False,
        progress_bar=False,
    )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with _quiet_dask(), Client(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as client:
                pipeline_with_client(args, client)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    catalog = Path(out_dir) / name
    # hats-import stamps hats_creation_date with the clock, whatever addl_hats_properties say
    if properties and "hats_creation_date" in properties:
        _set_property(catalog, "hats_creation_date", properties["hats_creation_date"])
    return catalog


@contextlib.contextmanager
def _quiet_dask():
    """Keep the in-process Dask cluster's INFO chatter (scheduler start, workers, clients) out of
    the user's terminal; its warnings and errors still show."""
    loggers = [logging.getLogger(name) for name in ("distributed", "distributed.scheduler", "distributed.worker", "distributed.core",
                                                      "distributed.nanny", "distributed.http.proxy")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def _set_property(catalog: Path, key: str, value: str) -> None:
    """Set ``key=value`` in the catalog's ``hats.properties`` (and its copy ``properties``)."""
    for name in ("hats.properties", "properties"):
        path = catalog / name
        if not path.is_file():
            continue
        lines = path.read_text().splitlines()
        lines = [f"{key}={value}" if line.split("=", 1)[0].strip() == key else line for line in lines]
        path.write_text("\n".join(lines) + "\n")


# -- MOC ----------------------------------------------------------------------------------
def write_moc(path: str | Path, ra: np.ndarray, dec: np.ndarray, order: int = MOC_ORDER) -> Path:
    """Write :func:`footprint_moc` of the positions as a MOC 2.0 FITS file (``MOC.from_fits`` reads it)."""
    path = Path(path)
    footprint_moc(ra, dec, order).save(str(path), format="fits", overwrite=False)
    return path


# -- VOTable ------------------------------------------------------------------------------
def write_votable(path: str | Path, table: Mapping[str, np.ndarray], specs: Mapping[str, ColumnSpec], *,
                  description: str, ucds: Mapping[str, str] = UCDS) -> Path:
    """Write ``table`` (name -> 1-d array, masked where NULL) as a VOTable 1.4 (TABLEDATA).

    Each FIELD gets the column's unit, description and UCD (``ucds``; columns without one get
    none). int64 stays ``long``; NULLs are empty cells.
    """
    from astropy.io.votable import from_table
    from astropy.table import MaskedColumn, Table

    t = Table()
    for name, column in table.items():
        if np.ma.isMaskedArray(column):
            t[name] = MaskedColumn(np.ma.getdata(column), mask=np.ma.getmaskarray(column))
        else:
            t[name] = np.asarray(column)
    vot = from_table(t)
    vot.resources[0].description = description
    for f in vot.get_first_table().fields:
        spec = specs.get(f.name)
        if spec is not None:
            f.description = spec.description or None
            if spec.unit and spec.unit != "sigma":
                f.unit = spec.unit
        if f.name in ucds:
            f.ucd = ucds[f.name]
    path = Path(path)
    vot.to_xml(str(path), tabledata_format="tabledata")
    return path
