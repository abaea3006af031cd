"""The release README, rendered from ``catalog/templates/release_README.md.jinja2``, and the
column descriptions it (and every extended-catalog file) takes from the database.

The expected texts below are what the README said before it became a template (its prose
was a list of Python strings in hscanom.catalog.release, and the ``object_metadata`` column
descriptions a tuple there): the template and the column comments must give the same bytes,
and the template must travel with the package (package data of hscanom.catalog).
"""

from __future__ import annotations

import fnmatch
import tomllib
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from hscanom import db
from hscanom.catalog.release import ReleaseError
from hscanom.catalog.release.columns import EXTENDED_COLUMNS, METADATA_COLUMNS, RANKING_COLUMNS, describe_columns
from hscanom.catalog.release.plan import Plan
from hscanom.catalog.release.readme import TEMPLATE, render_readme
from hscanom.schema.columns import HSC_COLUMNS, ColumnSpec

REPO = Path(__file__).resolve().parents[1]

HEAD = """\
# HSC anomaly catalog release

Anomaly scores of 1,234 HSC galaxies from hscanom score run 3 (method wgan,
lambda = 0.3), sample `paper`; 17 objects have discriminator_score_normalized > 3
(the high-anomaly, "disc3sigma" sample). The method is that of Storey-Fisher et al.: a WGAN-GP
reconstructs each gri image; s_gen is the pixel residual, s_disc the discriminator-feature residual,
s_anom = (1 - lambda) s_gen + lambda s_disc; normalised scores are (s - mean) / std over the run [sigma].

"""

PICKLES = """\
## `anomaly_catalog_hsc_full.p`, `anomaly_catalog_hsc_disc3sigma.p`

pandas DataFrame pickles (`pandas.read_pickle(path)`), index `idx` (int64); the second holds the
rows with discriminator_score_normalized > 3.

| column | type | unit | description |
| --- | --- | --- | --- |
| `HSC_object_id` | int64 |  | HSC PDR2 object id |
| `ra` | float64 | deg | Right ascension |
| `dec` | float64 | deg | Declination |
| `discriminator_score_normalized` | float64 | sigma | Discriminator (feature) score s_disc, (s - mean) / std over the scored sample |
| `generator_score_normalized` | float64 | sigma | Generator (pixel) score s_gen, normalised likewise |
| `combined_score_normalized` | float64 | sigma | Combined score s_anom = (1 - lambda) s_gen + lambda s_disc, normalised likewise |

## `a.h5`, `b.h5`
"""

IMAGE_ROWS = """\
| `object_ids` | int64 |  | HSC PDR2 object id |
| `reals` | uint8 (N, 64, 48, 3) |  | The input: gri cutout as Lupton asinh RGB (R, G, B = i, r, g), 0-255 |
| `reconstructed` | uint8 (N, 64, 48, 3) |  | The WGAN's reconstruction G(z) after the latent optimisation, 0-255 |
| `residuals` | uint8 (N, 64, 48, 3) |  | \\|real - reconstruction\\| per pixel and channel, 0-255 |

## `autoencoded_disc3sigma_residuals.npy`, `autoencoded_disc3sigma_reals.npy`

numpy object arrays (`numpy.load(path, allow_pickle=True)`) of shape (n, 3), one row per
high-anomaly object, in idx order: `(latent, idx, discriminator_score_normalized)`, where `latent`
is the 32-d float32 vector of the convolutional autoencoder (CAE) of the object's residual image
"""

EXTENDED_ROWS = """\
| `idx` | int64 |  | Index of the object in the scored sample (sample_member.idx, 0-based) |
| `object_id` | int64 |  | HSC PDR2 object id (int64) |
| `ra` | float64 | deg | Right ascension |
"""

RANKED_TAIL = """\
| `relevance_rank` | int64 |  | Rank by relevance (1 = most relevant) |

The relevance columns come from ranking 7 (12 labels, model forest; `ranking` in manifest.json).

## `anomaly_catalog_hsc_extended_hats/`, `anomaly_catalog_hsc_disc3sigma_hats/`
"""

TAIL = """\
## `anomaly_catalog_hsc_footprint_moc.fits`

The footprint as an IVOA MOC 2.0 (FITS): the HEALPix cells of order 10 that hold at
least one scored object (`mocpy.MOC.from_fits(path)`; Aladin and TOPCAT open it too).

## `anomaly_catalog_hsc_disc3sigma.vot`

The high-anomaly rows of the extended catalog as a VOTable (TABLEDATA) with units, descriptions and
IVOA UCDs (`pos.eq.ra;meta.main`, `pos.eq.dec;meta.main`, `meta.id;meta.main`, `stat.value`, ...),
for TOPCAT and Aladin; `astropy.table.Table.read(path)` reads it with object_id as int64.
"""


METADATA_ROWS = """\
| `s_anom_sigma` | float64 | sigma | s_anom normalised (= combined_score_normalized) |
| `i_cmodel_mag` | float64 | mag | i-band CModel magnitude |
| `r_eff_arcsec` | float64 | arcsec | Determinant radius (I11 I22 - I12^2)^(1/4) of the i-band exponential CModel moments |
| `e1` | float64 |  | Ellipticity component (I11 - I22) / (I11 + I22) |
| `e2` | float64 |  | Ellipticity component 2 I12 / (I11 + I22) |
| `ellipticity` | float64 |  | Distortion sqrt(e1^2 + e2^2) = (a^2 - b^2) / (a^2 + b^2) |
| `axis_ratio` | float64 |  | Minor over major axis b / a |
| `position_angle_deg` | float64 | deg | Major-axis angle 1/2 atan2(2 I12, I11 - I22), from the first moment axis |
| `i_blendedness_abs_flux` | float64 |  | i-band blendedness (absolute flux) |
| `blended` | bool |  | i_blendedness_abs_flux >= 10^-0.375 (Mandelbaum et al. 2018) |
| `g_r` | float64 | mag | g - r CModel colour |
| `r_i` | float64 | mag | r - i CModel colour |
| `log_aperture_cmodel_ratio` | float64 |  | log10(i_convolvedflux_3_20_flux / i_cmodel_flux) |
| `in_bright_star_mask` | float64 |  | Inside a bright-star mask region of the release's mask version (NULL without masks) |
"""


def _plan(ranking=None, mask_version="hsc-pdr2", extended=EXTENDED_COLUMNS) -> Plan:
    n = 1234
    catalog = {s.name: np.zeros(n) for s in EXTENDED_COLUMNS + RANKING_COLUMNS}
    catalog.update(idx=np.arange(n, dtype=np.int64), object_id=np.arange(n, dtype=np.int64) + 2**60,
                   blended=np.zeros(n, bool), relevance_rank=np.arange(n, dtype=np.int64),
                   gmm_label=np.ma.MaskedArray(np.zeros(n, np.int32), mask=np.ones(n, bool)))
    run = {"id": 3, "method": "wgan", "params": {"lambda_anom": 0.3}}
    return Plan("v1", run, {"name": "paper"}, {}, mask_version, (64, 48, 3), catalog, {}, np.arange(17),
                {"residual": np.zeros((17, 32), np.float32)}, ranking, extended)


def test_readme_sections_are_the_published_text():
    text = render_readme(_plan(), ["a.h5", "b.h5"])
    assert text.startswith(HEAD)
    assert PICKLES in text and IMAGE_ROWS in text and EXTENDED_ROWS in text
    assert text.endswith("\n\n" + TAIL)
    assert "| `gmm_label` | int32 |  | GMM cluster" in text and "| `blended` | bool |" in text
    assert "mask version `hsc-pdr2`" in text
    assert "relevance" not in text  # no ranking: no relevance columns, no sentence


def test_readme_with_a_ranking_and_without_masks():
    text = render_readme(_plan({"id": 7, "n_labels": 12, "model": "forest"}, mask_version=None), ["a.h5", "b.h5"])
    assert RANKED_TAIL in text
    assert "bright-star-mask flag (mask version `None`)" in text


def test_readme_is_the_same_for_the_same_plan():
    plan = _plan()
    assert render_readme(plan, ["a.h5", "b.h5"]) == render_readme(plan, ["a.h5", "b.h5"])


def test_the_template_is_package_data():
    shipped = resources.files("hscanom.catalog").joinpath("templates", TEMPLATE)
    assert shipped.is_file()
    globs = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["hscanom.catalog"]
    assert any(fnmatch.fnmatch(f"templates/{TEMPLATE}", g) for g in globs)


@pytest.mark.parametrize("h5_names", [["x.h5"], []])
def test_readme_needs_both_hdf5_names(h5_names):
    import jinja2

    with pytest.raises(jinja2.UndefinedError):
        render_readme(_plan(), h5_names)


def _comments(url: str, relation: str) -> dict[str, str | None]:
    with db.connect(url) as conn:
        return dict(conn.execute(
            "SELECT attname::text, col_description(attrelid, attnum) FROM pg_attribute "
            "WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped", (relation,)).fetchall())


def test_metadata_columns_are_described_by_the_database_as_published(db_url):
    with db.connect(db_url) as conn:
        described = describe_columns(conn)
    assert [s.name for s in described] == [s.name for s in EXTENDED_COLUMNS]
    by_name = {s.name: s for s in described}
    assert by_name["r_eff_arcsec"] == ColumnSpec(
        "r_eff_arcsec", "Determinant radius (I11 I22 - I12^2)^(1/4) of the i-band exponential CModel moments", "arcsec")
    assert all(by_name[n].description for n in METADATA_COLUMNS)
    assert all(not s.description for s in EXTENDED_COLUMNS if s.name in METADATA_COLUMNS)  # said once: in the database
    assert METADATA_ROWS in render_readme(_plan(extended=described), ["a.h5", "b.h5"])


def test_a_database_without_the_comments_is_refused_by_name(db_url):
    with db.connect(db_url) as conn:
        conn.execute("COMMENT ON COLUMN object_metadata.e1 IS NULL")
    with db.connect(db_url) as conn, pytest.raises(ReleaseError, match=r"object_metadata\.e1 has no column comment.*db upgrade"):
        describe_columns(conn)


def test_migration_0010_adds_the_comments_and_its_downgrade_restores_0002s(db_url):
    assert _comments(db_url, "object_metadata")["ellipticity"] == "Distortion sqrt(e1^2 + e2^2) = (a^2 - b^2) / (a^2 + b^2)"
    db.downgrade(db_url, "0009")
    before = _comments(db_url, "object_metadata")
    assert before["ellipticity"] == "Distortion sqrt(e1^2 + e2^2) = (a^2 - b^2)/(a^2 + b^2)"
    assert before["e1"] is None and before["i_cmodel_mag"] is None and before["r_eff_arcsec"]
    db.upgrade(db_url)
    assert all(_comments(db_url, "object_metadata")[n] for n in METADATA_COLUMNS)


def test_column_comments_read_back_as_the_specs_that_wrote_them(db_url):
    """hsc_object's comments are written from HSC_COLUMNS as ``description [unit]``;
    ColumnSpec.from_comment gives each column's description and unit back."""
    comments = _comments(db_url, "hsc_object")
    for column in HSC_COLUMNS:
        assert comments[column.name] == column.comment
        back = ColumnSpec.from_comment(column.name, comments[column.name])
        assert (back.description, back.unit) == (column.description, column.unit), column.name
    assert ColumnSpec.from_comment("relevance", "Relevance in [0, 1]") == ColumnSpec("relevance", "Relevance in [0, 1]")
