"""The main job as one chain of stages: what ``hscanom demo`` runs, and the end-to-end test.

Each stage calls the library function a user would call by hand (the README's "data flow
by hand") and first checks whether its result already exists, so a second run reuses
everything and only reports what it found:

simulate -> ingest catalog, masks, cutouts -> sample -> pack -> train WGAN, encoder -> score
-> train and score the DCAE (the second detector) -> characterise -> evaluate both runs against
the injected truth -> release -> report
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psycopg

from hscanom.checksum import sha256_file
from hscanom.ml.config import WganConfig, preset

#: Reports a stage: (stage name, what happened). The CLI prints it; tests collect it.
Report = Callable[[str, str], None]

#: Mask version name of the simulator's DS9 regions.
SIM_MASK_VERSION = "sim-v1"


@dataclass
class PipelineConfig:
    """What the chain is run on and with.

    Attributes:
        home: ``$HSCANOM_HOME``: simulation, shards, models, results, releases, reports.
        n_objects: simulated galaxies passing the sample cuts.
        anomaly_fraction: fraction of them with an injected anomaly.
        seed: simulator and training seed.
        wgan_preset: :mod:`hscanom.ml.config` preset (``demo``, ``test``, ``paper``).
        image_size: stamp side [pixels] packed and trained on.
        sample: name of the scored sample (the paper's cuts, ``sql/paper-pdr2.sql``).
        score_batch: objects per claimed scoring batch.
        release: version name of the release cut at the end.
        characterize_sample: sample the CAEs are trained on (default: the run's s_disc > 3
            sigma sample).
        cae_epochs: most epochs of each CAE (it stops earlier when the loss stops improving).
        wgan_changes: overrides of the preset (e.g. ``{"iterations": 4}``).
        use_shipped: score with the shipped demo model (:mod:`hscanom.ml.shipped`, trained by
            hscanom on its own simulator at a held-out seed) instead of training, when its
            configuration is the one asked for (the ``demo`` preset at 96 pixels; the seed may
            differ). ``False`` (``hscanom demo --train``) always trains from scratch.
        dcae_preset: :mod:`hscanom.ml.dcae` preset of the second detector (the Tanaka et al.
            DCAE), trained and scored on the same sample and compared beside the WGAN run;
            ``"auto"`` (default) takes the preset named like ``wgan_preset`` (demo, test,
            paper); ``None`` skips the DCAE.
        dcae_changes: overrides of the DCAE preset (e.g. ``{"epochs": 1}``).
    """

    home: Path
    n_objects: int = 5000
    anomaly_fraction: float = 0.02
    seed: int = 1
    wgan_preset: str = "demo"
    image_size: int = 96
    sample: str = "paper-pdr2"
    score_batch: int = 256
    release: str = "demo-v1"
    characterize_sample: str | None = None
    cae_epochs: int = 50
    wgan_changes: dict = field(default_factory=dict)
    use_shipped: bool = True
    dcae_preset: str | None = "auto"
    dcae_changes: dict = field(default_factory=dict)

    @property
    def sim_dir(self) -> Path:
        return Path(self.home) / "simulation"

    def wgan_config(self) -> WganConfig:
        return preset(self.wgan_preset, image_size=self.image_size, seed=self.seed, **self.wgan_changes)


@dataclass
class PipelineState:
    """Ids and paths the stages produced (filled in as they run)."""

    url: str
    sim_dir: Path | None = None
    sample: str | None = None
    wgan_id: int | None = None
    encoder_id: int | None = None
    run_id: int | None = None
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(self).items()}


def _quiet(stage: str, message: str) -> None:
    pass


# -- stages ---------------------------------------------------------------------------------
def stage_simulate(cfg: PipelineConfig, state: PipelineState, report: Report, progress: bool) -> None:
    """Simulate the catalog, cutouts and masks once (``simulation.json`` marks a finished run)."""
    from hscanom.simulate import simulate

    record = cfg.sim_dir / "simulation.json"
    wanted = {"n": cfg.n_objects, "anomaly_fraction": cfg.anomaly_fraction, "seed": cfg.seed}
    if record.exists():
        found = json.loads(record.read_text()).get("parameters", {})
        if all(found.get(k) == v for k, v in wanted.items()):
            report("simulate", f"reusing {cfg.sim_dir} ({cfg.n_objects:,} objects)")
            state.sim_dir = cfg.sim_dir
            return
    summary = simulate(cfg.sim_dir, n=cfg.n_objects, anomaly_fraction=cfg.anomaly_fraction, seed=cfg.seed, progress=progress, overwrite=True)
    report("simulate", f"{summary.n_objects:,} objects, {sum(v for k, v in summary.class_counts.items() if k != 'normal'):,} anomalies, in {summary.elapsed_s:.0f} s")
    state.sim_dir = cfg.sim_dir


def _batch_done(conn: psycopg.Connection, kind: str, uri: str, sha256: str | None = None) -> bool:
    return conn.execute(
        "SELECT EXISTS (SELECT 1 FROM ingest_batch WHERE kind = %s AND uri = %s AND status = 'complete' AND (%s::text IS NULL OR sha256 = %s))",
        (kind, uri, sha256, sha256),
    ).fetchone()[0]


def stage_ingest(cfg: PipelineConfig, state: PipelineState, report: Report, progress: bool) -> None:
    """Ingest the simulated catalog, bright-star masks and cutouts (each once)."""
    from hscanom.ingest.catalog import ingest_catalog
    from hscanom.ingest.cutouts import ingest_cutouts
    from hscanom.ingest.masks import ingest_masks

    sim = state.sim_dir
    catalog = (sim / "catalog.csv").resolve()
    with psycopg.connect(state.url) as conn:
        catalog_done = _batch_done(conn, "catalog", str(catalog), sha256_file(catalog))
        masks_done = conn.execute("SELECT EXISTS (SELECT 1 FROM bright_star_mask WHERE mask_version = %s)", (SIM_MASK_VERSION,)).fetchone()[0]
        cutouts_done = _batch_done(conn, "cutouts", str((sim / "cutouts").resolve()))
    if catalog_done:
        report("ingest", "catalog already ingested")
    else:
        result = ingest_catalog(catalog, url=state.url)
        report("ingest", f"catalog: {result.rows_stored:,} objects stored, {result.rows_rejected:,} rows refused")
    if masks_done:
        report("ingest", f"masks {SIM_MASK_VERSION} already ingested")
    else:
        result = ingest_masks(sorted((sim / "masks").glob("*.reg")), SIM_MASK_VERSION, url=state.url)
        report("ingest", f"masks {SIM_MASK_VERSION}: {result.n_regions:,} regions")
    if cutouts_done:
        report("ingest", "cutouts already ingested")
    else:
        result = ingest_cutouts(sim / "cutouts", url=state.url, progress=progress)
        report("ingest", f"cutouts: {result.stored:,} files recorded, {len(result.rejects):,} refused")


def stage_sample(cfg: PipelineConfig, state: PipelineState, report: Report, progress: bool) -> None:
    """Create the paper's sample from the shipped preset (once)."""
    from hscanom.samples import SampleError, create_sample, get_sample, preset_sql

    try:
        info = get_sample(cfg.sample, state.url)
        report("sample", f"{cfg.sample}: {info.n_members:,} members (exists)")
    except SampleError:
        info = create_sample(cfg.sample, preset_sql(cfg.sample), description="The paper's cuts (sql/paper-pdr2.sql)", url=state.url)
        report("sample", f"{cfg.sample}: {info.n_members:,} members")
    state.sample = cfg.sample


def stage_pack(cfg: PipelineConfig, state: PipelineState, report: Report, progress: bool) -> None:
    """Pack the sample's cutouts into HDF5 shards (resumes; a complete pack is a no-op)."""
    from hscanom.ingest.pack import pack_sample

    result = pack_sample(state.sample, size=cfg.image_size, out=Path(cfg.home) / "shards" / state.sample, url=state.url, progress=progress)
    report("pack", f"{result.packed:,} images packed now, {result.already_packed:,} before, {len(result.skipped):,} skipped")


def _shipped_model(cfg: PipelineConfig):
    """The shipped demo model if ``cfg`` asks for it and its configuration matches, else None."""
    if not cfg.use_shipped or cfg.wgan_preset != "demo":
        return None
    from hscanom.ml import shipped

    try:
        model = shipped.shipped()
    except FileNotFoundError:
        return None
    same = {**model.manifest["config"], "seed": None} == {**cfg.wgan_config().to_dict(), "seed": None}
    return model if same else None


def stage_train(cfg: PipelineConfig, state: PipelineState, report: Report, progress: bool) -> None:
    """Install the shipped demo model, or train (or reuse) the WGAN-GP and its encoder."""
    from hscanom.ml import runs

    model = _shipped_model(cfg)
    if model is not None:
        from hscanom.ml import shipped

        state.wgan_id, state.encoder_id = shipped.install(state.url, cfg.home, model)
        seed = model.manifest["training"].get("simulator_seed")
        report("train", f"shipped demo model (trained on simulation seed {seed}): WGAN model {state.wgan_id}, encoder model {state.encoder_id}")
        return
    wgan_cfg = cfg.wgan_config()
    with _steps_bar("train WGAN", wgan_cfg.iterations, progress) as advance:
        state.wgan_id = runs.train_wgan(state.url, state.sample, wgan_cfg, cfg.home, advance)
    with _steps_bar("train encoder", wgan_cfg.encoder_steps, progress) as advance:
        state.encoder_id = runs.train_encoder(state.url, state.wgan_id, advance)
    report("train", f"WGAN model {state.wgan_id}, encoder model {state.encoder_id}")


def stage_score(cfg: PipelineConfig, state: PipelineState, report: Report, progress: bool) -> None:
    """Score every member of the sample (a complete run is reused)."""
    from hscanom.ml import runs
    from hscanom.samples import get_sample

    n = get_sample(state.sample, state.url).n_members
    with _count_bar("score", n, progress) as advance:
        state.run_id = runs.score(state.url, state.wgan_id, state.sample, cfg.home, batch_size=cfg.score_batch, on_batch=advance)
    with psycopg.connect(state.url) as conn:
        scored, high = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE s_disc_sigma > 3) FROM anomaly_score_normalized WHERE run_id = %s",
            (state.run_id,),
        ).fetchone()
    report("score", f"run {state.run_id}: {scored:,} objects scored, {high:,} above 3 sigma in s_disc")


def stage_dcae(cfg: PipelineConfig, state: PipelineState, report: Report, progress: bool) -> None:
    """Train (or reuse) the DCAE of Tanaka et al. on the sample and score it (the second detector).

    The run's id is ``state.extra["dcae_run_id"]``; :func:`stage_evaluate` compares it beside
    the WGAN run (every complete run on the sample is compared).
    """
    if cfg.dcae_preset is None:
        report("dcae", "skipped (no DCAE preset)")
        return
    from hscanom.ml import dcae, runs
    from hscanom.ml.data import count_images

    name = cfg.wgan_preset if cfg.dcae_preset == "auto" else cfg.dcae_preset
    dcae_cfg = dcae.preset(name, image_size=cfg.image_size, seed=cfg.seed, **cfg.dcae_changes)
    n_images = count_images(runs.packed_shards(state.url, state.sample, cfg.image_size))
    total = dcae_cfg.epochs * dcae.steps_per_epoch(n_images, dcae_cfg.batch_size)
    with _steps_bar("train DCAE", total, progress) as advance:
        model_id = runs.train_dcae(state.url, state.sample, dcae_cfg, cfg.home, advance)
    with _count_bar("score DCAE", n_images, progress) as advance:
        run_id = runs.score(state.url, model_id, state.sample, cfg.home, method="dcae", batch_size=cfg.score_batch, on_batch=advance)
    state.extra["dcae_model_id"], state.extra["dcae_run_id"] = model_id, run_id
    report("dcae", f"DCAE model {model_id} ({name} preset), score run {run_id}")


def stage_characterize(cfg: PipelineConfig, state: PipelineState, report: Report, progress: bool) -> None:
    """Residual and real CAEs, UMAPs and clusters of the high-anomaly sample (reused when done)."""
    from hscanom.ml.characterize import MIN_OBJECTS, characterize
    from hscanom.ml.runs import high_anomaly_sample
    from hscanom.samples import get_sample

    sample = cfg.characterize_sample
    if sample is None and get_sample(high_anomaly_sample(state.url, state.run_id), state.url).n_members < MIN_OBJECTS:
        sample = state.sample
        report("characterise", f"fewer than {MIN_OBJECTS} objects above 3 sigma: characterising the whole sample {sample}")
    result = characterize(state.url, state.run_id, home=cfg.home, sample=sample, seed=cfg.seed, max_epochs=cfg.cae_epochs)
    state.extra["characterize"] = {"residual_model_id": result.residual_model_id, "real_model_id": result.real_model_id, "sample": result.sample}
    report("characterise", f"{result.n_objects:,} objects of {result.sample}: residual CAE model {result.residual_model_id}, real CAE model {result.real_model_id}")


def stage_evaluate(cfg: PipelineConfig, state: PipelineState, report: Report, progress: bool) -> None:
    """ROC AUC, average precision, 3-sigma recall and purity against the simulator's labels."""
    from hscanom.ml.evaluate import evaluate

    result = evaluate(state.url, state.run_id, truth=state.sim_dir / "labels.csv")
    state.extra["evaluation_id"] = result.evaluation_id
    state.extra["evaluation"] = result.table
    report("evaluate", f"evaluation {result.evaluation_id} against {state.sim_dir / 'labels.csv'}")


def stage_release(cfg: PipelineConfig, state: PipelineState, report: Report, progress: bool) -> None:
    """Cut the release (once: a version is immutable, an existing one is reused)."""
    from hscanom.catalog import release

    existing = {r.version: r for r in release.list_releases(state.url)}
    if cfg.release in existing:
        if existing[cfg.release].status != "complete":
            raise ValueError(
                f"release {cfg.release} exists with status {existing[cfg.release].status} (versions are immutable): "
                "run the demo in a fresh HSCANOM_HOME or cut another version by hand"
            )
        state.extra["release_dir"] = Path(existing[cfg.release].out_dir)
        report("release", f"{cfg.release} exists: {state.extra['release_dir']}")
        return
    info = release.cut(state.url, cfg.release, state.run_id, out=Path(cfg.home) / "releases", mask_version=SIM_MASK_VERSION)
    state.extra["release_dir"] = Path(info.path)
    report("release", f"{cfg.release} cut: {info.path}")


def stage_report(cfg: PipelineConfig, state: PipelineState, report: Report, progress: bool) -> None:
    """The HTML report with the paper's figures (rewritten each run: it is cheap and reflects the tables)."""
    from hscanom.report import build_report

    out = Path(cfg.home) / "reports" / f"run-{state.run_id}"
    state.extra["report"] = build_report(state.url, state.run_id, out, seed=cfg.seed)
    report("report", str(state.extra["report"]))


#: The stages in order.
STAGES: list[tuple[str, Callable]] = [
    ("simulate", stage_simulate),
    ("ingest", stage_ingest),
    ("sample", stage_sample),
    ("pack", stage_pack),
    ("train", stage_train),
    ("score", stage_score),
    ("dcae", stage_dcae),
    ("characterise", stage_characterize),
    ("evaluate", stage_evaluate),
    ("release", stage_release),
    ("report", stage_report),
]


def run(cfg: PipelineConfig, url: str, *, report: Report = _quiet, progress: bool = False, until: str | None = None) -> PipelineState:
    """Run the stages in order (up to and including ``until``); returns what they produced."""
    Path(cfg.home).mkdir(parents=True, exist_ok=True)
    state = PipelineState(url=url)
    for name, stage in STAGES:
        stage(cfg, state, report, progress)
        if name == until:
            break
    return state


# -- progress -----------------------------------------------------------------------------
class _NoBar:
    def __enter__(self):
        return lambda *a, **k: None

    def __exit__(self, *exc):
        return False


def _count_bar(desc: str, total: int, progress: bool):
    """A progress bar (Rich, as the CLI shows them) when ``progress``, else nothing."""
    if not progress:
        return _NoBar()
    from hscanom.cli._common import progress_bar

    return progress_bar(desc, total)


class _steps_bar:
    """Adapts a training step callback ``(step, total, losses)`` to a progress bar."""

    def __init__(self, desc: str, total: int, progress: bool):
        self._bar = _count_bar(desc, total, progress)

    def __enter__(self):
        from hscanom.cli._common import step_progress

        return step_progress(self._bar.__enter__())

    def __exit__(self, *exc):
        return self._bar.__exit__(*exc)
