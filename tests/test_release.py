"""Catalog releases (hscanom.catalog.release, ``hscanom release``): files, formats, immutability.

Runs on a copy of the session's scored pipeline database (120 simulated objects, 32 x 32
images). The tests add what characterisation would have stored (two CAE model rows, 64-d
residual and real embeddings of every scored object, GMM labels and UMAP coordinates for
some) and raise s_disc of five objects so that the high-anomaly files are not empty.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import psycopg
import pytest
from typer.testing import CliRunner

from hscanom.catalog import release
from hscanom.cli import app
from hscanom.ingest.shards import read_rows
from hscanom.ml.preprocess import to_uint8

REPO = Path(__file__).resolve().parents[1]
REFERENCE = REPO.parent / "shared" / "reference" / "published_anomaly_catalog_hsc_disc3sigma.p"
DIM = 64
FILES = {
    "README.md", "manifest.json", "SHA256SUMS",
    "anomaly_catalog_hsc_full.p", "anomaly_catalog_hsc_disc3sigma.p",
    "results_gri_lambda0.3.h5", "results_gri_lambda0.3_3sigd.h5",
    "autoencoded_disc3sigma_residuals.npy", "autoencoded_disc3sigma_reals.npy",
    "anomaly_catalog_hsc_extended.parquet", "anomaly_catalog_hsc_extended.fits",
    "anomaly_catalog_hsc_extended_hats", "anomaly_catalog_hsc_disc3sigma_hats",  # HATS catalogs (folders)
    "anomaly_catalog_hsc_footprint_moc.fits", "anomaly_catalog_hsc_disc3sigma.vot",
}
PICKLE_COLUMNS = [
    "HSC_object_id", "ra", "dec", "discriminator_score_normalized", "generator_score_normalized", "combined_score_normalized",
]
runner = CliRunner()


def _vector(object_id: int, kind: str) -> list[float]:
    rng = np.random.default_rng([object_id % 2**32, len(kind)])
    return rng.normal(size=DIM).astype(np.float32).tolist()


def _characterised(url: str, run_id: int) -> dict[str, int]:
    """Insert CAE models, embeddings, clusters and UMAP; return {kind: model id}."""
    with psycopg.connect(url) as conn:
        ids = [r[0] for r in conn.execute("SELECT object_id FROM anomaly_score WHERE run_id = %s ORDER BY object_id", (run_id,))]
        models = {}
        with conn.cursor() as cur:
            for kind in ("residual", "real"):
                models[kind] = conn.execute(
                    "INSERT INTO model (kind, config) VALUES ('cae', %s) RETURNING id", (json.dumps({"latent_dim": DIM, "input": kind}),)
                ).fetchone()[0]
                cur.executemany(
                    "INSERT INTO embedding (run_id, model_id, object_id, kind, vector) VALUES (%s, %s, %s, %s, %s)",
                    [(run_id, models[kind], oid, kind, _vector(oid, kind)) for oid in ids],
                )
            cur.executemany(
                "INSERT INTO cluster_label (run_id, model_id, object_id, method, label, probability) VALUES (%s, %s, %s, 'gmm', %s, 0.75)",
                [(run_id, models["residual"], oid, k % 4) for k, oid in enumerate(ids[:90])],
            )
            cur.executemany(
                "INSERT INTO umap_coord (run_id, model_id, object_id, kind, x, y) VALUES (%s, %s, %s, 'residual', %s, %s)",
                [(run_id, models["residual"], oid, k / 10, -k / 10) for k, oid in enumerate(ids[:90])],
            )
        conn.execute(
            "UPDATE anomaly_score SET s_disc = s_disc * 4 WHERE run_id = %s AND object_id IN "
            "(SELECT object_id FROM anomaly_score WHERE run_id = %s ORDER BY s_disc DESC LIMIT 5)",
            (run_id, run_id),
        )
    return models


@pytest.fixture
def ready(scored_db):
    """(url, cfg, state, models) of a characterised run with at least 3 objects above 3 sigma."""
    url, cfg, state = scored_db
    models = _characterised(url, state.run_id)
    with psycopg.connect(url) as conn:
        high = conn.execute("SELECT count(*) FROM anomaly_score_normalized WHERE run_id = %s AND s_disc_sigma > 3", (state.run_id,)).fetchone()[0]
    assert 3 <= high < cfg.n_objects
    return url, cfg, state, models


def _expected(url: str, run_id: int) -> pd.DataFrame:
    """The run's scored objects in idx order, straight from the tables."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            """SELECT m.idx, n.object_id, o.ra, o.dec, n.s_disc_sigma, n.s_gen_sigma, n.s_anom_sigma, n.s_gen, n.s_disc, n.s_anom,
                      a.result_shard_id, a.result_row
                 FROM anomaly_score_normalized n JOIN score_run r ON r.id = n.run_id
                 JOIN sample_member m ON m.sample_id = r.sample_id AND m.object_id = n.object_id
                 JOIN hsc_object o ON o.object_id = n.object_id
                 JOIN anomaly_score a ON a.run_id = n.run_id AND a.object_id = n.object_id
                WHERE n.run_id = %s ORDER BY m.idx""",
            (run_id,),
        ).fetchall()
    return pd.DataFrame(rows, columns=["idx", "object_id", "ra", "dec", "s_disc_sigma", "s_gen_sigma", "s_anom_sigma", "s_gen", "s_disc", "s_anom", "shard", "row"])


def _hashes(folder: Path) -> dict[str, str]:
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.name not in ("manifest.json", "SHA256SUMS"))
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


# -- the files ------------------------------------------------------------------------------
def test_cut_writes_the_published_files_readable_by_plain_libraries(ready, tmp_path):
    url, cfg, state, models = ready
    info = release.cut(url, "v1.0", state.run_id, out=tmp_path)
    folder = tmp_path / "v1.0"
    assert info.status == "complete" and info.out_dir == folder and {p.name for p in folder.iterdir()} == FILES
    exp = _expected(url, state.run_id)
    high = exp[exp.s_disc_sigma > 3]
    assert exp.object_id.min() > 2**53 and len(exp) == cfg.n_objects
    assert info.row_counts == {"full": len(exp), "disc3sigma": len(high)}

    # pickles: index idx int64, exactly the published columns and dtypes
    full = pd.read_pickle(folder / "anomaly_catalog_hsc_full.p")
    disc = pd.read_pickle(folder / "anomaly_catalog_hsc_disc3sigma.p")
    for frame, rows in ((full, exp), (disc, high)):
        assert list(frame.columns) == PICKLE_COLUMNS and frame.index.name == "idx" and frame.index.dtype == np.int64
        assert frame.HSC_object_id.dtype == np.int64 and all(frame[c].dtype == np.float64 for c in PICKLE_COLUMNS[1:])
        assert frame.index.tolist() == rows.idx.tolist() and frame.HSC_object_id.tolist() == rows.object_id.tolist()
        assert np.array_equal(frame.discriminator_score_normalized, rows.s_disc_sigma)
        assert np.array_equal(frame.combined_score_normalized, rows.s_anom_sigma)
    assert (disc.discriminator_score_normalized > 3).all() and len(disc) == len(high) >= 3

    # HDF5: the datasets, dtypes, chunked and compressed, images equal to the shards'
    with h5py.File(folder / "results_gri_lambda0.3.h5", "r") as f, h5py.File(folder / "results_gri_lambda0.3_3sigd.h5", "r") as g:
        assert set(f) == set(g) == {
            "anomaly_scores", "anomaly_scores_sigma", "disc_scores", "disc_scores_sigma", "gen_scores", "gen_scores_sigma",
            "idxs", "object_ids", "reals", "reconstructed", "residuals",
        }
        for name in ("reals", "reconstructed", "residuals"):
            assert f[name].shape == (len(exp), 32, 32, 3) and f[name].dtype == np.uint8
            assert f[name].chunks is not None and f[name].compression == "gzip"
            assert g[name].shape == (len(high), 32, 32, 3)
        assert f["object_ids"].dtype == np.int64 and f["object_ids"][:].tolist() == exp.object_id.tolist()
        assert f["idxs"].dtype == np.int64 and f["idxs"][:].tolist() == exp.idx.tolist()
        assert np.array_equal(f["disc_scores"][:], exp.s_disc) and np.array_equal(f["gen_scores_sigma"][:], exp.s_gen_sigma)
        assert np.array_equal(f["anomaly_scores"][:], exp.s_anom)
        assert g["object_ids"][:].tolist() == high.object_id.tolist()
        with psycopg.connect(url) as conn:
            packed = dict(conn.execute(
                "SELECT p.object_id, (s.uri, p.row) FROM packed_image p JOIN image_shard s ON s.id = p.shard_id WHERE s.kind = 'packed'"
            ).fetchall())
            shards = dict(conn.execute("SELECT id, uri FROM image_shard").fetchall())
        picks = [0, len(exp) // 2, len(exp) - 1]
        reals = to_uint8(read_rows([packed[int(exp.object_id[k])] for k in picks]))
        assert np.array_equal(f["reals"][picks], reals)
        for k in picks:
            with h5py.File(shards[int(exp.shard[k])], "r") as res:
                assert np.array_equal(f["reconstructed"][k], res["reconstructed"][int(exp.row[k])])
                assert np.array_equal(f["residuals"][k], res["residuals"][int(exp.row[k])])
        first_high = int(np.flatnonzero(exp.s_disc_sigma > 3)[0])
        assert np.array_equal(g["residuals"][0], f["residuals"][first_high])

    # npy: (latent, idx, score) per high-anomaly object, the latents as stored
    for kind in ("residuals", "reals"):
        arr = np.load(folder / f"autoencoded_disc3sigma_{kind}.npy", allow_pickle=True)
        assert arr.shape == (len(high), 3) and arr.dtype == object
        assert [r[1] for r in arr] == high.idx.tolist() and [r[2] for r in arr] == high.s_disc_sigma.tolist()
        oid = int(high.object_id.iloc[0])
        assert arr[0, 0].dtype == np.float32 and np.array_equal(arr[0, 0], np.float32(_vector(oid, kind.rstrip("s"))))


def test_extended_catalog_in_parquet_and_fits(ready, tmp_path):
    import pyarrow.parquet as pq
    from astropy.io import fits
    from astropy.table import Table

    url, cfg, state, models = ready
    release.cut(url, "ext", state.run_id, out=tmp_path)
    folder = tmp_path / "ext"
    exp = _expected(url, state.run_id)
    with psycopg.connect(url) as conn:
        version = conn.execute("SELECT mask_version FROM bright_star_mask ORDER BY id DESC LIMIT 1").fetchone()[0]
        masked = [conn.execute("SELECT in_bright_star_mask(%s::bigint, %s)", (int(o), version)).fetchone()[0] for o in exp.object_id]
    parquet = pd.read_parquet(folder / "anomaly_catalog_hsc_extended.parquet")
    fits_table = Table.read(folder / "anomaly_catalog_hsc_extended.fits", hdu=1)
    names = [spec.name for spec in release.EXTENDED_COLUMNS]
    assert list(parquet.columns) == fits_table.colnames == names
    for frame in (parquet, fits_table.to_pandas()):
        assert frame.object_id.dtype == np.int64 and frame.object_id.tolist() == exp.object_id.tolist()
        assert frame.idx.tolist() == exp.idx.tolist() and np.array_equal(frame.s_disc_sigma, exp.s_disc_sigma)
        assert [bool(x) for x in frame.in_bright_star_mask] == masked and any(masked)
        assert frame.gmm_label.notna().sum() == 90
    schema = pq.read_schema(folder / "anomaly_catalog_hsc_extended.parquet")
    assert schema.field("r_eff_arcsec").metadata[b"unit"] == b"arcsec" and b"UMAP" in schema.field("umap_x").metadata[b"description"]
    assert schema.metadata[b"mask_version"] == version.encode()
    header = fits.getheader(folder / "anomaly_catalog_hsc_extended.fits", 1)
    k = names.index("dec") + 1
    assert header[f"TUNIT{k}"] == "deg" and header[f"TFORM{names.index('object_id') + 1}"] == "K" and header["MASKVER"] == version
    assert "DATE" not in header and "DATE" not in fits.getheader(folder / "anomaly_catalog_hsc_extended.fits", 0)
    readme = (folder / "README.md").read_text()
    assert all(f"`{name}`" in readme for name in names + PICKLE_COLUMNS + ["reals", "idxs"])


@pytest.mark.skipif(not REFERENCE.exists(), reason=f"published reference file {REFERENCE} not present")
def test_pickles_have_the_published_layout(ready, tmp_path):
    url, cfg, state, models = ready
    release.cut(url, "ref", state.run_id, out=tmp_path)
    ours = pd.read_pickle(tmp_path / "ref" / "anomaly_catalog_hsc_disc3sigma.p")
    published = pd.read_pickle(REFERENCE)
    assert type(ours) is type(published)
    assert list(ours.columns) == list(published.columns)
    assert ours.columns.dtype == published.columns.dtype
    assert ours.dtypes.to_dict() == published.dtypes.to_dict()
    assert (ours.index.name, ours.index.dtype) == (published.index.name, published.index.dtype)
    assert (published.discriminator_score_normalized > 3).all() and (ours.discriminator_score_normalized > 3).all()


def test_results_writer_streams_whole_chunks_of_any_block_size(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    from hscanom.catalog.published import H5_DATASETS, ResultsWriter

    rng = np.random.default_rng(1)
    with ThreadPoolExecutor(2) as pool:
        for n, blocks in ((37, (5, 16, 3, 13)), (0, ()), (4, (4,))):
            imgs = [rng.integers(0, 256, (n, 8, 8, 3), dtype=np.uint8) for _ in range(3)]
            values = {spec.name: np.arange(n, dtype=dtype) for spec, dtype in H5_DATASETS}
            path = tmp_path / f"r{n}.h5"
            with ResultsWriter(path, n, (8, 8, 3), {"run_id": 1}, pool) as writer:
                writer.write_values(values)
                lo = 0
                for b in blocks:
                    writer.append_images(*(a[lo : lo + b] for a in imgs))
                    lo += b
            with h5py.File(path, "r") as f:
                assert [np.array_equal(f[k][:], a) for k, a in zip(("reals", "reconstructed", "residuals"), imgs)] == [True] * 3
                assert f["reals"].chunks == ((min(16, n),) if n else (1,)) + (8, 8, 3) and f["object_ids"].dtype == np.int64
        with pytest.raises(ValueError, match="incomplete"):
            with ResultsWriter(tmp_path / "short.h5", 3, (8, 8, 3), pool=pool) as writer:
                writer.write_values({spec.name: np.zeros(3) for spec, _ in H5_DATASETS})
                writer.append_images(*(np.zeros((2, 8, 8, 3), np.uint8),) * 3)
    assert not (tmp_path / "short.h5").exists() and not list(tmp_path.glob("*.tmp"))


# -- manifest, verification, determinism ----------------------------------------------------
def test_manifest_and_verify_detects_a_flipped_byte(ready, tmp_path):
    url, cfg, state, models = ready
    info = release.cut(url, "v1", state.run_id, out=tmp_path / "rel")
    folder = info.out_dir
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["version"] == "v1" and manifest["created_at"] and manifest["code_version"]
    assert manifest["run"]["id"] == state.run_id and manifest["run"]["params"]["lambda_anom"] == 0.3
    assert manifest["models"]["wgan"]["id"] == state.wgan_id and manifest["models"]["encoder"]["id"] == state.encoder_id
    assert manifest["models"]["wgan"]["config"]["latent_dim"] == 128
    assert {k: v["id"] for k, v in manifest["models"]["cae"].items()} == models
    assert "i_cmodel_mag" in manifest["sample"]["sql"] and manifest["mask_version"]
    assert manifest["row_counts"] == info.row_counts == info.manifest["row_counts"]
    assert {name.split("/")[0] for name in manifest["files"]} == FILES - {"manifest.json", "SHA256SUMS"}
    assert {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()} == set(manifest["files"]) | {"manifest.json", "SHA256SUMS"}
    for name, entry in manifest["files"].items():
        assert entry["size"] == (folder / name).stat().st_size and entry["sha256"] == hashlib.sha256((folder / name).read_bytes()).hexdigest()
    assert release.verify(folder) == []

    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    target = copy / "results_gri_lambda0.3.h5"
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0x01
    target.write_bytes(bytes(data))
    problems = release.verify(copy)
    assert len(problems) == 2 and problems[0].startswith("results_gri_lambda0.3.h5: sha256")
    assert problems[1] == "results_gri_lambda0.3.h5: sha256 differs from SHA256SUMS"
    (copy / "autoencoded_disc3sigma_reals.npy").unlink()
    (copy / "notes.txt").write_text("x")
    problems = release.verify(copy)
    assert "autoencoded_disc3sigma_reals.npy: missing" in problems and "notes.txt: not in the manifest" in problems
    assert "notes.txt: not in SHA256SUMS" in problems
    # the HATS catalogs, MOC and VOTable are checked like every other file
    partition = sorted(name for name in manifest["files"] if name.startswith("anomaly_catalog_hsc_extended_hats/dataset/Norder="))[0]
    data = bytearray((copy / partition).read_bytes())
    data[len(data) // 2] ^= 0x01
    (copy / partition).write_bytes(bytes(data))
    (copy / "anomaly_catalog_hsc_disc3sigma.vot").unlink()
    (copy / "anomaly_catalog_hsc_disc3sigma_hats" / "extra.parquet").write_bytes(b"x")
    problems = release.verify(copy)
    assert any(p.startswith(f"{partition}: sha256") for p in problems)
    assert "anomaly_catalog_hsc_disc3sigma.vot: missing" in problems
    assert "anomaly_catalog_hsc_disc3sigma_hats/extra.parquet: not in the manifest" in problems
    assert release.verify(tmp_path / "nowhere") == [f"{tmp_path / 'nowhere'}: not a folder"]


def test_recut_to_a_new_version_is_byte_identical_except_the_manifest(ready, tmp_path):
    url, cfg, state, models = ready
    first = release.cut(url, "v1", state.run_id, out=tmp_path)
    second = release.cut(url, "v2", state.run_id, out=tmp_path)
    assert _hashes(first.out_dir) == _hashes(second.out_dir)
    a, b = (json.loads((r.out_dir / "manifest.json").read_text()) for r in (first, second))
    assert (a["version"], b["version"]) == ("v1", "v2")
    for m in (a, b):
        for key in ("version", "created_at", "release_id"):
            m.pop(key)
    assert a == b


# -- immutability and failures --------------------------------------------------------------
def test_versions_are_immutable(ready, tmp_path):
    url, cfg, state, models = ready
    release.cut(url, "v1", state.run_id, out=tmp_path)
    with pytest.raises(release.ReleaseError, match="release v1 exists .*immutable"):
        release.cut(url, "v1", state.run_id, out=tmp_path / "elsewhere")
    (tmp_path / "v2").mkdir()
    with pytest.raises(release.ReleaseError, match="v2 exists: versions are immutable"):
        release.cut(url, "v2", state.run_id, out=tmp_path)
    with pytest.raises(release.ReleaseError, match="bad release version"):
        release.cut(url, "../up", state.run_id, out=tmp_path)
    with psycopg.connect(url, autocommit=True) as conn:
        for statement in ("UPDATE release SET manifest = '{}' WHERE version = 'v1'", "UPDATE release SET status = 'failed'", "DELETE FROM release"):
            with pytest.raises(psycopg.errors.RaiseException, match="release v1 is"):
                conn.execute(statement)
        assert conn.execute("SELECT version, status FROM release").fetchall() == [("v1", "complete")]
    assert release.verify(tmp_path / "v1") == []


def test_a_failed_cut_leaves_a_failed_row_and_no_files(ready, tmp_path):
    url, cfg, state, models = ready

    def interrupt(stage, done, total):
        if stage == "images" and done > 0:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        release.cut(url, "v1", state.run_id, out=tmp_path, progress=interrupt)
    assert list(tmp_path.iterdir()) == []
    info = release.show(url, "v1")
    assert info.status == "failed" and "KeyboardInterrupt" in info.manifest["error"]
    with pytest.raises(release.ReleaseError, match="release v1 exists \\(failed"):
        release.cut(url, "v1", state.run_id, out=tmp_path)
    assert release.cut(url, "v1.1", state.run_id, out=tmp_path).status == "complete"


def test_refusals_before_anything_is_written(scored_db, tmp_path):
    url, cfg, state = scored_db
    with pytest.raises(release.ReleaseError, match=f"run `hscanom characterize --run {state.run_id}` first"):
        release.cut(url, "v1", state.run_id, out=tmp_path)
    _characterised(url, state.run_id)
    with pytest.raises(release.ReleaseError, match="no bright-star mask version 'nope' \\(known: "):
        release.cut(url, "v1", state.run_id, out=tmp_path, mask_version="nope")
    with pytest.raises(release.ReleaseError, match="no score run 999"):
        release.cut(url, "v1", 999, out=tmp_path)
    assert list(tmp_path.iterdir()) == [] and release.list_releases(url) == []


def test_cli_cut_list_show_verify(ready, tmp_path, monkeypatch):
    url, cfg, state, models = ready
    monkeypatch.setenv("HSCANOM_HOME", str(tmp_path / "home"))
    result = runner.invoke(app, ["release", "cut", "v1", "--run", str(state.run_id)])
    assert result.exit_code == 0, result.output
    folder = tmp_path / "home" / "releases" / "v1"
    assert (folder / "manifest.json").is_file() and "above 3 sigma" in result.output
    again = runner.invoke(app, ["release", "cut", "v1", "--run", str(state.run_id)])
    assert again.exit_code == 1 and "immutable" in again.output and "Traceback" not in again.output
    listed = " ".join(runner.invoke(app, ["release", "list"]).output.split())
    assert "v1" in listed and "complete" in listed
    shown = runner.invoke(app, ["release", "show", "v1"])
    assert shown.exit_code == 0 and "results_gri_lambda0.3.h5" in shown.output
    ok = runner.invoke(app, ["release", "verify", str(folder)])
    assert ok.exit_code == 0 and "match the manifest" in " ".join(ok.output.split())
    assert "checked against the manifest recorded in the database for release v1" in " ".join(ok.output.split())
    target = folder / "anomaly_catalog_hsc_full.p"
    target.chmod(0o644)
    data = bytearray(target.read_bytes())
    data[-5] ^= 0xFF
    target.write_bytes(bytes(data))
    bad = runner.invoke(app, ["release", "verify", str(folder)])
    assert bad.exit_code == 1 and "anomaly_catalog_hsc_full.p" in bad.output


# -- verification against the database's record ------------------------------------------------
def _writable_copy(folder: Path, to: Path) -> Path:
    shutil.copytree(folder, to)
    for p in [to, *to.rglob("*")]:
        p.chmod(0o755 if p.is_dir() else 0o644)
    return to


def test_verify_uses_the_recorded_manifest_refuses_symlinks_and_sha256sums_checks(ready, tmp_path):
    import subprocess

    url, cfg, state, models = ready
    folder = release.cut(url, "v1", state.run_id, out=tmp_path / "rel").out_dir
    sums = (folder / "SHA256SUMS").read_text().splitlines()
    assert {line.split("  ", 1)[1].split("/")[0] for line in sums} == FILES - {"SHA256SUMS"}  # HATS folders file by file
    check = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=folder, capture_output=True, text=True)
    assert check.returncode == 0 and "manifest.json: OK" in check.stdout, check.stdout + check.stderr
    good = release.verify_release(folder, url)
    assert good.problems == [] and good.reference == "the manifest recorded in the database for release v1"

    # 1. manifest.json edited (counts, threshold) and SHA256SUMS rewritten to match
    edited = _writable_copy(folder, tmp_path / "edited")
    manifest = json.loads((edited / "manifest.json").read_text())
    manifest["row_counts"]["disc3sigma"] += 100
    manifest["threshold_sigma"] = 2.0
    (edited / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    (edited / "SHA256SUMS").write_text(release.sha256sums(edited))
    assert release.verify(edited) == []  # without the database nothing tells
    result = release.verify_release(edited, url)
    assert result.problems == ["manifest.json: differs from the manifest recorded in the database (row_counts, threshold_sigma changed)"]

    # 2. a data file changed together with the manifest's sha256 and size (and SHA256SUMS)
    forged = _writable_copy(folder, tmp_path / "forged")
    target = forged / "anomaly_catalog_hsc_full.p"
    target.write_bytes(target.read_bytes() + b"\0")
    manifest = json.loads((forged / "manifest.json").read_text())
    manifest["files"][target.name] = {"sha256": hashlib.sha256(target.read_bytes()).hexdigest(), "size": target.stat().st_size}
    (forged / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    (forged / "SHA256SUMS").write_text(release.sha256sums(forged))
    assert release.verify(forged) == []
    problems = release.verify_release(forged, url).problems
    assert problems[0] == "manifest.json: differs from the manifest recorded in the database (files changed)"
    assert problems[1].startswith("anomaly_catalog_hsc_full.p: size")

    # 3. a file replaced by a symlink to an identical copy outside the release
    linked = _writable_copy(folder, tmp_path / "linked")
    outside = tmp_path / "outside.h5"
    shutil.copy(linked / "results_gri_lambda0.3.h5", outside)
    (linked / "results_gri_lambda0.3.h5").unlink()
    (linked / "results_gri_lambda0.3.h5").symlink_to(outside)
    problems = release.verify(linked)
    assert problems == [f"results_gri_lambda0.3.h5: a symbolic link (to {outside}); a release holds plain files only"]

    # 4. a manifest name that leaves the folder, and a symbolic link deep inside a HATS folder
    escaped = _writable_copy(folder, tmp_path / "escaped")
    manifest = json.loads((escaped / "manifest.json").read_text())
    manifest["files"]["../outside.h5"] = {"sha256": hashlib.sha256(outside.read_bytes()).hexdigest(), "size": outside.stat().st_size}
    (escaped / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    partition = next(p for p in sorted((escaped / "anomaly_catalog_hsc_extended_hats").rglob("*.parquet")))
    shutil.copy(partition, tmp_path / "partition.parquet")
    partition.unlink()
    partition.symlink_to(tmp_path / "partition.parquet")
    problems = release.verify(escaped)
    assert "../outside.h5: names a file outside the release folder" in problems
    rel = partition.relative_to(escaped).as_posix()
    assert any(p.startswith(f"{rel}: a symbolic link") for p in problems), problems

    # the CLI says what it checked against; without a database, manifest.json only
    result = runner.invoke(app, ["release", "verify", str(edited)])
    text = " ".join(result.output.split())
    assert result.exit_code == 1 and "recorded in the database" in text and "row_counts, threshold_sigma changed" in text
    result = runner.invoke(app, ["release", "verify", "--no-db", str(folder)])
    assert result.exit_code == 0 and "checked against manifest.json only" in " ".join(result.output.split())
