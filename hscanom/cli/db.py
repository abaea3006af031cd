"""``hscanom db``: the database server and its schema."""

from __future__ import annotations

import os

import typer
from rich.table import Table

from hscanom import db
from hscanom.cli._common import console, plain, reported_errors
from hscanom.config import Settings
from hscanom.embedded import EmbeddedError

app = typer.Typer(help="Start, stop, inspect and migrate the database.", no_args_is_help=True)


def _embedded_only(settings: Settings, action: str) -> bool:
    if settings.external_url:
        console.print(f"HSCANOM_DATABASE_URL is set: using the external server, nothing to {action}.")
        return False
    return True


@app.command()
def start(
    migrate: bool = typer.Option(True, help="Also migrate the schema to the newest revision."),
) -> None:
    """Start the embedded PostgreSQL cluster (created on first use) and migrate it.

    Harmless when it is already running; a stale pid file left by a crash is recovered.
    """
    settings = Settings.from_env()
    with reported_errors(EmbeddedError):
        if _embedded_only(settings, "start"):
            emb = db.cluster(settings)
            started = emb.start()
            console.print(
                f"embedded PostgreSQL {'started' if started else 'already running'} under {emb.home}"
                f" (log: {emb.log_file})"
            )
        if migrate:
            db.upgrade(db.database_url(settings))
            console.print(f"schema at revision {db.head_revision()}")


@app.command()
def stop() -> None:
    """Stop the embedded PostgreSQL cluster."""
    settings = Settings.from_env()
    with reported_errors(EmbeddedError):
        if _embedded_only(settings, "stop"):
            stopped = db.cluster(settings).stop()
            console.print("stopped" if stopped else "not running")


@app.command()
def status() -> None:
    """Which database is in use, its version, schema revision and table sizes."""
    with reported_errors(EmbeddedError):
        st = db.status()
    table = Table(show_header=False, box=None)
    table.add_row("database", f"{st.mode} ({'running' if st.running else 'not running'})")
    table.add_row("url", plain(st.url))
    if st.home:
        table.add_row("home", plain(st.home))
        table.add_row("log", plain(st.log_file))
    table.add_row("server", plain(st.server_version or "-"))
    behind = "" if st.revision == st.head else f"  (code is at {st.head}: run `hscanom db upgrade`)"
    table.add_row("revision", f"{st.revision or 'none'}{behind}")
    console.print(table)
    if st.row_counts:
        counts = Table("table", "rows", title="row counts")
        for name, n in st.row_counts.items():
            counts.add_row(plain(name), f"{n:,}")
        console.print(counts)


@app.command()
def url() -> None:
    """Print the database URL (libpq form), starting the embedded cluster if needed."""
    with reported_errors(EmbeddedError):
        typer.echo(db.database_url())


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def psql(ctx: typer.Context) -> None:
    """Open psql on the database; extra arguments go to psql (e.g. -c "SELECT ...")."""
    with reported_errors(EmbeddedError):
        target = db.database_url()
    os.execvp("psql", ["psql", target, *ctx.args])


@app.command()
def upgrade(revision: str = typer.Argument("head", help="Target revision.")) -> None:
    """Migrate the schema up (default: to the newest revision)."""
    with reported_errors(EmbeddedError):
        db.upgrade(db.database_url(), revision)
        console.print(f"schema at revision {db.current_revision(db.database_url())}")


@app.command()
def downgrade(revision: str = typer.Argument(..., help="Target revision ('base' removes every table).")) -> None:
    """Migrate the schema down to REVISION."""
    with reported_errors(EmbeddedError):
        db.downgrade(db.database_url(), revision)
        console.print(f"schema at revision {db.current_revision(db.database_url()) or 'base'}")
