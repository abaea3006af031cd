"""The main job's chain of stages (hscanom.pipeline) on a small simulation."""

from __future__ import annotations

import psycopg

from hscanom import pipeline


def test_pipeline_scores_every_sample_member(scored_db):
    url, cfg, state = scored_db
    with psycopg.connect(url) as conn:
        members = conn.execute("SELECT n_members FROM sample WHERE name = %s", (cfg.sample,)).fetchone()[0]
        scored = conn.execute("SELECT count(*) FROM anomaly_score WHERE run_id = %s", (state.run_id,)).fetchone()[0]
        status = conn.execute("SELECT status FROM score_run WHERE id = %s", (state.run_id,)).fetchone()[0]
    assert members == cfg.n_objects
    assert scored == members and status == "complete"


def test_second_run_reuses_every_stage(scored_db):
    url, cfg, state = scored_db
    seen = []
    again = pipeline.run(cfg, url, report=lambda stage, msg: seen.append((stage, msg)), until="score")
    assert (again.wgan_id, again.encoder_id, again.run_id) == (state.wgan_id, state.encoder_id, state.run_id)
    messages = dict(seen)
    assert "exists" in messages["sample"] and "0 images packed now" in messages["pack"]
    # every stage says that it reused what it found
    assert all(messages[stage].startswith(pipeline.REUSED) for stage in ("simulate", "ingest", "sample", "pack", "train", "score")), messages
