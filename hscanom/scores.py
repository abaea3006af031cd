"""The anomaly score names and the high-anomaly threshold, defined once.

A foundation module (docs/architecture.md). Storey-Fisher et al. (2021, MNRAS 508, 2946):
``s_gen`` is the final pixel term, ``s_disc`` the final critic
feature term and ``s_anom`` the combined loss of the latent optimisation; each is normalised
per run as ``(s - mean) / std`` (view ``anomaly_score_normalized``, columns ``*_sigma``). The
paper's high-anomaly sample is ``s_disc_sigma > 3`` (13,477 of 942,782 objects, 1.4%).
"""

from __future__ import annotations

__all__ = ["SCORES", "THRESHOLD_SIGMA"]

#: The three anomaly scores, as ``anomaly_score`` names its columns (and figures order them).
SCORES: tuple[str, ...] = ("s_gen", "s_disc", "s_anom")

#: Threshold of the high-anomaly selections [sigma]: the paper's 3 sigma.
THRESHOLD_SIGMA: float = 3.0
