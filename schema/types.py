"""SQLAlchemy column types for the pgSphere extension.

Values travel as pgSphere's text input/output forms, e.g. ``<(10d, 20d), 0.5d>`` for an
``scircle`` and ``{(10d,20d),(11d,20d),(11d,21d)}`` for an ``spoly``. Build them with
:func:`scircle_literal` and :func:`spoly_literal` (angles in degrees).
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.types import UserDefinedType


class _PgSphereType(UserDefinedType):
    cache_ok = True
    sql_name = ""

    def get_col_spec(self, **kw) -> str:
        return self.sql_name


class SCircle(_PgSphereType):
    """pgSphere ``scircle``: a spherical cap (centre and angular radius)."""

    sql_name = "scircle"


class SPoly(_PgSphereType):
    """pgSphere ``spoly``: a spherical polygon with great-circle edges."""

    sql_name = "spoly"


def scircle_literal(ra: float, dec: float, radius: float) -> str:
    """pgSphere text of a circle; ``ra``, ``dec`` and ``radius`` in degrees."""
    return f"<({ra!r}d, {dec!r}d), {radius!r}d>"


def spoly_literal(vertices: Iterable[tuple[float, float]]) -> str:
    """pgSphere text of a polygon from (ra, dec) vertices in degrees, in order."""
    return "{" + ",".join(f"({ra!r}d, {dec!r}d)" for ra, dec in vertices) + "}"


def _register_for_reflection() -> None:
    """Let SQLAlchemy (and Alembic's drift check) recognise the types when reflecting."""
    from sqlalchemy.dialects.postgresql.base import ischema_names

    ischema_names.setdefault("scircle", SCircle)
    ischema_names.setdefault("spoly", SPoly)


_register_for_reflection()
