"""The explorer's Starlette application: pages, JSON API, PNG images.

``create_app(url)`` builds it for one database; ``hscanom serve`` runs it under uvicorn.

Routes (object ids travel as strings in JSON, since JavaScript numbers lose ids > 2**53):

==========================================  ===============================================
``GET /``                                   the scatter page (``?run=`` picks the run)
``GET /object/{id}?run=``                   one object's page
``GET /api/runs``                           score runs with their UMAP spaces
``GET /api/runs/{run}/points``              columnar scatter data (``?color=&space=``)
``GET /api/runs/{run}/footprint``           footprint MOC of the run as cell polygons
``GET /api/objects/{id}?run=``              scores, metadata, mask flag, clusters, links, labels
``GET /api/objects/{id}/similar``           neighbours in embedding space (``?run=&k=&kind=``)
``GET /api/images/{id}/{kind}.png?run=``    ``real``, ``reconstruction`` or ``residual``
``POST /api/filter``                        ids matching thresholds/cluster/mask/WHERE
``GET /api/labels``, ``POST /api/labels``   list / add human labels
``GET /api/labels.csv``                     all labels as CSV (``?run=`` to restrict)
``GET /review``, ``/api/runs/{run}/queue``,  review mode (:mod:`hscanom.explorer.review`)
``POST /api/runs/{run}/rank``
==========================================  ===============================================

Bad input gets a 4xx with ``{"error": "..."}`` (pages: a short HTML page), never a trace.
Request bodies larger than :data:`MAX_BODY_BYTES` are refused (413) before they are read
whole; JSON nested too deeply to parse is a 400. User SQL (the filter's WHERE clause) runs
on the read-only login role's own connection (:mod:`hscanom.explorer.filters`), at most
``max_user_queries`` at a time: beyond that the filter answers 429 with ``Retry-After`` at
once, so the other routes stay fast. ``labels.csv`` neutralises cells that a spreadsheet
would run as a formula (:func:`csv_safe`); the database keeps them exact.
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import json
import logging
import math
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

from psycopg_pool import ConnectionPool
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from hscanom import db
from hscanom.explorer import filters, images, links, params, queries, review
from hscanom.explorer.params import ApiError
from hscanom.readonly import ReadOnlyQueryError

log = logging.getLogger("hscanom.explorer")

HERE = Path(__file__).parent
#: Vendored plotly.js bundle (WebGL scatter with box/lasso selection); see docs/explorer.md.
PLOTLY_JS = "plotly-gl2d-3.7.0.min.js"
#: Most neighbours ``/similar`` returns.
MAX_K = 100
#: Cache lifetime of images [s] (they never change; ETags revalidate anyway).
IMAGE_MAX_AGE_S = 86400
#: Largest request body accepted [bytes].
MAX_BODY_BYTES = 256 * 1024
#: Default number of user queries (filters) that may run at once.
MAX_USER_QUERIES = 4
#: Database connections the app's pool holds at most (requests beyond wait for a free one).
POOL_SIZE = 10
#: First characters that make a spreadsheet read a CSV cell as a formula (OWASP CSV injection).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


# -- JSON -----------------------------------------------------------------------------------
def _jsonable(value: Any) -> Any:
    """Datetimes -> ISO 8601, Decimals -> float, non-finite floats -> null, recursively."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return value


def _ids_as_strings(row: dict, *keys: str) -> dict:
    for key in keys or ("object_id",):
        if row.get(key) is not None:
            row[key] = str(row[key])
    return row


class Json(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return json.dumps(_jsonable(content), separators=(",", ":"), allow_nan=False).encode()


# -- errors ---------------------------------------------------------------------------------
def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def _error_response(request: Request, status: int, message: str, extra: dict | None = None) -> Response:
    if _is_api(request):
        return Json({"error": message, **(extra or {})}, status_code=status)
    templates: Jinja2Templates = request.app.state.templates
    return templates.TemplateResponse(request, "error.html", {"status": status, "message": message}, status_code=status)


async def _api_error(request: Request, exc: ApiError) -> Response:
    if exc.status >= 500:
        log.error("%s %s: %s", request.method, request.url.path, exc.message)
    return _error_response(request, exc.status, exc.message, exc.extra)


async def _readonly_error(request: Request, exc: ReadOnlyQueryError) -> Response:
    return _error_response(request, 400, f"the database refused the filter: {exc}", {"sqlstate": exc.sqlstate})


async def _http_error(request: Request, exc: HTTPException) -> Response:
    message = {404: f"no such page: {request.url.path}", 405: f"method {request.method} not allowed here"}.get(exc.status_code, str(exc.detail))
    return _error_response(request, exc.status_code, message)


async def _server_error(request: Request, exc: Exception) -> Response:
    log.exception("%s %s failed", request.method, request.url.path)
    return _error_response(request, 500, f"internal error ({type(exc).__name__}); see the server log")


# -- request helpers ------------------------------------------------------------------------
def _url(request: Request) -> str:
    """The database URL (for the read-only door of user SQL and the ml stages)."""
    return request.app.state.url


def _pool(request: Request) -> ConnectionPool:
    """The app's pool of database connections (every query of :mod:`hscanom.explorer.queries`)."""
    return request.app.state.pool


def _opt_run(request: Request) -> int | None:
    value = request.query_params.get("run")
    return None if value in (None, "") else params.integer(value, "run", lo=1)


async def _json_body(request: Request) -> Any:
    """The request's JSON body. The content type must say JSON: a cross-site HTML form cannot
    send that without a CORS preflight (which this app never grants), so other web pages
    cannot add labels behind the user's back."""
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
        raise ApiError(415, "body: send JSON with Content-Type: application/json")
    too_big = ApiError(413, f"body: larger than {MAX_BODY_BYTES:,} bytes")
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.strip().isdigit():
            raise ApiError(400, "body: bad Content-Length header")
        if int(declared) > MAX_BODY_BYTES:
            raise too_big
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise too_big
        chunks.append(chunk)
    try:
        return json.loads(b"".join(chunks) or b"null")
    except (UnicodeDecodeError, ValueError) as exc:
        raise ApiError(400, f"body: not valid JSON ({exc})") from None
    except RecursionError:
        raise ApiError(400, "body: JSON nested too deeply") from None


# -- pages ----------------------------------------------------------------------------------
def index(request: Request) -> Response:
    run = _opt_run(request) or request.app.state.default_run or queries.default_run(_pool(request))
    config = {
        "run": run, "colors": {k: v[0] for k, v in queries.COLOR_COLUMNS.items()},
        "categorical": [k for k, v in queries.COLOR_COLUMNS.items() if v[1]],
        "labels": list(queries.LABELS), "sigma_columns": list(queries.SIGMA_COLUMNS),
    }
    return request.app.state.templates.TemplateResponse(request, "index.html", {"config": config, "plotly_js": PLOTLY_JS})


def object_page(request: Request) -> Response:
    pool = _pool(request)
    oid = params.object_id(request.path_params["object_id"], "object id")
    obj = queries.scored_object(pool, oid, _opt_run(request))
    near = queries.similar(pool, oid, obj["run_id"], 12, "residual")
    context = {
        "obj": obj, "oid": str(oid), "run": obj["run_id"], "links": links.links(obj.get("ra"), obj.get("dec")),
        "similar": near, "label_choices": queries.LABELS, "labels": obj["labels"],
    }
    return request.app.state.templates.TemplateResponse(request, "object.html", context)


# -- API ------------------------------------------------------------------------------------
def api_runs(request: Request) -> Response:
    return Json({"runs": queries.runs(_pool(request))})


def api_points(request: Request) -> Response:
    run = params.integer(request.path_params["run"], "run", lo=1)
    color = request.query_params.get("color") or "s_disc_sigma"
    space = request.query_params.get("space") or None
    return Response(queries.points_json(_pool(request), run, color, space), media_type="application/json")


def api_footprint(request: Request) -> Response:
    run = params.integer(request.path_params["run"], "run", lo=1)
    return Json(queries.footprint(_pool(request), run))


def api_object(request: Request) -> Response:
    oid = params.object_id(request.path_params["object_id"], "object id")
    obj = queries.scored_object(_pool(request), oid, _opt_run(request))
    obj["links"] = links.links(obj.get("ra"), obj.get("dec"))
    obj["labels"] = [_ids_as_strings(r) for r in obj["labels"]]
    obj["images"] = {k: f"/api/images/{oid}/{k}.png?run={obj['run_id']}" for k in queries.IMAGE_KINDS}
    return Json(_ids_as_strings(obj))


def api_similar(request: Request) -> Response:
    oid = params.object_id(request.path_params["object_id"], "object id")
    q = request.query_params
    k = params.integer(q.get("k") or "12", "k", lo=1, hi=MAX_K)
    kind = params.choice(q.get("kind") or "residual", "kind", ("residual", "real"))
    out = queries.similar(_pool(request), oid, _opt_run(request), k, kind)
    out["object_id"] = str(oid)
    out["neighbours"] = [_ids_as_strings(n) for n in out["neighbours"]]
    return Json(out)


def api_image(request: Request) -> Response:
    oid = params.object_id(request.path_params["object_id"], "object id")
    kind = params.choice(request.path_params["kind"], "image kind", queries.IMAGE_KINDS)
    png = request.app.state.images.png(oid, kind, _opt_run(request))
    headers = {"ETag": png.etag, "Cache-Control": f"public, max-age={IMAGE_MAX_AGE_S}"}
    if png.etag in [t.strip() for t in request.headers.get("if-none-match", "").split(",")]:
        return Response(status_code=304, headers=headers)
    return Response(png.data, media_type="image/png", headers=headers)


async def api_filter(request: Request) -> Response:
    f = filters.Filter.from_json(await _json_body(request))
    url = _url(request)
    await run_in_threadpool(queries.run_info, _pool(request), f.run)
    slots: asyncio.Semaphore = request.app.state.user_query_slots
    if slots.locked():
        busy = f"busy: {request.app.state.max_user_queries} filters are running already; try again in a few seconds"
        return Json({"error": busy}, status_code=429, headers={"Retry-After": "2"})
    async with slots:
        ids = await run_in_threadpool(filters.run_filter, url, f, request.app.state.filter_timeout_s)
    return Json({"run": f.run, "n": len(ids), "object_id": [str(i) for i in ids]})


def _label_query(request: Request) -> dict:
    q = request.query_params
    out = {"run_id": _opt_run(request), "object_id": None}
    if q.get("object"):
        out["object_id"] = params.object_id(q["object"], "object")
    return out


def api_labels_get(request: Request) -> Response:
    limit = params.integer(request.query_params.get("limit") or "1000", "limit", lo=1, hi=100_000)
    rows = queries.labels(_pool(request), limit=limit, **_label_query(request))
    return Json({"labels": [_ids_as_strings(r) for r in rows]})


async def api_labels_post(request: Request) -> Response:
    body = await _json_body(request)
    if not isinstance(body, dict):
        raise ApiError(400, "body: expected a JSON object")
    params.only_keys(body, ("object_id", "label", "note", "user_name", "run"))
    for key in ("object_id", "label", "user_name"):
        if body.get(key) in (None, ""):
            raise ApiError(400, f"{key}: required")
    oid = params.object_id(body["object_id"])
    label = params.choice(body["label"], "label", queries.LABELS)
    user = params.text(body["user_name"], "user_name", max_len=100, required=True)
    note = params.text(body.get("note"), "note", max_len=2000)
    run = None if body.get("run") in (None, "") else params.integer(body["run"], "run", lo=1)
    row = await run_in_threadpool(queries.add_label, _pool(request), oid, label, user, note, run)
    return Json(_ids_as_strings(row), status_code=201)


def csv_safe(value: Any) -> Any:
    """A CSV cell a spreadsheet will not run: text starting with ``= + - @``, tab or carriage
    return gets a leading ``'`` (OWASP, "CSV Injection"). Other values are returned as they are."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def api_labels_csv(request: Request) -> Response:
    run = _opt_run(request)
    pool = _pool(request)
    if run is not None:
        queries.run_info(pool, run)

    def rows() -> Iterator[str]:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(queries.LABEL_COLUMNS)
        for row in queries.iter_labels(pool, run):
            writer.writerow(["" if v is None else (v.isoformat() if isinstance(v, dt.datetime) else csv_safe(v)) for v in row])
            if buf.tell() > 1 << 16:
                yield buf.getvalue()
                buf.seek(0)
                buf.truncate()
        yield buf.getvalue()

    name = f"hscanom-labels{'-run' + str(run) if run else ''}.csv"
    return StreamingResponse(rows(), media_type="text/csv; charset=utf-8", headers={"Content-Disposition": f'attachment; filename="{name}"'})


def _num(value: Any, digits: int = 3) -> str:
    """Jinja filter: a number with ``digits`` decimals, or an em dash for missing."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "\u2014"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    return f"{float(value):.{digits}f}"


def _when(value: dt.datetime | None) -> str:
    """Jinja filter: a timestamp in UTC to the minute."""
    return "" if value is None else value.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M")


@asynccontextmanager
async def _lifespan(app: Starlette) -> AsyncIterator[None]:
    """Close the app's connection pool when the server stops."""
    try:
        yield
    finally:
        app.state.pool.close()


def create_app(url: str, *, default_run: int | None = None, cache_bytes: int = images.CACHE_BYTES,
               allowed_hosts: list[str] | None = None, max_user_queries: int = MAX_USER_QUERIES,
               filter_timeout_s: float = filters.FILTER_TIMEOUT_S, pool_size: int = POOL_SIZE) -> Starlette:
    """The explorer for the database at ``url`` (libpq URL).

    The app owns a pool of database connections (:func:`hscanom.db.pool`, opened here and
    closed when the app shuts down): a new connection costs far more than a query.

    Args:
        default_run: run shown at ``/`` without ``?run=`` (default: newest complete run).
        cache_bytes: size of the in-process PNG cache [bytes].
        allowed_hosts: accepted ``Host`` headers (``None``: any). ``hscanom serve`` on a
            loopback address allows only local names, which stops DNS-rebinding pages.
        max_user_queries: filters (user SQL) that may run at once; more get 429.
        filter_timeout_s: statement timeout of one filter [s].
        pool_size: most database connections held at once (requests beyond wait for one).
    """
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.filters["num"] = _num
    templates.env.filters["when"] = _when
    routes = [
        Route("/", index),
        Route("/object/{object_id}", object_page),
        Route("/api/runs", api_runs),
        Route("/api/runs/{run}/points", api_points),
        Route("/api/runs/{run}/footprint", api_footprint),
        Route("/api/objects/{object_id}", api_object),
        Route("/api/objects/{object_id}/similar", api_similar),
        Route("/api/images/{object_id}/{kind}.png", api_image),
        Route("/api/filter", api_filter, methods=["POST"]),
        Route("/api/labels", api_labels_get, methods=["GET"]),
        Route("/api/labels", api_labels_post, methods=["POST"]),
        Route("/api/labels.csv", api_labels_csv),
        *review.routes(),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ]
    app = Starlette(
        routes=routes,
        lifespan=_lifespan,
        middleware=[
            *([Middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts)] if allowed_hosts else []),
            Middleware(GZipMiddleware, minimum_size=2048, compresslevel=4),
        ],
        exception_handlers={ApiError: _api_error, ReadOnlyQueryError: _readonly_error, HTTPException: _http_error, Exception: _server_error},
    )
    app.state.url = url
    app.state.pool = db.pool(url, max_size=pool_size, name="hscanom-explorer")
    app.state.default_run = default_run
    app.state.max_user_queries = max(1, int(max_user_queries))
    app.state.filter_timeout_s = float(filter_timeout_s)
    app.state.user_query_slots = asyncio.Semaphore(app.state.max_user_queries)
    app.state.templates = templates
    app.state.images = images.ImageStore(app.state.pool, cache_bytes)
    return app
