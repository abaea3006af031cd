"""``hscanom sql``: named, documented queries over scores and metadata, run read-only."""

from __future__ import annotations

import json
import os
from pathlib import Path

import typer
from rich.markup import escape
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text

from hscanom import db, sql
from hscanom.catalog.formats import format_of, write_table
from hscanom.cli._common import UserError, console, plain, reported_errors
from hscanom.embedded import EmbeddedError
from hscanom.readonly import DEFAULT_TIMEOUT_S, ReadOnlyQueryError, count_rest

app = typer.Typer(
    help="Named SQL over anomaly scores and HSC metadata (sql/queries/*.sql), run as the read-only role.",
    no_args_is_help=True,
)


def _load(name: str) -> sql.NamedQuery:
    """A shipped query by name, or a user's .sql file by path."""
    if name.endswith(".sql") or os.sep in name:
        return sql.load_file(name)
    return sql.load(name)


def _param_line(p: sql.QueryParam) -> str:
    extra = "required" if p.required else f"default {'NULL' if p.default is None else p.default}"
    return f"{p.name} ({p.type}, {extra})"


@app.command("list")
def list_() -> None:
    """List the named queries with their parameters."""
    with reported_errors(sql.QueryError):
        queries = sql.list_queries()
    table = Table("name", "what it gives", "parameters")
    for q in queries:
        table.add_row(q.name, escape(q.title), escape(", ".join(_param_line(p) for p in q.params) or "none"))
    console.print(table)
    console.print("Details: [bold]hscanom sql show NAME[/]; run: [bold]hscanom sql run NAME --param k=v[/].")


@app.command()
def show(name: str = typer.Argument(..., help="Query name (see `hscanom sql list`) or a .sql file.")) -> None:
    """Show a query: purpose, parameters, output columns and its SQL."""
    with reported_errors(sql.QueryError):
        q = _load(name)
    console.print(f"[bold]{escape(q.name)}[/]: {escape(q.title)}" if q.title else f"[bold]{escape(q.name)}[/]")
    if q.purpose:
        console.print(escape(q.purpose), highlight=False)
    if q.params:
        table = Table("parameter", "type", "default", "description", title="Parameters", title_justify="left")
        for p in q.params:
            table.add_row(p.name, escape(p.type), "(required)" if p.required else ("NULL" if p.default is None else str(p.default)), escape(p.description))
        console.print(table)
    else:
        console.print("Parameters: none.")
    if q.columns:
        table = Table("column", "type", "unit", "description", title="Output columns", title_justify="left")
        for c in q.columns:
            table.add_row(c.name, escape(c.type), escape(c.unit or ""), escape(c.description))
        console.print(table)
    console.print(Syntax(q.body, "sql", word_wrap=True))


def _values(pairs: list[str]) -> dict[str, str]:
    values: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UserError(f"--param must look like name=value, got {pair!r}")
        values[key.strip()] = value
    return values


def _cell(value) -> Text:
    """A result cell exactly as stored: a plain Rich ``Text`` (no markup, no emoji codes, no
    highlighting); floats in Python's shortest round-trip form; NULL dimmed."""
    return Text("NULL", style="dim") if value is None else plain(value)


@app.command()
def run(
    name: str = typer.Argument(..., help="Query name (see `hscanom sql list`) or a .sql file of your own."),
    param: list[str] = typer.Option([], "--param", "-p", help="Parameter value as name=value (repeatable); lists comma-separated."),
    upload: Path = typer.Option(None, "--upload", help="CSV whose columns fill the query's list parameters (e.g. ra, dec)."),
    out: Path = typer.Option(None, "--out", "-o", help="Write all rows to FILE.csv, FILE.parquet or FILE.fits."),
    timeout: float = typer.Option(DEFAULT_TIMEOUT_S, "--timeout", help="Statement timeout [s]."),
    max_rows: int = typer.Option(50, "--max-rows", min=0, help="Rows printed when there is no --out (only these are fetched)."),
) -> None:
    """Run a named query (or your own .sql file) read-only.

    It logs in as the read-only role hscanom_reader (see docs/security.md) and runs one
    query that returns rows, in a read-only transaction with a statement timeout: a query
    that tries to write, or runs too long, fails with the database's message (exit 1) and
    changes nothing. Without --out only --max-rows rows are fetched (server-side cursor);
    the rest are counted on the server.
    """
    with reported_errors(sql.QueryError, ReadOnlyQueryError, EmbeddedError, ValueError, OSError):
        q = _load(name)
        if out is not None:
            format_of(out)
        values: dict = _values(param)
        if upload is not None:
            uploaded = sql.read_upload(upload, q)
            both = sorted(set(uploaded) & set(values))
            if both:
                raise UserError(f"{', '.join(both)} given both by --param and by --upload {upload}")
            values.update(uploaded)
        if out is not None:
            result = sql.run(q, values, url=db.database_url(), timeout_s=timeout)
            specs = {c.name: c for c in q.columns}  # OutputColumn is a ColumnSpec
            shown = {k: (v if not isinstance(v, list) else f"{len(v)} values") for k, v in sql.bind(q, values).items()}
            write_table(out, result.columns, result.type_oids, result.rows, specs, {"query": q.name, "params": json.dumps(shown, default=str)})
            console.print(f"{len(result.rows):,} rows -> {escape(str(out))}", highlight=False)
            return
        with sql.stream(q, values, url=db.database_url(), timeout_s=timeout) as cur:
            columns = [d.name for d in cur.description]
            rows = cur.fetchmany(max_rows) if max_rows > 0 else []
            more = count_rest(cur)
    table = Table()
    for c in columns:
        table.add_column(Text(c))
    for row in rows:
        table.add_row(*(_cell(v) for v in row))
    console.print(table)
    total = len(rows) + more
    console.print(f"{total:,} rows" + (f" ({more:,} not shown: use --out FILE or --max-rows)" if more > 0 else ""), highlight=False)


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def shell(
    ctx: typer.Context,
    timeout: float = typer.Option(DEFAULT_TIMEOUT_S, "--timeout", help="Statement timeout [s]."),
) -> None:
    """psql on the database, logged in as the read-only role hscanom_reader.

    Extra arguments go to psql (e.g. -c "SELECT ..."). The login role can only read: it is
    no superuser, belongs to no other role (RESET ROLE / SET ROLE lead nowhere), cannot run
    DO blocks, server-file or admin functions, and its transactions are read-only by default
    (use `hscanom db psql` to write).
    """
    with reported_errors(EmbeddedError):
        target = db.reader_url()
    options = f"-c default_transaction_read_only=on -c statement_timeout={max(1, int(timeout * 1000))}"
    env = dict(os.environ, PGOPTIONS=f"{os.environ.get('PGOPTIONS', '')} {options}".strip())
    os.execvpe("psql", ["psql", target, *ctx.args], env)
