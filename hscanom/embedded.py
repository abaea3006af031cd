"""The embedded PostgreSQL cluster that hscanom runs by default.

The cluster lives under ``$HSCANOM_HOME``::

    pgdata/            the data directory (initdb)
    run/               the Unix socket directory (mode 0700)
    log/postgresql.log server log (pg_ctl -l)
    cluster.json       port, server bin directory and version chosen at initdb time

It listens on a Unix socket only (optionally also on 127.0.0.1), on a port found free at
``initdb`` time, with ``trust`` authentication: access is limited by the 0700 socket
directory, i.e. to the account that owns the cluster (and root).

``initdb`` and ``postgres`` refuse to run as root. When hscanom runs as root (as CI does), the
server runs as the unprivileged account ``$HSCANOM_PG_USER`` (default ``postgres``, Debian's),
which owns ``pgdata/``, ``run/`` and ``log/``; root reaches the socket regardless of its mode.
That account must be able to enter every folder above ``$HSCANOM_HOME``: hscanom checks it
and explains the fix, but never changes permissions outside ``$HSCANOM_HOME``.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import socket
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

#: Database and superuser role created in the embedded cluster.
DB_NAME = "hscanom"
DB_USER = "hscanom"

#: Account the server runs as when hscanom itself runs as root.
PG_USER_ENV = "HSCANOM_PG_USER"
#: Folder with initdb/pg_ctl/postgres, overriding the search in :func:`find_bindir`.
PG_BINDIR_ENV = "HSCANOM_PG_BINDIR"

#: Server settings written at initdb time; sized for a 2-core / 24 GB workstation.
DEFAULT_SERVER_SETTINGS: dict[str, str] = {
    "listen_addresses": "''",
    "max_connections": "100",
    "shared_buffers": "'512MB'",
    "work_mem": "'64MB'",
    "maintenance_work_mem": "'512MB'",
    "max_wal_size": "'4GB'",
    "checkpoint_timeout": "'15min'",
    "timezone": "'UTC'",
    "log_timezone": "'UTC'",
}


class EmbeddedError(RuntimeError):
    """The embedded cluster could not be created, started or stopped."""


def find_bindir() -> Path:
    """Return the folder holding ``initdb``, ``pg_ctl`` and ``postgres``.

    ``$HSCANOM_PG_BINDIR`` wins; otherwise Debian's ``/usr/lib/postgresql/<major>/bin`` of
    the newest major version that has the Q3C extension installed (else the newest), else
    the ``pg_ctl`` on ``PATH``.
    """
    if os.environ.get(PG_BINDIR_ENV):
        return Path(os.environ[PG_BINDIR_ENV])
    root = Path("/usr/lib/postgresql")
    majors = sorted(
        (p for p in root.glob("*") if (p / "bin" / "initdb").exists()),
        key=lambda p: int(p.name) if p.name.isdigit() else 0,
        reverse=True,
    )
    with_q3c = [p for p in majors if Path(f"/usr/share/postgresql/{p.name}/extension/q3c.control").exists()]
    if with_q3c or majors:
        return (with_q3c or majors)[0] / "bin"
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).resolve().parent
    raise EmbeddedError(
        "PostgreSQL server binaries (initdb, pg_ctl) not found: install them with "
        "`apt-get install postgresql-15 postgresql-15-q3c postgresql-15-pgsphere` "
        f"(or run `make setup`), or set {PG_BINDIR_ENV}"
    )


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class ClusterState:
    """What ``cluster.json`` records about a cluster."""

    port: int
    bindir: str
    tcp: bool = False

    @classmethod
    def load(cls, path: Path) -> "ClusterState":
        return cls(**json.loads(path.read_text()))

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.__dict__, indent=2) + "\n")


class EmbeddedCluster:
    """A PostgreSQL cluster under ``home``, created and driven with initdb/pg_ctl.

    Args:
        home: the hscanom home folder.
        server_settings: extra ``postgresql.conf`` settings (values as SQL literals, e.g.
            ``{"fsync": "off"}``), applied at initdb time.
    """

    def __init__(self, home: Path, server_settings: dict[str, str] | None = None):
        self.home = Path(home).resolve()
        self.data_dir = self.home / "pgdata"
        self.socket_dir = self.home / "run"
        self.log_file = self.home / "log" / "postgresql.log"
        self.state_file = self.home / "cluster.json"
        self.server_settings = {**DEFAULT_SERVER_SETTINGS, **(server_settings or {})}

    # -- who runs the server -------------------------------------------------------------
    @property
    def run_as(self) -> pwd.struct_passwd | None:
        """The account the server runs as, or ``None`` to run as the current user."""
        if os.geteuid() != 0:
            return None
        name = os.environ.get(PG_USER_ENV, "postgres")
        try:
            return pwd.getpwnam(name)
        except KeyError:
            raise EmbeddedError(
                f"running as root, but the unprivileged account {name!r} that the PostgreSQL "
                f"server must run as does not exist (create it, or set {PG_USER_ENV})"
            ) from None

    def _run(self, args: list[str], check: bool = True, **kw) -> subprocess.CompletedProcess:
        """Run a server tool as :attr:`run_as`."""
        account = self.run_as
        if account is not None:
            kw.update(user=account.pw_uid, group=account.pw_gid, extra_groups=[])
            kw.setdefault("env", {**os.environ, "HOME": account.pw_dir, "USER": account.pw_name})
        kw.setdefault("cwd", str(self.home))
        proc = subprocess.run(args, capture_output=True, text=True, **kw)
        if check and proc.returncode != 0:
            raise EmbeddedError(
                f"{' '.join(args[:2])} failed (exit {proc.returncode}):\n{proc.stdout}{proc.stderr}"
                + self._log_tail()
            )
        return proc

    def _log_tail(self, lines: int = 20) -> str:
        if not self.log_file.exists():
            return ""
        tail = self.log_file.read_text(errors="replace").splitlines()[-lines:]
        return f"\nlast lines of {self.log_file}:\n" + "\n".join(tail)

    def _make_reachable(self) -> None:
        """Let the server account reach ``home`` and own its folders (root only).

        Nothing outside ``home`` is changed: when the account cannot traverse an ancestor of
        ``home``, :class:`EmbeddedError` says which and how to fix it.
        """
        account = self.run_as
        if account is None:
            return
        self._check_ancestors(account)
        for folder in (self.home, self.data_dir, self.socket_dir, self.log_file.parent):
            folder.mkdir(parents=True, exist_ok=True)
        os.chmod(self.home, self.home.stat().st_mode | 0o005)
        for folder in (self.data_dir, self.socket_dir, self.log_file.parent):
            for path in [folder, *folder.rglob("*")]:
                os.chown(path, account.pw_uid, account.pw_gid, follow_symlinks=False)

    def _check_ancestors(self, account: pwd.struct_passwd) -> None:
        """Raise :class:`EmbeddedError` unless ``account`` can enter every ancestor of ``home``
        (tested as that account, so ACLs count)."""
        ancestors = [str(p) for p in reversed(self.home.parents)]
        probe = subprocess.run(
            ["/bin/sh", "-c", 'for d; do [ -x "$d" ] || { printf "%s" "$d"; exit 1; }; done', "sh", *ancestors],
            capture_output=True, text=True, user=account.pw_uid, group=account.pw_gid, extra_groups=[], cwd="/",
        )
        if probe.returncode == 0:
            return
        blocked = probe.stdout.strip() or ancestors[0]
        try:
            st = os.stat(blocked)
            detail = f"mode {stat.S_IMODE(st.st_mode):o}, owner {pwd.getpwuid(st.st_uid).pw_name}"
        except (OSError, KeyError):
            detail = "not accessible"
        name = account.pw_name
        raise EmbeddedError(
            f"the PostgreSQL server runs as {name!r} (PostgreSQL refuses to run as root), and {name} cannot "
            f"enter {blocked} ({detail}), which holds HSCANOM_HOME {self.home}. hscanom does not change "
            f"permissions outside HSCANOM_HOME. Either set HSCANOM_HOME to a folder {name} can reach "
            f"(e.g. /srv/hscanom or /var/tmp/hscanom), or let {name} pass through that folder: "
            f"`setfacl -m u:{name}:x {blocked}` (or `chmod o+x {blocked}`)"
        )

    # -- state ---------------------------------------------------------------------------
    @property
    def initialized(self) -> bool:
        """True once initdb has run and ``cluster.json`` is written."""
        return (self.data_dir / "PG_VERSION").exists() and self.state_file.exists()

    @property
    def state(self) -> ClusterState:
        if not self.initialized:
            raise EmbeddedError(f"no embedded cluster under {self.home} (run `hscanom db start`)")
        return ClusterState.load(self.state_file)

    @property
    def bindir(self) -> Path:
        return Path(self.state.bindir) if self.initialized else find_bindir()

    def url(self, database: str = DB_NAME) -> str:
        """libpq URL of ``database`` in the cluster, through the Unix socket."""
        return f"postgresql://{DB_USER}@/{database}?host={self.socket_dir}&port={self.state.port}"

    def server_pid(self) -> int | None:
        """PID of the running postmaster of this data directory, or ``None``.

        A ``postmaster.pid`` left by a crash (its process gone, or its PID reused by an
        unrelated process) counts as not running.
        """
        pid_file = self.data_dir / "postmaster.pid"
        try:
            first_lines = pid_file.read_text().splitlines()
            pid = int(first_lines[0])
        except (FileNotFoundError, IndexError, ValueError):
            return None
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            return None
        program = os.path.basename(cmdline[0].decode(errors="replace")) if cmdline else ""
        if "postgres" not in program and "postmaster" not in program:
            return None
        return pid

    def is_running(self) -> bool:
        return self.server_pid() is not None

    # -- lifecycle -----------------------------------------------------------------------
    def init(self) -> bool:
        """Create the cluster with initdb if it does not exist. Returns True if created."""
        if self.initialized:
            return False
        bindir = find_bindir()
        if self.data_dir.exists() and any(self.data_dir.iterdir()):
            raise EmbeddedError(
                f"{self.data_dir} exists but holds no complete cluster (a failed initdb?); "
                "remove it and run `hscanom db start` again"
            )
        self.home.mkdir(parents=True, exist_ok=True)
        self._make_reachable()
        for folder in (self.data_dir, self.socket_dir, self.log_file.parent):
            folder.mkdir(parents=True, exist_ok=True)
        self._make_reachable()
        os.chmod(self.socket_dir, 0o700)
        self._run(
            [
                str(bindir / "initdb"),
                "-D", str(self.data_dir),
                f"--username={DB_USER}",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
                "--no-instructions",
            ]
        )
        port = free_port()
        settings = {
            **self.server_settings,
            "port": str(port),
            "unix_socket_directories": f"'{self.socket_dir}'",
        }
        conf = self.data_dir / "postgresql.conf"
        with conf.open("a") as fh:
            fh.write("\n# --- written by hscanom ---\n")
            fh.writelines(f"{key} = {value}\n" for key, value in settings.items())
        ClusterState(port=port, bindir=str(bindir)).save(self.state_file)
        return True

    def start(self, timeout: float = 60.0) -> bool:
        """Start the server (creating the cluster first if needed).

        Starting a running cluster is harmless. A stale ``postmaster.pid`` left by a crash
        is removed first. Returns True if this call started the server.
        """
        self.init()
        if self.is_running():
            return False
        stale = self.data_dir / "postmaster.pid"
        if stale.exists():
            stale.unlink()
        self._make_reachable()
        self._run(
            [
                str(self.bindir / "pg_ctl"),
                "-D", str(self.data_dir),
                "-l", str(self.log_file),
                "-w", "-t", str(int(timeout)),
                "start",
            ]
        )
        self._ensure_database()
        return True

    def _ensure_database(self) -> None:
        psql = [str(self.bindir / "psql"), "-h", str(self.socket_dir), "-p", str(self.state.port), "-U", DB_USER]
        exists = self._run([*psql, "-d", "postgres", "-tAc", f"SELECT 1 FROM pg_database WHERE datname = '{DB_NAME}'"])
        if exists.stdout.strip() != "1":
            self._run([*psql, "-d", "postgres", "-c", f"CREATE DATABASE {DB_NAME}"])

    def stop(self, mode: str = "fast") -> bool:
        """Stop the server. Returns True if it was running."""
        if not self.initialized or not self.is_running():
            return False
        self._run([str(self.bindir / "pg_ctl"), "-D", str(self.data_dir), "-m", mode, "-w", "stop"])
        return True

