"""Named queries (sql/queries/*.sql) and ``hscanom sql``: headers, parameters, read-only execution.

Runs on the session's scored pipeline database (120 simulated objects, run ``state.run_id``);
every query is compared with the same quantity computed another way.
"""

from __future__ import annotations

import math
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import psycopg
import pytest
from typer.testing import CliRunner

from hscanom import readonly, sql
from hscanom.cli import app

runner = CliRunner()


def _cli(*args: str):
    result = runner.invoke(app, ["sql", *args])
    return result, " ".join(result.output.split())


def _one(url: str, query: str, params=None):
    with psycopg.connect(url) as conn:
        return conn.execute(query, params).fetchone()


def _frame(result: sql.QueryResult) -> pd.DataFrame:
    return pd.DataFrame(result.rows, columns=result.columns)


def _object(url: str, run_id: int):
    """(object_id, ra, dec) of the run's highest-s_disc object."""
    return _one(url, "SELECT object_id, ra, dec FROM scored_object WHERE run_id = %s ORDER BY s_disc_sigma DESC LIMIT 1", (run_id,))


def _add_clusters(url: str, run_id: int) -> int:
    """A CAE model row with GMM labels 0/1/2 and UMAP coordinates for every scored object."""
    with psycopg.connect(url) as conn:
        model_id = conn.execute("INSERT INTO model (kind, config) VALUES ('cae', '{\"latent_dim\": 64}') RETURNING id").fetchone()[0]
        ids = [r[0] for r in conn.execute("SELECT object_id FROM anomaly_score WHERE run_id = %s ORDER BY object_id", (run_id,))]
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO embedding (run_id, model_id, object_id, kind, vector) VALUES (%s, %s, %s, 'residual', %s)",
                [(run_id, model_id, oid, [float(k)] * 64) for k, oid in enumerate(ids)],
            )
            cur.executemany(
                "INSERT INTO cluster_label (run_id, model_id, object_id, method, label, probability) VALUES (%s, %s, %s, 'gmm', %s, 0.5)",
                [(run_id, model_id, oid, k % 3) for k, oid in enumerate(ids)],
            )
            cur.executemany(
                "INSERT INTO umap_coord (run_id, model_id, object_id, kind, x, y) VALUES (%s, %s, %s, 'residual', %s, 0)",
                [(run_id, model_id, oid, float(k % 3)) for k, oid in enumerate(ids)],
            )
    return model_id


# -- headers and parameters ---------------------------------------------------------------
def test_every_shipped_query_is_documented_and_returns_its_declared_columns(scored_db):
    url, cfg, state = scored_db
    oid, ra, dec = _object(url, state.run_id)
    values = {"run_id": state.run_id, "ra": ra, "dec": dec, "radius_arcsec": 30, "ranking_id": 1}
    queries = sql.list_queries()
    assert {q.name for q in queries} >= {
        "high-anomaly", "score-histogram", "figure5", "bright-star-fraction", "cone-search", "crossmatch", "cluster-summary",
    }
    for q in queries:
        assert q.title and q.purpose and q.columns, q.name
        assert all(p.description for p in q.params), q.name
        given = {p.name: ([values[p.name]] if p.is_array else values[p.name]) for p in q.params if p.required}
        result = sql.run(q, given, url=url)
        assert result.columns == [c.name for c in q.columns], q.name


def test_header_format_is_that_of_the_sample_presets():
    from hscanom.samples import preset_sql

    preset = sql.parse(preset_sql("paper-pdr2"), "paper-pdr2")
    assert preset.title.startswith("the galaxy sample") and preset.params == () and "i_cmodel_mag" in preset.purpose
    q = sql.load("figure5")
    threshold = q.param("threshold")
    assert (threshold.type, threshold.required, threshold.default) == ("float8", False, 3.0)
    assert q.column("r_eff_arcsec") is None and q.column("q16").description
    assert sql.load("cone-search").column("distance_arcsec").unit == "arcsec"
    assert "-- " not in q.body.splitlines()[0]  # the header is not sent


def test_malformed_headers_are_refused_with_the_file_name():
    with pytest.raises(sql.QueryError, match=r"x\.sql: placeholders and declared parameters differ; undeclared: b"):
        sql.parse("-- x: t\n-- Purpose: p\n-- Parameters:\n--   a (bigint): a.\nSELECT %(a)s, %(b)s", "x", "x.sql")
    with pytest.raises(sql.QueryError, match="unsupported type 'point'"):
        sql.parse("-- x: t\n-- Parameters:\n--   a (point): a.\nSELECT %(a)s", "x")
    with pytest.raises(sql.QueryError, match="cannot read 'maybe'"):
        sql.parse("-- x: t\n-- Parameters:\n--   a (bigint, maybe): a.\nSELECT %(a)s", "x")
    with pytest.raises(sql.QueryError, match="no named query 'nope'"):
        sql.load("nope")


def test_parameters_are_typed_defaulted_and_checked():
    q = sql.load("crossmatch")
    bound = sql.bind(q, {"run_id": "7", "ra": "1.5,2", "dec": [3, 4.25]})
    assert bound == {"run_id": 7, "ra": [1.5, 2.0], "dec": [3.0, 4.25], "radius_arcsec": 1.0}
    assert sql.bind(sql.load("score-histogram"), {"run_id": "NULL"}) == {"run_id": None, "bin_width": 0.5}
    with pytest.raises(sql.QueryError, match="has no parameter radius"):
        sql.bind(q, {"run_id": 1, "ra": "1", "dec": "1", "radius": "2"})
    with pytest.raises(sql.QueryError, match="needs --param dec=VALUE"):
        sql.bind(q, {"run_id": 1, "ra": "1"})
    with pytest.raises(sql.QueryError, match=r"parameter run_id \(bigint\)"):
        sql.bind(q, {"run_id": "1.5", "ra": "1", "dec": "1"})
    with pytest.raises(sql.QueryError, match="not a finite number"):
        sql.bind(q, {"run_id": "1", "ra": "nan", "dec": "1"})


def test_upload_errors_name_file_line_and_column(tmp_path):
    q = sql.load("crossmatch")
    bad = tmp_path / "list.csv"
    bad.write_text("ra,dec\n10.0,1.0\n11.0,north\n")
    with pytest.raises(sql.QueryError, match=r"list\.csv: line 3, column dec: could not convert"):
        sql.read_upload(bad, q)
    bad.write_text("RA,declination\n1,2\n")
    with pytest.raises(sql.QueryError, match=r"list\.csv: no column 'dec'"):
        sql.read_upload(bad, q)
    good = tmp_path / "good.csv"
    good.write_text("# RA,Dec,name\n10.5,-1.25,a\n\n11,2,b\n")
    assert sql.read_upload(good, q) == {"ra": [10.5, 11.0], "dec": [-1.25, 2.0]}


# -- the queries, checked against other computations ---------------------------------------
def test_high_anomaly_and_histogram_agree_with_the_normalised_scores(scored_db):
    url, cfg, state = scored_db
    threshold = 1.0
    result = sql.run(sql.load("high-anomaly"), {"run_id": state.run_id, "threshold": threshold}, url=url)
    expected = _one(url, "SELECT count(*) FROM anomaly_score_normalized WHERE run_id = %s AND s_disc_sigma > %s", (state.run_id, threshold))[0]
    s_disc = [r[result.columns.index("s_disc_sigma")] for r in result.rows]
    assert len(result.rows) == expected > 0 and s_disc == sorted(s_disc, reverse=True) and min(s_disc) > threshold

    frame = _frame(sql.run(sql.load("score-histogram"), {"run_id": state.run_id, "bin_width": "0.25"}, url=url))
    assert set(frame.score) == {"s_gen", "s_disc", "s_anom"}
    for _, part in frame.groupby("score"):
        assert part.n_objects.sum() == cfg.n_objects
        assert math.isclose(part.fraction.sum(), 1.0)
        assert np.allclose(part.bin_hi_sigma - part.bin_lo_sigma, 0.25)
    every_run = sql.run(sql.load("score-histogram"), {}, url=url)
    assert {r[0] for r in every_run.rows} == {state.run_id}


def test_bright_star_fraction_matches_the_mask_function(scored_db):
    url, cfg, state = scored_db
    version = _one(url, "SELECT mask_version FROM bright_star_mask ORDER BY id DESC LIMIT 1")[0]
    masked, high_masked, high = _one(
        url,
        "SELECT count(*) FILTER (WHERE in_bright_star_mask(object_id, %(v)s)), "
        "       count(*) FILTER (WHERE s_disc_sigma > 1 AND in_bright_star_mask(object_id, %(v)s)), "
        "       count(*) FILTER (WHERE s_disc_sigma > 1) "
        "FROM anomaly_score_normalized WHERE run_id = %(r)s",
        {"v": version, "r": state.run_id},
    )
    result = sql.run(sql.load("bright-star-fraction"), {"run_id": state.run_id, "threshold": 1}, url=url)
    rows = {r[2]: r for r in result.rows}
    assert rows["full"][0] == version and rows["full"][1] > 0
    assert rows["full"][3:5] == (cfg.n_objects, masked) and masked > 0
    assert rows["high_anomaly"][3:5] == (high, high_masked)
    assert math.isclose(rows["full"][5], masked / cfg.n_objects)
    unknown = sql.run(sql.load("bright-star-fraction"), {"run_id": state.run_id, "mask_version": "no-such"}, url=url)
    assert [(r[0], r[1], r[4]) for r in unknown.rows] == [("no-such", 0, 0), ("no-such", 0, 0)]


def test_cone_search_agrees_with_brute_force_distances(scored_db):
    url, cfg, state = scored_db
    oid, ra, dec = _object(url, state.run_id)
    radius = 120.0
    result = sql.run(sql.load("cone-search"), {"run_id": state.run_id, "ra": ra, "dec": dec, "radius_arcsec": radius}, url=url)
    with psycopg.connect(url) as conn:
        brute = conn.execute(
            "SELECT o.object_id FROM hsc_object o JOIN anomaly_score a ON a.object_id = o.object_id AND a.run_id = %s "
            "WHERE q3c_dist(o.ra, o.dec, %s, %s) * 3600 <= %s",
            (state.run_id, ra, dec, radius),
        ).fetchall()
    assert result.rows[0][0] == oid and result.rows[0][3] == 0.0
    assert sorted(r[0] for r in result.rows) == sorted(r[0] for r in brute) and len(brute) > 1
    assert all(r[3] <= radius for r in result.rows)


def test_crossmatch_of_an_uploaded_csv_through_the_cli(scored_db, tmp_path):
    url, cfg, state = scored_db
    oid, ra, dec = _object(url, state.run_id)
    upload = tmp_path / "list.csv"
    upload.write_text(f"ra,dec\n{ra!r},{dec!r}\n{(ra + 1) % 360!r},{dec!r}\n")
    out = tmp_path / "matches.csv"
    result, text = _cli("run", "crossmatch", "--upload", str(upload), "--param", f"run_id={state.run_id}", "--param", "radius_arcsec=1", "--out", str(out))
    assert result.exit_code == 0, text
    frame = pd.read_csv(out, dtype={"object_id": "Int64"})
    assert list(frame.upload_row) == [0, 1]
    assert frame.object_id[0] == oid and frame.match_rank[0] == 1 and frame.distance_arcsec[0] == 0.0
    assert pd.isna(frame.object_id[1]) and pd.isna(frame.match_rank[1])


def test_figure5_and_cluster_summary(scored_db):
    url, cfg, state = scored_db
    _add_clusters(url, state.run_id)
    fig5 = _frame(sql.run(sql.load("figure5"), {"run_id": state.run_id, "threshold": 0.5}, url=url))
    assert list(fig5.selection.unique()) == ["full", "s_gen", "s_disc", "s_anom"]
    n_reff = _one(url, "SELECT count(r_eff_arcsec) FROM scored_object WHERE run_id = %s", (state.run_id,))[0]
    full = fig5[(fig5.selection == "full") & (fig5.quantity == "r_eff_arcsec")].iloc[0]
    assert full["n_objects"] == n_reff and full["q16"] <= full["median"] <= full["q84"]
    n_disc = _one(url, "SELECT count(g_r) FROM scored_object WHERE run_id = %s AND s_disc_sigma > 0.5", (state.run_id,))[0]
    assert fig5[(fig5.selection == "s_disc") & (fig5.quantity == "g_r")].n_objects.item() == n_disc

    clusters = _frame(sql.run(sql.load("cluster-summary"), {"run_id": state.run_id}, url=url))
    assert list(clusters.method) == ["gmm"] * 3 and list(clusters.label) == [0, 1, 2]
    assert clusters.n_objects.sum() == cfg.n_objects and math.isclose(clusters.fraction.sum(), 1.0)
    assert list(clusters.umap_x) == [0.0, 1.0, 2.0]


# -- read-only execution -------------------------------------------------------------------
WRITES = {
    "insert": "INSERT INTO sample (name, sql) VALUES ('evil', 'SELECT 1')",
    "update": "UPDATE score_run SET status = 'failed'",
    "delete": "DELETE FROM anomaly_score",
    "ddl": "CREATE TABLE evil (a int)",
    "drop": "DROP TABLE anomaly_score CASCADE",
    "two statements": "SELECT 1; DROP TABLE anomaly_score CASCADE",
    "commit trick": "COMMIT; INSERT INTO sample (name, sql) VALUES ('evil', 'SELECT 1')",
    "writable cte": "WITH x AS (INSERT INTO sample (name, sql) VALUES ('evil', 'SELECT 1') RETURNING id) SELECT * FROM x",
    "sequence": "SELECT nextval(pg_get_serial_sequence('sample', 'id'))",
    "role escape": "SET ROLE NONE",
}


def _state(url: str):
    with psycopg.connect(url) as conn:
        tables = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()[0]
        return tables, conn.execute("SELECT (SELECT count(*) FROM sample), (SELECT count(*) FROM anomaly_score), (SELECT string_agg(status, ',') FROM score_run)").fetchone()


def test_user_sql_that_writes_is_refused_and_changes_nothing(scored_db, tmp_path):
    url, cfg, state = scored_db
    before = _state(url)
    for name, statement in WRITES.items():
        path = tmp_path / f"{name.replace(' ', '_')}.sql"
        path.write_text(statement)
        result, text = _cli("run", str(path))
        assert result.exit_code == 1, (name, text)
        assert text.startswith("error:") and "Traceback" not in result.output, (name, text)
    assert _state(url) == before
    with pytest.raises(readonly.ReadOnlyQueryError) as info:
        sql.run(sql.load_file(tmp_path / "insert.sql"), url=url)
    assert info.value.sqlstate == "42601" and "only one query that returns rows" in str(info.value)


def test_statement_timeout_cancels_a_runaway_query(scored_db, tmp_path):
    url, cfg, state = scored_db
    path = tmp_path / "sleep.sql"
    path.write_text("SELECT pg_sleep(%(seconds)s::float8)")
    result, text = _cli("run", str(path), "--param", "seconds=30", "--timeout", "0.2")
    assert result.exit_code == 1 and "statement timeout" in text and "Traceback" not in result.output
    with pytest.raises(readonly.ReadOnlyQueryError) as info:
        sql.run(sql.load_file(path), {"seconds": "30"}, url=url, timeout_s=0.2)
    assert info.value.sqlstate == "57014"


def test_a_failing_query_prints_the_database_error_without_traceback(scored_db, tmp_path):
    path = tmp_path / "typo.sql"
    path.write_text("SELECT no_such_column FROM hsc_object")
    result, text = _cli("run", str(path))
    assert result.exit_code == 1 and 'column "no_such_column" does not exist' in text
    assert "Traceback" not in result.output
    result, text = _cli("run", "high-anomaly")
    assert result.exit_code == 1 and "needs --param run_id=VALUE" in text


# -- output files ---------------------------------------------------------------------------
def test_out_files_keep_int64_ids_and_units(scored_db, tmp_path):
    from astropy.io import fits
    from astropy.table import Table

    url, cfg, state = scored_db
    with psycopg.connect(url) as conn:
        ids = [r[0] for r in conn.execute("SELECT object_id FROM anomaly_score_normalized WHERE run_id = %s ORDER BY s_disc_sigma DESC, object_id", (state.run_id,))]
    assert min(ids) > 2**53
    for suffix in ("csv", "parquet", "fits"):
        out = tmp_path / f"high.{suffix}"
        result, text = _cli("run", "high-anomaly", "-p", f"run_id={state.run_id}", "-p", "threshold=-1000", "--out", str(out))
        assert result.exit_code == 0, text
        if suffix == "csv":
            frame = pd.read_csv(out)
        elif suffix == "parquet":
            frame = pd.read_parquet(out)
        else:
            table = Table.read(out, hdu=1)
            frame = table.to_pandas()
            header = fits.getheader(out, 1)
            k = table.colnames.index("r_eff_arcsec") + 1
            assert header[f"TFORM{table.colnames.index('object_id') + 1}"] == "K" and header[f"TUNIT{k}"] == "arcsec"
        assert frame.object_id.dtype == np.int64, suffix
        assert frame.object_id.tolist() == ids, suffix
    import pyarrow.parquet as pq

    field = pq.read_schema(tmp_path / "high.parquet").field("ra")
    assert field.metadata[b"unit"] == b"deg"


def test_list_and_show(scored_db):
    result, text = _cli("list")
    assert result.exit_code == 0 and "crossmatch" in text and "bright-star-fraction" in text
    result, text = _cli("show", "crossmatch")
    assert result.exit_code == 0 and "q3c_join" in text and "right ascensions of the list [deg]" in text


@pytest.mark.skipif(shutil.which("psql") is None, reason="psql is not installed")
def test_shell_is_psql_as_the_read_only_role(scored_db):
    hscanom = Path(sys.executable).with_name("hscanom")
    shell = subprocess.run(
        [str(hscanom), "sql", "shell", "--timeout", "5", "-X", "-v", "ON_ERROR_STOP=1", "-At",
         "-c", "SELECT current_user, current_setting('transaction_read_only'), current_setting('statement_timeout')",
         "-c", "CREATE TABLE evil (a int)"],
        capture_output=True, text=True, timeout=120,
    )
    assert shell.stdout.strip() == "hscanom_reader|on|5s", shell.stderr
    assert shell.returncode != 0 and "cannot execute CREATE TABLE in a read-only transaction" in shell.stderr


def test_formats_keep_nulls_and_int64(tmp_path):
    from astropy.table import Table

    from hscanom.catalog import formats

    big = 2**62 + 1
    names, oids = ["object_id", "flag", "label", "x", "note"], [20, 16, 23, 701, 25]
    rows = [(big, True, 3, 1.5, "a"), (big + 2, None, None, None, None), (5, False, -1, -0.0, "c")]
    specs = {"x": formats.ColumnSpec("x", "a length [arcsec]", "arcsec"), "flag": formats.ColumnSpec("flag", "a flag")}
    for suffix in ("csv", "parquet", "fits"):
        path = formats.write_table(tmp_path / f"t.{suffix}", names, oids, rows, specs)
        if suffix == "fits":
            t = Table.read(path, hdu=1)
            assert t["object_id"].dtype.str[1:] == "i8" and list(t["object_id"]) == [big, big + 2, 5]
            assert list(t["flag"].filled(-9)) == [1, -9, 0] and list(t["label"].filled(-9)) == [3, -9, -1]
            assert np.ma.getmaskarray(t["x"]).tolist() == [False, True, False] and t["x"].unit == "arcsec"
        else:
            frame = pd.read_csv(path) if suffix == "csv" else pd.read_parquet(path)
            assert frame.object_id.dtype == np.int64 and frame.object_id.tolist() == [big, big + 2, 5]
            assert frame.flag.isna().tolist() == [False, True, False] and frame.x.isna().tolist() == [False, True, False]
            assert frame.label.isna().tolist() == [False, True, False] and frame.note.isna().tolist() == [False, True, False]
    with pytest.raises(ValueError, match="unknown output format '.xlsx'"):
        formats.write_table(tmp_path / "t.xlsx", names, oids, rows)
    assert not list(tmp_path.glob(".*tmp"))
