"""The release ``README.md``: every file and column, in prose and tables.

The prose is the Jinja template ``catalog/templates/release_README.md.jinja2`` (package data
of :mod:`hscanom.catalog`); this module gathers the figures and column tables it fills in.
Nothing in it depends on the version or the time (those are in ``manifest.json``), so
re-cutting a run gives the same README.
"""

from __future__ import annotations

from functools import cache

import numpy as np
from jinja2 import Environment, PackageLoader, StrictUndefined

from hscanom.catalog import ecosystem, published
from hscanom.catalog.release.layout import (
    DISC3_HATS, DISC3_PICKLE, DISC3_VOTABLE, EXTENDED, EXTENDED_HATS, FOOTPRINT_MOC, FULL_PICKLE, REALS_NPY, RESIDUALS_NPY,
)
from hscanom.catalog.release.plan import Plan

__all__ = ["TEMPLATE", "render_readme"]

#: The template, in ``catalog/templates/``.
TEMPLATE = "release_README.md.jinja2"

_FILES = {
    "full_pickle": FULL_PICKLE, "disc3_pickle": DISC3_PICKLE, "residuals_npy": RESIDUALS_NPY, "reals_npy": REALS_NPY,
    "extended": EXTENDED, "extended_hats": EXTENDED_HATS, "disc3_hats": DISC3_HATS, "footprint_moc": FOOTPRINT_MOC,
    "disc3_votable": DISC3_VOTABLE,
}


def _cell(text: str) -> str:
    """``text`` for a Markdown table cell ('|' escaped)."""
    return text.replace("|", "\\|")


@cache
def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("hscanom.catalog", "templates"),
        autoescape=False,  # Markdown, not HTML
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["cell"] = _cell
    env.filters["thousands"] = lambda n: f"{n:,}"
    return env


def _dtype_name(column: np.ndarray) -> str:
    data = np.ma.getdata(column)
    return "int64" if data.dtype == np.int64 else "int32" if data.dtype == np.int32 else "bool" if data.dtype == bool else "float64"


def render_readme(plan: Plan, h5_names: list[str]) -> str:
    """README.md of the release ``plan`` describes (``h5_names``: the two HDF5 files' names).

    Raises:
        jinja2.UndefinedError: the template names a value not given here (a bug).
    """
    c = plan.catalog
    h, w, _ = plan.image_shape
    images = [(spec, f"uint8 (N, {h}, {w}, 3)") for spec in published.IMAGE_DATASETS]
    return _environment().get_template(TEMPLATE).render(
        files=_FILES,
        h5_names=h5_names,
        run=plan.run,
        sample=plan.sample,
        lam=plan.run["params"].get("lambda_anom"),
        n=len(c["idx"]),
        n_high=len(plan.high),
        d=plan.latents["residual"].shape[1],
        h=h,
        w=w,
        mask_version=plan.mask_version,
        ranking=plan.ranking,
        moc_order=ecosystem.MOC_ORDER,
        pickle_columns=published.PICKLE_COLUMNS,
        h5_datasets=[*published.H5_DATASETS, *images],
        extended_columns=[(spec, _dtype_name(c[spec.name])) for spec in plan.columns],
    )
