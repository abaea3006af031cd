"""hscanom: anomalous galaxies in Hyper Suprime-Cam images, as PostgreSQL tables and public catalogs."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("hscanom")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"
