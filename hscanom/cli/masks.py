"""``hscanom masks``: make bright-star masks."""

from __future__ import annotations

from pathlib import Path

import typer

from hscanom.cli._common import UserError, reported_errors
from hscanom.cli.ingest import print_masks
from hscanom.ingest.masks import RADIUS_LAWS, MaskError, build_masks

app = typer.Typer(help="Build bright-star masks.", no_args_is_help=True)


@app.callback()
def main() -> None:
    """Build bright-star masks (load DS9 mask files with `hscanom ingest masks`)."""


def _params(pairs: list[str]) -> dict[str, float]:
    params = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        try:
            if not sep:
                raise ValueError
            params[key.strip()] = float(value)
        except ValueError:
            raise UserError(f"--param must look like A0=250, got {pair!r}") from None
    return params


@app.command()
def build(
    starlist: Path = typer.Argument(..., help="Star list: CSV with a header (ra, dec, mag[, star_id]) or FITS table."),
    version: str = typer.Option(None, "--version", help="Mask version name (default: '<file stem>-<radius law>')."),
    radius_law: str = typer.Option("hsc-pdr1", "--radius-law", help=f"Radius law: {', '.join(RADIUS_LAWS)}."),
    param: list[str] = typer.Option([], "--param", help="Override a law coefficient, e.g. --param A0=250 (repeatable)."),
    replace: bool = typer.Option(False, "--replace", help="Replace the regions of an existing version."),
) -> None:
    """Store one circular halo per star, r = A0 10^(B0 (C0 - m)) + A1 10^(B1 (C1 - m)) arcsec.

    hsc-pdr1: A0=200, B0=0.25, C0=7.0, A1=12.0, B1=0.05, C1=16.0.
    """
    with reported_errors(MaskError, OSError):
        result = build_masks(
            starlist,
            version or f"{starlist.stem}-{radius_law}",
            law=radius_law,
            params=_params(param),
            replace=replace,
        )
    print_masks(result)
