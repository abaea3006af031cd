"""Bright-star mask files in the DS9 region format of the HSC releases.

Layout (one star after the other, like the PDR masks)::

    # Region file format: DS9 version 4.1
    # BRIGHT STAR CATALOG: hscanom simulation
    # ...
    global color=green ...
    fk5
    circle(130.123456,0.456789,0.013581d) # ID: 1, mag: 9.052
    box(130.123456,0.456789,7.82",117.34",1.523) # ID: 1, mag: 9.052

Circle radii are in degrees (``d``), box sides in arcsec (``"``) and the box angle in degrees,
counter-clockwise from the x axis of a north-up, east-left image (DS9 / astropy-regions
convention).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hscanom.simulate.stars import Stars, box_size

HEADER = (
    "# Region file format: DS9 version 4.1\n"
    "# BRIGHT STAR CATALOG: hscanom simulation (i-band magnitudes)\n"
    "# Halo circles: r = 200*10^(0.25*(7-m)) + 12*10^(0.05*(16-m)) arcsec\n"
    "# Boxes: bleed trails and channel stops of stars with m < 12.5\n"
    'global color=green dashlist=8 3 width=1 font="helvetica 10 normal roman" select=1 '
    "highlite=1 dash=0 fixed=0 edit=1 move=1 delete=1 include=1 source=1\n"
    "fk5\n"
)


def format_regions(stars: Stars) -> str:
    """DS9 region text (fk5) of the halo circles and boxes of ``stars``."""
    radius_deg = stars.radius / 3600.0
    width, height = box_size(stars.mag)
    lines = [HEADER]
    for k in range(len(stars)):
        comment = f" # ID: {int(stars.star_id[k])}, mag: {stars.mag[k]:.3f}\n"
        centre = f"{stars.ra[k]:.6f},{stars.dec[k]:.6f}"
        lines.append(f"circle({centre},{radius_deg[k]:.6f}d){comment}")
        if stars.has_box[k]:
            angle = float(np.mod(stars.box_angle[k], 180.0))
            lines.append(f'box({centre},{width[k]:.2f}",{height[k]:.2f}",{angle:.3f}){comment}')
    return "".join(lines)


def write_regions(path: Path, stars: Stars) -> None:
    """Write the DS9 mask file of ``stars`` to ``path``."""
    Path(path).write_text(format_regions(stars))
