"""Detection quality tools (issue 15): `hscanom evaluate` against hand-computed AUC and AP,
the paper's-finding test, the aperture fidelity measure, the baselines, and the detection
benchmark end to end at a tiny size."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import psycopg
import pytest
from typer.testing import CliRunner

from hscanom.cli import app
from hscanom.ml import baselines
from hscanom.ml.evaluate import aperture_flux_ratios, central_aperture, fidelity_summary, paper_finding, paper_finding_summary, side_by_side

ROOT = Path(__file__).resolve().parent.parent
BASE = 2**60 + 7  # ids beyond 2^53


def _scored_run(conn, ids, s_gen, s_disc) -> int:
    for k, oid in enumerate(ids):
        conn.execute("INSERT INTO hsc_object (object_id, ra, dec) VALUES (%s, %s, 0.5)", (oid, 40 + k * 1e-3))
    sample_id = conn.execute("INSERT INTO sample (name, sql, n_members) VALUES ('hand', 'test', %s) RETURNING id", (len(ids),)).fetchone()[0]
    for idx, oid in enumerate(ids):
        conn.execute("INSERT INTO sample_member (sample_id, object_id, idx) VALUES (%s, %s, %s)", (sample_id, oid, idx))
    model_id = conn.execute("INSERT INTO model (kind, config) VALUES ('wgan', '{}') RETURNING id").fetchone()[0]
    run_id = conn.execute(
        "INSERT INTO score_run (method, model_id, sample_id, status) VALUES ('wgan', %s, %s, 'complete') RETURNING id", (model_id, sample_id)
    ).fetchone()[0]
    for oid, g, d in zip(ids, s_gen, s_disc):
        conn.execute("INSERT INTO anomaly_score (run_id, object_id, s_gen, s_disc, s_anom) VALUES (%s, %s, %s, %s, %s)", (run_id, oid, g, d, g + d))
    return run_id


def test_evaluate_command_gives_hand_computed_auc_and_ap(db_url, tmp_path):
    # 4 normals and 2 anomalies: a = one blue_core (interesting), b = one streak (artefact).
    classes = ["normal", "normal", "normal", "normal", "blue_core", "streak"]
    ids = [BASE + k for k in range(6)]
    # s_gen ranks: b 0.9 > n 0.4 > a 0.35 > n 0.3 > n 0.2 > n 0.1
    s_gen = [0.1, 0.2, 0.3, 0.4, 0.35, 0.9]
    # s_disc with ties: normals 1, 1, 0, 0; a = 1, b = 0
    s_disc = [1.0, 1.0, 0.0, 0.0, 1.0, 0.0]
    with psycopg.connect(db_url, autocommit=True) as conn:
        run_id = _scored_run(conn, ids, s_gen, s_disc)
    truth = tmp_path / "truth.csv"
    truth.write_text("object_id,anomaly_class\n" + "".join(f"{i},{c}\n" for i, c in zip(ids, classes)))

    out = CliRunner().invoke(app, ["evaluate", "--run", str(run_id), "--truth", str(truth)], env={"COLUMNS": "200"})
    assert out.exit_code == 0, out.output
    with psycopg.connect(db_url) as conn:
        rows = conn.execute(
            "SELECT score, anomaly_class, n_objects, n_positive, roc_auc, average_precision FROM evaluation_metric "
            "WHERE evaluation_id = (SELECT max(id) FROM evaluation)"
        ).fetchall()
    got = {(s, c): (n, p, auc, ap) for s, c, n, p, auc, ap in rows}
    # s_gen, all: b beats 4 normals, a beats 3 -> AUC 7/8. Ranked: b (P=1 at R=1/2), n, a (P=2/3 at R=1) -> AP = 1/2 + 1/3.
    assert got[("s_gen", "all")][:2] == (6, 2)
    assert got[("s_gen", "all")][2] == pytest.approx(7 / 8)
    assert got[("s_gen", "all")][3] == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)
    # class a alone against the 4 normals: beats 3 of 4 -> 3/4; one normal above it -> AP = 1/2.
    assert got[("s_gen", "blue_core")][:2] == (5, 1)
    assert got[("s_gen", "blue_core")][2] == pytest.approx(0.75)
    assert got[("s_gen", "blue_core")][3] == pytest.approx(0.5)
    assert got[("s_gen", "streak")][2:] == (pytest.approx(1.0), pytest.approx(1.0))
    # s_disc with ties: a (=1) ties 2 normals and beats 2 -> 3; b (=0) ties 2 -> 1; AUC = 4/8.
    # Thresholds 1 (3 selected, 1 positive) and 0 (all 6, 2 positives): AP = 1/2 * 1/3 + 1/2 * 1/3.
    assert got[("s_disc", "all")][2] == pytest.approx(0.5)
    assert got[("s_disc", "all")][3] == pytest.approx(1 / 3)
    assert "0.875" in out.output
    # s_disc per class: blue_core (=1) ties 2 normals, beats 2 -> 3/4; streak (=0) ties 2, below 2 -> 1/4.
    assert got[("s_disc", "blue_core")][2] == pytest.approx(0.75)
    assert got[("s_disc", "streak")][2] == pytest.approx(0.25)
    # the paper's finding, with those numbers: a tie is not "above"
    text = " ".join(out.output.split())
    assert "s_disc ranks 0 of 1 interesting classes above s_gen (mean AUC 0.750 vs 0.750)" in text
    assert "s_gen ranks 1 of 1 artefact classes above s_disc (mean AUC 1.000 vs 0.250)" in text


def test_paper_finding_and_side_by_side_on_a_hand_made_table():
    rows = []
    for cls, g, d in (("all", 0.7, 0.6), ("blue_core", 0.3, 0.8), ("merger_tidal", 0.6, 0.5), ("streak", 0.9, 0.4), ("bright_star", 0.5, 0.5)):
        rows += [{"run_id": 4, "method": "wgan", "score": "s_gen", "anomaly_class": cls, "roc_auc": g, "average_precision": g / 2},
                 {"run_id": 4, "method": "wgan", "score": "s_disc", "anomaly_class": cls, "roc_auc": d, "average_precision": d / 2}]
    rows.append({"run_id": 5, "method": "dcae", "score": "s_anom", "anomaly_class": "all", "roc_auc": 0.8, "average_precision": 0.3})
    table = pd.DataFrame(rows)

    finding = paper_finding(table, 4).set_index("anomaly_class")
    assert list(finding.index) == ["merger_tidal", "blue_core", "streak", "bright_star"]
    assert finding.loc["blue_core", "as_paper"] and finding.loc["blue_core", "difference"] == pytest.approx(0.5)
    assert not finding.loc["merger_tidal", "as_paper"]
    assert finding.loc["streak", "as_paper"] and finding.loc["streak", "group"] == "artefact"
    assert not finding.loc["bright_star", "as_paper"]  # a tie is not "above"
    text = paper_finding_summary(paper_finding(table, 4))
    assert "does not hold" in text and "1 of 2 interesting" in text and "1 of 2 artefact" in text
    assert paper_finding(table, 5).empty  # a DCAE run has no s_disc

    wide = side_by_side(table, "roc_auc")
    assert list(wide.columns) == ["wgan s_gen (run 4)", "wgan s_disc (run 4)", "dcae s_anom (run 5)"]
    assert wide.index[0] == "all" and wide.loc["all", "dcae s_anom (run 5)"] == pytest.approx(0.8)
    assert wide.loc["streak", "dcae s_anom (run 5)"] is None or np.isnan(wide.loc["streak", "dcae s_anom (run 5)"])


def test_aperture_flux_ratio_and_its_summary():
    ap = central_aperture(96, 6.0)
    # pixel centres (+-0.5, +-1.5, ...) from (47.5, 47.5) within 6 px: per quadrant 6+6+5+5+4+2 = 28
    assert ap.sum() == 4 * 28
    assert ap[47, 47] and ap[48, 48] and not ap[47, 40] and not ap[0, 0]
    real = np.full((2, 96, 96, 3), 0.5, np.float32)
    rec = real * np.array([0.9, 1.0, 1.2], np.float32)
    rec[:, 0, 0] = 1.0  # outside the aperture: ignored
    real[1, ap, 2] = 0.0  # no real flux in B: ratio undefined
    ratios = aperture_flux_ratios(real, rec)
    assert ratios[0] == pytest.approx([0.9, 1.0, 1.2])
    assert np.isnan(ratios[1, 2])
    summary = fidelity_summary(np.array([[1.0, 1, 1], [2, 2, 2], [3, 3, 3], [4, 4, np.nan]]))
    r = summary.set_index("channel")
    assert r.loc["R", "median"] == pytest.approx(2.5) and r.loc["R", "iqr"] == pytest.approx(1.5)
    assert r.loc["B", "n"] == 3 and r.loc["B", "median"] == pytest.approx(2.0)
    with pytest.raises(ValueError):
        aperture_flux_ratios(real, rec[:, :48])


def test_baselines_put_the_odd_one_out_on_top():
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:32, :32]
    blob = np.exp(-((xx - 15.5) ** 2 + (yy - 15.5) ** 2) / 30.0)[None, :, :, None] * np.array([0.6, 0.4, 0.2])
    images = (rng.uniform(0.5, 1.0, (80, 1, 1, 1)) * blob + rng.normal(0, 0.02, (80, 32, 32, 3))).clip(0, 1).astype(np.float32)
    images[17, 10:22, 10:22, 2] = 1.0  # one galaxy-like blob with a bright blue square on it
    scores = baselines.pixel_pca_iforest(images, n_components=4, seed=1)
    assert scores.shape == (80,) and int(np.argmax(scores)) == 17
    assert np.array_equal(scores, baselines.pixel_pca_iforest(images, n_components=4, seed=1))  # seeded

    feats = np.column_stack([rng.normal(0.6, 0.1, 80), rng.normal(0.3, 0.05, 80), rng.normal(1.0, 0.1, 80), rng.uniform(0, 0.3, 80)])
    feats[5] = [2.0, 0.9, 4.0, 0.1]  # a very red, large object
    feats[9, 2] = np.nan  # a failed size measurement is imputed, not fatal
    scores = baselines.catalog_iforest(feats, seed=1)
    assert int(np.argmax(scores)) == 5 and np.isfinite(scores).all()
    with pytest.raises(ValueError, match="N >= 2"):
        baselines.pixel_pca_iforest(images[:1])
    with pytest.raises(ValueError, match="binning"):
        baselines.pixel_pca_iforest(images[:, :31, :31], binning=2)


def _bench_module():
    spec = importlib.util.spec_from_file_location("bench_detect", ROOT / "bench" / "bench_detect.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_detect"] = module
    spec.loader.exec_module(module)
    return module


def test_bench_detect_runs_end_to_end_at_a_tiny_size(db_url, tmp_path, monkeypatch, capsys):
    bench = _bench_module()
    out = tmp_path / "out"
    summary = bench.main([
        "--objects", "60", "--anomaly-fraction", "0.3", "--seed", "3", "--preset", "test", "--image-size", "32",
        "--score-batch", "64", "--home", str(tmp_path / "home"), "--out", str(out),
    ])
    printed = capsys.readouterr().out
    detectors = {m["detector"] for m in summary["metrics"]}
    assert detectors == {"wgan s_gen", "wgan s_disc", "wgan s_anom", "wgan s_ap", "dcae s_anom", "dcae s_gen", "pixel_pca_iforest", "catalog_iforest"}
    overall = [m for m in summary["metrics"] if m["anomaly_class"] == "all"]
    assert len(overall) == 8 and all(0.0 <= m["roc_auc"] <= 1.0 and 0.0 < m["average_precision"] <= 1.0 for m in overall)
    assert all(m["n_objects"] == 60 and m["n_positive"] == 18 for m in overall)
    assert {(f["detector"], f["channel"]) for f in summary["fidelity"]} == {(d, c) for d in ("wgan", "dcae") for c in "RGB"}
    assert len(summary["paper_finding"]) == 8
    for name in ("scores.csv", "metrics.csv", "fidelity.csv", "summary.json", "score_ranks.png"):
        assert (out / name).stat().st_size > 0
    assert "ROC AUC and average precision" in printed and "reconstruction fidelity" in printed and "paper's finding" in printed
    scores = pd.read_csv(out / "scores.csv")
    assert scores["object_id"].dtype == np.int64 and len(scores) == 60

    # a second run reuses the home: nothing is simulated, trained or scored again
    again = bench.main([
        "--objects", "60", "--anomaly-fraction", "0.3", "--seed", "3", "--preset", "test", "--image-size", "32",
        "--score-batch", "64", "--home", str(tmp_path / "home"),
    ])
    assert (again["wgan_run"], again["dcae_run"]) == (summary["wgan_run"], summary["dcae_run"])
    assert "reused: " in capsys.readouterr().out
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT count(*) FROM score_run").fetchone()[0] == 2
