"""One rule for which packed image a score run reads (SQL ``run_packed_image``, migration 0009).

An object of the session's scored run (32 x 32 images) is packed three more times after
scoring: once more at 32 pixels in a newer shard, and twice at 48 pixels. The scorer read the
original copy; the explorer, the report and a release must all show that copy, never a newer
one or one of another size.
"""

from __future__ import annotations

import io
import json

import numpy as np
import psycopg
import h5py
from PIL import Image
from starlette.testclient import TestClient
from test_release import _characterised

from hscanom.catalog import release
from hscanom.explorer.app import create_app
from hscanom.ingest.shards import ShardWriter, read_rows
from hscanom.ml.preprocess import to_uint8
from hscanom.report import data as report_data


def _pack_again(conn: psycopg.Connection, path, object_id: int, sample_id: int, size: int, seed: int) -> np.ndarray:
    """Write and register a one-image packed shard of ``object_id``; return its image."""
    image = np.random.default_rng(seed).integers(0, 256, (1, size, size, 3)).astype(np.float32) / 255
    config = {"size": size, "bands": ["g", "r", "i"], "key": f"decoy{seed}", "index": 0}
    with ShardWriter(path, image_shape=(size, size, 3), config=config) as writer:
        writer.append(np.array([object_id], np.int64), image)
    sha = writer.written.sha256
    shard_id = conn.execute(
        "INSERT INTO image_shard (kind, uri, sha256, n_images, config, sample_id) VALUES ('packed', %s, %s, 1, %s, %s) RETURNING id",
        (str(path), sha, json.dumps(config), sample_id),
    ).fetchone()[0]
    conn.execute("INSERT INTO packed_image (shard_id, object_id, row) VALUES (%s, %s, 0)", (shard_id, object_id))
    return image[0]


def test_explorer_report_and_release_show_the_scored_copy(scored_db, tmp_path):
    url, cfg, state = scored_db
    _characterised(url, state.run_id)
    with psycopg.connect(url) as conn:
        oid, sample_id = conn.execute(
            "SELECT a.object_id, r.sample_id FROM anomaly_score a JOIN score_run r ON r.id = a.run_id "
            "WHERE a.run_id = %s ORDER BY a.object_id LIMIT 1 OFFSET 5",
            (state.run_id,),
        ).fetchone()
        (scored_uri, scored_row), = conn.execute(
            "SELECT s.uri, p.row FROM packed_image p JOIN image_shard s ON s.id = p.shard_id WHERE p.object_id = %s", (oid,)
        ).fetchall()
        decoys = [
            _pack_again(conn, tmp_path / "again-32.h5", oid, sample_id, 32, seed=1),
            _pack_again(conn, tmp_path / "first-48.h5", oid, sample_id, 48, seed=2),
            _pack_again(conn, tmp_path / "second-48.h5", oid, sample_id, 48, seed=3),
        ]
    scored = to_uint8(read_rows([(scored_uri, scored_row)])[0])
    assert scored.shape == (32, 32, 3) and not any(d.shape == scored.shape and np.array_equal(to_uint8(d), scored) for d in decoys)

    # explorer: with the run, the scored copy; without a run, the newest packed copy
    with TestClient(create_app(url)) as client:
        shown = client.get(f"/api/images/{oid}/real.png?run={state.run_id}")
        assert shown.status_code == 200, shown.text
        np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(shown.content))), scored)
        newest = client.get(f"/api/images/{oid}/real.png")
        np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(newest.content))), to_uint8(decoys[-1]))

    # report: the real images of its figures
    with psycopg.connect(url) as conn:
        summary = report_data.run_summary(conn, state.run_id)
        reals = report_data.real_images(conn, state.run_id, [oid], summary.image_size)
    np.testing.assert_array_equal(to_uint8(reals[0]), scored)

    # release: the `reals` of the full results file
    release.cut(url, "choice", state.run_id, out=tmp_path / "releases")
    with h5py.File(tmp_path / "releases" / "choice" / "results_gri_lambda0.3.h5", "r") as f:
        k = int(np.flatnonzero(f["object_ids"][:] == oid)[0])
        np.testing.assert_array_equal(f["reals"][k], scored)
