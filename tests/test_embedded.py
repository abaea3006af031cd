"""The embedded cluster: start, stop, status, restart after a crash, root handling, and the
external-URL mode that never starts one."""

from __future__ import annotations

import os
import pwd

import pytest
from typer.testing import CliRunner

from hscanom import db
from hscanom.cli import app
from hscanom.config import Settings
from hscanom.embedded import EmbeddedCluster

runner = CliRunner()


@pytest.fixture
def own_cluster(server_tmp_path):
    cluster = EmbeddedCluster(server_tmp_path / "home", server_settings={"fsync": "off"})
    yield cluster
    cluster.stop(mode="immediate")


def test_start_twice_status_stop(own_cluster):
    assert not own_cluster.initialized
    assert own_cluster.start() is True
    assert own_cluster.is_running()
    assert own_cluster.start() is False  # second start is harmless
    st = db.status(Settings(home=own_cluster.home, external_url=None))
    assert st.mode == "embedded" and st.running
    assert st.server_version.startswith("15")
    assert st.revision is None and st.head == db.head_revision()
    assert own_cluster.log_file.exists()
    assert oct(own_cluster.socket_dir.stat().st_mode & 0o777) == "0o700"
    assert own_cluster.stop() is True
    assert not own_cluster.is_running()
    assert own_cluster.stop() is False
    assert db.status(Settings(home=own_cluster.home, external_url=None)).running is False


def test_stale_pid_file_is_recovered(own_cluster):
    own_cluster.start()
    own_cluster.stop()
    # A crash leaves postmaster.pid behind; its PID may since belong to another process.
    (own_cluster.data_dir / "postmaster.pid").write_text(f"{os.getpid()}\n{own_cluster.data_dir}\n")
    assert not own_cluster.is_running()
    assert own_cluster.start() is True
    assert own_cluster.is_running()


@pytest.mark.skipif(os.geteuid() != 0, reason="root handling only applies when run as root")
def test_root_runs_server_as_unprivileged_account(own_cluster):
    own_cluster.start()
    pid = own_cluster.server_pid()
    uid = int(next(line for line in open(f"/proc/{pid}/status") if line.startswith("Uid:")).split()[1])
    assert uid == pwd.getpwnam("postgres").pw_uid
    assert own_cluster.data_dir.stat().st_uid == uid


def test_cli_start_migrate_status_stop(server_tmp_path, monkeypatch):
    monkeypatch.delenv("HSCANOM_DATABASE_URL", raising=False)
    monkeypatch.setenv("HSCANOM_HOME", str(server_tmp_path / "cli-home"))
    try:
        result = runner.invoke(app, ["db", "start"])
        assert result.exit_code == 0, result.output
        assert f"schema at revision {db.head_revision()}" in result.output
        result = runner.invoke(app, ["db", "status"])
        assert result.exit_code == 0, result.output
        assert "embedded (running)" in result.output and "hsc_object" in result.output
        result = runner.invoke(app, ["db", "url"])
        assert result.output.strip() == db.cluster().url()
        result = runner.invoke(app, ["db", "url", "--reader"])
        assert "user=hscanom_reader" in result.output
        result = runner.invoke(app, ["sql", "run", "high-anomaly", "-p", "run_id=1"])
        assert result.exit_code == 0 and "0 rows" in result.output, result.output
    finally:
        result = runner.invoke(app, ["db", "stop"])
    assert result.exit_code == 0 and "stopped" in result.output


def test_external_url_never_starts_a_cluster(empty_db_url, tmp_path, monkeypatch):
    home = tmp_path / "unused-home"
    monkeypatch.setenv("HSCANOM_HOME", str(home))
    result = runner.invoke(app, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert db.current_revision(empty_db_url) == db.head_revision()
    result = runner.invoke(app, ["db", "status"])
    assert result.exit_code == 0, result.output
    assert "external" in result.output
    result = runner.invoke(app, ["db", "start"])
    assert "external server" in result.output
    assert not home.exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="root handling only applies when run as root")
def test_start_as_root_never_changes_folders_outside_home(server_tmp_path, monkeypatch):
    """A parent the server account cannot enter stays as it was; the error says why and how to fix it."""
    locked = server_tmp_path / "locked"
    locked.mkdir(mode=0o700)
    os.chmod(locked, 0o700)
    monkeypatch.delenv("HSCANOM_DATABASE_URL", raising=False)
    monkeypatch.setenv("HSCANOM_HOME", str(locked / "home"))
    modes = {p: p.stat().st_mode for p in [locked, *locked.parents]}
    result = runner.invoke(app, ["db", "start"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    text = " ".join(result.output.split())
    assert f"cannot enter {locked} (mode 700, owner root)" in text, text
    assert "does not change permissions outside HSCANOM_HOME" in text and "setfacl -m u:postgres:x" in text
    assert {p: p.stat().st_mode for p in modes} == modes
    assert not (locked / "home" / "pgdata").exists()
