"""Package data: trained models shipped with hscanom (see :mod:`hscanom.ml.shipped`)."""
