"""Samples: the paper-pdr2 preset's cuts, idx order, SQL kept, errors, and the CLI."""

from __future__ import annotations

import psycopg
import pytest
from typer.testing import CliRunner

from hscanom.cli.sample import app
from hscanom.samples import SampleError, create_sample, get_sample, list_samples, preset_sql, sample_object_ids
from hscanom.schema.columns import BANDS

BIG = 7_234_567_890_123_456_789

CLEAN = {"isprimary": True, "nchild": 0, "i_cmodel_mag": 20.2}
for _b in BANDS:
    CLEAN |= {f"{_b}_inputcount_value": 5, f"{_b}_cmodel_flag": False}
    for _f in ("bright_object", "bright_objectcenter", "edge", "saturatedcenter", "interpolatedcenter", "crcenter"):
        CLEAN[f"{_b}_pixelflags_{_f}"] = False

#: One object failing each cut of the paper's selection (plus the clean and edge-of-slice ones).
FAILING = {
    "not primary": {"isprimary": False},
    "has children": {"nchild": 2},
    "2 exposures in y": {"y_inputcount_value": 2},
    "bright object in g": {"g_pixelflags_bright_object": True},
    "bright object centre in z": {"z_pixelflags_bright_objectcenter": True},
    "edge in r": {"r_pixelflags_edge": True},
    "saturated centre in i": {"i_pixelflags_saturatedcenter": True},
    "interpolated centre in y": {"y_pixelflags_interpolatedcenter": True},
    "cosmic ray centre in g": {"g_pixelflags_crcenter": True},
    "cmodel failed in z": {"z_cmodel_flag": True},
    "too faint": {"i_cmodel_mag": 20.5},
    "too bright": {"i_cmodel_mag": 19.9999},
    "flag unknown": {"r_pixelflags_edge": None},
}


def _insert(conn, object_id, values):
    row = {"object_id": object_id, "ra": 10.0, "dec": 1.0, **CLEAN, **values}
    cols = ", ".join(row)
    conn.execute(f"INSERT INTO hsc_object ({cols}) VALUES ({', '.join(['%s'] * len(row))})", list(row.values()))


@pytest.fixture
def catalog(db_url):
    with psycopg.connect(db_url) as conn:
        for k, values in enumerate(FAILING.values()):
            _insert(conn, BIG + 10 + k, values)
        _insert(conn, BIG + 3, {})
        _insert(conn, BIG + 1, {"i_cmodel_mag": 20.0})
        _insert(conn, BIG + 2, {"i_cmodel_mag": 20.4999})
        _insert(conn, 42, {})
    return db_url


def test_paper_preset_keeps_exactly_the_clean_objects_in_the_slice(catalog):
    info = create_sample("paper", preset_sql("paper-pdr2"), url=catalog)
    assert info.n_members == 4
    assert sample_object_ids("paper", url=catalog).tolist() == [42, BIG + 1, BIG + 2, BIG + 3]
    with psycopg.connect(catalog) as conn:
        members = conn.execute("SELECT idx, object_id FROM sample_member WHERE sample_id = %s ORDER BY idx", (info.id,)).fetchall()
    assert members == [(0, 42), (1, BIG + 1), (2, BIG + 2), (3, BIG + 3)]
    assert info.sql.startswith("-- paper-pdr2") and "i_cmodel_mag < 20.5" in info.sql


def test_custom_sql_with_parameters_duplicates_and_masks(catalog):
    sql = "SELECT object_id FROM hsc_object WHERE object_id >= %(low)s UNION ALL SELECT object_id FROM hsc_object WHERE object_id = 42;"
    info = create_sample("big", sql, params={"low": BIG + 2}, description="ids from BIG+2", url=catalog)
    assert info.params == {"low": BIG + 2} and info.description == "ids from BIG+2"
    ids = sample_object_ids("big", url=catalog)
    assert ids.dtype.name == "int64" and ids[0] == 42 and ids[1] == BIG + 2 and len(ids) == len(set(ids.tolist()))
    assert [s.name for s in list_samples(url=catalog)] == ["big"]
    assert get_sample("big", url=catalog).sql == sql.rstrip(";")


@pytest.mark.parametrize(
    "sql, message",
    [
        ("SELECT ra FROM hsc_object", "object_id"),
        ("SELECT object_id::float8 AS object_id FROM hsc_object", "integer"),
        ("SELECT object_id FROM no_such_table", "no_such_table"),
        ("SELECT 123456 AS object_id", "not in hsc_object"),
        ("  ;  ", "empty"),
    ],
)
def test_bad_selections_store_nothing(catalog, sql, message):
    with pytest.raises(SampleError, match=message):
        create_sample("bad", sql, url=catalog)
    assert list_samples(url=catalog) == []


def test_names_are_unique_and_samples_never_change(catalog):
    create_sample("s", "SELECT object_id FROM hsc_object WHERE object_id = 42", url=catalog)
    with pytest.raises(SampleError, match="already exists"):
        create_sample("s", "SELECT object_id FROM hsc_object", url=catalog)
    assert get_sample("s", url=catalog).n_members == 1
    with pytest.raises(SampleError, match="no sample"):
        get_sample("nope", url=catalog)


def test_cli_create_list_show(catalog, tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["create", "paper", "--preset", "paper-pdr2"])
    assert result.exit_code == 0, result.output
    assert "4 objects" in result.output
    query = tmp_path / "q.sql"
    query.write_text("-- two objects\nSELECT object_id FROM hsc_object WHERE object_id IN (42, %(other)s)\n")
    result = runner.invoke(app, ["create", "two", "--sql", str(query), "--param", f"other={BIG + 3}"])
    assert result.exit_code == 0, result.output
    listing = runner.invoke(app, ["list"])
    assert "paper" in listing.output and "two" in listing.output
    shown = runner.invoke(app, ["show", "two"])
    assert shown.exit_code == 0 and f"42, {BIG + 3}" in shown.output and "two objects" in shown.output
    assert runner.invoke(app, ["create", "x"]).exit_code == 1
    assert runner.invoke(app, ["create", "paper", "--preset", "paper-pdr2"]).exit_code == 1
    assert runner.invoke(app, ["show", "missing"]).exit_code == 1
