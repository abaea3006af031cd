"""Configuration of the WGAN-GP, its encoder and the scoring step, with presets.

``paper`` holds the numbers of Storey-Fisher et al. (docs/architecture.md, "The ML method"); ``demo``
and ``test`` scale the width and the number of iterations down so that the demo trains on
5,000 simulated objects in about 10 minutes on a 2-core machine and the tests in seconds.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any


@dataclass(frozen=True)
class WganConfig:
    """Hyper-parameters of the WGAN-GP, the encoder and the anomaly score.

    Attributes:
        image_size: side of the square input images [pixels]; divisible by 16.
        channels: number of image channels (3 for gri).
        latent_dim: size of the latent vector z.
        width: channels of the first critic convolution; the critic's last convolution has
            ``8 * width`` channels (512 for the paper's width 64) on a
            ``image_size / 16`` square grid (6 x 6 for 96 pixels).
        n_critic: critic updates per generator update.
        gp_lambda: weight of the gradient penalty.
        learning_rate, beta1, beta2: Adam settings of both WGAN networks.
        batch_size: training batch size.
        iterations: generator iterations.
        checkpoint_every: generator iterations between checkpoints.
        encoder_steps: training steps of the encoder.
        encoder_learning_rate: Adam learning rate of the encoder.
        lambda_anom: weight of the feature term in the anomaly loss.
        score_iterations: Adam steps on z when scoring.
        score_learning_rate: Adam learning rate on z when scoring.
        seed: random seed of initialisation, noise and data order.
    """

    image_size: int = 96
    channels: int = 3
    latent_dim: int = 128
    width: int = 64
    n_critic: int = 5
    gp_lambda: float = 10.0
    learning_rate: float = 1e-4
    beta1: float = 0.5
    beta2: float = 0.9
    batch_size: int = 32
    iterations: int = 10_000
    checkpoint_every: int = 500
    encoder_steps: int = 10_000
    encoder_learning_rate: float = 1e-4
    lambda_anom: float = 0.3
    score_iterations: int = 10
    score_learning_rate: float = 1e-2
    seed: int = 0

    def __post_init__(self) -> None:
        if self.image_size % 16:
            raise ValueError(f"image_size must be divisible by 16 (4 stride-2 layers), got {self.image_size}")

    @property
    def feature_shape(self) -> tuple[int, int, int]:
        """Shape of the critic features d(x) used by the anomaly score (6, 6, 512 in the paper)."""
        side = self.image_size // 16
        return (side, side, 8 * self.width)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def with_(self, **changes: Any) -> "WganConfig":
        """A copy with ``changes`` applied (``None`` values are ignored)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


PRESETS: dict[str, WganConfig] = {
    "paper": WganConfig(),
    "demo": WganConfig(width=16, iterations=600, checkpoint_every=100, encoder_steps=600, encoder_learning_rate=1e-3),
    "test": WganConfig(width=4, batch_size=8, iterations=6, checkpoint_every=3, encoder_steps=6, encoder_learning_rate=1e-3),
}


def preset(name: str, **changes: Any) -> WganConfig:
    """The named preset (``paper``, ``demo`` or ``test``) with ``changes`` applied."""
    try:
        return PRESETS[name].with_(**changes)
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}") from None
