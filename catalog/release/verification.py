"""Re-checking a release folder: :func:`verify` (against a manifest) and :func:`verify_release`
(against the manifest recorded in the database when it can be reached)."""

from __future__ import annotations

import json
import re
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from hscanom.catalog.release.layout import MANIFEST, SHA256SUMS
from hscanom.catalog.release.manifest import inside, walk
from hscanom.checksum import sha256_file

__all__ = ["Verification", "verify", "verify_release"]


@dataclass
class Verification:
    """What :func:`verify_release` checked: ``problems`` (empty when the release is intact) and
    ``reference``, the manifest the files were checked against (the database's record, or
    ``manifest.json`` alone when the database was not reachable or holds no such release)."""

    problems: list[str]
    reference: str
    files: int = 0


def _recorded_manifest(url: str, version: str) -> dict[str, Any] | None:
    with psycopg.connect(url, connect_timeout=5) as conn:
        row = conn.execute("SELECT status, manifest FROM release WHERE version = %s", (version,)).fetchone()
    if row is None or row[0] != "complete":
        return None
    return row[1]


def verify_release(directory: str | Path, url: str | None = None) -> Verification:
    """Verify a release folder, against the manifest recorded in the database when possible.

    With ``url`` reachable and a complete release of the folder's version recorded there, the
    database's manifest is the reference: ``manifest.json`` must equal it, and every file
    must match its size and sha256. Otherwise ``manifest.json`` is the reference (which proves
    only that the files agree with it, not that the manifest is the one published). Either
    way symlinks, non-files and names that leave the folder are refused, and ``SHA256SUMS``
    must list every other file with its sha256.
    """
    directory = Path(directory)
    manifest_path = directory / MANIFEST
    recorded = None
    reference = "manifest.json only (no database given)"
    if url is not None and directory.is_dir() and not manifest_path.is_symlink():
        try:
            version = json.loads(manifest_path.read_text()).get("version") or directory.name
        except (OSError, ValueError, AttributeError):
            version = directory.name
        try:
            recorded = _recorded_manifest(url, str(version))
            reference = (f"the manifest recorded in the database for release {version}" if recorded is not None
                         else f"manifest.json only (the database has no complete release {version})")
        except psycopg.Error as exc:
            reference = f"manifest.json only (database not reachable: {str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__})"
    problems = verify(directory, recorded=recorded)
    n = len(recorded["files"]) if recorded else 0
    if not n:
        with suppress(OSError, ValueError, KeyError, TypeError, AttributeError):
            n = len(json.loads(manifest_path.read_text())["files"])
    return Verification(problems, reference, n)


def verify(directory: str | Path, recorded: dict[str, Any] | None = None) -> list[str]:
    """Re-check a release folder against its manifest.

    Args:
        recorded: the manifest recorded in the database; when given it is the reference and
            ``manifest.json`` must equal it.

    Returns:
        Problems, one line each (empty when every file listed is a plain file in the folder
        with its size and sha256, no other file is there, and ``SHA256SUMS`` agrees).
    """
    directory = Path(directory)
    manifest_path = directory / MANIFEST
    if not directory.is_dir() or directory.is_symlink():
        return [f"{directory}: not a folder"]
    walked, problems = walk(directory)
    try:
        if manifest_path.is_symlink():
            raise ValueError("a symbolic link")
        manifest = json.loads(manifest_path.read_text())
        if not isinstance(manifest.get("files"), dict):
            raise TypeError("'files' is not an object")
    except FileNotFoundError:
        return problems + [f"{manifest_path}: missing"]
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        return problems + [f"{manifest_path}: unreadable ({type(exc).__name__}: {exc})"]
    if recorded is not None and manifest != recorded:
        changed = sorted(k for k in set(manifest) | set(recorded) if manifest.get(k) != recorded.get(k))
        problems.append(f"{MANIFEST}: differs from the manifest recorded in the database ({', '.join(changed)} changed)")
    files = (recorded or manifest)["files"]
    for name, entry in sorted(files.items()):
        path = directory / name
        if not inside(name):
            problems.append(f"{name}: names a file outside the release folder")
            continue
        if path.is_symlink() or not path.is_file():
            if not path.exists() and not path.is_symlink():
                problems.append(f"{name}: missing")
            continue
        size = path.stat().st_size
        if size != entry.get("size"):
            problems.append(f"{name}: size {size} bytes, the manifest says {entry.get('size')}")
            continue
        digest = sha256_file(path)
        if digest != entry.get("sha256"):
            problems.append(f"{name}: sha256 {digest} differs from the manifest's {entry.get('sha256')} (the file changed)")
    for name in sorted(n for n, _p in walked):
        if name not in (MANIFEST, SHA256SUMS) and name not in files:
            problems.append(f"{name}: not in the manifest")
    problems += _check_sums(directory, walked)
    return problems


def _check_sums(directory: Path, walked: list[tuple[str, Path]]) -> list[str]:
    """``SHA256SUMS`` must list every other plain file of the folder with its sha256."""
    sums = directory / SHA256SUMS
    if sums.is_symlink() or not sums.is_file():
        return [f"{SHA256SUMS}: missing"]
    listed: dict[str, str] = {}
    for k, line in enumerate(sums.read_text(errors="replace").splitlines(), 1):
        m = re.fullmatch(r"([0-9a-f]{64}) [ *](.+)", line)
        if not m:
            return [f"{SHA256SUMS}: line {k} is not '<sha256>  <name>'"]
        listed[m.group(2)] = m.group(1)
    problems = []
    present = {n: p for n, p in walked if n != SHA256SUMS}
    for name in sorted(set(present) - set(listed)):
        problems.append(f"{name}: not in {SHA256SUMS}")
    for name in sorted(set(listed) - set(present)):
        if not (directory / name).is_symlink():  # a symbolic link is reported as such already
            problems.append(f"{name}: in {SHA256SUMS} but missing")
    for name in sorted(set(present) & set(listed)):
        if sha256_file(present[name]) != listed[name]:
            problems.append(f"{name}: sha256 differs from {SHA256SUMS}")
    return problems
