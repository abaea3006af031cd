"""object_metadata: each formula against numpy on known inputs, degenerate moments -> NULL."""

from __future__ import annotations

import math

import numpy as np
import psycopg
import pytest

BIG = 7_234_567_890_123_456_789

#: (I11, I22, I12) [arcsec^2]: round, elongated, tilted both ways, and degenerate cases.
MOMENTS = [
    (0.5, 0.5, 0.0),
    (0.9, 0.1, 0.0),
    (0.1, 0.9, 0.0),
    (0.4, 0.3, 0.2),
    (0.4, 0.3, -0.2),
    (0.25, 0.36, 0.1),
    (0.3, 0.3, 0.5),  # negative determinant
    (-0.3, -0.3, 0.0),  # positive determinant, negative trace
    (float("nan"), 0.3, 0.1),
    (0.3, float("inf"), 0.1),
    (None, 0.3, 0.1),
]


@pytest.fixture
def objects(db_url):
    rng = np.random.default_rng(7)
    rows = []
    for k, (i11, i22, i12) in enumerate(MOMENTS):
        g, r, i = rng.uniform(19, 23, 3)
        aperture, cmodel = rng.uniform(0.5, 2.0) * 1e3, 1e3
        blend = [0.0, 10**-0.375, 10**-0.375 * 0.999, 0.9, float("nan"), None][k % 6]
        rows.append((BIG + k, 10.0 + k, -2.0, i11, i22, i12, g, r, i, aperture, cmodel, blend))
    # fluxes that give no ratio: zero, negative, NaN
    rows.append((BIG + 100, 1.0, 1.0, 0.2, 0.2, 0.0, 20.0, 20.0, 20.0, 0.0, 1e3, 0.1))
    rows.append((BIG + 101, 1.0, 1.0, 0.2, 0.2, 0.0, 20.0, None, 20.0, 5.0, -1e3, 0.1))
    rows.append((BIG + 102, 1.0, 1.0, 0.2, 0.2, 0.0, 20.0, float("nan"), 20.0, float("nan"), 1e3, 0.1))
    with psycopg.connect(db_url) as conn:
        with conn.cursor().copy(
            "COPY hsc_object (object_id, ra, dec, i_cmodel_exp_ellipse_11, i_cmodel_exp_ellipse_22, i_cmodel_exp_ellipse_12, "
            "g_cmodel_mag, r_cmodel_mag, i_cmodel_mag, i_convolvedflux_3_20_flux, i_cmodel_flux, i_blendedness_abs_flux) FROM STDIN"
        ) as copy:
            for row in rows:
                copy.write_row(row)
    return {row[0]: row for row in rows}


def _view(db_url):
    with psycopg.connect(db_url) as conn:
        cur = conn.execute("SELECT * FROM object_metadata")
        names = [d.name for d in cur.description]
        return {r[0]: dict(zip(names, r)) for r in cur.fetchall()}


def _expected_shape(i11, i22, i12):
    """Independent numpy computation from the eigen-decomposition of the moment matrix."""
    if any(v is None or not math.isfinite(v) for v in (i11, i22, i12)):
        return None
    m = np.array([[i11, i12], [i12, i22]])
    if np.linalg.det(m) <= 0 or np.trace(m) <= 0:
        return None
    lam, vec = np.linalg.eigh(m)  # ascending
    a2, b2 = lam[1], lam[0]
    major = vec[:, 1]
    angle = math.degrees(math.atan2(major[1], major[0]))
    angle = (angle + 90) % 180 - 90  # (-90, 90]
    if angle == -90:
        angle = 90.0
    return {
        "r_eff_arcsec": math.sqrt(math.sqrt(a2) * math.sqrt(b2)),
        "ellipticity": (a2 - b2) / (a2 + b2),
        "axis_ratio": math.sqrt(b2 / a2),
        "position_angle_deg": angle,
        "e1": (i11 - i22) / (i11 + i22),
        "e2": 2 * i12 / (i11 + i22),
    }


def test_shape_from_moments_matches_numpy_and_degenerate_moments_are_null(db_url, objects):
    view = _view(db_url)
    n_null = 0
    for object_id, row in objects.items():
        expected = _expected_shape(*row[3:6])
        got = view[object_id]
        if expected is None:
            n_null += 1
            assert [got[k] for k in ("r_eff_arcsec", "ellipticity", "axis_ratio", "position_angle_deg", "e1", "e2")] == [None] * 6
            continue
        for key, value in expected.items():
            if key == "position_angle_deg" and expected["ellipticity"] < 1e-12:
                continue  # round: the angle is arbitrary
            assert got[key] == pytest.approx(value, abs=1e-12), (object_id, key)
    assert n_null == 5
    round_ = view[BIG]
    assert round_["r_eff_arcsec"] == pytest.approx(math.sqrt(0.5)) and round_["ellipticity"] == 0


def test_blend_flag_colours_and_aperture_ratio_match_numpy(db_url, objects):
    view = _view(db_url)
    threshold = 10**-0.375
    for object_id, (_, _, _, _, _, _, g, r, i, aperture, cmodel, blend) in objects.items():
        got = view[object_id]
        finite = lambda x: x is not None and math.isfinite(x)  # noqa: E731
        if finite(blend):
            assert got["i_blendedness_abs_flux"] == blend
            assert got["blended"] is bool(np.float64(blend) >= threshold)
        else:
            assert got["i_blendedness_abs_flux"] is None and got["blended"] is None
        assert got["g_r"] == (pytest.approx(g - r) if finite(g) and finite(r) else None)
        assert got["r_i"] == (pytest.approx(r - i) if finite(r) and finite(i) else None)
        if finite(aperture) and finite(cmodel) and aperture > 0 and cmodel > 0:
            assert got["log_aperture_cmodel_ratio"] == pytest.approx(np.log10(aperture / cmodel), abs=1e-13)
        else:
            assert got["log_aperture_cmodel_ratio"] is None
    assert view[BIG + 1]["blended"] is True  # exactly 10^-0.375 counts as blended
    assert view[BIG + 2]["blended"] is False
