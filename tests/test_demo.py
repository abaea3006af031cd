"""`hscanom demo` end to end at the `test` preset on 300 simulated objects.

The same command `make demo` runs, on a fresh database and home: simulation -> ingest ->
sample -> pack -> train -> score -> DCAE -> characterise -> evaluate -> rank -> release -> report. The first
run is the installed command with its output going to a log file, as in a batch job: the log
has plain progress lines and no TensorFlow C++ log lines.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

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
    log = tmp_path / "demo.log"
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env.update(HSCANOM_HOME=str(home), HSCANOM_DATABASE_URL=db_url, HSCANOM_PROGRESS_INTERVAL="0", COLUMNS="40")
    with log.open("w") as out:
        proc = subprocess.run([str(Path(sys.executable).with_name("hscanom")), *args], stdout=out, stderr=subprocess.STDOUT, env=env, timeout=1800)
    text = log.read_text()
    assert proc.returncode == 0, text
    lines = text.splitlines()
    # no TensorFlow C++ lines (I0000 ..., E0000 ... remapper failed, absl's preamble)
    assert not [line for line in lines if re.match(r"[IWEF]\d{4} ", line) or "absl::InitializeLog" in line], text
    # plain progress lines of the long stages: stage, done/total, rate, ETA
    assert any(re.match(r"train WGAN: \d+/\d+ \(\d+%\), [\d.e+-]+/s, elapsed \d+:\d\d, ETA ", line) for line in lines), text
    assert any(line.startswith("score: ") for line in lines) and "\r" not in text and "\x1b[" not in text
    first = type("Output", (), {"output": text})

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

    second = runner.invoke(app, args)
    assert second.exit_code == 0, second.output
    for stage in ("simulate", "ingest", "sample", "pack", "train", "score", "dcae", "characterise", "evaluate", "rank", "release"):
        assert re.search(rf"^ *{stage} reused ", second.output, re.M), (stage, second.output)
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT method FROM score_run ORDER BY id").fetchall() == [("wgan",), ("dcae",)]
        assert conn.execute("SELECT count(*) FROM release").fetchone()[0] == 1
