"""Atomic file writes: write to a temporary name next to the target, then ``os.replace``.

A foundation module (docs/architecture.md). A reader sees the old file or the whole new
one, never a half-written file; a failed write leaves no temporary file behind.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["atomic_path"]


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it to ``path`` when the block succeeds.

    The temporary file is ``.<name>.<pid>.tmp`` in the target's folder (created if needed),
    so the rename stays on one file system and concurrent writers do not collide. It is
    removed when the block raises.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
