"""The explorer's review mode: label the ranking's queue, re-rank, see relevance on the scatter.

Routes (added to :func:`hscanom.explorer.app.create_app`):

==========================================  ===============================================
``GET /review?run=``                        the review page: the queue as a grid of real /
                                            reconstruction / residual, one click or key per
                                            label, a "re-rank" button, relevance scatter
``GET /api/runs/{run}/queue?n=``            what to label next (:func:`hscanom.ml.rank.queue`)
``POST /api/runs/{run}/rank``               fit and store a new ranking from ``object_label``
==========================================  ===============================================

Labels go through the existing ``POST /api/labels`` (user name and time kept as always).
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hscanom.explorer import params, queries
from hscanom.explorer.params import ApiError

#: Most objects one queue request returns.
MAX_QUEUE = 200
#: Review buttons: (group, labels). Keys 1-9, 0 and n in this order (see review.js).
INTERESTING_LABELS = ("merger", "tidal_feature", "star_forming_clump", "blue_core", "red_extended")
ARTEFACT_LABELS = ("artefact", "streak", "bright_star", "empty_noise", "bad_deblend")
NOT_INTERESTING = "not_interesting"


def review_page(request: Request) -> Response:
    from hscanom.explorer.app import _opt_run

    pool = request.app.state.pool
    run = _opt_run(request) or request.app.state.default_run or queries.default_run(pool)
    if run is None:
        raise ApiError(404, "there is no score run to review yet")
    queries.run_info(pool, run)
    config = {"run": run, "interesting": list(INTERESTING_LABELS), "artefacts": list(ARTEFACT_LABELS), "not_interesting": NOT_INTERESTING}
    from hscanom.explorer.app import PLOTLY_JS

    return request.app.state.templates.TemplateResponse(request, "review.html", {"config": config, "plotly_js": PLOTLY_JS})


def _queue(url: str, run: int, n: int) -> list[dict]:
    from hscanom.ml import rank as rk

    try:
        rows = rk.queue(url, run, n)
    except LookupError as exc:
        raise ApiError(404 if "no score run" in str(exc) else 409, str(exc)) from None
    except rk.RankError as exc:
        raise ApiError(409, str(exc)) from None
    return rows


async def api_queue(request: Request) -> Response:
    from hscanom.explorer.app import Json, _ids_as_strings

    run = params.integer(request.path_params["run"], "run", lo=1)
    n = params.integer(request.query_params.get("n") or "20", "n", lo=1, hi=MAX_QUEUE)
    url = request.app.state.url
    await run_in_threadpool(queries.run_info, request.app.state.pool, run)
    rows = await run_in_threadpool(_queue, url, run, n)
    for r in rows:
        r["images"] = {k: f"/api/images/{r['object_id']}/{k}.png?run={run}" for k in queries.IMAGE_KINDS}
    return Json({"run": run, "queue": [_ids_as_strings(r) for r in rows]})


def _rank(url: str, run: int) -> dict:
    from hscanom.ml import rank as rk

    try:
        result = rk.rank(url, run, labels="labels")
    except LookupError as exc:
        raise ApiError(404, str(exc)) from None
    except ValueError as exc:
        raise ApiError(409, str(exc)) from None
    return {"ranking_id": result.ranking_id, "run": run, "n_objects": result.n_objects, "n_labels": result.n_labels,
            "n_interesting": result.n_interesting, "model": result.model, "reused": result.reused, "notes": result.notes}


async def api_rank(request: Request) -> Response:
    from hscanom.explorer.app import Json, _json_body

    run = params.integer(request.path_params["run"], "run", lo=1)
    body = await _json_body(request)
    if body not in (None, {}):
        raise ApiError(400, "body: expected an empty JSON object {} (the ranking uses the object_label table)")
    url = request.app.state.url
    await run_in_threadpool(queries.run_info, request.app.state.pool, run)
    out = await run_in_threadpool(_rank, url, run)
    return Json(out, status_code=200 if out["reused"] else 201)


def routes() -> list[Route]:
    return [
        Route("/review", review_page),
        Route("/api/runs/{run}/queue", api_queue),
        Route("/api/runs/{run}/rank", api_rank, methods=["POST"]),
    ]
