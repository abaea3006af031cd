"""The anomaly explorer: a web app over the hscanom database (``hscanom serve``)."""
