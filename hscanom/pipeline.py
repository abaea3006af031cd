"""The main job as one chain of stages: what ``hscanom demo`` runs, and the end-to-end test.

Each stage calls the library function a user would call by hand (the README's "data flow
by hand") and first checks whether its result already exists, so a second run reuses
everything and only reports what it found:

simulate -> ingest catalog, masks, cutouts -> sample -> pack -> train WGAN, encoder -> score
-> train and score the DCAE (the second detector) -> characterise -> evaluate both runs against
the injected truth -> rank (embed every object, simulated astronomer labels 3 x 10 objects)
-> release -> report
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psycopg

from hscanom import db
from hscanom.checksum import sha256_file
from hscanom.ml.config import WganConfig, preset
from hscanom.progress import Progress, counted, training_steps

#: Reports a stage: (stage name, what happened). The CLI prints it; tests collect it. A
#: stage that found its result and did no work says so: its message starts with
#: :data:`REUSED`.
Report = Callable[[str, str], None]

#: Start of the message of a stage that reused an earlier result.
REUSED = "reused: "

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
        rank_rounds, rank_per_round: the simulated astronomer's labelling rounds and labels
            per round (``stage_rank``).
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
    rank_rounds: int = 3
    rank_per_round: int = 10
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
def stage_simulate(cfg: PipelineConfig, state: PipelineState, report: Report, progress: Progress | None) -> None:
    """Simulate the catalog, cutouts and masks once (``simulation.json`` marks a finished run)."""
    from hscanom.simulate import simulate

    record = cfg.sim_dir / "simulation.json"
    wanted = {"n": cfg.n_objects, "anomaly_fraction": cfg.anomaly_fraction, "seed": cfg.seed}
    if record.exists():
        found = json.loads(record.read_text()).get("parameters", {})
        if all(found.get(k) == v for k, v in wanted.items()):
            report("simulate", f"{REUSED}{cfg.sim_dir} ({cfg.n_objects:,} objects)")
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


def stage_ingest(cfg: PipelineConfig, state: PipelineState, report: Report, progress: Progress | None) -> None:
    """Ingest the simulated catalog, bright-star masks and cutouts (each once)."""
    from hscanom.ingest.catalog import ingest_catalog
    from hscanom.ingest.cutouts import ingest_cutouts
    from hscanom.ingest.masks import ingest_masks

    sim = state.sim_dir
    catalog = (sim / "catalog.csv").resolve()
    with db.connect(state.url) as conn:
        catalog_done = _batch_done(conn, "catalog", str(catalog), sha256_file(catalog))
        masks_done = conn.execute("SELECT EXISTS (SELECT 1 FROM bright_star_mask WHERE mask_version = %s)", (SIM_MASK_VERSION,)).fetchone()[0]
        cutouts_done = _batch_done(conn, "cutouts", str((sim / "cutouts").resolve()))
    if catalog_done:
        report("ingest", f"{REUSED}catalog already ingested")
    else:
        result = ingest_catalog(catalog, url=state.url)
        report("ingest", f"catalog: {result.rows_stored:,} objects stored, {result.rows_rejected:,} rows refused")
    if masks_done:
        report("ingest", f"{REUSED}masks {SIM_MASK_VERSION} already ingested")
    else:
        result = ingest_masks(sorted((sim / "masks").glob("*.reg")), SIM_MASK_VERSION, url=state.url)
        report("ingest", f"masks {SIM_MASK_VERSION}: {result.n_regions:,} regions")
    if cutouts_done:
        report("ingest", f"{REUSED}cutouts already ingested")
    else:
        result = ingest_cutouts(sim / "cutouts", url=state.url, progress=progress)
        report("ingest", f"cutouts: {result.stored:,} files recorded, {len(result.rejects):,} refused")


def stage_sample(cfg: PipelineConfig, state: PipelineState, report: Report, progress: Progress | None) -> None:
    """Create the paper's sample from the shipped preset (once)."""
    from hscanom.samples import SampleError, create_sample, get_sample, preset_sql

    try:
        info = get_sample(cfg.sample, state.url)
        report("sample", f"{REUSED}{cfg.sample}: {info.n_members:,} members (exists)")
    except SampleError:
        info = create_sample(cfg.sample, preset_sql(cfg.sample), description="The paper's cuts (sql/paper-pdr2.sql)", url=state.url)
        report("sample", f"{cfg.sample}: {info.n_members:,} members")
    state.sample = cfg.sample


def stage_pack(cfg: PipelineConfig, state: PipelineState, report: Report, progress: Progress | None) -> None:
    """Pack the sample's cutouts into HDF5 shards (resumes; a complete pack is a no-op)."""
    from hscanom.ingest.pack import pack_sample

    result = pack_sample(state.sample, size=cfg.image_size, out=Path(cfg.home) / "shards" / state.sample, url=state.url, progress=progress)
    reused = REUSED if result.packed == 0 and result.already_packed > 0 else ""
    report("pack", f"{reused}{result.packed:,} images packed now, {result.already_packed:,} before, {len(result.skipped):,} skipped")


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


def stage_train(cfg: PipelineConfig, state: PipelineState, report: Report, progress: Progress | None) -> None:
    """Install the shipped demo model, or train (or reuse) the WGAN-GP and its encoder."""
    from hscanom.ml import runs

    with db.connect(state.url) as conn:
        newest = conn.execute("SELECT coalesce(max(id), 0) FROM model").fetchone()[0]
    model = _shipped_model(cfg)
    if model is not None:
        from hscanom.ml import shipped

        state.wgan_id, state.encoder_id = shipped.install(state.url, cfg.home, model)
        seed = model.manifest["training"].get("simulator_seed")
        reused = REUSED if max(state.wgan_id, state.encoder_id) <= newest else ""
        report("train", f"{reused}shipped demo model (trained on simulation seed {seed}): WGAN model {state.wgan_id}, encoder model {state.encoder_id}")
        return
    wgan_cfg = cfg.wgan_config()
    wgan = runs.train_wgan(state.url, state.sample, wgan_cfg, cfg.home, training_steps(progress, "train WGAN") if progress else None)
    encoder = runs.train_encoder(state.url, wgan.model_id, training_steps(progress, "train encoder") if progress else None)
    state.wgan_id, state.encoder_id = wgan.model_id, encoder.model_id
    reused = "" if wgan.trained or encoder.trained else REUSED
    report("train", f"{reused}WGAN model {state.wgan_id}, encoder model {state.encoder_id}")


def stage_score(cfg: PipelineConfig, state: PipelineState, report: Report, progress: Progress | None) -> None:
    """Score every member of the sample (a complete run is reused)."""
    from hscanom.ml import runs
    from hscanom.samples import get_sample

    n = get_sample(state.sample, state.url).n_members
    on_batch = counted(progress, "score", n) if progress else None
    result = runs.score(state.url, state.wgan_id, state.sample, cfg.home, batch_size=cfg.score_batch, on_batch=on_batch)
    state.run_id = result.run_id
    reused = REUSED if result.reused else ""
    report("score", f"{reused}run {result.run_id}: {result.n_scored:,} objects scored, {result.n_high:,} above 3 sigma in s_disc")


def stage_dcae(cfg: PipelineConfig, state: PipelineState, report: Report, progress: Progress | None) -> None:
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
    model = runs.train_dcae(state.url, state.sample, dcae_cfg, cfg.home, training_steps(progress, "train DCAE") if progress else None)
    on_batch = counted(progress, "score DCAE", n_images) if progress else None
    run = runs.score(state.url, model.model_id, state.sample, cfg.home, method="dcae", batch_size=cfg.score_batch, on_batch=on_batch)
    state.extra["dcae_model_id"], state.extra["dcae_run_id"] = model.model_id, run.run_id
    reused = REUSED if not model.trained and run.reused else ""
    report("dcae", f"{reused}DCAE model {model.model_id} ({name} preset), score run {run.run_id}")


def stage_characterize(cfg: PipelineConfig, state: PipelineState, report: Report, progress: Progress | None) -> None:
    """Residual and real CAEs, UMAPs and clusters of the high-anomaly sample (reused when done)."""
    from hscanom.ml.characterize import MIN_OBJECTS, characterize
    from hscanom.ml.runs import high_anomaly_sample
    from hscanom.samples import get_sample

    sample = cfg.characterize_sample
    if sample is None and get_sample(high_anomaly_sample(state.url, state.run_id), state.url).n_members < MIN_OBJECTS:
        sample = state.sample
        report("characterise", f"fewer than {MIN_OBJECTS} objects above 3 sigma: characterising the whole sample {sample}")
    def cae_epochs(stage: str, step: int, total: int, info: dict) -> None:
        if stage.startswith("CAE"):  # each CAE training as a stage of the caller's Progress
            progress(f"train {stage}", step, total)

    result = characterize(
        state.url, state.run_id, home=cfg.home, sample=sample, seed=cfg.seed, max_epochs=cfg.cae_epochs, progress=cae_epochs if progress else None
    )
    state.extra["characterize"] = {"residual_model_id": result.residual_model_id, "real_model_id": result.real_model_id, "sample": result.sample}
    reused = REUSED if not result.trained and not result.written else ""
    report("characterise", f"{reused}{result.n_objects:,} objects of {result.sample}: residual CAE model {result.residual_model_id}, real CAE model {result.real_model_id}")


def stage_evaluate(cfg: PipelineConfig, state: PipelineState, report: Report, progress: Progress | None) -> None:
    """ROC AUC, average precision, 3-sigma recall and purity against the simulator's labels."""
    from hscanom.ml.evaluate import evaluate

    result = evaluate(state.url, state.run_id, truth=state.sim_dir / "labels.csv")
    state.extra["evaluation_id"] = result.evaluation_id
    state.extra["evaluation"] = result.table
    report("evaluate", f"{REUSED if result.reused else ''}evaluation {result.evaluation_id} against {state.sim_dir / 'labels.csv'}")


def stage_rank(cfg: PipelineConfig, state: PipelineState, report: Report, progress: Progress | None) -> None:
    """Embed every scored object, then let a simulated astronomer label 3 rounds of 10 objects
    from the simulator's truth and re-rank (``hscanom evaluate --oracle``; reused when done)."""
    from hscanom.checksum import sha256_file
    from hscanom.ml.characterize import embed_all
    from hscanom.ml.oracle import evaluate_oracle

    every = embed_all(state.url, state.run_id)
    truth = state.sim_dir / "labels.csv"
    digest = sha256_file(truth)
    with db.connect(state.url) as conn:
        done = conn.execute(
            "SELECT id, params FROM evaluation WHERE run_id = %s AND params ->> 'kind' = 'active_learning' "
            "AND (params ->> 'rounds')::int = %s AND (params ->> 'per_round')::int = %s AND truth LIKE %s ORDER BY id DESC LIMIT 1",
            (state.run_id, cfg.rank_rounds, cfg.rank_per_round, f"% sha256:{digest}"),
        ).fetchone()
    if done:
        last = done[1]["per_round_figures"][-1]
        report("rank", f"{REUSED}simulated astronomer evaluation {done[0]} exists (round {last['round']}: ROC AUC {last['roc_auc']})")
        return
    result = evaluate_oracle(state.url, state.run_id, truth, rounds=cfg.rank_rounds, per_round=cfg.rank_per_round, seed=cfg.seed)
    first, last = result.rounds.iloc[0], result.rounds.iloc[-1]

    def f(v) -> str:
        return "-" if v is None or v != v else f"{v:.3f}"

    report(
        "rank",
        f"{sum(every.written.values()):,} embeddings added; {int(last['n_labels'])} simulated labels: ROC AUC (interesting vs rest) "
        f"{f(first['roc_auc'])} -> {f(last['roc_auc'])}, precision in the top {int(last['n_true'])} "
        f"{f(first['precision_topN'])} -> {f(last['precision_topN'])} (evaluation {result.evaluation_id})",
    )


def stage_release(cfg: PipelineConfig, state: PipelineState, report: Report, progress: Progress | None) -> None:
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
        report("release", f"{REUSED}{cfg.release} exists: {state.extra['release_dir']}")
        return
    info = release.cut(state.url, cfg.release, state.run_id, out=Path(cfg.home) / "releases", mask_version=SIM_MASK_VERSION)
    state.extra["release_dir"] = Path(info.path)
    report("release", f"{cfg.release} cut: {info.path}")


def stage_report(cfg: PipelineConfig, state: PipelineState, report: Report, progress: Progress | None) -> None:
    """The HTML report with the paper's figures (rewritten each run: it is cheap and reflects the tables)."""
    from hscanom.report import build_report

    out = Path(cfg.home) / "reports" / f"run-{state.run_id}"
    state.extra["report"] = build_report(state.url, state.run_id, out, seed=cfg.seed)
    report("report", f"written: {state.extra['report']}")


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
    ("rank", stage_rank),
    ("release", stage_release),
    ("report", stage_report),
]


def run(cfg: PipelineConfig, url: str, *, report: Report = _quiet, progress: Progress | None = None, until: str | None = None) -> PipelineState:
    """Run the stages in order (up to and including ``until``); returns what they produced.

    ``progress`` (:class:`hscanom.progress.Progress`) receives training steps and scored
    objects; when it is given, simulation, cutout ingest and packing also draw their own bars.
    """
    Path(cfg.home).mkdir(parents=True, exist_ok=True)
    state = PipelineState(url=url)
    for name, stage in STAGES:
        stage(cfg, state, report, progress)
        if name == until:
            break
    return state
