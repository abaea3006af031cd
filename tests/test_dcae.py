"""The second detector (DCAE of Tanaka et al.): network shape, aperture score, resumable
training, and scoring through the database job framework beside the WGAN run."""

from __future__ import annotations

import numpy as np
import psycopg
import pytest
from typer.testing import CliRunner

from hscanom.cli import app
from hscanom.ingest.shards import read_rows
from hscanom.ml import dcae, runs
from hscanom.ml.evaluate import evaluate

runner = CliRunner()


@pytest.mark.parametrize(("size", "pools"), [(96, 3), (32, 2)])
def test_network_reaches_an_8x8x8_latent_and_returns_the_input_size(size, pools):
    cfg = dcae.preset("test", image_size=size)
    assert cfg.geometry[0] == pools
    reconstruction, latent = dcae.build_dcae(cfg)(np.full((2, size, size, 3), 0.5, np.float32))
    assert tuple(latent.shape) == (2, 8, 8, 8)
    assert tuple(reconstruction.shape) == (2, size, size, 3)
    assert 0 < float(np.min(reconstruction)) and float(np.max(reconstruction)) < 1  # sigmoid
    with pytest.raises(ValueError, match="image_size"):
        dcae.DcaeConfig(image_size=50)


def test_aperture_score_is_the_normalised_squared_residual_in_a_6_pixel_circle():
    mask = dcae.aperture_mask(32)
    assert mask.sum() == 32 and mask[15:17, 15:17].all() and not mask[15, 12] and mask[15, 13]
    x = np.zeros((1, 32, 32, 3))
    r = np.full((1, 32, 32, 3), 0.25)
    x[0, 16, 16] = [1.0, 0.5, 0.25]  # inside: residuals 0.75, 0.25, 0
    x[0, 0, 0] = 1.0  # outside: ignored
    expected = 31 * 0.25**2 / (0.25 + dcae.EPSILON) + np.array([0.75, 0.25, 0.0]) ** 2 / (0.25 + dcae.EPSILON)
    np.testing.assert_allclose(dcae.aperture_scores(x, r)[0], expected)


def test_killed_training_resumes_and_drops_the_learning_rate(tmp_path):
    import tensorflow as tf

    cfg = dcae.preset("test", image_size=32, epochs=3, lr_drop_epoch=2)
    data = tf.data.Dataset.from_tensor_slices(np.random.default_rng(0).uniform(size=(16, 32, 32, 3)).astype(np.float32))
    data = data.repeat().batch(cfg.batch_size)

    def die_at_5(step, total, losses):
        if step == 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        dcae.DcaeTrainer(cfg, tmp_path, steps_per_epoch=2).fit(data, die_at_5)
    trainer = dcae.DcaeTrainer(cfg, tmp_path, steps_per_epoch=2)
    result = trainer.fit(data)
    assert result.resumed_from == 4  # checkpoint of epoch 2
    assert [h["step"] for h in result.history] == [2, 4, 6]  # the loss once per epoch
    assert float(trainer.opt.learning_rate) == pytest.approx(cfg.learning_rate_late)
    assert (tmp_path / dcae.WEIGHTS).exists()


def test_dcae_scores_through_the_job_framework_and_is_evaluated_beside_the_wgan(scored_db, tmp_path, monkeypatch):
    url, cfg, state = scored_db
    monkeypatch.setenv("HSCANOM_HOME", str(tmp_path))  # this test's models and result shards
    dcfg = dcae.preset("test", image_size=cfg.image_size)
    steps = []
    model_id = runs.train_dcae(url, cfg.sample, dcfg, tmp_path, progress=lambda s, t, l: steps.append(s)).model_id
    with psycopg.connect(url) as conn:
        kind, config, metrics, n_members = conn.execute(
            "SELECT kind, config, metrics, (SELECT n_members FROM sample WHERE name = %s) FROM model WHERE id = %s", (cfg.sample, model_id)
        ).fetchone()
    assert kind == "dcae" and config["image_size"] == cfg.image_size and config["noise_sigma"] == 0.02
    assert metrics["n_train_images"] == n_members
    assert steps == list(range(1, dcfg.epochs * metrics["steps_per_epoch"] + 1))
    again = runs.train_dcae(url, cfg.sample, dcfg, tmp_path, progress=lambda *a: pytest.fail("retrained"))
    assert (again.model_id, again.trained) == (model_id, False)

    result = runner.invoke(app, ["score", "--method", "dcae", "--model", str(model_id), "--sample", cfg.sample, "--batch", "50"])
    assert result.exit_code == 0, result.output
    with psycopg.connect(url) as conn:
        run_id, method, status, params = conn.execute(
            "SELECT id, method, status, params FROM score_run WHERE method = 'dcae'"
        ).fetchone()
        rows = conn.execute(
            "SELECT a.object_id, a.s_gen, a.s_disc, a.s_anom, s.uri, p.row, a.result_shard_id IS NOT NULL "
            "FROM anomaly_score a JOIN packed_image p ON p.object_id = a.object_id JOIN image_shard s ON s.id = p.shard_id "
            "WHERE a.run_id = %s ORDER BY a.object_id", (run_id,),
        ).fetchall()
        high = conn.execute("SELECT sql FROM sample WHERE name = %s", (f"run{run_id}-anom3sigma",)).fetchone()
    assert (method, status, params["aperture_diameter"]) == ("dcae", "complete", 6.0)
    assert len(rows) == n_members and len({r[0] for r in rows}) == n_members
    assert all(r[2] is None for r in rows) and all(r[6] for r in rows)  # no s_disc; result shards written
    assert high is not None and "s_anom_sigma" in high[0]
    # The stored scores are the aperture residuals of the registered model's reconstructions.
    scorer, _ = runs.load_dcae_scorer(url, model_id)
    reals = read_rows([(r[4], r[5]) for r in rows[:8]])
    rec = scorer(reals).reconstruction
    np.testing.assert_allclose([r[3] for r in rows[:8]], dcae.aperture_scores(reals, rec).sum(axis=1), rtol=1e-5)
    np.testing.assert_allclose([r[1] for r in rows[:8]], ((reals - rec) ** 2).mean(axis=(1, 2, 3)), rtol=1e-5)
    rerun = runs.score(url, model_id, cfg.sample, tmp_path, method="dcae", batch_size=50)  # a finished run is reused
    assert (rerun.run_id, rerun.method, rerun.reused, rerun.n_scored) == (run_id, "dcae", True, n_members)
    assert rerun.high_anomaly_sample == f"run{run_id}-anom3sigma"

    labels = cfg.sim_dir / "labels.csv"
    evaluation = evaluate(url, state.run_id, truth=labels, compare=[run_id])
    table = evaluation.table
    assert set(table["run_id"]) == {state.run_id, run_id}
    assert set(table.query(f"run_id == {run_id}")["score"]) == {"s_gen", "s_anom"}
    assert set(table.query(f"run_id == {state.run_id}")["score"]) == {"s_gen", "s_disc", "s_anom"}
    overall = table.query("anomaly_class == 'all'")
    assert (overall["n_objects"] == n_members).all() and (overall["n_positive"] > 0).all()
    assert overall["roc_auc"].between(0, 1).all()

    # The ranking's default prior averages the two detectors' percentile ranks (docs/ranking.md).
    from hscanom.ml import rank as rk

    with psycopg.connect(url) as conn:
        both = rk.load_features(conn, state.run_id)
        alone = rk.load_features(conn, state.run_id, prior_score="s_anom")
        dcae_alone = dict(conn.execute("SELECT object_id, s_anom FROM anomaly_score WHERE run_id = %s", (run_id,)).fetchall())
    assert (both.prior_score, both.dcae_run, alone.prior_score) == ("detectors", run_id, "s_anom")
    expected = (rk.prior_relevance(alone.prior) + rk.prior_relevance(np.array([dcae_alone[int(o)] for o in both.object_ids]))) / 2
    np.testing.assert_allclose(both.prior, expected)
    assert "DCAE run" in rk.describe_prior(both) and rk.describe_prior(alone) == "s_anom"

    shown = runner.invoke(app, ["evaluate", "--run", str(state.run_id), "--compare", str(run_id), "--truth", str(labels)])
    assert shown.exit_code == 0, shown.output
    assert "AUC" in shown.output and "dcae" in shown.output
    assert f"the same as stored evaluation {evaluation.evaluation_id}" in shown.output  # nothing stored twice
    print(shown.output)
    missing = runner.invoke(app, ["evaluate", "--run", str(state.run_id)])
    assert missing.exit_code == 1 and "--truth" in missing.output
