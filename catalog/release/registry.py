"""The ``release`` table: one row per version (status ``cutting``, ``complete`` or ``failed``)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hscanom import db
from hscanom.catalog.release.layout import ReleaseError

__all__ = ["ReleaseInfo", "list_releases", "show"]


@dataclass(frozen=True)
class ReleaseInfo:
    """A ``release`` row: status ``cutting``, ``complete`` or ``failed``; ``manifest`` when complete."""

    id: int
    version: str
    run_id: int
    status: str
    out_dir: Path
    created_at: dt.datetime
    manifest: dict[str, Any] = field(default_factory=dict)

    @property
    def path(self) -> Path:
        """The release folder (same as ``out_dir``)."""
        return self.out_dir

    @property
    def row_counts(self) -> dict[str, int]:
        return dict(self.manifest.get("row_counts", {}))


def _info(row) -> ReleaseInfo:
    return ReleaseInfo(row[0], row[1], row[2], row[3], Path(row[4]), row[5], row[6] or {})


_RELEASE_COLUMNS = "id, version, run_id, status, out_dir, created_at, manifest"


def list_releases(url: str) -> list[ReleaseInfo]:
    """Every release row, oldest first."""
    with db.connect(url) as conn:
        return [_info(r) for r in conn.execute(f"SELECT {_RELEASE_COLUMNS} FROM release ORDER BY id")]


def show(url: str, version: str) -> ReleaseInfo:
    """The release ``version`` (ReleaseError if there is none)."""
    with db.connect(url) as conn:
        row = conn.execute(f"SELECT {_RELEASE_COLUMNS} FROM release WHERE version = %s", (version,)).fetchone()
    if row is None:
        raise ReleaseError(f"no release {version!r}")
    return _info(row)

