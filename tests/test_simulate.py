"""The simulator writes a deterministic, self-consistent dataset in the real HSC formats."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.wcs import WCS
from astropy.wcs.utils import proj_plane_pixel_scales
from regions import CircleSkyRegion, Regions

from hscanom.schema.columns import BANDS, HSC_COLUMNS
from hscanom.simulate import (
    ALL_CLASSES,
    ANOMALY_CLASSES,
    MASK_PLANES,
    cut_failures,
    cutout_filename,
    mask_radius,
    simulate,
)
from hscanom.simulate.field import encode_object_id
from hscanom.simulate.survey import NJY_PER_COUNT, PIXEL_SCALE

N = 48
FRACTION = 0.34  # 16 anomalies: two of each class
SEED = 7


@pytest.fixture(scope="module")
def sim(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sim") / "a"
    simulate(out, n=N, anomaly_fraction=FRACTION, seed=SEED, workers=1)
    return out


def read_cas_csv(path: Path) -> pd.DataFrame:
    """A CAS CSV as strings (no value passes through a float)."""
    with open(path) as handle:
        header = handle.readline()
    assert header.startswith("# ")
    names = header[2:].rstrip("\n").split(",")
    return pd.read_csv(path, skiprows=1, names=names, dtype=str, keep_default_na=False)


def typed(df: pd.DataFrame) -> dict[str, np.ndarray]:
    """Columns parsed by their schema kind (NULL -> NaN / None)."""
    out = {}
    for col in HSC_COLUMNS:
        values = df[col.name]
        if col.kind == "boolean":
            out[col.name] = np.array([{"True": True, "False": False, "": None}[v] for v in values], dtype=object)
        elif col.kind in ("bigint", "integer"):
            out[col.name] = np.array([int(v) for v in values], dtype=np.int64)
        else:
            out[col.name] = np.array([float(v) if v else np.nan for v in values])
    return out


@pytest.fixture(scope="module")
def catalog(sim):
    return read_cas_csv(sim / "catalog.csv")


@pytest.fixture(scope="module")
def columns(catalog):
    return typed(catalog)


@pytest.fixture(scope="module")
def labels(sim):
    return pd.read_csv(sim / "labels.csv", dtype={"object_id": str, "anomaly_class": str})


def _arrays(path: Path) -> list[np.ndarray]:
    with fits.open(path) as hdul:
        return [np.array(hdu.data) for hdu in hdul[1:]]


def test_same_seed_identical_any_worker_count(sim, tmp_path):
    again = tmp_path / "b"
    simulate(again, n=N, anomaly_fraction=FRACTION, seed=SEED, workers=2)
    for name in ("catalog.csv", "labels.csv", "stars.csv", "simulation.json", "masks/bright_star_masks.reg"):
        assert (sim / name).read_bytes() == (again / name).read_bytes(), name
    files = sorted(p.name for p in (sim / "cutouts").iterdir())
    assert files == sorted(p.name for p in (again / "cutouts").iterdir())
    assert len(files) == 3 * N
    for name in files:
        for a, b in zip(_arrays(sim / "cutouts" / name), _arrays(again / "cutouts" / name)):
            np.testing.assert_array_equal(a, b)
        assert (sim / "cutouts" / name).read_bytes() == (again / "cutouts" / name).read_bytes()


def test_different_seed_differs(sim, tmp_path):
    other = tmp_path / "c"
    simulate(other, n=N, anomaly_fraction=FRACTION, seed=SEED + 1, workers=1)
    assert (sim / "catalog.csv").read_bytes() != (other / "catalog.csv").read_bytes()
    a = sorted((sim / "cutouts").iterdir())[0]
    b = sorted((other / "cutouts").iterdir())[0]
    assert not np.array_equal(_arrays(a)[0], _arrays(b)[0])


def test_existing_outputs_are_not_overwritten_silently(sim):
    with pytest.raises(FileExistsError):
        simulate(sim, n=2)
    with pytest.raises(ValueError):
        simulate(sim / "x", n=2, bands=("g", "q"))


def test_catalog_columns_and_exact_ids(sim, catalog, columns):
    header = (sim / "catalog.csv").read_text().splitlines()[0]
    assert header == "# " + ",".join(c.name for c in HSC_COLUMNS)
    assert list(catalog.columns) == [c.name for c in HSC_COLUMNS]
    ids = [int(v) for v in catalog["object_id"]]
    assert all(2**53 < i < 2**63 for i in ids)
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)
    # the id encodes the tract and patch of the row (HSC PDR2 layout)
    tract, patch = columns["tract"], columns["patch"]
    assert np.array_equal(np.array(ids, dtype=np.int64) >> 42, tract)
    rebuilt = encode_object_id(tract, patch // 100, patch % 100, np.array(ids, dtype=np.int64) & (2**32 - 1))
    assert rebuilt.tolist() == ids
    # a float round trip would have corrupted some ids
    assert any(int(float(i)) != i for i in ids)
    assert ((columns["parent_id"] == 0) | (columns["parent_id"] > 2**53)).all()


def test_catalog_values_are_plausible(columns, labels):
    ok = np.isin(columns["object_id"], labels["object_id"].astype(np.int64))
    i = columns["i_cmodel_mag"][ok]
    assert ((i >= 20.0) & (i < 20.5)).all()
    for b in ("g", "r", "i"):
        np.testing.assert_allclose(
            columns[f"{b}_cmodel_flux"], 10 ** (-0.4 * (columns[f"{b}_cmodel_mag"] - 31.4)), rtol=1e-8
        )
    for b in BANDS:
        a = columns[f"a_{b}"]
        assert ((a > 0.01) & (a < 0.16)).all()
        sigma = columns[f"{b}_cmodel_magsigma"]
        assert ((sigma > 0) & (sigma < 0.3)).all()
    assert (columns["a_g"] > columns["a_r"]).all() and (columns["a_r"] > columns["a_i"]).all()
    r_eff = (
        columns["i_cmodel_exp_ellipse_11"] * columns["i_cmodel_exp_ellipse_22"]
        - columns["i_cmodel_exp_ellipse_12"] ** 2
    ) ** 0.25
    normal = ok & np.isin(
        columns["object_id"], labels.loc[labels.anomaly_class == "normal", "object_id"].astype(np.int64)
    )
    assert (r_eff[normal] > 0.15).all() and (r_eff[normal] < 2.0).all()
    g_r = columns["g_cmodel_mag"] - columns["r_cmodel_mag"]
    r_i = columns["r_cmodel_mag"] - columns["i_cmodel_mag"]
    assert ((g_r[normal] > 0.25) & (g_r[normal] < 1.8)).all()
    assert ((r_i[normal] > 0.05) & (r_i[normal] < 0.75)).all()
    assert (columns["i_extendedness_value"][normal] == 1.0).all()


def test_labels_and_anomaly_fraction(sim, labels, columns):
    record = json.loads((sim / "simulation.json").read_text())
    assert len(labels) == N == record["n_objects"]
    assert set(labels["anomaly_class"]) <= set(ALL_CLASSES)
    counts = labels["anomaly_class"].value_counts().to_dict()
    assert counts == {k: v for k, v in record["class_counts"].items() if v}
    assert sum(v for k, v in counts.items() if k != "normal") == round(N * FRACTION)
    assert all(counts.get(c, 0) == 2 for c in ANOMALY_CLASSES)
    assert record["parameters"] == {"n": N, "anomaly_fraction": FRACTION, "seed": SEED, "bands": ["g", "r", "i"]}
    # every labelled object has its three cutouts; the catalog has the extra failing rows
    assert set(labels["object_id"].astype(np.int64)) <= set(columns["object_id"].tolist())
    assert len(columns["object_id"]) == N + record["n_rows_failing_cuts"]
    for oid in labels["object_id"]:
        for b in ("g", "r", "i"):
            assert (sim / "cutouts" / cutout_filename(int(oid), b)).exists()


def test_failing_rows_fail_exactly_one_cut(sim, columns, labels):
    failures = cut_failures(columns)
    n_failed = np.sum([f.astype(int) for f in failures.values()], axis=0)
    labelled = np.isin(columns["object_id"], labels["object_id"].astype(np.int64))
    assert (n_failed[labelled] == 0).all()
    assert (n_failed[~labelled] == 1).all()
    record = json.loads((sim / "simulation.json").read_text())
    assert (~labelled).sum() == record["n_rows_failing_cuts"] == round(0.06 * N)
    per_cut = {k: int(v[~labelled].sum()) for k, v in failures.items()}
    assert {k: v for k, v in per_cut.items() if v} == {k: v for k, v in record["rows_failing_per_cut"].items() if v}


def test_cutout_files(sim, columns, labels):
    for oid in labels["object_id"].astype(np.int64)[:12]:
        row = np.flatnonzero(columns["object_id"] == oid)[0]
        for band in ("g", "r", "i"):
            with fits.open(sim / "cutouts" / cutout_filename(oid, band)) as hdul:
                hdul.verify("exception")
                assert [h.name for h in hdul] == ["PRIMARY", "IMAGE", "MASK", "VARIANCE"]
                assert hdul[0].data is None and hdul[0].header["FILTER"] == f"HSC-{band.upper()}"
                assert hdul[0].header["OBJECTID"] == oid
                assert "DATE" not in hdul[0].header and "DATE" not in hdul[1].header
                image, mask, var = (hdul[k].data for k in ("IMAGE", "MASK", "VARIANCE"))
                assert image.shape == mask.shape == var.shape == (128, 128)
                assert image.dtype == np.dtype(">f4") and mask.dtype == np.dtype(">i4") and var.dtype == np.dtype(">f4")
                assert (var > 0).all() and np.isfinite(image).all()
                wcs = WCS(hdul["IMAGE"].header)
                np.testing.assert_allclose(proj_plane_pixel_scales(wcs) * 3600, PIXEL_SCALE, rtol=1e-9)
                cd = wcs.wcs.cd
                assert cd[0, 0] < 0 < cd[1, 1]  # north up, east left
                x, y = wcs.world_to_pixel(SkyCoord(columns["ra"][row], columns["dec"][row], unit="deg"))
                assert 56 <= x <= 70 and 56 <= y <= 70
                assert (x, y) != (63.5, 63.5)


def test_object_not_centred_and_pixels_match_catalog(sim, columns, labels):
    normal = labels.loc[labels.anomaly_class == "normal", "object_id"].astype(np.int64)
    offsets, ratios = [], []
    for oid in normal:
        row = np.flatnonzero(columns["object_id"] == oid)[0]
        with fits.open(sim / "cutouts" / cutout_filename(oid, "i")) as hdul:
            image = hdul["IMAGE"].data.astype(float)
            wcs = WCS(hdul["IMAGE"].header)
        x, y = wcs.world_to_pixel(SkyCoord(columns["ra"][row], columns["dec"][row], unit="deg"))
        offsets.append(np.hypot(x - 63.5, y - 63.5))
        yy, xx = np.indices(image.shape)
        aperture = np.hypot(xx - x, yy - y) < 3.0 / PIXEL_SCALE
        ratios.append(image[aperture].sum() * NJY_PER_COUNT / columns["i_cmodel_flux"][row])
    assert np.median(offsets) > 1.0
    assert 0.8 < np.median(ratios) < 1.1


def test_catalog_follows_anomaly_class(columns, labels):
    by_class = {
        c: np.isin(columns["object_id"], labels.loc[labels.anomaly_class == c, "object_id"].astype(np.int64))
        for c in ALL_CLASSES
    }
    g_r = columns["g_cmodel_mag"] - columns["r_cmodel_mag"]
    r_eff = (
        columns["i_cmodel_exp_ellipse_11"] * columns["i_cmodel_exp_ellipse_22"]
        - columns["i_cmodel_exp_ellipse_12"] ** 2
    ) ** 0.25
    blend = columns["i_blendedness_abs_flux"]
    normal = by_class["normal"]
    assert g_r[by_class["blue_core"]].max() < np.median(g_r[normal])
    assert g_r[by_class["blue_clumpy"]].max() < np.median(g_r[normal])
    assert g_r[by_class["red_extended"]].min() > np.percentile(g_r[normal], 90)
    assert r_eff[by_class["red_extended"]].min() > np.percentile(r_eff[normal], 90)
    assert blend[by_class["bad_deblend"]].min() > 10**-0.375 > np.median(blend[normal])
    assert np.median(blend[normal]) < 0.05
    psf_minus_cmodel = columns["i_psfflux_mag"] - columns["i_cmodel_mag"]
    assert psf_minus_cmodel[by_class["blue_core"]].max() < np.nanmedian(psf_minus_cmodel[normal])


def test_artefacts_are_in_pixels_and_masks(sim, columns, labels):
    for oid in labels.loc[labels.anomaly_class == "streak", "object_id"].astype(np.int64):
        planes = 0
        for band in ("g", "r", "i"):
            with fits.open(sim / "cutouts" / cutout_filename(oid, band)) as hdul:
                planes |= int(np.bitwise_or.reduce(hdul["MASK"].data.ravel()))
        assert planes & ((1 << MASK_PLANES["CR"]) | (1 << MASK_PLANES["CLIPPED"]))
    background = {
        c: np.median(
            [
                fits.getdata(sim / "cutouts" / cutout_filename(int(o), "i"), "IMAGE")[:16, :].mean()
                for o in labels.loc[labels.anomaly_class == c, "object_id"]
            ]
        )
        for c in ("normal", "bright_star")
    }
    assert background["bright_star"] > background["normal"] + 0.05
    local = columns["i_localbackground_flux"]
    star_rows = np.isin(
        columns["object_id"], labels.loc[labels.anomaly_class == "bright_star", "object_id"].astype(np.int64)
    )
    assert local[star_rows].min() > np.nanmedian(local) + 1.0


def test_bright_star_objects_lie_in_ds9_circles(sim, columns, labels):
    regions = Regions.read(sim / "masks" / "bright_star_masks.reg", format="ds9")
    circles = [r for r in regions if isinstance(r, CircleSkyRegion)]
    stars = pd.read_csv(sim / "stars.csv")
    assert len(circles) == len(stars)
    np.testing.assert_allclose([c.radius.to_value(u.arcsec) for c in circles], mask_radius(stars["mag"]), atol=0.01)
    centres = SkyCoord([c.center.ra.deg for c in circles], [c.center.dec.deg for c in circles], unit="deg")
    radii = np.array([c.radius.to_value(u.deg) for c in circles])

    def inside_circle(oid):
        row = np.flatnonzero(columns["object_id"] == oid)[0]
        sep = SkyCoord(columns["ra"][row], columns["dec"][row], unit="deg").separation(centres).deg
        return bool(np.any(sep < radii))

    bright = labels.loc[labels.anomaly_class == "bright_star", "object_id"].astype(np.int64)
    assert len(bright) and all(inside_circle(o) for o in bright)
    others = labels.loc[labels.anomaly_class != "bright_star", "object_id"].astype(np.int64)
    # some ordinary objects lie in the masks too (8.5% of the sample in the paper)
    record = json.loads((sim / "simulation.json").read_text())
    assert record["n_in_bright_star_masks"] == round(0.085 * N)
    assert sum(inside_circle(o) for o in others) >= 1
