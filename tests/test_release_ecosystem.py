"""A release in the survey ecosystem: HATS catalogs read by LSDB, the footprint MOC (mocpy),
the VOTable with UCDs (astropy); the worked example of docs/releases.md.

Runs on a release of the session's scored pipeline run (the demo chain with the test
preset: 120 simulated objects), characterised as in test_release.py.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import psycopg
import pyarrow.parquet as pq
import pytest
from test_release import ready  # noqa: F401  (fixture)

from hscanom import sql as named_queries
from hscanom.catalog import ecosystem, release

RADIUS_ARCSEC = 1.0


@pytest.fixture
def cut(ready, tmp_path):  # noqa: F811
    url, cfg, state, models = ready
    info = release.cut(url, "v1", state.run_id, out=tmp_path / "releases")
    return url, state, info


def _spectroscopic(extended: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """A simulated spectroscopic catalog: half of the objects again, within 0.5 arcsec, plus
    positions near the field with nothing under them."""
    picked = extended.sample(frac=0.5, random_state=7)
    n = len(picked)
    offset = rng.uniform(0, 0.5, n) / 3600.0
    angle = rng.uniform(0, 2 * np.pi, n)
    dec = picked["dec"].to_numpy() + offset * np.sin(angle)
    ra = picked["ra"].to_numpy() + offset * np.cos(angle) / np.cos(np.radians(dec))
    far_ra = extended["ra"].min() - rng.uniform(0.01, 0.05, 20)
    far_dec = rng.uniform(extended["dec"].min(), extended["dec"].max(), 20)
    return pd.DataFrame({
        "spec_id": np.arange(n + 20, dtype=np.int64),
        "ra": np.concatenate([ra, far_ra]),
        "dec": np.concatenate([dec, far_dec]),
        "z_spec": rng.uniform(0.05, 1.0, n + 20),
    })


def test_release_opens_with_lsdb_and_crossmatches_like_q3c(cut, tmp_path):
    lsdb = pytest.importorskip("lsdb")
    url, state, info = cut
    folder = info.out_dir
    extended = pd.read_parquet(folder / "anomaly_catalog_hsc_extended.parquet")

    # --- the worked example of docs/releases.md ---------------------------------------
    catalog = lsdb.open_catalog(folder / "anomaly_catalog_hsc_extended_hats")
    high = lsdb.open_catalog(folder / "anomaly_catalog_hsc_disc3sigma_hats")
    spec = _spectroscopic(extended, np.random.default_rng(3))
    spec_catalog = lsdb.from_dataframe(spec, ra_column="ra", dec_column="dec", catalog_name="spec", margin_threshold=10.0)
    spec_catalog.write_catalog(tmp_path / "spec_hats")
    spec_catalog = lsdb.open_catalog(tmp_path / "spec_hats")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        matched = catalog.crossmatch(spec_catalog, radius_arcsec=RADIUS_ARCSEC, n_neighbors=1, suffixes=("", "_spec")).compute()
    centre = extended.iloc[(extended["ra"] - extended["ra"].median()).abs().argmin()]  # an object near the middle
    ra0, dec0 = float(centre["ra"]), float(centre["dec"])
    radius = 3600.0 * max(np.ptp(extended["ra"]) * np.cos(np.radians(dec0)), np.ptp(extended["dec"])) / 4  # [arcsec]
    cone = catalog.cone_search(ra=ra0, dec=dec0, radius_arcsec=radius).compute()
    # -------------------------------------------------------------------------------------

    everything = catalog.compute()
    assert len(everything) == len(extended) == info.row_counts["full"]
    assert everything["object_id"].dtype.kind == "i" or "int64" in str(everything["object_id"].dtype)
    assert sorted(everything["object_id"].astype("int64")) == sorted(extended["object_id"])
    assert sorted(high.compute()["object_id"].astype("int64")) == sorted(extended.loc[extended["s_disc_sigma"] > 3, "object_id"])
    assert len(high.compute()) == info.row_counts["disc3sigma"] > 0

    # hscanom's own Q3C cross-match of the same list: for each listed position, the nearest
    # scored object within the radius. LSDB pairs each object with its nearest listed one;
    # with positions this sparse both give the same pairs.
    q3c = named_queries.run(named_queries.load("crossmatch"),
                            {"run_id": state.run_id, "ra": spec["ra"].tolist(), "dec": spec["dec"].tolist(), "radius_arcsec": RADIUS_ARCSEC}, url=url)
    # rows as tuples, not a DataFrame: object_id is NULL where nothing matched, and pandas
    # would turn the column into float64 and corrupt ids > 2^53
    col = {name: k for k, name in enumerate(q3c.columns)}
    nearest = [r for r in q3c.rows if r[col["match_rank"]] == 1]
    expected = {(r[col["object_id"]], int(spec["spec_id"].iloc[r[col["upload_row"]]])) for r in nearest}
    got = {(int(o), int(s)) for o, s in zip(matched["object_id"], matched["spec_id_spec"])}
    assert len(expected) >= len(spec) - 20 - 2  # nearly every displaced copy is found
    assert got == expected
    q3c_dist = {r[col["object_id"]]: r[col["distance_arcsec"]] for r in nearest}
    for oid, d in zip(matched["object_id"], matched["_dist_arcsec"]):
        assert abs(d - q3c_dist[int(oid)]) < 1e-3

    q3c_cone = named_queries.run(named_queries.load("cone-search"), {"run_id": state.run_id, "ra": ra0, "dec": dec0, "radius_arcsec": radius}, url=url)
    assert 0 < len(cone) < len(extended)
    assert sorted(cone["object_id"].astype("int64")) == sorted(int(r[0]) for r in q3c_cone.rows)


def test_hats_metadata_carries_units_descriptions_and_the_run(cut):
    url, state, info = cut
    hats_dir = info.out_dir / "anomaly_catalog_hsc_extended_hats"
    schema = pq.read_schema(hats_dir / "dataset" / "_common_metadata")
    with psycopg.connect(url) as conn:  # object_metadata's columns are described by its column comments
        specs = {s.name: s for s in release.describe_columns(conn)}
    assert schema.field("object_id").type == "int64"
    for name in ("ra", "dec", "r_eff_arcsec", "i_cmodel_mag"):
        meta = schema.field(name).metadata
        assert meta[b"unit"].decode() == specs[name].unit and meta[b"description"].decode() == specs[name].description
    properties = (hats_dir / "hats.properties").read_text()
    assert f"hscanom_run_id={state.run_id}" in properties and "hats_col_ra=ra" in properties and "hats_nrows=120" in properties
    import hats

    assert hats.read_hats(hats_dir).catalog_info.total_rows == info.row_counts["full"]


def test_footprint_moc_opens_with_mocpy_and_covers_every_object(cut):
    from mocpy import MOC

    url, state, info = cut
    extended = pd.read_parquet(info.out_dir / "anomaly_catalog_hsc_extended.parquet")
    moc = MOC.from_fits(info.out_dir / "anomaly_catalog_hsc_footprint_moc.fits")
    import astropy.units as u

    assert moc.max_order == ecosystem.MOC_ORDER
    assert moc.contains_lonlat(extended["ra"].to_numpy() * u.deg, extended["dec"].to_numpy() * u.deg).all()
    assert 0 < moc.sky_fraction < 1e-3
    assert not moc.contains_lonlat(np.array([extended["ra"].min() + 180.0]) * u.deg, np.array([0.0]) * u.deg).any()
    cells = ecosystem.moc_cells(moc)
    assert cells and all(len(c["ra"]) == 4 for c in cells)


def test_votable_has_ucds_units_and_exact_ids(cut):
    from astropy.io.votable import parse
    from astropy.io.votable.ucd import check_ucd
    from astropy.table import Table

    url, state, info = cut
    path = info.out_dir / "anomaly_catalog_hsc_disc3sigma.vot"
    extended = pd.read_parquet(info.out_dir / "anomaly_catalog_hsc_extended.parquet")
    high = extended[extended["s_disc_sigma"] > 3]
    vot = parse(str(path), verify="exception")  # no warnings at all (W-codes) from astropy
    fields = {f.name: f for f in vot.get_first_table().fields}
    assert fields["ra"].ucd == "pos.eq.ra;meta.main" and fields["dec"].ucd == "pos.eq.dec;meta.main"
    assert fields["object_id"].ucd == "meta.id;meta.main" and fields["object_id"].datatype == "long"
    assert fields["s_disc_sigma"].ucd == "stat.value" and str(fields["ra"].unit) == "deg"
    assert fields["umap_x"].ucd is None
    assert all(check_ucd(f.ucd, check_controlled_vocabulary=True) for f in fields.values() if f.ucd)
    table = Table.read(path, format="votable")
    assert table["object_id"].dtype == np.int64 and list(table["object_id"]) == list(high["object_id"])
    assert table["ra"].meta["ucd"] == "pos.eq.ra;meta.main" and table["object_id"].meta["ucd"] == "meta.id;meta.main"
    np.testing.assert_array_equal(np.asarray(table["s_disc_sigma"]), high["s_disc_sigma"].to_numpy())
