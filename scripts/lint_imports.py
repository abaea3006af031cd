"""Run ``lint-imports`` (the layer contracts in pyproject.toml) on the package as installed.

The repository keeps ``schema/``, ``ingest/``, ``ml/``, ``catalog/`` and ``sql/`` at the top
level and setuptools maps them into ``hscanom`` (``[tool.setuptools] package-dir``). An
editable install serves them through an import hook that import-linter cannot walk, so this
script lays the package out as a wheel would -- a temporary folder ``hscanom/`` of symbolic
links following package-dir -- and runs ``lint-imports`` with that folder first on the path.
Arguments are passed on; the exit status is lint-imports' (1 when a contract is broken).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main(argv: list[str]) -> int:
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    package_dir: dict[str, str] = config["tool"]["setuptools"]["package-dir"]
    with tempfile.TemporaryDirectory(prefix="hscanom-lint-") as tmp:
        root = Path(tmp)
        # parents before children: hscanom, then hscanom.schema, hscanom.schema.migrations, ...
        for name, folder in sorted(package_dir.items(), key=lambda item: item[0].count(".")):
            target = root.joinpath(*name.split("."))
            if target.exists() or target.is_symlink():  # inside an already linked parent
                continue
            if name.count(".") == 0:
                target.mkdir()  # the root: a real folder of links, so children can be added
                for entry in (REPO / folder).iterdir():
                    (target / entry.name).symlink_to(entry)
            else:
                target.symlink_to(REPO / folder)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [tmp, os.environ.get("PYTHONPATH")]))}
        lint = Path(sys.executable).with_name("lint-imports")
        # Run in the links folder: lint-imports puts the current folder first on the path and
        # reads the contracts from ./pyproject.toml.
        (root / "pyproject.toml").symlink_to(REPO / "pyproject.toml")
        return subprocess.call([str(lint), *argv], env=env, cwd=tmp)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
