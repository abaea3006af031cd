"""User SQL cannot leave the read-only login role: an escape corpus through every entry point.

Each attempt (role and session-authorization switches, DO blocks, COPY ... PROGRAM / TO file,
server-file, large-object, signal and configuration functions, dblink, runaway sleeps,
multiple statements, comment and dollar-quote tricks, writes by CTE, sequences, LOCK, a WHERE
clause that breaks out of its parenthesis) is sent through the library (``hscanom.readonly``,
``hscanom.sql``), ``hscanom sql run``, ``hscanom sql shell`` (psql) and the explorer's filter
API, and must be refused while nothing changes: table contents, the reader role's
attributes, large objects, the server's configuration load time, other backends, files.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg
import pytest
from starlette.testclient import TestClient
from typer.testing import CliRunner

from hscanom import db, readonly, sql
from hscanom.cli import app
from hscanom.explorer.app import create_app

runner = CliRunner()
MARK = "{marker}"

#: Whole statements (sql run, shell, library). {marker} is a path that must never appear.
STATEMENTS: dict[str, str] = {
    "set_config role none, then read a file": "SELECT set_config('role', 'none', true), pg_read_file('/etc/passwd')",
    "set_config role to the owner": "SELECT set_config('role', 'hscanom', true)",
    "set_config session_authorization": "SELECT set_config('session_authorization', 'hscanom', true), pg_ls_dir('.')",
    "set_config role, then terminate": "SELECT set_config('role', 'none', false), pg_terminate_backend(pid) FROM pg_stat_activity",
    "SET ROLE": "SET ROLE hscanom",
    "RESET ROLE then write": "RESET ROLE; DELETE FROM sample",
    "SET SESSION AUTHORIZATION": "SET SESSION AUTHORIZATION hscanom",
    "DO block running a program": "DO $$ BEGIN EXECUTE 'COPY (SELECT 1) TO PROGRAM ''touch {marker}'''; END $$",
    "DO block writing": "DO $$ BEGIN DELETE FROM sample; END $$",
    "COPY TO PROGRAM": "COPY (SELECT 1) TO PROGRAM 'touch {marker}'",
    "COPY TO file": "COPY sample TO '{marker}'",
    "COPY FROM file": "COPY sample (name, sql) FROM '/etc/hostname'",
    "pg_read_file": "SELECT pg_read_file('/etc/passwd')",
    "pg_read_binary_file": "SELECT pg_read_binary_file('/etc/passwd')",
    "pg_ls_dir": "SELECT pg_ls_dir('.')",
    "pg_stat_file": "SELECT pg_stat_file('PG_VERSION')",
    "lo_import": "SELECT lo_import('/etc/passwd')",
    "lo_export": "SELECT lo_export(1, '{marker}')",
    "lo_create": "SELECT lo_create(0)",
    "lo_from_bytea": "SELECT lo_from_bytea(0, 'x')",
    "pg_reload_conf": "SELECT pg_reload_conf()",
    "pg_terminate_backend": "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid <> pg_backend_pid()",
    "pg_cancel_backend": "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE pid <> pg_backend_pid()",
    "pg_rotate_logfile": "SELECT pg_rotate_logfile()",
    "dblink to the owner": "SELECT * FROM dblink('dbname=postgres user=hscanom', 'SELECT 1') AS t(a int)",
    "dblink_exec write": "SELECT dblink_exec('user=hscanom', 'DELETE FROM sample')",
    "two statements": "SELECT 1; DELETE FROM sample",
    "comment trick": "SELECT 1 /* ; */ ; DELETE FROM sample --",
    "dollar-quote trick": "SELECT $$;$$; DELETE FROM sample",
    "commit trick": "COMMIT; DELETE FROM sample",
    "writable CTE": "WITH d AS (DELETE FROM sample RETURNING id) SELECT * FROM d",
    "insert returning": "INSERT INTO sample (name, sql) VALUES ('evil', 'SELECT 1') RETURNING id",
    "select into": "SELECT * INTO evil FROM sample",
    "nextval": "SELECT nextval(pg_get_serial_sequence('sample', 'id'))",
    "setval": "SELECT setval(pg_get_serial_sequence('sample', 'id'), 1000)",
    "LOCK": "LOCK TABLE sample IN ACCESS EXCLUSIVE MODE",
    "BEGIN READ WRITE then write": "BEGIN READ WRITE; DELETE FROM sample",
    "read-only off": "SELECT set_config('transaction_read_only', 'off', false)",
    "temp table": "CREATE TEMP TABLE t AS SELECT * FROM sample",
    "create function": "CREATE FUNCTION evil() RETURNS int LANGUAGE sql AS 'SELECT 1'",
    "alter own role": "ALTER ROLE hscanom_reader SUPERUSER",
    "grant itself a role": "GRANT pg_read_server_files TO hscanom_reader",
    "create role": "CREATE ROLE evil SUPERUSER LOGIN",
    "sleep beyond the timeout": "SELECT pg_sleep(4)",
    "lift the timeout, then sleep": "SELECT set_config('statement_timeout', '0', false), pg_sleep(4)",
}

#: The same kinds of attack as a WHERE clause of the explorer's filter.
WHERE_CLAUSES: dict[str, str] = {
    "set_config role none, then read a file": "set_config('role', 'none', true) IS NOT NULL AND pg_read_file('/etc/passwd') IS NOT NULL",
    "set_config role to the owner": "set_config('role', 'hscanom', true) IS NOT NULL",
    "set_config session_authorization": "set_config('session_authorization', 'hscanom', true) IS NOT NULL",
    "pg_ls_dir": "(SELECT count(*) FROM pg_ls_dir('.')) > 0",
    "lo_import": "lo_import('/etc/passwd') > 0",
    "lo_create": "lo_create(0) > 0",
    "pg_reload_conf": "pg_reload_conf()",
    "pg_terminate_backend": "(SELECT bool_or(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE pid <> pg_backend_pid())",
    "pg_cancel_backend": "(SELECT bool_or(pg_cancel_backend(pid)) FROM pg_stat_activity WHERE pid <> pg_backend_pid())",
    "dblink": "(SELECT a FROM dblink('user=hscanom', 'SELECT 1') AS t(a int)) = 1",
    "nextval": "nextval(pg_get_serial_sequence('sample', 'id')) > 0",
    "writable CTE": "object_id IN (WITH d AS (DELETE FROM sample RETURNING id) SELECT id FROM d)",
    "close the parenthesis and UNION": "true) UNION SELECT object_id FROM hsc_object WHERE (true",
    "UNION after a comment hiding a parenthesis": "true /* ) */ ) UNION SELECT 1 WHERE (true",
    "UNION after a dollar quote hiding a parenthesis": "$$ ( $$ = 'x') UNION SELECT 1 WHERE (true",
    "UNION after a string hiding a parenthesis": "'(' = 'x') UNION SELECT 1 WHERE ('",
    "second statement": "true; DELETE FROM sample",
    "second statement after a comment": "true -- x\n; DELETE FROM sample",
    "unterminated comment": "true /* ",
    "sleep beyond the timeout": "(SELECT true FROM pg_sleep(4))",
}


# -- what must not change ------------------------------------------------------------------
def _setup_rows(url: str) -> int:
    """A model, a sample and a complete score run (what the explorer needs); the run id."""
    with psycopg.connect(url) as conn:
        model = conn.execute("INSERT INTO model (kind, config) VALUES ('wgan', '{}') RETURNING id").fetchone()[0]
        sample = conn.execute("INSERT INTO sample (name, sql) VALUES ('s', 'SELECT 1') RETURNING id").fetchone()[0]
        run = conn.execute("INSERT INTO score_run (model_id, sample_id, status) VALUES (%s, %s, 'complete') RETURNING id",
                           (model, sample)).fetchone()[0]
        for k, oid in enumerate((2**60 + 1, 2**60 + 2)):
            conn.execute("INSERT INTO hsc_object (object_id, ra, dec) VALUES (%s, %s, 1.0)", (oid, 10.0 + k))
            conn.execute("INSERT INTO anomaly_score (run_id, object_id, s_gen, s_disc, s_anom) VALUES (%s, %s, %s, %s, %s)",
                         (run, oid, 1.0 + k, 1.0 + k, 1.0 + k))
        return run


def _snapshot(url: str, owner: psycopg.Connection) -> dict:
    """Everything an escape would change; ``owner`` is a long-lived owner session that must survive."""
    with psycopg.connect(url) as conn:
        return {
            "sample": conn.execute("SELECT md5(coalesce(string_agg(s::text, '|' ORDER BY id), '')) FROM sample s").fetchone()[0],
            "score_run": conn.execute("SELECT md5(coalesce(string_agg(r::text, '|' ORDER BY id), '')) FROM score_run r").fetchone()[0],
            "sample_seq": conn.execute("SELECT last_value FROM sample_id_seq").fetchone()[0],
            "tables": conn.execute("SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace").fetchone()[0],
            "large_objects": conn.execute("SELECT count(*) FROM pg_largeobject_metadata").fetchone()[0],
            "conf_loaded": conn.execute("SELECT pg_conf_load_time()").fetchone()[0],
            "reader": conn.execute(
                "SELECT rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls, rolconfig, "
                "ARRAY(SELECT roleid::regrole::text FROM pg_auth_members WHERE member = r.oid) "
                "FROM pg_roles r WHERE rolname = 'hscanom_reader'").fetchone(),
            "roles": conn.execute("SELECT count(*) FROM pg_roles").fetchone()[0],
            "owner_alive": owner.execute("SELECT 1").fetchone()[0],
        }


@pytest.fixture
def target(db_url, tmp_path):
    """(url, run id, marker path, owner session, snapshot before) on a database with dblink."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS dblink")
    db.grant_reader(db_url)  # dblink came after migration 0005: repair revokes it
    run_id = _setup_rows(db_url)
    marker = tmp_path / "escaped"
    owner = psycopg.connect(db_url, autocommit=True)
    before = _snapshot(db_url, owner)
    yield db_url, run_id, marker, owner, before
    after = _snapshot(db_url, owner)
    owner.close()
    assert after == before
    assert not marker.exists()


def _statements(marker: Path) -> dict[str, str]:
    return {name: s.replace(MARK, str(marker)) for name, s in STATEMENTS.items()}


# -- the role itself -----------------------------------------------------------------------
def test_reader_role_is_a_login_with_no_way_back(db_url):
    with psycopg.connect(db_url) as conn:
        row = conn.execute(
            "SELECT rolcanlogin, rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls, rolconfig "
            "FROM pg_roles WHERE rolname = 'hscanom_reader'").fetchone()
        assert row[:6] == (True, False, False, False, False, False)
        assert "default_transaction_read_only=on" in row[6] and "statement_timeout=30s" in row[6]
        assert conn.execute("SELECT count(*) FROM pg_auth_members WHERE member = 'hscanom_reader'::regrole").fetchone()[0] == 0
        for role in ("pg_read_server_files", "pg_write_server_files", "pg_execute_server_program", "pg_signal_backend", "hscanom"):
            assert not conn.execute("SELECT pg_has_role('hscanom_reader', %s, 'MEMBER')", (role,)).fetchone()[0], role
        for fn in ("pg_read_file(text)", "pg_ls_dir(text)", "lo_import(text)", "lo_create(oid)", "pg_reload_conf()",
                   "pg_terminate_backend(integer, bigint)", "pg_cancel_backend(integer)", "pg_rotate_logfile()"):
            assert not conn.execute("SELECT has_function_privilege('hscanom_reader', %s, 'EXECUTE')", (fn,)).fetchone()[0], fn
        assert not conn.execute("SELECT has_language_privilege('hscanom_reader', 'plpgsql', 'USAGE')").fetchone()[0]
        assert conn.execute("SELECT has_table_privilege('hscanom_reader', 'scored_object', 'SELECT')").fetchone()[0]
        assert not conn.execute("SELECT has_table_privilege('hscanom_reader', 'sample', 'INSERT, UPDATE, DELETE, TRUNCATE')").fetchone()[0]
        assert conn.execute("SELECT has_function_privilege('hscanom_reader', 'q3c_radial_query(double precision, double precision, double precision, double precision, double precision)', 'EXECUTE')").fetchone()[0]
    # a session that logs in as the reader reads, as itself
    assert readonly.query(db_url, "SELECT session_user::text, current_user::text, current_setting('transaction_read_only')") == (
        ["session_user", "current_user", "current_setting"], [("hscanom_reader", "hscanom_reader", "on")])


def test_a_privileged_reader_url_is_refused(db_url, monkeypatch):
    monkeypatch.setenv(readonly.READER_URL_ENV, db_url)  # the owner (a superuser) by mistake
    with pytest.raises(readonly.ReadOnlyQueryError, match="refusing to run user SQL as 'hscanom': SUPERUSER"):
        readonly.query(db_url, "SELECT 1")
    result = runner.invoke(app, ["sql", "run", "high-anomaly", "-p", "run_id=1"])
    assert result.exit_code == 1 and "refusing to run user SQL" in result.output


def test_migration_downgrade_restores_public_execute_and_upgrade_hardens_again(empty_db_url):
    def public_can(fn: str) -> bool:
        with psycopg.connect(empty_db_url) as conn:
            return conn.execute("SELECT has_function_privilege('public', %s, 'EXECUTE')", (fn,)).fetchone()[0]

    db.upgrade(empty_db_url)
    assert not public_can("lo_create(oid)") and not public_can("pg_cancel_backend(integer)")
    db.downgrade(empty_db_url, "0004")
    assert public_can("lo_create(oid)") and public_can("pg_cancel_backend(integer)")
    assert not public_can("pg_read_file(text)")  # never PUBLIC's in PostgreSQL: not given away
    db.upgrade(empty_db_url)
    assert not public_can("lo_create(oid)")


# -- the escape corpus through every entry point ---------------------------------------------
def test_escape_corpus_through_the_library(target):
    url, run_id, marker, owner, before = target
    for name, statement in _statements(marker).items():
        with pytest.raises(readonly.ReadOnlyQueryError) as info:
            readonly.query(url, statement, timeout_s=1.0)
        assert info.value.sqlstate, (name, str(info.value))
        with pytest.raises(readonly.ReadOnlyQueryError):
            sql.run(sql.NamedQuery("attack", "", "", (), (), statement, statement, "attack.sql"), url=url, timeout_s=1.0)


def test_escape_corpus_through_sql_run(target, tmp_path):
    url, run_id, marker, owner, before = target
    for k, (name, statement) in enumerate(_statements(marker).items()):
        path = tmp_path / f"attack{k}.sql"
        path.write_text(statement)
        result = runner.invoke(app, ["sql", "run", str(path), "--timeout", "1"])
        assert result.exit_code == 1, (name, result.output)
        assert result.output.startswith("error:") and "Traceback" not in result.output, (name, result.output)


@pytest.mark.skipif(shutil.which("psql") is None, reason="psql is not installed")
def test_escape_corpus_through_sql_shell(target, tmp_path):
    """All attempts in one psql session, each followed by its error state and a ROLLBACK."""
    url, run_id, marker, owner, before = target
    script = ["\\set VERBOSITY terse"]
    names = list(_statements(marker))
    for k, statement in enumerate(_statements(marker).values()):
        script += ["\\set LAST_ERROR_SQLSTATE none", statement + "\n;", f"\\echo ATTEMPT {k} :LAST_ERROR_SQLSTATE", "ROLLBACK;"]
    script += ["SELECT 'who', session_user, current_user;"]
    path = tmp_path / "attacks.sql"
    path.write_text("\n".join(script) + "\n")
    hscanom = Path(sys.executable).with_name("hscanom")
    shell = subprocess.run([str(hscanom), "sql", "shell", "--timeout", "1", "-X", "-At", "-f", str(path)],
                           capture_output=True, text=True, timeout=300)
    states = {int(line.split()[1]): line.split()[2] for line in shell.stdout.splitlines() if line.startswith("ATTEMPT ")}
    assert len(states) == len(names), shell.stdout + shell.stderr
    accepted = [names[k] for k, state in states.items() if state == "none"]
    assert accepted == [], shell.stderr
    assert "who|hscanom_reader|hscanom_reader" in shell.stdout


def test_escape_corpus_through_the_explorer_filter(target):
    url, run_id, marker, owner, before = target
    with TestClient(create_app(url, filter_timeout_s=1.0)) as client:
        for name, clause in WHERE_CLAUSES.items():
            response = client.post("/api/filter", json={"run": run_id, "where": clause})
            assert response.status_code == 400, (name, response.text)
            assert "Traceback" not in response.text and response.json()["error"], name
        # and a harmless clause still works
        assert client.post("/api/filter", json={"run": run_id, "where": "s_disc > 1.5"}).json()["object_id"] == [str(2**60 + 2)]


def test_filter_where_scanner_accepts_what_is_self_contained():
    from hscanom.explorer.filters import check_clause

    for ok in ("a = ')' AND b = \"x)\"", "x = $$)$$", "x = $t$ $$ ) $t$", "f(a, (b))", "a -- )\n", "a /* /* ) */ ) */ = 1",
               "x = E'\\')'", "y$x$ = 1", "x = $1"):
        check_clause(ok)


# -- streaming, concurrency ------------------------------------------------------------------
def test_max_rows_fetches_only_what_it_prints(db_url, tmp_path):
    path = tmp_path / "big.sql"
    path.write_text("SELECT g AS n, repeat('x', 1000) AS pad FROM generate_series(1, 300000) g")
    # the server streams through a cursor: the whole result never reaches the client
    with sql.stream(sql.load_file(path), url=db_url) as cur:
        first = cur.fetchmany(2)
        assert [r[0] for r in first] == [1, 2]
        assert readonly.count_rest(cur) == 299_998
    result = runner.invoke(app, ["sql", "run", str(path), "--max-rows", "2"])
    assert result.exit_code == 0, result.output
    assert "300,000 rows (299,998 not shown" in " ".join(result.output.split())


def test_printed_values_are_exactly_the_stored_values(db_url, tmp_path):
    path = tmp_path / "odd.sql"
    values = ["a:x:0", "[bold]b[/bold]", "[red]", ":smile:", "c [1] d", "x\\y"]
    array = ", ".join("'" + v.replace("'", "''") + "'" for v in values)
    path.write_text(f"SELECT v FROM unnest(ARRAY[{array}]) WITH ORDINALITY u(v, k) ORDER BY k")
    result = runner.invoke(app, ["sql", "run", str(path)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    cells = [line.strip("│| ").strip() for line in result.output.splitlines() if line.startswith(("│", "|"))]
    assert cells == values, result.output


def test_user_queries_beyond_the_cap_get_429_and_other_requests_stay_fast(target):
    url, run_id, marker, owner, before = target
    with TestClient(create_app(url, max_user_queries=1, filter_timeout_s=10)) as client:
        slow: dict = {}

        def long_filter():
            slow["response"] = client.post("/api/filter", json={"run": run_id, "where": "(SELECT true FROM pg_sleep(3))"})

        thread = threading.Thread(target=long_filter)
        thread.start()
        time.sleep(1.0)
        busy = client.post("/api/filter", json={"run": run_id})
        assert busy.status_code == 429 and busy.headers["retry-after"] == "2", busy.text
        start = time.monotonic()
        assert client.get("/api/runs").status_code == 200
        assert time.monotonic() - start < 2.0
        thread.join()
        assert slow["response"].status_code == 200, slow["response"].text
        assert client.post("/api/filter", json={"run": run_id}).status_code == 200


# -- the explorer's HTTP surface --------------------------------------------------------------
def test_deep_json_and_big_bodies_are_refused_before_parsing(target):
    url, run_id, marker, owner, before = target
    from hscanom.explorer.app import MAX_BODY_BYTES

    with TestClient(create_app(url)) as client:
        deep = b"[" * 100_000 + b"]" * 100_000
        response = client.post("/api/filter", content=deep, headers={"Content-Type": "application/json"})
        assert response.status_code == 400 and "nested too deeply" in response.json()["error"]
        big = b'{"run": 1, "where": "' + b"x" * (100 * 2**20) + b'"}'
        response = client.post("/api/filter", content=big, headers={"Content-Type": "application/json"})
        assert response.status_code == 413 and f"{MAX_BODY_BYTES:,} bytes" in response.json()["error"]

        def chunks():  # no Content-Length: counted while streaming
            yield b'{"note": "'
            for _ in range(100):
                yield b"y" * 65536

        response = client.post("/api/labels", content=chunks(), headers={"Content-Type": "application/json"})
        assert response.status_code == 413, response.text


def test_labels_csv_neutralises_formulas_and_the_database_keeps_them(target):
    url, run_id, marker, owner, before = target
    notes = ["=HYPERLINK(\"http://x\")", "+1+1", "-2+3", "@SUM(A1)", "plain", "a=b"]  # the API strips leading tab/CR
    with TestClient(create_app(url)) as client:
        for note in notes:
            r = client.post("/api/labels", json={"object_id": str(2**60 + 1), "label": "other", "user_name": "=cmd|' /C calc'!A0", "note": note})
            assert r.status_code == 201, r.text
        text = client.get("/api/labels.csv").text
    import csv as _csv
    import io as _io

    rows = list(_csv.DictReader(_io.StringIO(text)))
    assert sorted(r["note"] for r in rows) == sorted(("'" + n) if n[0] in "=+-@\t\r" else n for n in notes)
    assert {r["user_name"] for r in rows} == {"'=cmd|' /C calc'!A0"}
    assert {r["object_id"] for r in rows} == {str(2**60 + 1)}
    with psycopg.connect(url) as conn:
        assert sorted(r[0] for r in conn.execute("SELECT note FROM object_label")) == sorted(notes)
        conn.execute("DELETE FROM object_label")  # leave the fixture's snapshot as it was
    from hscanom.explorer.app import csv_safe

    assert [csv_safe(v) for v in ("\tx", "\rx", "x\t", 5, None, "")] == ["'\tx", "'\rx", "x\t", 5, None, ""]
