"""The release's checksums: ``manifest.json`` and the detached ``SHA256SUMS``.

A release folder holds plain files and folders only (HATS catalogs are folders); every file
is named by its path relative to the folder in POSIX form. The manifest records the release's
provenance and the sha256 and size of every file but itself and ``SHA256SUMS``;
``SHA256SUMS`` lists every file but itself, as ``sha256sum`` writes it.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

import numpy as np

from hscanom import __version__
from hscanom.catalog.release.layout import MANIFEST, MANIFEST_FORMAT, MANIFEST_FORMAT_VERSION, SHA256SUMS
from hscanom.catalog.release.plan import Plan
from hscanom.checksum import sha256_file
from hscanom.scores import THRESHOLD_SIGMA

__all__ = ["build_manifest", "inside", "jsonable", "sha256sums", "walk"]


def jsonable(value: Any) -> Any:
    """``value`` with dict keys as text, tuples as lists, dates in ISO 8601 and numpy scalars as Python ones."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, np.generic):
        return value.item()
    return value


def sha256sums(folder: Path) -> str:
    """``SHA256SUMS`` text for every file of ``folder`` but itself: ``<sha256>  <name>`` lines in
    name order, as ``sha256sum`` writes them (so ``sha256sum -c SHA256SUMS`` checks a release
    without hscanom)."""
    return "".join(f"{sha256_file(p)}  {name}\n" for name, p in walk(folder)[0] if name != SHA256SUMS)


def walk(folder: Path) -> tuple[list[tuple[str, Path]], list[str]]:
    """The plain files below ``folder`` as (path relative to it in POSIX form, path), in name
    order, and problems: symbolic links (never followed) and anything that is neither a plain
    file nor a folder. Releases hold plain files and folders only (HATS catalogs are folders)."""
    files: list[tuple[str, Path]] = []
    problems: list[str] = []
    for root, dirs, names in os.walk(folder, followlinks=False):
        here = Path(root)
        for entry in sorted(dirs + names):
            path = here / entry
            rel = path.relative_to(folder).as_posix()
            if path.is_symlink():
                problems.append(f"{rel}: a symbolic link (to {os.readlink(path)}); a release holds plain files only")
            elif path.is_file():
                files.append((rel, path))
            elif not path.is_dir():
                problems.append(f"{rel}: not a plain file")
        dirs[:] = [d for d in dirs if not (here / d).is_symlink()]
    return sorted(files), problems


def inside(name: str) -> bool:
    """Whether a manifest name is a relative path that stays inside the release folder."""
    if not name or "\\" in name or name.startswith("/"):
        return False
    return all(part not in ("", ".", "..") for part in name.split("/"))


def build_manifest(plan: Plan, folder: Path, release_id: int, created_at: dt.datetime) -> dict[str, Any]:
    """The manifest of the files written so far into ``folder`` (JSON-ready: ISO times, Python scalars)."""
    files = {}
    for name, path in walk(folder)[0]:  # HATS catalogs are folders: every file by its path
        if name not in (MANIFEST, SHA256SUMS):
            files[name] = {"sha256": sha256_file(path), "size": path.stat().st_size}
    n, n_high = len(plan.catalog["idx"]), len(plan.high)
    return jsonable(
        {
            "format": MANIFEST_FORMAT,
            "format_version": MANIFEST_FORMAT_VERSION,
            "version": plan.version,
            "release_id": release_id,
            "created_at": created_at.astimezone(dt.timezone.utc).isoformat(),
            "code_version": __version__,
            "run": plan.run,
            "models": plan.models,
            "sample": plan.sample,
            "mask_version": plan.mask_version,
            "threshold_sigma": THRESHOLD_SIGMA,
            "image_shape": list(plan.image_shape),
            "embedding_dim": int(plan.latents["residual"].shape[1]),
            "row_counts": {"full": n, "disc3sigma": n_high},
            "ranking": plan.ranking,
            "files": files,
        }
    )
