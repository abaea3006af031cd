"""Where hscanom keeps its state, and which database it talks to.

Two environment variables decide everything:

``HSCANOM_HOME``
    Folder for the embedded PostgreSQL cluster, its logs, image shards and releases.
    Default ``./.hscanom`` (relative to the current directory).
``HSCANOM_DATABASE_URL``
    A SQLAlchemy/libpq URL of an external PostgreSQL server (e.g.
    ``postgresql://user@host:5432/db``). When set, every command uses it and no embedded
    server is ever started.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

HOME_ENV = "HSCANOM_HOME"
URL_ENV = "HSCANOM_DATABASE_URL"
DEFAULT_HOME = ".hscanom"


@dataclass(frozen=True)
class Settings:
    """Resolved settings for one process.

    Attributes:
        home: absolute path of the hscanom home folder.
        external_url: the external database URL, or ``None`` for the embedded cluster.
    """

    home: Path
    external_url: str | None

    @property
    def embedded(self) -> bool:
        """True when the embedded cluster under ``home`` is the database."""
        return self.external_url is None

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> "Settings":
        """Read the settings from ``env`` (default: ``os.environ``)."""
        env = os.environ if env is None else env
        home = Path(env.get(HOME_ENV) or DEFAULT_HOME).expanduser().resolve()
        url = env.get(URL_ENV) or None
        return cls(home=home, external_url=url)


def sqlalchemy_url(url: str) -> str:
    """Return ``url`` with the psycopg 3 driver named, as SQLAlchemy needs it.

    ``postgresql://`` and ``postgres://`` URLs (as libpq and psql write them) become
    ``postgresql+psycopg://``; a URL that already names a driver is returned unchanged.
    """
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def libpq_url(url: str) -> str:
    """Return ``url`` without a SQLAlchemy driver name, for psql and psycopg."""
    if url.startswith("postgresql+"):
        return "postgresql://" + url.split("://", 1)[1]
    return url
