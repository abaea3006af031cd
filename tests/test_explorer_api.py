"""The explorer's JSON API and pages (Starlette TestClient) on a real scored run.

Every endpoint is called with good and bad input; bad input must give a 4xx with a JSON
error (pages: HTML) and change nothing in the database.
"""

from __future__ import annotations

import csv
import io
import json
from urllib.parse import unquote

import h5py
import numpy as np
import psycopg
import pytest
from PIL import Image
from starlette.testclient import TestClient

from hscanom.explorer.app import create_app
from hscanom.explorer.filters import Filter, run_filter
from hscanom.ingest.shards import read_rows
from hscanom.ml.preprocess import to_uint8
from hscanom.readonly import ReadOnlyQueryError

TWO53 = 2**53


# -- helpers --------------------------------------------------------------------------------
def add_characterisation(url: str, run_id: int, parent_model_id: int, n: int | None = None) -> list[int]:
    """Rows shaped like ``hscanom characterize`` writes them, for the ``n`` objects of the run
    with the highest s_disc (default all): a CAE model, residual embeddings (4-d), residual
    UMAP coordinates and GMM labels (two clusters by s_gen above/below its median).
    Returns the characterised ids in s_disc order."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT object_id, s_gen_sigma, s_disc_sigma FROM anomaly_score_normalized WHERE run_id = %s "
            "ORDER BY s_disc_sigma DESC, object_id LIMIT %s", (run_id, n)).fetchall()
        model = conn.execute(
            "INSERT INTO model (kind, parent_model_id, config) VALUES ('cae', %s, '{\"kind\": \"residual\", \"test\": true}') RETURNING id",
            (parent_model_id,)).fetchone()[0]
        median = float(np.median([g for _, g, _ in rows]))
        for oid, g, d in rows:
            vec = [float(g), float(d), float(g) * float(d), float(oid % 7)]
            conn.execute("INSERT INTO embedding (run_id, model_id, object_id, kind, vector) VALUES (%s, %s, %s, 'residual', %s)",
                         (run_id, model, oid, vec))
            conn.execute("INSERT INTO umap_coord (run_id, model_id, object_id, kind, x, y) VALUES (%s, %s, %s, 'residual', %s, %s)",
                         (run_id, model, oid, float(g) + 0.01 * (oid % 13), float(d)))
            conn.execute("INSERT INTO cluster_label (run_id, model_id, object_id, method, label, probability) VALUES (%s, %s, %s, 'gmm', %s, 0.9)",
                         (run_id, model, oid, int(g > median)))
    return [r[0] for r in rows]


def counts(url: str) -> dict[str, int]:
    """Row counts of the tables a request could damage."""
    tables = ("object_label", "anomaly_score", "hsc_object", "score_run", "umap_coord", "embedding", "cluster_label")
    with psycopg.connect(url) as conn:
        out = {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}
        out["object_label_id_seq"] = conn.execute("SELECT last_value FROM object_label_id_seq").fetchone()[0]
    return out


def assert_error(response, status: int, *words: str) -> dict:
    """A JSON error with ``status`` whose message contains ``words``; never a trace."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert "Traceback" not in response.text
    for w in words:
        assert w.lower() in body["error"].lower(), body
    return body


@pytest.fixture
def explorer(scored_db):
    url, cfg, state = scored_db
    with TestClient(create_app(url)) as client:
        yield client, url, state


def _ids(url: str, run_id: int) -> list[int]:
    with psycopg.connect(url) as conn:
        return [r[0] for r in conn.execute("SELECT object_id FROM anomaly_score WHERE run_id = %s ORDER BY object_id", (run_id,))]


# -- pages and runs -------------------------------------------------------------------------
def test_pages_runs_and_unknown_routes(explorer):
    client, url, state = explorer
    page = client.get("/")
    assert page.status_code == 200 and "plotly-gl2d" in page.text and 'id="plot"' in page.text
    assert client.get("/static/plotly-gl2d-3.7.0.min.js").status_code == 200
    assert client.get("/static/plotly-gl2d-3.7.0.LICENSE.txt").text.startswith("MIT License")

    runs = client.get("/api/runs").json()["runs"]
    assert [r["id"] for r in runs] == [state.run_id]
    assert runs[0]["n_scored"] == 120 and runs[0]["spaces"] == [] and runs[0]["status"] == "complete"

    assert_error(client.get("/api/nope"), 404, "no such page")
    assert_error(client.post("/api/runs"), 405)
    html = client.get("/nope")
    assert html.status_code == 404 and "text/html" in html.headers["content-type"]
    bad = client.get("/?run=abc")  # pages answer in HTML
    assert bad.status_code == 400 and "run" in bad.text and "Traceback" not in bad.text


# -- scatter points -------------------------------------------------------------------------
def test_points_fall_back_to_scores_without_characterisation(explorer):
    client, url, state = explorer
    data = client.get(f"/api/runs/{state.run_id}/points").json()
    assert data["space"] == "scores" and data["spaces"] == ["scores", "sky"]
    assert data["n"] == 120 and data["color_column"] == "s_disc_sigma" and not data["categorical"]
    ids = _ids(url, state.run_id)
    assert data["object_id"] == [str(i) for i in ids]  # strings, exact: ids exceed 2**53
    assert max(ids) > TWO53
    with psycopg.connect(url) as conn:
        g, d = conn.execute("SELECT s_gen_sigma, s_disc_sigma FROM scored_object WHERE run_id = %s AND object_id = %s",
                            (state.run_id, ids[5])).fetchone()
    assert data["x"][5] == pytest.approx(g) and data["y"][5] == pytest.approx(d) and data["color"][5] == pytest.approx(d)

    mag = client.get(f"/api/runs/{state.run_id}/points?color=i_cmodel_mag").json()
    assert all(20.0 <= m < 20.5 for m in mag["color"])


def test_points_in_umap_space_after_characterisation(explorer):
    client, url, state = explorer
    chosen = add_characterisation(url, state.run_id, state.wgan_id, n=40)
    data = client.get(f"/api/runs/{state.run_id}/points?color=gmm_label").json()
    assert data["space"] == "residual" and data["spaces"] == ["residual", "scores", "sky"]
    assert data["n"] == 40 and sorted(data["object_id"]) == sorted(str(i) for i in chosen)
    assert data["categorical"] and set(data["color"]) == {0, 1}
    assert client.get("/api/runs").json()["runs"][0]["spaces"] == ["residual"]
    scores = client.get(f"/api/runs/{state.run_id}/points?space=scores").json()
    assert scores["n"] == 120


def test_sky_space_and_footprint(explorer):
    from astropy import units as u
    from mocpy import MOC

    client, url, state = explorer
    sky = client.get(f"/api/runs/{state.run_id}/points?space=sky").json()
    with psycopg.connect(url) as conn:
        pos = dict((str(o), (r, d)) for o, r, d in conn.execute("SELECT object_id, ra, dec FROM scored_object WHERE run_id = %s", (state.run_id,)))
    assert sky["n"] == 120 and sky["x_label"] == "RA [deg]"
    assert all(x == pytest.approx(pos[o][0]) and y == pytest.approx(pos[o][1]) for o, x, y in zip(sky["object_id"], sky["x"], sky["y"]))
    foot = client.get(f"/api/runs/{state.run_id}/footprint").json()
    assert foot["order"] == 10 and 0 < foot["sky_fraction"] < 1e-3 and foot["cells"]
    # the cells are the MOC of the positions: every object lies in one of them
    by_order: dict[str, list[int]] = {}
    for c in foot["cells"]:
        by_order.setdefault(str(c["order"]), []).append(c["ipix"])
    full = MOC.from_json(by_order)
    assert full.sky_fraction == pytest.approx(foot["sky_fraction"])
    ra, dec = np.array([p[0] for p in pos.values()]), np.array([p[1] for p in pos.values()])
    assert full.contains_lonlat(ra * u.deg, dec * u.deg).all()
    assert all(len(c["ra"]) == 4 and len(c["dec"]) == 4 for c in foot["cells"])
    assert_error(client.get("/api/runs/999/footprint"), 404, "run 999")


def test_points_bad_input(explorer):
    client, url, state = explorer
    before = counts(url)
    assert_error(client.get("/api/runs/abc/points"), 400, "run")
    assert_error(client.get("/api/runs/0/points"), 400, "run")
    assert_error(client.get("/api/runs/999/points"), 404, "run 999 does not exist")
    assert_error(client.get(f"/api/runs/{state.run_id}/points?color=password"), 400, "color")
    assert_error(client.get(f"/api/runs/{state.run_id}/points?color=s_disc_sigma;DROP TABLE model"), 400, "color")
    assert_error(client.get(f"/api/runs/{state.run_id}/points?space=pixels"), 400, "space")
    assert counts(url) == before


# -- one object -----------------------------------------------------------------------------
def test_object_details_links_and_page(explorer):
    client, url, state = explorer
    oid = max(_ids(url, state.run_id))
    obj = client.get(f"/api/objects/{oid}?run={state.run_id}").json()
    assert obj["object_id"] == str(oid) and obj["run_id"] == state.run_id and obj["runs"] == [state.run_id]
    for key in ("s_gen_sigma", "s_disc_sigma", "s_anom_sigma", "ra", "dec", "i_cmodel_mag", "r_eff_arcsec",
                "in_bright_star_mask", "mask_version", "gmm_label", "umap_x", "tract"):
        assert key in obj
    assert obj["in_bright_star_mask"] in (True, False)  # the pipeline ingests the simulated masks
    names = [link["name"] for link in obj["links"]]
    assert names == ["hscMap PDR3", "hscMap PDR2", "cutout PDR3 (i, FITS)", "cutout PDR2 (i, FITS)"]
    assert f"ra={obj['ra']:.6f}" in obj["links"][2]["url"] and "rerun=pdr3_wide" in obj["links"][2]["url"]
    prefix, view = obj["links"][1]["url"].split("#/?_=")
    assert prefix.endswith("/hscMap-pdr2/app/")
    view = json.loads(unquote(view))["view"]
    assert view["a"] == pytest.approx(np.radians(obj["ra"])) and view["d"] == pytest.approx(np.radians(obj["dec"]))
    assert client.get(f"/api/objects/{oid}").json()["run_id"] == state.run_id  # default: newest run

    page = client.get(f"/object/{oid}?run={state.run_id}")
    assert page.status_code == 200 and str(oid) in page.text and "hscMap PDR3" in page.text
    assert f"/api/images/{oid}/residual.png?run={state.run_id}" in page.text


def test_object_bad_input(explorer):
    client, url, state = explorer
    oid = _ids(url, state.run_id)[0]
    before = counts(url)
    assert_error(client.get("/api/objects/abc"), 400, "object id")
    assert_error(client.get("/api/objects/1.5e17"), 400, "object id")
    assert_error(client.get("/api/objects/99999999999999999999"), 400, "int64")
    assert_error(client.get("/api/objects/12345"), 404, "does not exist")
    assert_error(client.get(f"/api/objects/{oid}?run=999"), 404, "run 999")
    assert_error(client.get(f"/api/objects/{oid}?run=x"), 400, "run")
    for path in ("/object/abc", "/object/12345", f"/object/{oid}?run=999"):
        page = client.get(path)
        assert page.status_code in (400, 404) and "text/html" in page.headers["content-type"], path
        assert "Traceback" not in page.text
    assert counts(url) == before


def test_similar_objects(explorer):
    client, url, state = explorer
    oid = _ids(url, state.run_id)[0]
    empty = client.get(f"/api/objects/{oid}/similar?run={state.run_id}").json()
    assert empty["neighbours"] == [] and "characterize" in empty["note"]

    chosen = add_characterisation(url, state.run_id, state.wgan_id)
    out = client.get(f"/api/objects/{chosen[0]}/similar?run={state.run_id}&k=5").json()
    assert len(out["neighbours"]) == 5 and str(chosen[0]) not in [n["object_id"] for n in out["neighbours"]]
    with psycopg.connect(url) as conn:
        expect = [r[0] for r in conn.execute("SELECT object_id FROM similar_objects(%s, %s, 6, 'residual') WHERE object_id <> %s",
                                             (state.run_id, chosen[0], chosen[0]))]
    assert [n["object_id"] for n in out["neighbours"]] == [str(i) for i in expect]
    assert [n["rank"] for n in out["neighbours"]] == [1, 2, 3, 4, 5]
    assert out["neighbours"] == sorted(out["neighbours"], key=lambda n: n["distance"])
    page = client.get(f"/object/{chosen[0]}?run={state.run_id}")
    assert f"/object/{expect[0]}?run={state.run_id}" in page.text

    before = counts(url)
    for q in ("k=0", "k=101", "k=x", "kind=pixels"):
        assert_error(client.get(f"/api/objects/{oid}/similar?{q}"), 400)
    assert_error(client.get("/api/objects/x/similar"), 400, "object id")
    assert_error(client.get(f"/api/objects/{oid}/similar?run=999"), 404, "run 999")
    assert counts(url) == before


# -- images ---------------------------------------------------------------------------------
def _png(response) -> np.ndarray:
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    return np.asarray(Image.open(io.BytesIO(response.content)).convert("RGB"))


def test_images_match_the_shards_and_are_cached(explorer):
    client, url, state = explorer
    oid = _ids(url, state.run_id)[7]
    with psycopg.connect(url) as conn:
        res_uri, res_row = conn.execute(
            "SELECT s.uri, a.result_row FROM anomaly_score a JOIN image_shard s ON s.id = a.result_shard_id "
            "WHERE a.run_id = %s AND a.object_id = %s", (state.run_id, oid)).fetchone()
        real_uri, real_row = conn.execute(
            "SELECT s.uri, p.row FROM packed_image p JOIN image_shard s ON s.id = p.shard_id WHERE p.object_id = %s", (oid,)).fetchone()
    with h5py.File(res_uri, "r") as f:
        assert int(f["object_ids"][res_row]) == oid
        rec, res = f["reconstructed"][res_row], f["residuals"][res_row]

    base = f"/api/images/{oid}"
    real = _png(client.get(f"{base}/real.png?run={state.run_id}"))
    np.testing.assert_array_equal(real, to_uint8(read_rows([(real_uri, real_row)])[0]))
    np.testing.assert_array_equal(_png(client.get(f"{base}/reconstruction.png?run={state.run_id}")), rec)
    first = client.get(f"{base}/residual.png?run={state.run_id}")
    np.testing.assert_array_equal(_png(first), res)
    assert real.shape == (32, 32, 3)

    etag = first.headers["etag"]
    assert "max-age" in first.headers["cache-control"]
    hits = client.app.state.images.cache.hits
    again = client.get(f"{base}/residual.png?run={state.run_id}")
    assert again.content == first.content and client.app.state.images.cache.hits == hits + 1
    not_modified = client.get(f"{base}/residual.png?run={state.run_id}", headers={"If-None-Match": etag})
    assert not_modified.status_code == 304 and not_modified.content == b""
    assert client.get(f"{base}/real.png?run={state.run_id}").headers["etag"] != etag


def test_images_bad_input(explorer):
    client, url, state = explorer
    oid = _ids(url, state.run_id)[0]
    before = counts(url)
    assert_error(client.get(f"/api/images/{oid}/mask.png?run={state.run_id}"), 400, "image kind")
    assert_error(client.get(f"/api/images/abc/real.png?run={state.run_id}"), 400, "object id")
    assert_error(client.get(f"/api/images/12345/real.png?run={state.run_id}"), 404, "no packed image")
    assert_error(client.get("/api/images/12345/residual.png"), 404, "does not exist")
    assert_error(client.get(f"/api/images/{oid}/residual.png?run=999"), 404, "run 999")
    assert_error(client.get(f"/api/images/{oid}/residual.png?run=-1"), 400, "run")
    assert_error(client.get(f"/api/images/{oid}/residual.jpg"), 404)
    assert counts(url) == before


# -- filter ---------------------------------------------------------------------------------
def _filter(client, **body):
    return client.post("/api/filter", json=body)


def test_filter_thresholds_cluster_mask_and_where(explorer):
    client, url, state = explorer
    run = state.run_id
    add_characterisation(url, run, state.wgan_id, n=60)
    with psycopg.connect(url) as conn:
        def expect(where: str) -> list[str]:
            return [str(r[0]) for r in conn.execute(f"SELECT object_id FROM scored_object WHERE run_id = %s AND {where} ORDER BY object_id", (run,))]
        high = expect("s_disc_sigma >= 1")
        masked = expect("in_bright_star_mask")
        gmm1 = expect("gmm_label = 1 AND s_gen_sigma >= -0.5")
        red = expect("g_r > 0.6 AND r_eff_arcsec < 1.2")
        like = expect("object_id::text LIKE '%%1'")

    out = _filter(client, run=run, min_sigma={"s_disc_sigma": 1}).json()
    assert out["object_id"] == high and out["n"] == len(high) and 0 < len(high) < 120
    assert _filter(client, run=run, mask="in").json()["object_id"] == masked
    assert len(_filter(client, run=run, mask="out").json()["object_id"]) == 120 - len(masked)
    assert _filter(client, run=run, cluster={"method": "gmm", "label": 1}, min_sigma={"s_gen_sigma": -0.5}).json()["object_id"] == gmm1
    assert _filter(client, run=run, where="g_r > 0.6 AND r_eff_arcsec < 1.2").json()["object_id"] == red
    assert _filter(client, run=run, where="object_id::text LIKE '%1' -- a comment").json()["object_id"] == like
    assert _filter(client, run=run, min_sigma={"s_disc_sigma": None}, where="  ").json()["n"] == 120


def test_filter_refuses_writes_and_bad_sql(explorer):
    client, url, state = explorer
    run = state.run_id
    oid = _ids(url, run)[0]
    client.post("/api/labels", json={"object_id": str(oid), "label": "merger", "user_name": "a"})
    before = counts(url)
    refused = {
        "DELETE": 'column "delete" does not exist',
        "DELETE FROM object_label": "syntax error",
        "s_disc_sigma >": "syntax error",
        "no_such_column > 1": "no_such_column",
        "nextval('object_label_id_seq') > 0": "read-only",
        "object_id IN (WITH d AS (DELETE FROM object_label RETURNING object_id) SELECT object_id FROM d)": "top level",
    }
    for clause, words in refused.items():
        body = assert_error(_filter(client, run=run, where=clause), 400, "the database refused", words)
        assert body["sqlstate"], clause
    not_an_expression = {
        "1=1; DELETE FROM object_label": "';' at character 4",
        "1=1) ORDER BY 1; DELETE FROM object_label; SELECT 1 WHERE (1": "closes a parenthesis it did not open",
    }
    for clause, words in not_an_expression.items():
        assert_error(_filter(client, run=run, where=clause), 400, "where:", words)
    with pytest.raises(ReadOnlyQueryError, match="statement timeout"):
        run_filter(url, Filter(run=run, where="(SELECT true FROM pg_sleep(2))"), timeout_s=0.3)
    assert counts(url) == before
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT count(*) FROM object_label WHERE object_id = %s", (oid,)).fetchone()[0] == 1

    assert_error(client.post("/api/filter", content=b"{not json", headers={"Content-Type": "application/json"}), 400, "not valid json")
    assert_error(client.post("/api/filter", content=json.dumps({"run": run}), headers={"Content-Type": "text/plain"}), 415, "application/json")
    assert_error(client.post("/api/filter", json=[1, 2]), 400, "json object")
    assert_error(_filter(client), 400, "run: required")
    assert_error(_filter(client, run="x"), 400, "run")
    assert_error(_filter(client, run=999), 404, "run 999")
    assert_error(_filter(client, run=run, min_sigma={"s_disc_sigma": "lots"}), 400, "min_sigma.s_disc_sigma")
    assert_error(_filter(client, run=run, min_sigma={"password": 1}), 400, "unknown field")
    assert_error(_filter(client, run=run, cluster={"method": "kmeans", "label": 1}), 400, "cluster.method")
    assert_error(_filter(client, run=run, cluster={"method": "gmm"}), 400, "cluster.label")
    assert_error(_filter(client, run=run, mask="maybe"), 400, "mask")
    assert_error(_filter(client, run=run, wher="1=1"), 400, "unknown field")
    assert_error(_filter(client, run=run, where="x" * 5000), 400, "longer than")
    assert_error(client.get("/api/filter"), 405)
    assert counts(url) == before


# -- labels ---------------------------------------------------------------------------------
def test_labels_add_list_and_csv(explorer):
    client, url, state = explorer
    oid = max(_ids(url, state.run_id))
    assert oid > TWO53
    made = client.post("/api/labels", json={"object_id": str(oid), "label": "tidal_feature", "note": "a long, \"curved\" tail",
                                            "user_name": "ada", "run": state.run_id})
    assert made.status_code == 201, made.text
    row = made.json()
    assert row["object_id"] == str(oid) and row["label"] == "tidal_feature" and row["run_id"] == state.run_id
    client.post("/api/labels", json={"object_id": oid, "label": "other", "user_name": "bob"}).raise_for_status()
    with psycopg.connect(url) as conn:
        stored = conn.execute("SELECT object_id, label, note, user_name, run_id FROM object_label ORDER BY id").fetchall()
    assert stored == [(oid, "tidal_feature", 'a long, "curved" tail', "ada", state.run_id), (oid, "other", None, "bob", None)]

    listed = client.get(f"/api/labels?object={oid}").json()["labels"]
    assert [x["label"] for x in listed] == ["other", "tidal_feature"] and listed[0]["object_id"] == str(oid)
    assert [x["label"] for x in client.get(f"/api/labels?run={state.run_id}").json()["labels"]] == ["tidal_feature"]
    assert len(client.get("/api/labels?limit=1").json()["labels"]) == 1
    assert [x["label"] for x in client.get(f"/api/objects/{oid}").json()["labels"]] == ["other", "tidal_feature"]

    exported = client.get("/api/labels.csv")
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    assert "attachment" in exported.headers["content-disposition"]
    table = list(csv.DictReader(io.StringIO(exported.text)))
    assert [r["object_id"] for r in table] == [str(oid), str(oid)] and table[0]["note"] == 'a long, "curved" tail'
    assert list(table[0]) == ["id", "object_id", "label", "note", "user_name", "run_id", "created_at"]
    assert len(list(csv.DictReader(io.StringIO(client.get(f"/api/labels.csv?run={state.run_id}").text)))) == 1

    page = client.get(f"/object/{oid}?run={state.run_id}")
    assert page.text.count('class="label-row"') == 2 and "ada" in page.text


def test_labels_bad_input(explorer):
    client, url, state = explorer
    oid = str(_ids(url, state.run_id)[0])
    before = counts(url)
    good = {"object_id": oid, "label": "merger", "user_name": "ada"}
    cases = [
        ({**good, "label": "cool"}, 400, "label"),
        ({**good, "object_id": "abc"}, 400, "object_id"),
        ({**good, "object_id": 12.5}, 400, "object_id"),
        ({**good, "object_id": "12345"}, 404, "does not exist"),
        ({**good, "user_name": ""}, 400, "user_name"),
        ({**good, "user_name": "x" * 101}, 400, "user_name"),
        ({k: v for k, v in good.items() if k != "label"}, 400, "label: required"),
        ({**good, "run": 999}, 404, "run 999"),
        ({**good, "run": "one"}, 400, "run"),
        ({**good, "note": 5}, 400, "note"),
        ({**good, "admin": True}, 400, "unknown field"),
    ]
    for body, status, words in cases:
        assert_error(client.post("/api/labels", json=body), status, words)
    assert_error(client.post("/api/labels", content=b"object_id=1", headers={"Content-Type": "application/x-www-form-urlencoded"}), 415, "json")
    assert_error(client.post("/api/labels", content=json.dumps(good), headers={"Content-Type": "text/plain"}), 415, "json")
    assert_error(client.post("/api/labels", json="merger"), 400, "json object")
    assert_error(client.get("/api/labels?object=abc"), 400, "object")
    assert_error(client.get("/api/labels?limit=0"), 400, "limit")
    assert_error(client.get("/api/labels?run=x"), 400, "run")
    assert_error(client.get("/api/labels.csv?run=999"), 404, "run 999")
    assert_error(client.get("/api/labels.csv?run=x"), 400, "run")
    assert counts(url) == before


def test_only_local_host_names_when_asked(scored_db):
    url, _cfg, _state = scored_db
    with TestClient(create_app(url, allowed_hosts=["127.0.0.1", "localhost"]), base_url="http://127.0.0.1:8000") as client:
        assert client.get("/api/runs").status_code == 200
        assert client.get("/api/runs", headers={"Host": "rebound.example.com"}).status_code == 400


def test_serve_command_refuses_unknown_run(scored_db):
    from typer.testing import CliRunner

    from hscanom.cli import app

    result = CliRunner().invoke(app, ["serve", "--run", "999"])
    assert result.exit_code == 1 and "run 999 does not exist" in result.output
