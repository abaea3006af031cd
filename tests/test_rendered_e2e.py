"""Pre-rendered RGB cutouts end to end (issue 17.8): catalog -> PNG ingest -> pack -> WGAN -> score.

Rendered images (8-bit RGB PNG/JPEG, e.g. the 96 x 96 gri renderings published with the
paper) are packed as value / 255 -- the original code's convention -- under their own packing
configuration (``source = 'rendered'``, own key), never resampled, and never mixed with
FITS-derived images in a sample or a score run. Images of another mode or size are reported
as exactly that.
"""

from __future__ import annotations

import numpy as np
import psycopg
import pytest
from PIL import Image
from typer.testing import CliRunner

from fitsfactory import write_object_cutouts, write_rgb_png
from hscanom.cli.cutouts import app as cutouts_app
from hscanom.ingest.catalog import ingest_catalog
from hscanom.ingest.cutouts import ingest_cutouts
from hscanom.ingest.pack import pack_config, pack_sample, run_packed_image, sample_shards
from hscanom.ingest.shards import Shard, iter_batches
from hscanom.ml import runs
from hscanom.ml.config import preset
from hscanom.samples import create_sample

SIZE = 32
N = 24
BASE = 43_158_176_442_354_400
IDS = [BASE + k for k in range(N)]
GREY, BIG, PALETTE = BASE + 100, BASE + 101, BASE + 102


def test_rendered_chain(db_url, tmp_path):
    # 1. catalog
    lines = ["# object_id,ra,dec,tract"] + [f"{oid},{150 + k * 0.01:.5f},2.2,9813" for k, oid in enumerate(IDS + [GREY, BIG, PALETTE])]
    (tmp_path / "cat.csv").write_text("\n".join(lines) + "\n")
    assert ingest_catalog(tmp_path / "cat.csv", url=db_url).rows_stored == N + 3

    # 2. rendered cutouts: N good 32 x 32 RGB PNGs, one greyscale, one 48 x 48, one palette
    png = tmp_path / "png"
    originals = {oid: write_rgb_png(png / f"{oid}-gri.png", size=SIZE, seed=k) for k, oid in enumerate(IDS)}
    rgb = np.asarray(Image.open(originals[IDS[0]]))
    Image.fromarray(rgb[..., 0], "L").save(png / f"{GREY}-gri.png")
    write_rgb_png(png / f"{BIG}-gri.png", size=48, seed=99)
    Image.open(originals[IDS[1]]).convert("P").save(png / f"{PALETTE}-gri.png")
    report = ingest_cutouts(png, url=db_url)
    assert (report.stored, report.counts()) == (N + 1, {"rendered": 2})
    reasons = sorted(r.reason for r in report.of_kind("rendered"))
    assert reasons[0] == f"{png / f'{GREY}-gri.png'}: a greyscale image (mode L), not 8-bit RGB: rendered cutouts must be 8-bit RGB (gri)"
    assert reasons[1] == f"{png / f'{PALETTE}-gri.png'}: a palette image (mode P), not 8-bit RGB: rendered cutouts must be 8-bit RGB (gri)"
    assert not report.of_kind("corrupt")

    # 3. pack from the rendered images: value / 255 exactly, own configuration
    create_sample("rendered", "SELECT object_id FROM hsc_object ORDER BY object_id", url=db_url)
    result = CliRunner().invoke(cutouts_app, ["pack", "--sample", "rendered", "--size", str(SIZE), "--source", "rendered", "--out", str(tmp_path / "sh")])
    assert result.exit_code == 0, result.output
    out = " ".join(result.output.split())
    assert f"{N} images packed" in out and "3 object(s) skipped" in out
    assert f"{BIG}-gri.png: rendered image is 48 x 48 pixels, not {SIZE} x {SIZE}: rendered images are never resampled" in out
    assert f"{GREY}: no rendered gri image (PNG/JPEG)" in out
    paths = sample_shards("rendered", size=SIZE, url=db_url)
    ids, images = next(iter_batches(paths, 100))
    assert ids.tolist() == IDS
    for row, oid in enumerate(IDS):
        np.testing.assert_array_equal(images[row], np.asarray(Image.open(originals[oid]), np.float32) / np.float32(255))
    with Shard(paths[0]) as shard:
        assert shard.config["source"] == "rendered" and shard.config["key"] == pack_config(SIZE, "rendered")["key"]
    assert pack_config(SIZE, "rendered")["key"] != pack_config(SIZE)["key"]

    # Rendered and FITS-derived images never mix in one sample.
    for k, oid in enumerate(IDS[:2]):
        write_object_cutouts(tmp_path / "fits", oid, ra=150 + k * 0.01, dec=2.2, shape=(48, 48))
    ingest_cutouts(tmp_path / "fits", url=db_url)
    with pytest.raises(ValueError, match="is packed from rendered images at 32 px already; rendered and FITS-derived images never mix"):
        pack_sample("rendered", size=SIZE, out=tmp_path / "sh", url=db_url)
    create_sample("fits", "SELECT object_id FROM hsc_object WHERE object_id = ANY(ARRAY[%d, %d]::bigint[])" % tuple(IDS[:2]), url=db_url)
    assert pack_sample("fits", size=SIZE, out=tmp_path / "sh", url=db_url).packed == 2

    # 4. train a tiny WGAN + encoder on the rendered sample, 5. score it
    cfg = preset("test", image_size=SIZE)
    wgan_id = runs.train_wgan(db_url, "rendered", cfg, tmp_path / "home").model_id
    runs.train_encoder(db_url, wgan_id)
    run_id = runs.score(db_url, wgan_id, "rendered", tmp_path / "home", batch_size=10).run_id
    with psycopg.connect(db_url) as conn:
        status = conn.execute("SELECT status FROM score_run WHERE id = %s", (run_id,)).fetchone()[0]
        scored = conn.execute("SELECT object_id, s_gen, s_disc FROM anomaly_score WHERE run_id = %s ORDER BY object_id", (run_id,)).fetchall()
        n_train = conn.execute("SELECT metrics->>'n_train_images' FROM model WHERE id = %s", (wgan_id,)).fetchone()[0]
    assert status == "complete" and int(n_train) == N
    assert [r[0] for r in scored] == IDS  # the 3 unpacked members have no score
    assert all(np.isfinite(g) and np.isfinite(d) for _o, g, d in scored)
    # The score run reads the rendered shards only, though the FITS shards of the 'fits'
    # sample hold two of the same objects at the same size (run_packed_image: one choice).
    with psycopg.connect(db_url) as conn:
        sources = conn.execute(
            f"""SELECT m.object_id, coalesce(sh.config->>'source', 'fits') FROM score_run r
                JOIN sample_member m ON m.sample_id = r.sample_id {run_packed_image("m.object_id")}
                JOIN image_shard sh ON sh.id = p.shard_id WHERE r.id = %(run)s ORDER BY m.object_id""",
            {"run": run_id, "size": SIZE},
        ).fetchall()
    assert sources == [(oid, "rendered") for oid in IDS]
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT count(*) FROM packed_image p JOIN image_shard s ON s.id = p.shard_id WHERE s.config->>'source' IS NULL").fetchone()[0] == 2
