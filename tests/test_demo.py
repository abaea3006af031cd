"""`hscanom demo` end to end at the `test` preset on 300 simulated objects.

The same command `make demo` runs, on a fresh database and home: simulation -> ingest ->
sample -> pack -> train -> score -> DCAE -> characterise -> evaluate -> release -> report.
"""

from __future__ import annotations

import json
import re

import psycopg
from PIL import Image
from typer.testing import CliRunner

from hscanom.catalog.release import verify
from hscanom.cli import app


def test_demo_runs_end_to_end_and_then_reuses_everything(db_url, tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("HSCANOM_HOME", str(home))
    runner = CliRunner()
    args = ["demo", "--objects", "300", "--anomaly-fraction", "0.1", "--preset", "test"]
    first = runner.invoke(app, args, env={"COLUMNS": "200"})
    assert first.exit_code == 0, first.output

    release_dir = home / "releases" / "demo-v1"
    assert verify(release_dir) == []
    manifest = json.loads((release_dir / "manifest.json").read_text())
    assert manifest["version"] == "demo-v1"

    run_id = int(re.search(r"run (\d+):", first.output).group(1))
    report = home / "reports" / f"run-{run_id}"
    pages = (report / "index.html").read_text()
    pngs = sorted(report.glob("*.png"))
    assert len(pngs) >= 8
    for png in pngs:
        assert png.name in pages
        with Image.open(png) as im:
            assert im.format == "PNG" and im.size[0] > 100 and im.size[1] > 100

    with psycopg.connect(db_url) as conn:
        n_metrics = conn.execute(
            "SELECT count(*) FROM evaluation_metric m JOIN evaluation e ON e.id = m.evaluation_id WHERE e.run_id = %s", (run_id,)
        ).fetchone()[0]
        n_embedded = conn.execute("SELECT count(*) FROM embedding WHERE run_id = %s AND kind = 'residual'", (run_id,)).fetchone()[0]
    assert n_metrics > 0 and n_embedded >= 10
    assert "evaluation" in pages.lower()
    assert "side by side" in pages and "dcae s_anom" in pages and "finding" in pages  # the DCAE beside the WGAN
    for hint in ("hscanom sql run", "hscanom similar", "hscanom serve"):
        assert hint in first.output

    second = runner.invoke(app, args, env={"COLUMNS": "200"})
    assert second.exit_code == 0, second.output
    assert "reusing" in second.output and "exists" in second.output
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT method FROM score_run ORDER BY id").fetchall() == [("wgan",), ("dcae",)]
        assert conn.execute("SELECT count(*) FROM release").fetchone()[0] == 1
