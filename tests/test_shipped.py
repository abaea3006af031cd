"""The shipped demo model (hscanom/models/demo): its registered sha256, its registration in
the database, and its reconstructions of freshly simulated galaxies (a seed it never saw).
"""

from __future__ import annotations

import csv
import json
import shutil

import numpy as np
import psycopg
import pytest

from hscanom.checksum import sha256_files
from hscanom.ml import registry, shipped
from hscanom.ml.train import load_encoder, load_wgan

N_OBJECTS = 24
APERTURE = 6.0


@pytest.fixture(scope="module")
def model():
    return shipped.shipped()


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    """(preprocessed 96 x 96 stamps, classes) of a small simulation at a held-out seed."""
    from hscanom.ingest.pack import read_stamp
    from hscanom.ml.preprocess import preprocess
    from hscanom.simulate import simulate
    from hscanom.simulate.cutouts import cutout_filename

    sim = tmp_path_factory.mktemp("sim")
    simulate(sim, n=N_OBJECTS, anomaly_fraction=0.0, seed=7, workers=1)
    with open(sim / "labels.csv", newline="") as handle:
        labels = {int(r["object_id"]): r["anomaly_class"] for r in csv.DictReader(handle)}
    pos = {}
    with open(sim / "catalog.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            oid = int(row.get("# object_id") or row["object_id"])
            pos[oid] = (float(row["ra"]), float(row["dec"]))
    ids = sorted(labels)
    images = np.stack([
        preprocess(*(read_stamp(str(sim / "cutouts" / cutout_filename(oid, b)), "IMAGE", None, *pos[oid], 96) for b in "gri"))
        for oid in ids
    ])
    return images, np.array([labels[i] for i in ids])


def test_manifest_records_provenance_and_the_weights_match_it(model):
    m = model.manifest
    assert m["config"]["upsample"] == "resize" and m["config"]["image_size"] == 96
    training = m["training"]
    assert training["simulator_seed"] not in (1, 2, 3)  # every evaluation seed is held out
    for key in ("n_objects", "simulator_version", "data_sha256", "code_version", "command", "n_train_images"):
        assert training[key], key
    assert sha256_files([model.directory / n for n in registry.WEIGHT_FILES["wgan"]]) == m["wgan_sha256"]
    assert sha256_files([model.directory / n for n in registry.WEIGHT_FILES["encoder"]]) == m["encoder_sha256"]
    model.verify()
    size = sum((model.directory / n).stat().st_size for n in ("generator.weights.h5", "critic.weights.h5", "encoder.weights.h5"))
    assert size < 8 * 2**20  # the repository stays small


def test_a_changed_weight_file_is_refused(model, tmp_path):
    copy = tmp_path / "demo"
    shutil.copytree(model.directory, copy)
    with open(copy / "critic.weights.h5", "r+b") as fh:
        fh.seek(-1, 2)
        last = fh.read(1)
        fh.seek(-1, 2)
        fh.write(bytes([last[0] ^ 0xFF]))
    with pytest.raises(ValueError, match="wgan weights have sha256"):
        shipped.shipped(copy).verify()
    (copy / "model.json").write_text("{not json")
    with pytest.raises(ValueError, match="model.json: not valid JSON"):
        shipped.shipped(copy)


def test_install_registers_verified_models_once(model, db_url, tmp_path):
    wgan_id, encoder_id = shipped.install(db_url, tmp_path)
    assert shipped.install(db_url, tmp_path) == (wgan_id, encoder_id)
    with psycopg.connect(db_url) as conn:
        wgan = registry.get(conn, wgan_id, "wgan")
        encoder = registry.get(conn, encoder_id, "encoder")
        assert registry.encoder_of(conn, wgan_id) == encoder_id
    assert wgan.sha256 == model.manifest["wgan_sha256"] and encoder.sha256 == model.manifest["encoder_sha256"]
    assert wgan.config == model.manifest["config"] and wgan.sample_id is None
    assert wgan.metrics["training"]["data_sha256"] == model.manifest["training"]["data_sha256"]
    assert json.loads(json.dumps(encoder.metrics))["shipped"] is True


def test_a_changed_manifest_config_is_registered_anew(model, db_url, tmp_path):
    """Runs scored under the old configuration keep the model row they were scored with."""
    old = shipped.ShippedModel(model.directory, {**model.manifest, "config": {**model.manifest["config"], "score_pixel_radius": 0.0}})
    old_ids = shipped.install(db_url, tmp_path, old)
    new_ids = shipped.install(db_url, tmp_path, model)
    assert new_ids != old_ids and shipped.install(db_url, tmp_path, old) == old_ids
    with psycopg.connect(db_url) as conn:
        assert registry.get(conn, old_ids[0]).config["score_pixel_radius"] == 0.0
        assert registry.get(conn, new_ids[0]).config == model.manifest["config"]
        assert registry.encoder_of(conn, new_ids[0]) == new_ids[1]


def test_shipped_model_reconstructs_simulated_galaxies(model, simulated):
    """Scores of unseen simulated galaxies are finite, and reconstructions keep each channel's central flux."""
    from hscanom.ml.score import Scorer

    images, classes = simulated
    cfg = model.config
    generator, critic = load_wgan(cfg, model.directory)
    scorer = Scorer(cfg, generator, critic, load_encoder(cfg, model.directory))
    out = scorer(images)
    for s in (out.s_gen, out.s_disc, out.s_anom):
        assert s.shape == (len(images),) and np.all(np.isfinite(s)) and np.all(s > 0)
    yy, xx = np.mgrid[:96, :96]
    ap = (xx - 47.5) ** 2 + (yy - 47.5) ** 2 <= APERTURE**2
    ratio = out.reconstruction[:, ap].sum(1) / images[:, ap].sum(1)
    median = np.median(ratio[classes == "normal"], axis=0)
    assert np.all((median > 0.8) & (median < 1.25)), median  # R, G, B = i, r, g
