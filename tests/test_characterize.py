"""Characterisation of a score run (CAE embeddings, UMAP, clusters) and similar objects.

Uses the session's scored pipeline database (120 simulated objects, 32 x 32 images). Its
high-anomaly sample (s_disc > 3 sigma) is too small to characterise, so the tests use the
whole scored sample, with 2 training epochs. Models go under each test's ``tmp_path``.
"""

from __future__ import annotations

import numpy as np
import psycopg
import pytest
from typer.testing import CliRunner

from hscanom.cli import app
from hscanom.ml import characterize as ch
from hscanom.ml.cae import CaeConfig, load_encoder, train_cae
from hscanom.samples import create_sample

EPOCHS = 2


def _counts(conn, run_id: int) -> dict[tuple[str, int, str], tuple[int, int]]:
    """(table, model_id, kind or method) -> (rows, distinct objects) of a run."""
    out = {}
    for table, col in (("embedding", "kind"), ("umap_coord", "kind"), ("cluster_label", "method")):
        for model_id, key, n, distinct in conn.execute(
            f"SELECT model_id, {col}, count(*), count(DISTINCT object_id) FROM {table} WHERE run_id = %s GROUP BY 1, 2", (run_id,)
        ):
            out[(table, model_id, key)] = (n, distinct)
    return out


def _sample_with_unscored(url: str, cfg, run_id: int) -> list[int]:
    """Sample 'scored-plus': the run's scored sample plus every object the run did not score."""
    with psycopg.connect(url) as conn:
        unscored = [r[0] for r in conn.execute(
            "SELECT object_id FROM hsc_object WHERE object_id NOT IN (SELECT object_id FROM anomaly_score WHERE run_id = %s)", (run_id,)
        )]
    sql = "SELECT m.object_id FROM sample_member m JOIN sample s ON s.id = m.sample_id WHERE s.name = %(s)s UNION SELECT unnest(%(extra)s::bigint[])"
    create_sample("scored-plus", sql, params={"s": cfg.sample, "extra": unscored}, url=url)
    return unscored


def test_characterize_fills_each_table_once_and_similar_finds_neighbours(scored_db, tmp_path, monkeypatch):
    url, cfg, state = scored_db
    run, n, wgan = state.run_id, cfg.n_objects, state.wgan_id
    unscored = _sample_with_unscored(url, cfg, run)
    monkeypatch.setenv("HSCANOM_HOME", str(tmp_path))
    runner = CliRunner()
    args = ["characterize", "--run", str(run), "--sample", "scored-plus", "--max-epochs", str(EPOCHS), "--gmm-components", "3"]
    out = runner.invoke(app, args)
    assert out.exit_code == 0, out.output
    assert f"{n} objects characterised, {len(unscored)} members skipped" in out.output and f"embedding residual {n}" in out.output

    with psycopg.connect(url) as conn:
        res, real = (conn.execute("SELECT id FROM model WHERE kind = 'cae' AND config ->> 'kind' = %s", (k,)).fetchone()[0] for k in ("residual", "real"))
        counts = _counts(conn, run)
        models = conn.execute("SELECT id, parent_model_id, config, checkpoint_uri, metrics FROM model WHERE kind = 'cae' ORDER BY id").fetchall()
        dims = conn.execute("SELECT DISTINCT array_length(vector, 1) FROM embedding WHERE run_id = %s", (run,)).fetchall()
        gmm = conn.execute(
            "SELECT count(DISTINCT label), min(probability), max(probability) FROM cluster_label WHERE model_id = %s AND method = 'gmm'", (res,)
        ).fetchone()
        hdb = conn.execute("SELECT bool_and(probability BETWEEN 0 AND 1) FROM cluster_label WHERE model_id = %s AND method = 'hdbscan'", (res,)).fetchone()[0]
        view = conn.execute(
            "SELECT count(*) FILTER (WHERE gmm_label IS NOT NULL AND hdbscan_label IS NOT NULL AND umap_x IS NOT NULL) FROM scored_object WHERE run_id = %s",
            (run,),
        ).fetchone()[0]
    assert set(counts) == {
        ("embedding", res, "residual"), ("embedding", real, "real"),
        ("umap_coord", res, "residual"), ("umap_coord", real, "real"),
        ("umap_coord", wgan, "pixels"), ("umap_coord", wgan, "residual_pixels"),
        ("cluster_label", res, "gmm"), ("cluster_label", res, "hdbscan"),
    }
    assert all(v == (n, n) for v in counts.values()), counts
    assert dims == [(64,)] and view == n and hdb
    assert 1 < gmm[0] <= 3 and 0 < gmm[1] <= gmm[2] <= 1
    assert [m[0] for m in models] == [res, real] and all(m[1] == wgan for m in models)
    assert [(m[2]["kind"], m[2]["run_id"], m[2]["sample"]) for m in models] == [("residual", run, "scored-plus"), ("real", run, "scored-plus")]
    assert all(m[3].startswith(str(tmp_path / "models" / f"cae-run{run}-{m[2]['kind']}-")) for m in models)
    assert all(m[4]["epochs"] == EPOCHS and m[4]["n_train"] + m[4]["n_val"] == n for m in models)

    # Again, through the library: same models, nothing written.
    again = ch.characterize(url, run, home=tmp_path, sample="scored-plus", max_epochs=EPOCHS, gmm_components=3)
    assert (again.residual_model_id, again.real_model_id, again.trained, again.written) == (res, real, [], {})
    assert sorted(again.skipped) == sorted(unscored)
    rerun = runner.invoke(app, args)
    assert rerun.exit_code == 0 and "nothing to do" in rerun.output and "(reused)" in rerun.output
    with psycopg.connect(url) as conn:
        assert _counts(conn, run) == counts
        assert conn.execute("SELECT count(*) FROM model WHERE kind = 'cae'").fetchone()[0] == 2
        oid = conn.execute("SELECT max(object_id) FROM embedding").fetchone()[0]

    # Similar objects: the object itself first, at distance 0.
    for kind in ("residual", "real"):
        frame = ch.similar(url, oid, k=7, kind=kind)
        assert len(frame) == 7 and frame.attrs == {"run_id": run, "kind": kind}
        assert frame["object_id"].dtype == np.int64 and frame["object_id"].iloc[0] == oid
        assert frame["distance"].iloc[0] == 0.0 and frame["distance"].is_monotonic_increasing and frame["distance"].iloc[1] > 0
        assert list(frame["rank"]) == list(range(1, 8)) and frame["object_id"].is_unique
        assert frame["s_disc_sigma"].notna().all() and frame["gmm_label"].notna().all()
    assert len(ch.similar(url, oid, k=1000, run_id=run)) == n
    with pytest.raises(LookupError, match="object 123 is not in hsc_object"):
        ch.similar(url, 123)
    with pytest.raises(LookupError, match=f"object {unscored[0]} has no residual embedding in any run"):
        ch.similar(url, unscored[0])
    with pytest.raises(LookupError, match=f"object {unscored[0]} has no real embedding in run {run}"):
        ch.similar(url, unscored[0], run_id=run, kind="real")
    with pytest.raises(LookupError, match=f"no score run with id {run + 99}"):
        ch.similar(url, oid, run_id=run + 99)
    with pytest.raises(ValueError, match="kind must be one of residual, real"):
        ch.similar(url, oid, kind="pixels")

    found = runner.invoke(app, ["similar", str(oid), "-k", "5"])
    assert found.exit_code == 0, found.output
    assert str(oid) in found.output and "0.000" in found.output and f"run {run}" in found.output
    missing = runner.invoke(app, ["similar", "123"])
    assert missing.exit_code == 1 and "object 123 is not in hsc_object" in missing.output and "Traceback" not in missing.output


def test_cae_training_and_umap_are_deterministic_for_a_seed(scored_db, tmp_path):
    url, cfg, state = scored_db
    with psycopg.connect(url) as conn:
        run = ch._run(conn, state.run_id)
        residuals, _, _ = ch._locate(conn, run, conn.execute("SELECT id FROM sample WHERE name = %s", (cfg.sample,)).fetchone()[0])
    cae = CaeConfig(image_size=32, max_epochs=EPOCHS, seed=5, run_id=run.id)
    train, val = ch._split(len(residuals), cae.validation_fraction, cae.seed)
    vectors, epochs = [], []
    for name in ("a", "b"):
        datasets = (ch._dataset(residuals, p, cae.batch_size, cae.seed, shuffle) for p, shuffle in ((train, True), (val, False)))
        result = train_cae(cae, *datasets, tmp_path / name, progress=lambda e, total, losses: epochs.append((e, total, sorted(losses))))
        assert result.best_epoch in (1, 2) and len(result.history) == EPOCHS
        vectors.append(load_encoder(cae, tmp_path / name)(residuals.read(np.arange(len(residuals))), training=False).numpy())
    assert epochs == [(1, 2, ["loss", "val_loss"]), (2, 2, ["loss", "val_loss"])] * 2
    assert vectors[0].shape == (len(residuals), 64)
    np.testing.assert_array_equal(vectors[0], vectors[1])
    np.testing.assert_array_equal(ch._umap(vectors[0], seed=3), ch._umap(vectors[1], seed=3))


def test_small_unknown_or_unfinished_inputs_are_refused_with_advice(scored_db, tmp_path):
    url, cfg, state = scored_db
    run = state.run_id
    with psycopg.connect(url) as conn:
        ids = [r[0] for r in conn.execute("SELECT object_id FROM anomaly_score WHERE run_id = %s ORDER BY object_id LIMIT 3", (run,))]
    create_sample("three", "SELECT unnest(%(ids)s::bigint[]) AS object_id", params={"ids": ids}, url=url)
    with pytest.raises(ch.CharacterizeError, match=rf"'three' has 3 object\(s\) scored in run {run} .* at least {ch.MIN_OBJECTS}: .*--sample"):
        ch.characterize(url, run, home=tmp_path, sample="three", max_epochs=EPOCHS)
    # The default sample: the run's 3-sigma objects (a handful in so small a run).
    with pytest.raises(ch.CharacterizeError, match=rf"'run{run}-disc3sigma' has \d object\(s\).*--sample"):
        ch.characterize(url, run, home=tmp_path, max_epochs=EPOCHS)
    with pytest.raises(ch.CharacterizeError, match="gmm_components and max_epochs must be >= 1, got 0 and 2"):
        ch.characterize(url, run, home=tmp_path, sample=cfg.sample, gmm_components=0, max_epochs=EPOCHS)
    with pytest.raises(LookupError, match="no sample called 'nope'"):
        ch.characterize(url, run, home=tmp_path, sample="nope")
    with pytest.raises(LookupError, match="no score run with id 999"):
        ch.characterize(url, 999, home=tmp_path)
    with psycopg.connect(url) as conn:
        conn.execute("UPDATE score_run SET status = 'running' WHERE id = %s", (run,))
    with pytest.raises(ch.CharacterizeError, match=f"score run {run} is running, not complete"):
        ch.characterize(url, run, home=tmp_path, sample=cfg.sample)
    out = CliRunner().invoke(app, ["characterize", "--run", "999"])
    assert out.exit_code == 1 and "no score run with id 999" in out.output and "Traceback" not in out.output
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT count(*) FROM model WHERE kind = 'cae'").fetchone()[0] == 0
