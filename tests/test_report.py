"""hscanom report: the HTML page of a score run and its PNG figures (hscanom.report)."""

from __future__ import annotations

import json
import re

import numpy as np
import psycopg
import pytest
from PIL import Image
from typer.testing import CliRunner

from hscanom.cli import app
from hscanom.report import ReportError, build_report
from hscanom.report.build import MAX_IMAGES, STEPS
from hscanom.report.data import UMAP_KINDS


# -- rows that `hscanom characterize` and `hscanom evaluate` would write, made by hand ------
def characterise_by_hand(url: str, run_id: int, n_clusters: int = 3, seed: int = 0) -> int:
    """A 'cae' model row with residual/real embeddings, the four UMAP kinds and GMM labels.

    Objects fall into ``n_clusters`` blobs; returns the CAE model id.
    """
    rng = np.random.default_rng(seed)
    with psycopg.connect(url) as conn:
        ids = [r[0] for r in conn.execute("SELECT object_id FROM anomaly_score WHERE run_id = %s ORDER BY object_id", (run_id,))]
        model_id = conn.execute(
            "INSERT INTO model (kind, config, checkpoint_uri, sha256) VALUES ('cae', '{\"latent_dim\": 4}', '/nowhere/cae', 'x') RETURNING id"
        ).fetchone()[0]
        labels = rng.integers(0, n_clusters, len(ids))
        centres = rng.normal(0, 6, (n_clusters, 2))
        with conn.cursor() as cur:
            for kind in ("residual", "real"):
                cur.executemany(
                    "INSERT INTO embedding (run_id, model_id, object_id, kind, vector) VALUES (%s, %s, %s, %s, %s)",
                    [(run_id, model_id, oid, kind, rng.normal(size=4).tolist()) for oid in ids],
                )
            for kind in UMAP_KINDS:
                xy = centres[labels] + rng.normal(0, 1, (len(ids), 2))
                cur.executemany(
                    "INSERT INTO umap_coord (run_id, model_id, object_id, kind, x, y) VALUES (%s, %s, %s, %s, %s, %s)",
                    [(run_id, model_id, oid, kind, float(x), float(y)) for oid, (x, y) in zip(ids, xy)],
                )
            cur.executemany(
                "INSERT INTO cluster_label (run_id, model_id, object_id, method, label, probability) VALUES (%s, %s, %s, 'gmm', %s, 0.9)",
                [(run_id, model_id, oid, int(lab)) for oid, lab in zip(ids, labels)],
            )
    return model_id


def evaluate_by_hand(url: str, run_id: int) -> int:
    """An evaluation with metric rows for each score, for 'all' and one class; returns its id."""
    with psycopg.connect(url) as conn:
        eval_id = conn.execute(
            "INSERT INTO evaluation (run_id, truth, params) VALUES (%s, 'labels.csv (sha256 abc)', '{\"threshold_sigma\": 3}') RETURNING id",
            (run_id,),
        ).fetchone()[0]
        for k, score in enumerate(("s_gen", "s_disc", "s_anom")):
            for cls in ("all", "merger"):
                conn.execute(
                    "INSERT INTO evaluation_metric (evaluation_id, run_id, score, anomaly_class, n_objects, n_positive, roc_auc, "
                    "average_precision, recall_3sigma, purity_3sigma, frac_above_3sigma) VALUES (%s, %s, %s, %s, 120, 12, %s, 0.5, 0.25, 0.75, 0.025)",
                    (eval_id, run_id, score, cls, 0.6 + 0.1 * k),
                )
    return eval_id


# -- checks shared by the tests ------------------------------------------------------------
#: Figures whose size does not depend on the data [pixels].
FIXED_SIZES = {
    "real_generated.png": (1250, 660),
    "triplets_low.png": (1350, 740),
    "triplets_3sigma.png": (1350, 740),
    "triplets_5sigma.png": (1350, 740),
    "score_histograms.png": (1500, 480),
    "score_scatter.png": (800, 680),
    "metadata.png": (1500, 960),
    "mask_fractions.png": (950, 580),
    "umaps.png": (1300, 1160),
    "clusters_umap.png": (1000, 760),
}


def check_folder(out_dir) -> tuple[str, dict]:
    """index.html references exactly the folder's PNGs; each opens at its recorded size."""
    html = (out_dir / "index.html").read_text(encoding="utf-8")
    manifest = json.loads((out_dir / "report.json").read_text())
    pngs = sorted(p.name for p in out_dir.glob("*.png"))
    assert pngs, "no figures written"
    assert sorted(re.findall(r'<img src="([^"]+)"', html)) == pngs
    assert sorted(f["file"] for f in manifest["figures"]) == pngs
    for f in manifest["figures"]:
        path = out_dir / f["file"]
        assert path.stat().st_size > 1000
        with Image.open(path) as im:
            im.verify()
        with Image.open(path) as im:
            assert im.format == "PNG"
            assert im.size == (f["width"], f["height"])
            assert im.size == FIXED_SIZES.get(f["file"], im.size)
    assert not list(out_dir.parent.glob(f".{out_dir.name}.*")), "temporary folders left behind"
    return html, manifest


def _bins_with_objects(url: str, run_id: int) -> dict[str, int]:
    from hscanom.report.build import SCORE_BINS

    with psycopg.connect(url) as conn:
        return {
            key: conn.execute(
                "SELECT count(*) FROM anomaly_score_normalized WHERE run_id = %s AND s_disc_sigma >= %s AND s_disc_sigma < %s",
                (run_id, lo, hi),
            ).fetchone()[0]
            for key, _d, lo, hi in SCORE_BINS
        }


# -- tests ---------------------------------------------------------------------------------
def test_report_of_an_uncharacterised_run_says_what_is_missing(scored_db, tmp_path):
    url, cfg, state = scored_db
    steps = []
    index = build_report(url, state.run_id, tmp_path / "rep", seed=1, progress=lambda *a: steps.append(a))
    out = tmp_path / "rep"
    assert index == out / "index.html"
    assert steps == [("report", k, len(STEPS)) for k in range(1, len(STEPS) + 1)]

    html, manifest = check_folder(out)
    names = {f["file"] for f in manifest["figures"]}
    assert {"real_generated.png", "score_histograms.png", "score_scatter.png", "metadata.png", "mask_fractions.png"} <= names
    assert not names & {"umaps.png", "clusters_umap.png", "cluster_examples.png"}
    assert f"run <code>hscanom characterize --run {state.run_id}</code>" in html
    assert f"Run {state.run_id} has no evaluation" in html
    assert "44.6%" in html and "8.5%" in html
    # each score bin is either drawn or said to be empty
    for key, n in _bins_with_objects(url, state.run_id).items():
        assert ((out / f"triplets_{key}.png").exists()) == (n > 0), key
    assert html.count("that bin is left out") == sum(n == 0 for n in _bins_with_objects(url, state.run_id).values())
    with psycopg.connect(url) as conn:
        n_scored = conn.execute("SELECT count(*) FROM anomaly_score WHERE run_id = %s", (state.run_id,)).fetchone()[0]
    assert f"{n_scored:,} objects scored" in html


def test_report_with_characterisation_and_evaluation(scored_db, tmp_path, monkeypatch):
    from hscanom.report import data

    url, cfg, state = scored_db
    cae = characterise_by_hand(url, state.run_id, n_clusters=3)
    evaluation = evaluate_by_hand(url, state.run_id)
    read = []  # images the report reads: a bounded number, never the whole run
    for name in ("real_images", "result_images"):
        original = getattr(data, name)
        monkeypatch.setattr(data, name, lambda conn, run_id, ids, *a, _f=original: read.append(len(ids)) or _f(conn, run_id, ids, *a))
    build_report(url, state.run_id, tmp_path / "a", seed=7)
    with psycopg.connect(url) as conn:
        n_scored = conn.execute("SELECT count(*) FROM anomaly_score WHERE run_id = %s", (state.run_id,)).fetchone()[0]
    assert 0 < sum(read) <= MAX_IMAGES and sum(read) < n_scored
    html, manifest = check_folder(tmp_path / "a")
    names = {f["file"] for f in manifest["figures"]}
    assert {"umaps.png", "clusters_umap.png", "cluster_examples.png"} <= names
    assert "hscanom characterize --run" not in html
    assert f"CAE model {cae}" in html
    assert f"Metrics of evaluation {evaluation}" in html and "ROC AUC" in html and "0.700" in html
    with Image.open(tmp_path / "a" / "cluster_examples.png") as im:
        assert im.height > 3 * 100  # one row of examples per cluster

    # the same seed gives the same files; another seed draws other objects
    build_report(url, state.run_id, tmp_path / "b", seed=7)
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    assert (tmp_path / "a" / "index.html").read_text() == (tmp_path / "b" / "index.html").read_text()


def test_report_replaces_only_reports_and_fails_cleanly(scored_db, tmp_path):
    url, cfg, state = scored_db
    out = tmp_path / "rep"
    build_report(url, state.run_id, out, seed=0)
    first = (out / "real_generated.png").read_bytes()
    (out / "stale.png").write_bytes(b"left from an older report")
    build_report(url, state.run_id, out, seed=1)  # replaces the earlier report as a whole
    check_folder(out)
    assert not (out / "stale.png").exists()
    assert (out / "real_generated.png").read_bytes() != first  # another seed draws other objects
    before = (out / "index.html").read_text()
    with pytest.raises(ReportError, match="no score run with id 999999"):
        build_report(url, 999_999, out)
    assert (out / "index.html").read_text() == before
    assert not list(tmp_path.glob(".rep.*"))

    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    with pytest.raises(ReportError, match="not an hscanom report folder"):
        build_report(url, state.run_id, other)
    assert (other / "notes.txt").read_text() == "keep me" and not (other / "index.html").exists()


def test_cli_report(scored_db, tmp_path, monkeypatch):
    url, cfg, state = scored_db
    monkeypatch.setenv("HSCANOM_HOME", str(tmp_path / "home"))
    runner = CliRunner()
    result = runner.invoke(app, ["report", "--run", str(state.run_id)])
    assert result.exit_code == 0, result.output
    index = tmp_path / "home" / "reports" / f"run-{state.run_id}" / "index.html"
    assert index.exists() and str(index) in result.output.replace("\n", "")
    check_folder(index.parent)

    result = runner.invoke(app, ["report", "--run", "424242", "--out", str(tmp_path / "x")])
    assert result.exit_code == 1
    assert "no score run with id 424242" in result.output
    assert not (tmp_path / "x").exists()
