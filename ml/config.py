"""Configuration of the WGAN-GP, its encoder and the scoring step, with presets.

``paper`` holds the numbers of Storey-Fisher et al. (docs/architecture.md, "The ML method"); ``demo``
and ``test`` scale the width and the number of iterations down: ``demo`` is the configuration
of the shipped demo model (docs/demo-model.md; nearest-upsampling generator, bfloat16 training,
central-aperture scores), ``test`` trains in seconds.
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
        upsample: how the generator doubles its grid: ``transpose`` (stride-2 transposed
            convolutions, the paper's) or ``resize`` (nearest-neighbour upsampling followed by
            a convolution, which avoids the checkerboard of transposed convolutions; Odena et
            al. 2016, Distill, "Deconvolution and Checkerboard Artifacts").
        kernel: side of every convolution kernel (5 in the paper).
        precision: Keras dtype policy the networks train in: ``float32`` or
            ``mixed_bfloat16`` (CPUs with AVX512-BF16 or AMX; weights and losses stay float32).
        score_radius: 0 (the paper's scores: residuals summed over the whole image and the
            whole critic feature map), or the radius [pixels] of the central aperture the
            scores look at (see :func:`hscanom.ml.losses.score_terms`): s_gen sums the pixel
            residual within it plus ``artefact_weight`` times the residual in excess of
            ``artefact_threshold`` anywhere; s_disc sums the critic-feature residual of the
            feature cells whose centres lie within it.
        score_pixel_radius: radius [pixels] of the aperture s_gen sums the pixel residual in,
            when it should differ from ``score_radius`` (0: the same). The ``demo`` preset
            sums pixels within 6 px (1") and critic cells within 12 px: a 6 x 6 feature map
            of a 96-px stamp has no cell centre within 6 px (docs/demo-model.md, "Scores").
        artefact_threshold: per-pixel, per-channel residual (image units, [0, 1]) above which
            a pixel outside the aperture counts (only with ``score_radius`` > 0).
        artefact_weight: weight of that term in s_gen (only with ``score_radius`` > 0).
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
    upsample: str = "transpose"
    kernel: int = 5
    precision: str = "float32"
    score_radius: float = 0.0
    score_pixel_radius: float = 0.0
    artefact_threshold: float = 0.3
    artefact_weight: float = 0.1

    def __post_init__(self) -> None:
        if self.image_size % 16:
            raise ValueError(f"image_size must be divisible by 16 (4 stride-2 layers), got {self.image_size}")
        if self.upsample not in ("transpose", "resize"):
            raise ValueError(f"upsample must be 'transpose' or 'resize', got {self.upsample!r}")
        if self.precision not in ("float32", "mixed_bfloat16", "mixed_float16"):
            raise ValueError(f"precision must be float32, mixed_bfloat16 or mixed_float16, got {self.precision!r}")
        if self.score_pixel_radius < 0 or self.score_radius < 0:
            raise ValueError(f"score radii must be >= 0, got score_radius {self.score_radius}, score_pixel_radius {self.score_pixel_radius}")
        if self.score_pixel_radius and not self.score_radius:
            raise ValueError("score_pixel_radius needs a score_radius > 0 (the paper's whole-image scores have no aperture)")

    @property
    def pixel_radius(self) -> float:
        """Radius [pixels] of the s_gen aperture: ``score_pixel_radius``, else ``score_radius``."""
        return self.score_pixel_radius or self.score_radius

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
    "demo": WganConfig(
        width=16, kernel=3, upsample="resize", precision="mixed_bfloat16", learning_rate=2e-4,
        iterations=700, checkpoint_every=100, encoder_steps=300, encoder_learning_rate=1e-3, score_radius=12.0,
        score_pixel_radius=6.0,
    ),
    "test": WganConfig(width=4, batch_size=8, iterations=6, checkpoint_every=3, encoder_steps=6, encoder_learning_rate=1e-3),
}


def preset(name: str, **changes: Any) -> WganConfig:
    """The named preset (``paper``, ``demo`` or ``test``) with ``changes`` applied."""
    try:
        return PRESETS[name].with_(**changes)
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}") from None
