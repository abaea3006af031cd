"""The evaluation harness against hand-made score runs: metrics agree with scikit-learn,
recall/purity by hand, truth from the object_label table, malformed truth files refused."""

from __future__ import annotations

import numpy as np
import pandas as pd
import psycopg
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from hscanom.ml.evaluate import TruthError, evaluate, read_truth_csv

BASE = 2**60 + 1  # ids beyond 2^53 must survive


def _make_run(conn, ids: list[int], columns: dict[str, list[float | None]], method: str = "wgan", sample_id: int | None = None) -> tuple[int, int]:
    """Insert objects (if new), a sample, a model and a complete score run with the given raw scores."""
    for k, oid in enumerate(ids):
        conn.execute("INSERT INTO hsc_object (object_id, ra, dec) VALUES (%s, %s, 0.5) ON CONFLICT DO NOTHING", (oid, 30 + k * 1e-3))
    if sample_id is None:
        sample_id = conn.execute("INSERT INTO sample (name, sql, n_members) VALUES (%s, 'test', %s) RETURNING id", (f"s{ids[0]}-{len(ids)}", len(ids))).fetchone()[0]
        for idx, oid in enumerate(sorted(ids)):
            conn.execute("INSERT INTO sample_member (sample_id, object_id, idx) VALUES (%s, %s, %s)", (sample_id, oid, idx))
    model_id = conn.execute("INSERT INTO model (kind, config) VALUES (%s, '{}') RETURNING id", (method,)).fetchone()[0]
    run_id = conn.execute(
        "INSERT INTO score_run (method, model_id, sample_id, status) VALUES (%s, %s, %s, 'complete') RETURNING id", (method, model_id, sample_id)
    ).fetchone()[0]
    values = [columns.get(c, [None] * len(ids)) for c in ("s_gen", "s_disc", "s_anom")]
    for oid, g, d, a in zip(ids, *values):
        conn.execute("INSERT INTO anomaly_score (run_id, object_id, s_gen, s_disc, s_anom) VALUES (%s, %s, %s, %s, %s)", (run_id, oid, g, d, a))
    return run_id, sample_id


def _write_truth(path, ids, classes) -> None:
    path.write_text("object_id,anomaly_class\n" + "".join(f"{i},{c}\n" for i, c in zip(ids, classes)))


def _metric(url, evaluation_id, run_id, score, cls):
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT n_objects, n_positive, roc_auc, average_precision, recall_3sigma, purity_3sigma, frac_above_3sigma "
            "FROM evaluation_metric WHERE evaluation_id = %s AND run_id = %s AND score = %s AND anomaly_class = %s",
            (evaluation_id, run_id, score, cls),
        ).fetchone()


def test_metrics_equal_scikit_learn(db_url, tmp_path):
    rng = np.random.default_rng(5)
    n = 60
    ids = [BASE + 3 * k for k in range(n)]
    classes = rng.choice(["normal", "merger", "artefact"], size=n, p=[0.6, 0.25, 0.15]).tolist()
    positive = np.array([c != "normal" for c in classes])
    s_gen = rng.normal(size=n) + 1.5 * positive
    s_disc = rng.normal(size=n) + 0.5 * (np.array(classes) == "merger")
    with psycopg.connect(db_url, autocommit=True) as conn:
        run_id, _ = _make_run(conn, ids, {"s_gen": s_gen.tolist(), "s_disc": s_disc.tolist(), "s_anom": (s_gen + s_disc).tolist()})
    _write_truth(tmp_path / "truth.csv", ids, classes)

    result = evaluate(db_url, run_id, truth=tmp_path / "truth.csv", compare=[])

    assert set(result.table["anomaly_class"]) == {"all", "merger", "artefact"}
    assert len(result.table) == 3 * 3
    for score, values in (("s_gen", s_gen), ("s_disc", s_disc)):
        row = _metric(db_url, result.evaluation_id, run_id, score, "all")
        assert row[:2] == (n, positive.sum())
        assert row[2] == pytest.approx(roc_auc_score(positive, values), abs=1e-12)
        assert row[3] == pytest.approx(average_precision_score(positive, values), abs=1e-12)
        for cls in ("merger", "artefact"):
            keep = np.array([c in ("normal", cls) for c in classes])
            y = np.array(classes)[keep] == cls
            row = _metric(db_url, result.evaluation_id, run_id, score, cls)
            assert row[:2] == (keep.sum(), y.sum())
            assert row[2] == pytest.approx(roc_auc_score(y, values[keep]), abs=1e-12)
            assert row[3] == pytest.approx(average_precision_score(y, values[keep]), abs=1e-12)
    with psycopg.connect(db_url) as conn:
        truth, params = conn.execute("SELECT truth, params FROM evaluation WHERE id = %s", (result.evaluation_id,)).fetchone()
    assert truth.startswith(str((tmp_path / "truth.csv").resolve())) and "sha256:" in truth
    assert params["threshold"] == 3.0 and params["runs"] == [run_id]


def test_recall_purity_by_hand_and_compared_runs(db_url, tmp_path):
    # 10 scored objects: score 10 for a merger, the artefact and one normal; 0 for the rest.
    # mean 3, population std sqrt(21) = 4.58 -> the 10s are at +1.53 sigma, the 0s at -0.65.
    ids = [BASE + k for k in range(10)]
    classes = ["merger", "artefact", "normal", "merger"] + ["normal"] * 6
    raw = [10.0, 10.0, 10.0] + [0.0] * 7
    unscored = BASE + 99  # in the truth, never scored; its class 'streak' has no scored positive
    with psycopg.connect(db_url, autocommit=True) as conn:
        run_id, sample_id = _make_run(conn, ids, {"s_gen": raw, "s_anom": raw})
        other, _ = _make_run(conn, ids, {"s_anom": [float(k) for k in range(10)]}, method="dcae", sample_id=sample_id)
    _write_truth(tmp_path / "truth.csv", ids + [unscored], classes + ["streak"])

    result = evaluate(db_url, run_id, truth=tmp_path / "truth.csv", threshold=1.0)

    assert result.runs == [run_id, other]  # the other complete run on the sample, by default
    e = result.evaluation_id
    # all: 3 positives, 3 selected of which 2 positive; AUC = 16/21 (pairs won + half the ties).
    assert _metric(db_url, e, run_id, "s_gen", "all") == (10, 3, pytest.approx(16 / 21), pytest.approx(average_precision_score([1, 1, 0, 1, 0, 0, 0, 0, 0, 0], raw)), 2 / 3, 2 / 3, 3 / 10)
    # merger vs normals (the artefact left out): 2 positives, 2 of 9 selected, 1 of them a merger.
    assert _metric(db_url, e, run_id, "s_gen", "merger")[:2] == (9, 2)
    assert _metric(db_url, e, run_id, "s_gen", "merger")[4:] == pytest.approx((1 / 2, 1 / 2, 2 / 9))
    assert _metric(db_url, e, run_id, "s_gen", "artefact")[:2] == (8, 1)
    assert _metric(db_url, e, run_id, "s_gen", "artefact")[4:] == pytest.approx((1.0, 1 / 2, 2 / 8))
    assert _metric(db_url, e, run_id, "s_gen", "streak") == (7, 0, None, None, None, None, None)
    # s_disc is NULL everywhere: no rows for it; the dcae run has only s_anom.
    assert set(result.table.query(f"run_id == {run_id}")["score"]) == {"s_gen", "s_anom"}
    assert set(result.table.query(f"run_id == {other}")["score"]) == {"s_anom"}
    assert result.table.query(f"run_id == {other}")["method"].unique().tolist() == ["dcae"]
    assert any("1 truth objects were not scored" in note for note in result.notes)
    # The same evaluation again is the stored one; another threshold is a new evaluation.
    again = evaluate(db_url, run_id, truth=tmp_path / "truth.csv", threshold=1.0)
    assert again.reused and again.evaluation_id == e
    pd.testing.assert_frame_equal(again.table, result.table)
    assert evaluate(db_url, run_id, truth=tmp_path / "truth.csv", threshold=2.0).evaluation_id != e


def test_truth_from_object_label_table(db_url):
    ids = [BASE + 10 * k for k in range(8)]
    raw = [5.0, 4.0, 3.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    with psycopg.connect(db_url, autocommit=True) as conn:
        run_id, _ = _make_run(conn, ids, {"s_disc": raw})
        conn.execute("INSERT INTO object_label (object_id, label, user_name) VALUES (%s, 'artefact', 'a')", (ids[0],))
        conn.execute("INSERT INTO object_label (object_id, label, user_name) VALUES (%s, 'merger', 'b')", (ids[0],))  # newer wins
        conn.execute("INSERT INTO object_label (object_id, label, user_name) VALUES (%s, 'merger', 'a')", (ids[1],))
        conn.execute("INSERT INTO object_label (object_id, label, user_name) VALUES (%s, 'streak', 'a')", (ids[5],))

    result = evaluate(db_url, run_id, truth="labels", compare=[], threshold=1.0)

    table = result.table.set_index("anomaly_class")
    assert table.loc["all", "n_objects"] == 8 and table.loc["all", "n_positive"] == 3  # unlabelled -> negatives
    assert table.loc["merger", "n_positive"] == 2 and table.loc["merger", "n_objects"] == 7
    assert table.loc["streak", "roc_auc"] == pytest.approx(roc_auc_score([0, 0, 0, 0, 0, 1], [3.0, 0, 0, 0, 0, 0]))
    assert "artefact" not in table.index  # superseded by the newer label
    assert table.loc["merger", "roc_auc"] == 1.0
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT truth FROM evaluation WHERE id = %s", (result.evaluation_id,)).fetchone()[0] == "object_label"
    assert any("without a label" in note for note in result.notes)
    assert evaluate(db_url, run_id, truth="labels", compare=[], threshold=1.0).reused
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("INSERT INTO object_label (object_id, label, user_name) VALUES (%s, 'merger', 'c')", (ids[2],))
    relabelled = evaluate(db_url, run_id, truth="labels", compare=[], threshold=1.0)
    assert not relabelled.reused and relabelled.table.set_index("anomaly_class").loc["merger", "n_positive"] == 3


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("object_id,kind\n1,normal\n", "line 1: missing column 'anomaly_class'"),
        ("object_id,anomaly_class\n1,normal\n2.5,merger\n", "line 3: field object_id: '2.5'"),
        ("object_id,anomaly_class\n1,normal\n\n9223372036854775808,merger\n", "line 4: field object_id"),
        ("object_id,anomaly_class\n1,normal\n2,\n", "line 3: field anomaly_class: empty"),
        ("object_id,anomaly_class\n1,normal\n1,merger\n", "line 3: field anomaly_class: object 1 is 'merger' here but 'normal' on line 2"),
    ],
)
def test_malformed_truth_file_names_file_line_and_field(tmp_path, text, expected):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(TruthError) as info:
        read_truth_csv(path)
    assert str(path) in str(info.value) and expected in str(info.value)


def test_truth_is_required_and_ids_stay_exact(db_url, tmp_path):
    with psycopg.connect(db_url, autocommit=True) as conn:
        run_id, _ = _make_run(conn, [BASE], {"s_gen": [1.0]})
    with pytest.raises(TruthError, match="--truth"):
        evaluate(db_url, run_id, compare=[])
    big = 2**63 - 1
    _write_truth(tmp_path / "t.csv", [big, BASE], ["merger", "normal"])
    assert read_truth_csv(tmp_path / "t.csv").classes == {big: "merger", BASE: "normal"}
