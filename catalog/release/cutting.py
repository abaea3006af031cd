"""Cutting a release: :func:`cut` checks, plans, writes every file into a hidden folder and
renames it into place, recording the version in the ``release`` table throughout."""

from __future__ import annotations

import json
import os
import re
import shutil
from contextlib import suppress
from pathlib import Path

import psycopg

from hscanom import db
from hscanom.catalog.release.layout import MANIFEST, README, SHA256SUMS, ReleaseError
from hscanom.catalog.release.manifest import build_manifest, sha256sums
from hscanom.catalog.release.plan import gather
from hscanom.catalog.release.readme import render_readme
from hscanom.catalog.release.registry import ReleaseInfo, show
from hscanom.catalog.release.writers import write_ecosystem, write_extended, write_npy, write_pickles, write_results
from hscanom.progress import Progress  # progress(stage, done, total), called as the cut advances

__all__ = ["cut", "default_out"]

_VERSION_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$")


def _quiet(stage: str, done: int, total: int) -> None:
    pass


def _check_version(version: str) -> str:
    if not _VERSION_NAME.match(version or ""):
        raise ReleaseError(
            f"bad release version {version!r}: use letters, digits and . _ + - (at most 64, starting with a letter or digit), e.g. v1.0"
        )
    return version


def default_out() -> Path:
    """``$HSCANOM_HOME/releases``."""
    from hscanom.config import Settings

    return Settings.from_env().home / "releases"


def cut(
    url: str,
    version: str,
    run_id: int,
    *,
    out: str | Path | None = None,
    mask_version: str | None = None,
    progress: Progress | None = None,
) -> ReleaseInfo:
    """Cut release ``version`` of score run ``run_id`` into ``out/version/``.

    Args:
        url: database URL.
        out: parent folder of the release folders (default ``$HSCANOM_HOME/releases``).
        mask_version: bright-star mask version of the mask flag (default: the newest ingested).
        progress: ``progress(stage, done, total)`` callback.

    Returns:
        The complete release.

    Raises:
        ReleaseError: the version exists (row or folder) or is malformed, the run is not
            complete, has no characterisation embeddings (run ``hscanom characterize``), or
            its images are missing; nothing is written then. A failure while writing leaves a
            ``failed`` release row and no files.
    """
    progress = progress or _quiet
    _check_version(version)
    out = Path(out) if out is not None else default_out()
    target = out.resolve() / version
    with db.connect(url, autocommit=True) as conn:
        existing = conn.execute("SELECT status, out_dir FROM release WHERE version = %s", (version,)).fetchone()
        if existing:
            raise ReleaseError(f"release {version} exists ({existing[0]}, {existing[1]}): versions are immutable, choose a new version")
        if target.exists():
            raise ReleaseError(f"{target} exists: versions are immutable, choose a new version (or another --out)")
        progress("checking", 0, 1)
        with conn.transaction():
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            plan = gather(conn, version, run_id, mask_version)
        progress("checking", 1, 1)
        try:
            release_id, created_at = conn.execute(
                "INSERT INTO release (version, run_id, out_dir, status) VALUES (%s, %s, %s, 'cutting') RETURNING id, created_at",
                (version, run_id, str(target)),
            ).fetchone()
        except psycopg.errors.UniqueViolation:
            raise ReleaseError(f"release {version} is being cut by someone else: choose a new version") from None
        out.mkdir(parents=True, exist_ok=True)
        work = out.resolve() / f".{version}.partial-{os.getpid()}"
        try:
            work.mkdir()
            progress("catalogs", 0, 2)
            write_pickles(plan, work)
            write_extended(plan, work)
            progress("catalogs", 2, 2)
            scratch = out.resolve() / f".{version}.scratch-{os.getpid()}"
            try:
                scratch.mkdir()
                write_ecosystem(plan, work, scratch, progress)
            finally:
                shutil.rmtree(scratch, ignore_errors=True)
            h5_names = write_results(plan, work, progress)
            progress("embeddings", 0, 1)
            write_npy(plan, work)
            progress("embeddings", 1, 1)
            progress("checksums", 0, 1)
            (work / README).write_text(render_readme(plan, h5_names))
            manifest = build_manifest(plan, work, release_id, created_at)
            progress("checksums", 1, 1)
            (work / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
            (work / SHA256SUMS).write_text(sha256sums(work))
            if target.exists():
                raise ReleaseError(f"{target} appeared while cutting: not overwriting it")
            os.rename(work, target)
        except BaseException as exc:
            shutil.rmtree(work, ignore_errors=True)
            conn.execute(
                "UPDATE release SET status = 'failed', manifest = %s WHERE id = %s",
                (json.dumps({"error": f"{type(exc).__name__}: {exc}"}), release_id),
            )
            raise
        try:
            conn.execute("UPDATE release SET status = 'complete', manifest = %s WHERE id = %s", (json.dumps(manifest), release_id))
        except BaseException as exc:
            shutil.rmtree(target, ignore_errors=True)
            with suppress(psycopg.Error):
                conn.execute(
                    "UPDATE release SET status = 'failed', manifest = %s WHERE id = %s AND status = 'cutting'",
                    (json.dumps({"error": f"{type(exc).__name__}: {exc}"}), release_id),
                )
            raise
        progress("done", 1, 1)
    return show(url, version)
