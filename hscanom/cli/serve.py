"""``hscanom serve``: the anomaly explorer web app."""

from __future__ import annotations

import ipaddress

import typer

from hscanom import db
from hscanom.cli._common import UserError, console, err_console, reported_errors


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(
    host: str = typer.Option("127.0.0.1", help="Address to bind (default: this machine only)."),
    port: int = typer.Option(8000, min=1, max=65535, help="TCP port."),
    run: int = typer.Option(None, "--run", min=1, help="Score run shown first (default: the newest complete run)."),
    max_user_queries: int = typer.Option(4, "--max-user-queries", min=1, help="Filters (user SQL) run at once; more are answered 429."),
) -> None:
    """Explore a run in the browser: UMAP (or score) scatter, images, filters, labels.

    Serves http://HOST:PORT/ from the database in use. It binds to 127.0.0.1 unless told
    otherwise; it has no login, so bind another address only on a trusted network, or
    behind a reverse proxy with authentication and TLS (docs/security.md). Filters run as
    the read-only login role hscanom_reader.
    """
    import psycopg
    import uvicorn

    from hscanom import readonly
    from hscanom.explorer.app import create_app

    with reported_errors(psycopg.Error, readonly.ReadOnlyQueryError):
        url = db.database_url()
        revision, head = db.current_revision(url), db.head_revision()
        if revision != head:
            raise UserError(f"the database is at schema revision {revision}, not {head}: run `hscanom db upgrade`")
        readonly.connect(url).close()
        if run is not None:
            with db.connect(url) as conn:
                if conn.execute("SELECT 1 FROM score_run WHERE id = %s", (run,)).fetchone() is None:
                    raise UserError(f"run {run} does not exist")
    if not _is_loopback(host):
        err_console.print(f"[yellow]warning:[/] binding {host}: anyone who reaches it can read the database and add labels; "
                          "put it behind a reverse proxy with authentication and TLS (docs/security.md)")
    console.print(f"hscanom explorer on [bold]http://{host}:{port}/[/] (Ctrl-C stops it)")
    local = ["127.0.0.1", "localhost", "::1", "[::1]", host] if _is_loopback(host) else None
    uvicorn.run(create_app(url, default_run=run, allowed_hosts=local, max_user_queries=max_user_queries), host=host, port=port, log_level="info")
