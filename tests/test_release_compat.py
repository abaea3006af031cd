"""Release pickles load under NumPy 1.26 with pandas 1.5 and 2.2, not only under NumPy 2 (issue 17.11).

The test builds throwaway environments (pip, into ``.venv-compat/`` at the repository root,
or ``$HSCANOM_COMPAT_DIR``; pip's own download cache, ``~/.cache/pip``, makes re-runs
offline-fast -- keep both between CI runs), writes the release's pickles with the very calls
``hscanom release cut`` makes (``catalog_frame`` + ``write_pickle`` for the full and the
3-sigma catalogs, ``write_embedding_array`` for the two ``.npy``), under the current NumPy 2
/ pandas, and loads every pickle (``*.p``) and pickled ``.npy`` in each environment with the
plain readers users call (``pandas.read_pickle``,
``numpy.load(allow_pickle=True)``). What each environment reads -- index, columns, dtypes,
every value, the int64 ids exactly -- must equal what the current environment reads. The
test is skipped only when pip cannot reach a package index.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import numpy as np

from hscanom.catalog import published, release

REPO = Path(__file__).resolve().parents[1]
ENVS = {
    "numpy1.26-pandas1.5": ["numpy==1.26.4", "pandas==1.5.3"],
    "numpy1.26-pandas2.2": ["numpy==1.26.4", "pandas==2.2.3"],
}
_OFFLINE = ("Failed to establish a new connection", "Temporary failure in name resolution", "NewConnectionError",
            "Network is unreachable", "No matching distribution found", "Could not find a version that satisfies")

READER = r"""
import json, sys
from pathlib import Path
import numpy as np, pandas as pd
out = {"versions": [np.__version__, pd.__version__]}
for p in sorted(Path(sys.argv[1]).rglob("*.p")):
    f = pd.read_pickle(p)
    out[p.name] = {
        "type": type(f).__name__, "index": [f.index.name, str(f.index.dtype), [int(i) for i in f.index]],
        "columns": [list(map(str, f.columns)), str(f.columns.dtype)], "dtypes": [str(d) for d in f.dtypes],
        "ids": [str(int(v)) for v in f["HSC_object_id"].to_numpy()],
        "values": {c: [repr(float(v)) for v in f[c].to_numpy()] for c in f.columns if c != "HSC_object_id"},
    }
for p in sorted(Path(sys.argv[1]).rglob("*.npy")):
    a = np.load(p, allow_pickle=True)
    if a.dtype != object:
        continue
    out[p.name] = {"shape": list(a.shape), "rows": [[str(r[0].dtype), r[0].tolist(), int(r[1]), repr(float(r[2]))] for r in a]}
print(json.dumps(out))
"""


def _environment(name: str, requirements: list[str]) -> Path:
    """Python of a venv with ``requirements`` (made once; reused while its marker matches)."""
    root = Path(os.environ.get("HSCANOM_COMPAT_DIR", REPO / ".venv-compat"))
    env = root / name
    python = env / "bin" / "python"
    marker = env / "hscanom-requirements.txt"
    if python.exists() and marker.exists() and marker.read_text() == "\n".join(requirements):
        return python
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(env)], check=True, capture_output=True)
    pip = subprocess.run(
        [str(python), "-m", "pip", "install", "--disable-pip-version-check", "-q", *requirements],
        capture_output=True, text=True, timeout=900,
    )
    if pip.returncode != 0:
        if any(s in pip.stdout + pip.stderr for s in _OFFLINE):
            pytest.skip(f"pip cannot reach a package index for {' '.join(requirements)}: {(pip.stderr or pip.stdout).strip()[-300:]}")
        pytest.fail(f"pip install {' '.join(requirements)} failed:\n{pip.stdout}\n{pip.stderr}")
    marker.write_text("\n".join(requirements))
    return python


def _read(python: str | Path, folder: Path) -> dict:
    done = subprocess.run([str(python), "-c", READER, str(folder)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _write_release_files(folder: Path) -> None:
    """The release's pickled files, written as ``release.cut`` writes them."""
    rng = np.random.default_rng(7)
    n = 50
    idx = np.arange(n, dtype=np.int64)
    ids = np.int64(2**62) + np.arange(n, dtype=np.int64) * 7919  # far above 2**53
    disc, gen, anom = rng.normal(0, 1.5, (3, n))
    disc = np.clip(disc, -2.9, 2.9)
    disc[:4] = [3.5, 4.0, 5.25, 3.01]
    gen[7] = np.nan  # a method without that score
    frame = published.catalog_frame(idx, ids, rng.uniform(0, 360, n), rng.uniform(-5, 5, n), disc, gen, anom)
    published.write_pickle(folder / release.FULL_PICKLE, frame)
    published.write_pickle(folder / release.DISC3_PICKLE, frame.iloc[np.flatnonzero(disc > 3)])
    high = np.flatnonzero(disc > 3)
    published.write_embedding_array(folder / release.RESIDUALS_NPY, rng.normal(size=(len(high), 64)), idx[high], disc[high])
    published.write_embedding_array(folder / release.REALS_NPY, rng.normal(size=(len(high), 64)), idx[high], disc[high])


def test_release_pickles_load_under_numpy1(tmp_path):
    folder = tmp_path / "release"
    folder.mkdir()
    _write_release_files(folder)
    here = _read(sys.executable, folder)
    assert here["versions"][0].startswith("2.")  # written under NumPy 2
    assert set(here) - {"versions"} == {release.FULL_PICKLE, release.DISC3_PICKLE, release.RESIDUALS_NPY, release.REALS_NPY}
    full = here[release.FULL_PICKLE]
    assert full["index"][:2] == ["idx", "int64"] and full["columns"][1] == "object"
    assert full["dtypes"] == ["int64"] + ["float64"] * 5
    assert full["ids"][-1] == str(2**62 + 49 * 7919)
    assert here[release.DISC3_PICKLE]["index"][2] == [0, 1, 2, 3]
    assert here[release.RESIDUALS_NPY]["shape"] == [4, 3]
    for name, requirements in ENVS.items():
        python = _environment(name, requirements)
        there = _read(python, folder)
        assert there.pop("versions") == [r.split("==")[1] for r in requirements]
        assert there == {k: v for k, v in here.items() if k != "versions"}, name
