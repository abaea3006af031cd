"""Ranking by relevance learnt from labels (active learning), its queue and the simulated astronomer.

Uses the session's scored pipeline database (120 simulated objects, 10% injected anomalies,
32 x 32 images) and the simulator's truth file.
"""

from __future__ import annotations

import csv

import numpy as np
import psycopg
import pytest
from starlette.testclient import TestClient
from typer.testing import CliRunner

from hscanom.cli import app
from hscanom.ml import characterize as ch
from hscanom.ml import oracle as orc
from hscanom.ml import rank as rk
from hscanom.ml.evaluate import TruthError, read_truth_csv
from hscanom.samples import create_sample


def _text(result) -> str:
    """CLI output with Rich's line wrapping undone."""
    return " ".join(result.output.split())


def _truth(cfg) -> dict[int, str]:
    with open(cfg.sim_dir / "labels.csv", newline="") as f:
        return {int(r["object_id"]): r["anomaly_class"] for r in csv.DictReader(f)}


def _ranking(url: str, ranking_id: int) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT object_id, relevance, uncertainty, rank, labelled FROM ranking_score WHERE ranking_id = %s ORDER BY rank", (ranking_id,)
        ).fetchall()


def _some_labels(url: str, run_id: int, cfg, n_each: int = 3) -> dict[int, str]:
    """``n_each`` interesting and ``n_each`` other objects of the run, with their true classes."""
    truth = _truth(cfg)
    with psycopg.connect(url) as conn:
        scored = [r[0] for r in conn.execute("SELECT object_id FROM anomaly_score WHERE run_id = %s ORDER BY object_id", (run_id,))]
    pos = [o for o in scored if truth.get(o) in orc.INTERESTING][:n_each]
    neg = [o for o in scored if truth.get(o) not in orc.INTERESTING][:n_each]
    assert len(pos) == n_each and len(neg) == n_each
    return {o: truth[o] for o in pos + neg}


def test_zero_labels_rank_is_the_unsupervised_order(scored_db):
    url, _cfg, state = scored_db
    run = state.run_id
    out = CliRunner().invoke(app, ["rank", "--run", str(run)])
    assert out.exit_code == 0, out.output
    assert "from 0 labels" in _text(out) and "model prior" in _text(out) and "unsupervised s_gen order" in _text(out)
    with psycopg.connect(url) as conn:
        ranking_id, n_labels, model, prior = conn.execute(
            "SELECT id, n_labels, model, params ->> 'prior' FROM ranking WHERE run_id = %s", (run,)).fetchone()
        expected = [r[0] for r in conn.execute(
            "SELECT object_id FROM anomaly_score WHERE run_id = %s ORDER BY s_gen DESC, object_id", (run,))]
    rows = _ranking(url, ranking_id)
    assert (n_labels, model, prior) == (0, "prior", "s_gen")
    assert [r[0] for r in rows] == expected
    assert [r[3] for r in rows] == list(range(1, len(expected) + 1))
    assert all(0.0 <= r[1] <= 1.0 for r in rows) and rows[0][1] == 1.0 and rows[-1][1] == 0.0
    # the same call again finds the stored ranking
    again = CliRunner().invoke(app, ["rank", "--run", str(run)])
    assert f"the same as stored ranking {ranking_id}" in _text(again)
    # immutable
    with psycopg.connect(url) as conn, pytest.raises(psycopg.errors.RaiseException, match="immutable"):
        conn.execute("UPDATE ranking_score SET relevance = 0.5 WHERE ranking_id = %s", (ranking_id,))


def test_same_labels_and_seed_give_the_same_ranking(scored_db, tmp_path):
    url, cfg, state = scored_db
    run = state.run_id
    labels = _some_labels(url, run, cfg)
    path = tmp_path / "labels.csv"
    path.write_text("object_id,label\n" + "".join(f"{o},{c}\n" for o, c in labels.items()))
    first = rk.rank(url, run, labels=path, seed=7, reuse=False)
    second = rk.rank(url, run, labels=path, seed=7, reuse=False)
    other_seed = rk.rank(url, run, labels=path, seed=8, reuse=False)
    assert first.ranking_id != second.ranking_id
    assert (first.model, first.n_labels, first.n_interesting) == ("gaussian_process", 6, 3)
    assert first.label_digest == second.label_digest == other_seed.label_digest
    a, b, c = _ranking(url, first.ranking_id), _ranking(url, second.ranking_id), _ranking(url, other_seed.ranking_id)
    assert a == b
    assert a == c  # the fit is deterministic; the seed is only recorded
    with psycopg.connect(url) as conn:
        seeds = [conn.execute("SELECT params ->> 'seed' FROM ranking WHERE id = %s", (r.ranking_id,)).fetchone()[0] for r in (first, other_seed)]
    assert seeds == ["7", "8"]
    # labelled objects: relevance = label, uncertainty 0; the interesting ones come first
    top = {r[0]: r for r in a[:3]}
    assert set(top) == {o for o, k in labels.items() if k in orc.INTERESTING}
    assert all(r[1] == 1.0 and r[2] == 0.0 and r[4] for r in top.values())
    # with zero labels the order differs from this one
    assert [r[0] for r in a] != [r[0] for r in _ranking(url, rk.rank(url, run, labels={}).ranking_id)]


def test_bad_label_files_are_refused_with_file_line_and_field(scored_db, tmp_path):
    url, _cfg, state = scored_db
    bad = tmp_path / "bad.csv"
    bad.write_text("object_id,label\n1,merger\n2.5,merger\n")
    out = CliRunner().invoke(app, ["rank", "--run", str(state.run_id), "--labels", str(bad)])
    assert out.exit_code == 1 and "Traceback" not in out.output
    assert "bad.csv: line 3: field object_id: '2.5' is not an integer" in _text(out)
    nocol = tmp_path / "nocol.csv"
    nocol.write_text("object_id,kind\n1,x\n")
    out = CliRunner().invoke(app, ["rank", "--run", str(state.run_id), "--labels", str(nocol)])
    assert out.exit_code == 1 and "line 1: missing column 'label' or 'anomaly_class'" in _text(out)
    out = CliRunner().invoke(app, ["rank", "--run", "999"])
    assert out.exit_code == 1 and "no score run with id 999" in _text(out)
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"\xff\xfe\x00object_id")
    out = CliRunner().invoke(app, ["rank", "--run", str(state.run_id), "--labels", str(binary)])
    assert out.exit_code == 1 and "binary.csv: not UTF-8 text (byte 0" in _text(out) and "Traceback" not in out.output
    with pytest.raises(orc.OracleError, match="binary.csv: not UTF-8 text"):
        orc.Oracle(binary)
    with pytest.raises(TruthError, match="binary.csv: not UTF-8 text"):  # the truth reader shares the check
        read_truth_csv(binary)
    out = CliRunner().invoke(app, ["rank"])
    assert out.exit_code == 2 and "error: missing option --run" in _text(out)
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT count(*) FROM ranking").fetchone()[0] == 0


def test_explorer_label_changes_the_next_ranking_and_queue_skips_labelled(scored_db):
    from hscanom.explorer.app import create_app

    url, cfg, state = scored_db
    run = state.run_id
    client = TestClient(create_app(url))
    first = client.post(f"/api/runs/{run}/rank", json={})
    assert first.status_code == 201, first.text
    before = _ranking(url, first.json()["ranking_id"])
    queue = client.get(f"/api/runs/{run}/queue?n=4").json()["queue"]
    assert queue[0]["object_id"] == str(before[0][0])  # no model yet: the batch opens with the top of the ranking
    assert len({q["object_id"] for q in queue}) == 4
    labels = _some_labels(url, run, cfg, n_each=2)
    vocabulary = {"merger_tidal": "merger", "blue_clumpy": "star_forming_clump"}
    for oid, cls in labels.items():
        label = vocabulary.get(cls, cls if cls in rk.INTERESTING_CLASSES or cls in rk.ARTEFACT_CLASSES else "not_interesting")
        r = client.post("/api/labels", json={"object_id": str(oid), "label": label, "user_name": "ada", "run": run})
        assert r.status_code == 201, r.text
    second = client.post(f"/api/runs/{run}/rank", json={})
    assert second.status_code == 201
    body = second.json()
    assert body["n_labels"] == 4 and body["model"] == "gaussian_process" and body["ranking_id"] != first.json()["ranking_id"]
    after = _ranking(url, body["ranking_id"])
    assert [r[0] for r in after] != [r[0] for r in before]
    assert {r[0] for r in after if r[4]} == set(labels)
    queued = client.get(f"/api/runs/{run}/queue?n=6").json()["queue"]
    assert len(queued) == 6 and not {int(q["object_id"]) for q in queued} & set(labels)
    assert {q["why"] for q in queued} <= {"relevant", "uncertain"} and all(q["s_anom_sigma"] is not None for q in queued)
    assert all(0.0 <= q["prior"] <= 1.0 for q in queued)
    # the scatter can be coloured by the newest ranking's relevance
    pts = client.get(f"/api/runs/{run}/points?color=relevance&space=scores").json()
    rel = dict(zip(pts["object_id"], pts["color"]))
    assert all(rel[str(o)] == 1.0 for o, c in labels.items() if c in orc.INTERESTING)
    # CLI queue agrees with the API
    out = CliRunner().invoke(app, ["rank", "queue", "--run", str(run), "-n", "6"])
    assert out.exit_code == 0 and all(q["object_id"] in _text(out) for q in queued)
    assert "prior u" in _text(out) and f"{queued[0]['prior']:.3f}" in _text(out)


def _poisoned(clean: dict[int, str], asked: set[int], path) -> None:
    """The truth file, but every object never asked about has an unparseable class."""
    with open(path, "w") as f:
        f.write("object_id,anomaly_class\n")
        for oid, cls in clean.items():
            f.write(f"{oid},{cls if oid in asked else '<poison>'}\n")


def test_oracle_rounds_are_stored_and_never_read_unlabelled_truth(scored_db, tmp_path):
    url, cfg, state = scored_db
    run = state.run_id
    truth_file = cfg.sim_dir / "labels.csv"
    clean = _truth(cfg)
    asked: list[int] = []
    real_label = orc.Oracle.label

    def spy(self, object_id):
        asked.append(int(object_id))
        return real_label(self, object_id)

    orc.Oracle.label = spy
    try:
        result = orc.evaluate_oracle(url, run, truth_file, rounds=2, per_round=5)
    finally:
        orc.Oracle.label = real_label
    assert len(asked) == len(set(asked)) == 10
    table = result.rounds
    assert list(table["round"]) == [0, 1, 2] and list(table["n_labels"]) == [0, 5, 10]
    assert table.loc[0, "roc_auc"] == pytest.approx(result.baselines["s_gen"]["roc_auc"])  # round 0 is the s_gen ranking (one detector: the WGAN's best score)
    assert result.baseline == {"score": "s_disc", **result.baselines["s_disc"]}  # measured beside it
    assert table.loc[2, "roc_auc"] > table.loc[0, "roc_auc"]

    poisoned = tmp_path / "poisoned.csv"
    _poisoned(clean, set(asked), poisoned)
    with pytest.raises(orc.OracleError, match="line .*: field anomaly_class: '<poison>'"):
        orc.Oracle(poisoned).label(next(o for o in clean if o not in asked))
    out = CliRunner().invoke(app, ["evaluate", "--run", str(run), "--oracle", str(poisoned), "--truth", str(truth_file),
                                   "--rounds", "2", "--per-round", "5"])
    assert out.exit_code == 0, out.output
    assert "round 2" in _text(out) and "s_disc alone (unsupervised)" in _text(out)
    with psycopg.connect(url) as conn:
        evaluations = conn.execute("SELECT id, params FROM evaluation WHERE run_id = %s ORDER BY id", (run,)).fetchall()
        metrics = conn.execute(
            "SELECT score, anomaly_class, roc_auc FROM evaluation_metric WHERE evaluation_id = %s ORDER BY score", (evaluations[-1][0],)
        ).fetchall()
    assert len(evaluations) == 2
    first, second = (e[1]["per_round_figures"] for e in evaluations)
    strip = lambda rows: [{k: v for k, v in r.items() if k != "ranking_id"} for r in rows]  # noqa: E731
    assert strip(first) == strip(second)  # the poison was never read
    assert [m[0] for m in metrics] == ["relevance_round0", "relevance_round1", "relevance_round2", "s_anom", "s_disc", "s_gen"]
    assert {m[1] for m in metrics} == {"interesting"}


def test_oracle_names_a_class_it_does_not_know(scored_db, tmp_path):
    url, cfg, state = scored_db
    typo = tmp_path / "typo.csv"
    with open(typo, "w") as f:
        f.write("object_id,anomaly_class\n")
        for k, (oid, cls) in enumerate(_truth(cfg).items()):
            f.write(f"{oid},{'mergr' if k == 0 else cls}\n")  # a typo of merger_tidal
    result = orc.evaluate_oracle(url, state.run_id, typo, rounds=0)
    assert any("'mergr'" in n and "typo.csv" in n and "count as not interesting" in n for n in result.notes)


def test_embed_all_embeds_every_scored_object_and_resumes_after_a_kill(scored_db, tmp_path, monkeypatch):
    url, cfg, state = scored_db
    monkeypatch.setenv("HSCANOM_HOME", str(tmp_path))  # the CLI call below finds the CAEs trained here
    run = state.run_id
    with psycopg.connect(url) as conn:
        top = [r[0] for r in conn.execute("SELECT object_id FROM anomaly_score WHERE run_id = %s ORDER BY s_disc DESC LIMIT 12", (run,))]
        n_scored = conn.execute("SELECT count(*) FROM anomaly_score WHERE run_id = %s", (run,)).fetchone()[0]
    create_sample("top12", "SELECT unnest(%(ids)s::bigint[]) AS object_id", params={"ids": top}, url=url)
    with pytest.raises(ch.CharacterizeError, match="characterize --run"):
        ch.embed_all(url, run)
    ch.characterize(url, run, home=tmp_path, sample="top12", max_epochs=1, gmm_components=2)

    class Killed(Exception):
        pass

    def kill_after_first(stage, done, total, info):
        raise Killed

    with pytest.raises(Killed):
        ch.embed_all(url, run, batch=16, progress=kill_after_first)
    with psycopg.connect(url) as conn:
        partial = conn.execute("SELECT count(*) FROM embedding WHERE run_id = %s AND kind = 'residual'", (run,)).fetchone()[0]
    assert partial == 12 + 16
    out = CliRunner().invoke(app, ["characterize", "--run", str(run), "--sample", "top12", "--max-epochs", "1", "--gmm-components", "2", "--all"])
    assert out.exit_code == 0, out.output
    assert f"--all: {n_scored:,} scored objects" in _text(out)
    with psycopg.connect(url) as conn:
        per_kind = dict(conn.execute(
            "SELECT kind, count(DISTINCT object_id) FROM embedding WHERE run_id = %s GROUP BY kind", (run,)).fetchall())
        models = conn.execute("SELECT count(DISTINCT model_id) FROM embedding WHERE run_id = %s", (run,)).fetchone()[0]
        feats = rk.load_features(conn, run)
    assert per_kind == {"residual": n_scored, "real": n_scored} and models == 2
    assert feats.embedded == 1.0 and feats.x.shape == (n_scored, len(rk.SCORE_FEATURES) + len(rk.METADATA_FEATURES) + 128)
    assert np.isfinite(feats.x).all() and feats.object_ids.dtype == np.int64
    again = ch.embed_all(url, run)
    assert again.written == {"residual": 0, "real": 0}


def test_release_and_report_carry_the_newest_ranking(scored_db, tmp_path):
    import json

    import pandas as pd

    from hscanom.catalog import release
    from hscanom.catalog.release import verify
    from hscanom.report import build_report
    from hscanom.sql import load, run as run_query

    from test_release import _characterised

    url, cfg, state = scored_db
    run = state.run_id
    _characterised(url, run)
    without = release.cut(url, "plain", run, out=tmp_path / "rel")
    assert "relevance" not in pd.read_parquet(without.path / "anomaly_catalog_hsc_extended.parquet").columns
    result = orc.evaluate_oracle(url, run, cfg.sim_dir / "labels.csv", rounds=1, per_round=6)
    newest = int(result.rounds["ranking_id"].iloc[-1])
    info = release.cut(url, "ranked", run, out=tmp_path / "rel")
    assert verify(info.path) == []
    manifest = json.loads((info.path / "manifest.json").read_text())
    assert manifest["ranking"]["id"] == newest and manifest["ranking"]["n_labels"] == 6
    ext = pd.read_parquet(info.path / "anomaly_catalog_hsc_extended.parquet")
    stored = {r[0]: r for r in _ranking(url, newest)}
    assert len(ext) == len(stored)
    for oid, rel, rank in zip(ext["object_id"], ext["relevance"], ext["relevance_rank"]):
        assert rel == stored[int(oid)][1] and rank == stored[int(oid)][3]
    assert "relevance_rank" in (info.path / "README.md").read_text()

    top = run_query(load("top-ranked"), {"ranking_id": newest, "limit": 5}, url=url)
    assert [int(r[1]) for r in top.rows] == [r[0] for r in _ranking(url, newest)[:5]]

    index = build_report(url, run, tmp_path / "report")
    page = index.read_text()
    assert (tmp_path / "report" / "ranking_rounds.png").is_file() and "ranking_rounds.png" in page
    assert f"Evaluation {result.evaluation_id}" in page


def _toy_features() -> rk.Features:
    """60 objects in three groups of the design space: 40 normal (low score), 10 'artefacts'
    (highest scores, all alike) and 10 'interesting' (high scores, unlike the artefacts)."""
    rng = np.random.default_rng(3)
    names = [*rk.SCORE_FEATURES, *rk.METADATA_FEATURES]
    x = rng.normal(0.0, 0.05, (60, len(names)))
    x[40:60] *= 0.1      # each anomalous group is tight...
    x[40:50, 3] += 6.0   # ...artefacts far out in g-r
    x[50:60, 4] += 6.0   # ...interesting ones far out in r-i
    prior = np.concatenate([rng.uniform(0, 1, 40), rng.uniform(5, 6, 10), rng.uniform(3, 4, 10)])
    return rk.Features(np.arange(1, 61, dtype=np.int64) * 1000, x, names, prior, "s_anom", 1.0)


def test_gaussian_process_lifts_the_like_of_a_labelled_interesting_object_and_drops_the_like_of_an_artefact():
    f = _toy_features()
    labels = {f.object_ids[i]: i >= 50 for i in (40, 41, 42, 50, 51, 52)}  # three of each group
    fit = rk.fit_relevance(f, labels)
    assert fit.model == "gaussian_process" and fit.params["n_labels"] == 6
    artefacts, interesting = fit.relevance[43:50], fit.relevance[53:60]
    assert (f.prior[40:50].min() > f.prior[50:60].max()) and interesting.min() > artefacts.max()  # the labels reversed the order
    assert interesting.min() > fit.relevance[:40].max()   # and lifted the interesting group above every normal one
    assert fit.uncertainty[53:60].max() < 0.3 < 0.45 < fit.uncertainty[:40].min()  # the GP is sure near its labels only
    assert (fit.relevance[41], fit.relevance[51], fit.uncertainty[51]) == (0.0, 1.0, 0.0)
    zero = rk.fit_relevance(f, {})
    assert zero.model == "prior" and list(zero.rank) == list(rk.order(rk.prior_relevance(f.prior), f.object_ids))


def test_queue_batch_does_not_spend_its_labels_on_copies_of_one_kind():
    f = _toy_features()
    picks = rk.queue_from(f, rk.prior_relevance(f.prior), np.zeros(60, bool), 4)
    idx = [int(np.flatnonzero(f.object_ids == oid)[0]) for oid, _ in picks]
    assert idx[0] == int(np.argmax(f.prior))             # the batch opens with the top of the ranking
    assert any(50 <= i < 60 for i in idx[:3])             # ...and reaches the second group within three picks
    # by the unsupervised order alone, the first 10 would all be the artefact group
    assert set(np.argsort(-f.prior)[:10]) == set(range(40, 50))


def test_unknown_label_classes_are_named_in_a_note(scored_db, tmp_path):
    url, cfg, state = scored_db
    labels = _some_labels(url, state.run_id, cfg, n_each=1)
    path = tmp_path / "labels.csv"
    path.write_text("object_id,label\n" + "".join(f"{o},{'Merger' if k in orc.INTERESTING else 'martian'}\n" for o, k in labels.items()))
    out = CliRunner().invoke(app, ["rank", "--run", str(state.run_id), "--labels", str(path)])
    assert out.exit_code == 0, out.output
    text = _text(out)
    assert "'Merger', 'martian' are not among the known classes" in text and "(0 interesting)" in text
    assert f"rank queue --run {state.run_id} --ranking" in text


def test_a_database_without_the_schema_gets_the_upgrade_hint_not_a_traceback(empty_db_url):
    out = CliRunner().invoke(app, ["rank", "--run", "1"])
    assert out.exit_code == 1 and "Traceback" not in out.output
    assert "run `hscanom db upgrade`" in _text(out) and "score_run" in _text(out)
