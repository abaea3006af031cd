"""``hscanom db``: the database server and its schema."""

from __future__ import annotations

import os

import typer
from rich.markup import escape
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
    """Which database is in use, its version, schema revision, table sizes and unfinished jobs.

    Ingest batches and score runs left `running` by killed processes are marked (failed,
    interrupted) and listed.
    """
    with reported_errors(EmbeddedError):
        st = db.status()
    table = Table(show_header=False, box=None)
    table.add_row("database", f"{st.mode} ({'running' if st.running else 'not running'})")
    table.add_row("url", plain(st.url))
    if st.home:
        table.add_row("home", plain(st.home))
        table.add_row("log", plain(st.log_file))
    table.add_row("server", plain(st.server_version or "-"))
    if not st.running:  # the revision cannot be read from a stopped server
        table.add_row("revision", f"unknown: the server is not running (`hscanom db start`); the code is at {st.head}")
    else:
        behind = "" if st.revision == st.head else f"  (code is at {st.head}: run `hscanom db upgrade`)"
        table.add_row("revision", f"{st.revision or 'none'}{behind}")
    console.print(table)
    if st.row_counts:
        counts = Table("table", "rows", title="row counts")
        for name, n in st.row_counts.items():
            counts.add_row(plain(name), f"{n:,}")
        console.print(counts)
    if st.running and st.revision == st.head:
        _print_jobs(st.url)


#: Unfinished and interrupted jobs listed by `db status` (newest first).
JOBS_SHOWN = 20


def _print_jobs(url: str) -> None:
    """Mark jobs whose processes are gone (ingest batches failed, score runs interrupted),
    then list running and interrupted ones."""
    from hscanom.ingest.batches import recover_stale_batches
    from hscanom.ml.jobs import recover_stale_runs

    batches = recover_stale_batches(url)
    with db.connect(url, autocommit=True) as conn:
        runs = recover_stale_runs(conn)
        rows = conn.execute(
            """(SELECT 'ingest ' || kind, id, CASE WHEN status = 'failed' THEN 'interrupted (failed)' ELSE status END,
                       coalesce(worker, '-'), started_at, uri
                  FROM ingest_batch
                 WHERE status = 'running' OR (status = 'failed' AND (details->>'interrupted')::boolean)
                 ORDER BY id DESC LIMIT %(n)s)
               UNION ALL
               (SELECT 'score ' || r.method, r.id, r.status, coalesce(string_agg(DISTINCT b.worker, ', '), '-'), r.created_at,
                       'sample ' || r.sample_id || ', model ' || r.model_id || ': ' ||
                       count(*) FILTER (WHERE b.status = 'done') || ' of ' || count(b.*) || ' batches done'
                  FROM score_run r LEFT JOIN score_batch b ON b.run_id = r.id
                 WHERE r.status IN ('running', 'interrupted')
                 GROUP BY r.id ORDER BY r.id DESC LIMIT %(n)s)""",
            {"n": JOBS_SHOWN},
        ).fetchall()
    if batches or runs:
        console.print(
            f"[yellow]found {len(batches)} ingest batch(es) and {len(runs)} score run(s) left running by processes "
            "that are gone: marked failed / interrupted[/]"
        )
    if rows:
        console.print("unfinished and interrupted jobs:")
        for kind, job_id, status, worker, started, what in rows:
            console.print(
                f"  {kind} {job_id}: {status}, worker {worker}, started {started:%Y-%m-%d %H:%M:%S %Z}, {what}",
                soft_wrap=True, highlight=False, markup=False,
            )
        if any(r[2] == "interrupted" for r in rows):
            console.print("an interrupted score run resumes when `hscanom score` is run again with the same arguments")


@app.command()
def url(
    reader: bool = typer.Option(False, "--reader", help="The read-only login role's URL (what user SQL uses) instead of the owner's."),
) -> None:
    """Print the database URL (libpq form), starting the embedded cluster if needed."""
    with reported_errors(EmbeddedError):
        typer.echo(db.reader_url() if reader else db.database_url())


@app.command("grant-reader")
def grant_reader(
    admin_url: str = typer.Option(None, "--admin-url", help="Connect as this (super)user instead of the database URL in use."),
    password: bool = typer.Option(False, "--password", help="Also set the role's password (asked for; for servers that require one)."),
) -> None:
    """Create or repair the read-only login role hscanom_reader that user SQL logs in as.

    For an external server (HSCANOM_DATABASE_URL): run it once as a superuser (or with
    --admin-url), then point HSCANOM_READER_URL at the role, e.g.
    postgresql://hscanom_reader@HOST/DB (its password in ~/.pgpass). Idempotent; migration
    0005 does the same where it can. See docs/security.md.
    """
    import psycopg

    from hscanom.readonly import READER_URL_ENV

    with reported_errors(EmbeddedError, psycopg.Error):
        target = admin_url or db.database_url()
        secret = typer.prompt("password for hscanom_reader", hide_input=True, confirmation_prompt=True) if password else None
        report = db.grant_reader(target, secret)
        for line in report.warnings:
            console.print(f"[yellow]warning:[/] {escape(line)}", highlight=False)
        console.print("role hscanom_reader: LOGIN, SELECT only, read-only by default, statement timeout 30 s"
                      + ("; password set" if report.password_set else ""))
        if not report.hardened:
            console.print("[yellow]not a superuser:[/] file, large-object and admin functions and DO were NOT revoked from "
                          "PUBLIC; run this again as a superuser (--admin-url)")
        console.print(f"user SQL logs in with: {escape(db.reader_url())}  (override with {READER_URL_ENV})", highlight=False)


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
