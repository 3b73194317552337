"""Plan a run as stage jobs: pool -> curate -> train (+ export) -> eval.

Every job is content-addressed: its key hashes the keys of its inputs and its own resolved
config, and its output directory is named after the key. Runs that share a stage (one world
for every run, one subset for every training seed of a sweep...) share its directory, and a
re-run finds finished stages by their completion marker (experiments/stages.py).
"""

from __future__ import annotations

import copy
import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from configs.compose import (
    ConfigError,
    compose,
    compose_node,
    config_path,
    resolved_dict,
    to_object,
)
from configs.errors import InputNotADirectoryError, InputNotFoundError
from curation.data.fileio import sha256_file, sha256_json
from curation.data.limits import RecordLimits
from curation.data.pool_images import pool_image_root
from curation.data.tablepool import is_table_pool
from curation.decontaminate.config import DecontaminateConfig, check_config
from experiments.pools import check_pool_keys
from experiments.schemas import PROTOCOLS, DataConfig, ExperimentConfig
from toyworld.make import world_id
from training.config import FOUNDATION_OF_WORLD
from training.layout import EXPORT_DIR, RESUME_MAY_CHANGE

if TYPE_CHECKING:
    from curation.decontaminate.benchmarks import BenchmarkSource

STAGES = ("pool", "decontaminate", "foundation", "reference", "features", "curate", "train", "eval")
# Settings that change where and how a stage reports, not what it computes: left out of keys.
# Training's are the ones a run may change when it resumes; and the subset (in the key) was
# curated under the same data rules.
TRAIN_NOT_IN_KEY = (*RESUME_MAY_CHANGE, "loader.image_paths", "loader.limits")
EVAL_NOT_IN_KEY = ("checkpoint", "out_dir", "reference", "resume", "wandb", "model.threads")
BLIND_JOB = "eval:blind"  # a run's blind control eval job (RunPlan.jobs, plan.json's dirs)
# Curation keys added after stages were first keyed: left out of the curate key at their
# default, so that subsets curated before they existed keep their keys (and directories).
CURATION_KEYS_AT_DEFAULT = {"control": "", "params.stream": ""}


@dataclass(frozen=True)
class Job:
    stage: str
    key: str
    out_dir: str
    deps: tuple[str, ...]  # keys of the jobs whose outputs this one reads
    spec: dict[str, Any]  # the stage's resolved inputs (JSON-able)
    label: str  # human-readable: which run(s) this job serves

    @property
    def short(self) -> str:
        return f"{self.stage}:{self.key[:10]}"

    def runs_shown(self, shown: int = 3) -> str:
        """The first runs this job serves, and how many more."""
        runs = self.label.split(" | ")
        more = f" (+{len(runs) - shown} more)" if len(runs) > shown else ""
        return " | ".join(runs[:shown]) + more


@dataclass
class RunPlan:
    """The jobs of one run, by stage, plus what the report needs to know about it."""

    label: str
    method: str
    budget: float | None
    seed: int
    jobs: dict[str, Job] = field(default_factory=dict)
    control: str = ""  # curation.config.CONTROLS: "" a compared arm, "aa" or "oracle"
    # the paired design: every run of a sweep seed trains from this seed, which also seeds the
    # order the training data is visited in (training.sampler.ResumableSampler)
    training_seed: int = 0

    def describe(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "method": self.method,
            "budget": self.budget,
            "seed": self.seed,
            "control": self.control,
            "training_seed": self.training_seed,
            "data_order_seed": self.training_seed,
            "dirs": {stage: job.out_dir for stage, job in self.jobs.items()},
            "keys": {stage: job.key for stage, job in self.jobs.items()},
        }


def plan_run(
    exp: ExperimentConfig,
    label: str = "",
    group: str = "",
    blind_control: bool = False,
    protocol: str = "epochs",
    decontaminate: DecontaminateConfig | None = None,
) -> RunPlan:
    """The stage jobs of one experiment (a dataclass instance, fully resolved).

    blind_control: a second eval job of the checkpoint with evaluation.blind=true (every image
    grey), jobs[BLIND_JOB]; the sweep's `blind_controls` asks for it. protocol: one of
    PROTOCOLS; "steps" sets the training's max_steps to the full pool's step count (the pool
    as given, before any decontamination). decontaminate (with a suite): a job after the pool
    writes the pool without the records that leak the suite's benchmarks, and every curation
    job (reference, features, curate) reads that pool instead.
    """
    store = Path(exp.store).expanduser().resolve()
    curation = dataclasses.asdict(exp.curation)
    label = label or _label(exp.curation.method, exp.curation.budget, exp.curation.seed)
    plan = RunPlan(label, exp.curation.method, exp.curation.budget, exp.curation.seed)
    plan.training_seed = exp.training.seed

    pool_path, image_root, pool_key, pool_deps = _plan_pool(exp, store, plan, label)
    given_pool = pool_path
    if decontaminate is not None and decontaminate.suite:
        job = decontaminate_job(
            exp, store, decontaminate, pool_path, image_root, (pool_key, pool_deps), label
        )
        plan.jobs["decontaminate"] = job
        image_root = image_root or pool_path.parent  # the clean pool lives elsewhere
        pool_path = Path(job.out_dir) / f"pool{pool_path.suffix}"
        pool_key, pool_deps = job.key, (job.key,)
    from curation.registry import build_method

    method = build_method(exp.curation.method, curation["params"], "curation.params")
    plan.control = _control(exp.curation.control, method)
    reference = reference_job(
        method,
        pool_key=pool_key,
        pool_path=pool_path,
        image_root=image_root,
        data=exp.data,
        cache_root=store / "cache",
        progress=exp.progress,
        deps=pool_deps,
        label=label,
        key_prefix="curation.",
    )
    reference_deps: tuple[str, ...] = ()
    if reference is not None:
        plan.jobs["reference"] = reference
        reference_foundation = foundation_of(reference)
        if reference_foundation is not None:
            plan.jobs["foundation"] = reference_foundation
        reference_deps = (reference.key,)
    feature_deps = _plan_features(
        exp, store, plan, label, method, reference, pool_key, pool_deps, pool_path, image_root
    )

    curate_key = sha256_json(
        {
            "pool": pool_key,
            "curation": _without_defaults(curation, CURATION_KEYS_AT_DEFAULT),
            "on_error": exp.data.on_error,
            **_record_rules(exp.data),
        }
    )
    budget = "auto" if exp.curation.budget is None else f"{exp.curation.budget:g}"
    curate_dir = (
        store
        / "subsets"
        / f"{exp.curation.method}-b{budget}-s{exp.curation.seed}-{curate_key[:12]}"
    )
    plan.jobs["curate"] = Job(
        "curate",
        curate_key,
        str(curate_dir),
        (*pool_deps, *reference_deps, *feature_deps),
        {
            "curation": curation,
            "reference_checkpoint": checkpoint_of(reference),
            **_pool_inputs(exp, store, pool_path, image_root),
            "wandb": _tracking(exp, group, label, "curate"),
        },
        label,
    )

    training = dataclasses.asdict(exp.training)
    if protocol not in PROTOCOLS:
        raise ConfigError(f"protocol={protocol}: must be one of {'|'.join(PROTOCOLS)}")
    if protocol == "steps":
        training["trainer"]["max_steps"] = full_pool_steps(exp, given_pool)
    train_identity = training_identity(training)
    # the epochs protocol adds nothing: training keys from before protocols existed still hold
    identity = {"subset": curate_key, "training": train_identity}
    if protocol != "epochs":
        identity["protocol"] = protocol
    foundation = foundation_job(training, exp.data, store / "cache", exp.progress, label)
    if foundation is not None:
        plan.jobs["foundation"] = foundation
        identity["foundation"] = foundation.key
    train_key = sha256_json(identity)
    train_dir = store / "train" / f"{exp.training.method}-{train_key[:12]}"
    training.update(
        out_dir=str(train_dir),
        subset=str(curate_dir),
        records="",
        image_root=str(image_root) if image_root else "",
        resume=True,
        export=True,
    )
    training["loader"].update(
        image_paths=exp.data.image_paths, limits=dataclasses.asdict(exp.data.limits)
    )
    training["wandb"].update(
        mode=exp.wandb.mode,
        project=exp.wandb.project,
        group=group or exp.name,
        name=f"{label} train",
    )
    training["trainer"]["progress_bar"] = exp.progress
    plan.jobs["train"] = Job(
        "train",
        train_key,
        str(train_dir),
        (curate_key, *(() if foundation is None else (foundation.key,))),
        {
            "training": training,
            "wandb": _tracking(exp, group, label, "train"),
        },
        label,
    )

    eval_inputs = (exp, store, train_key, train_dir, image_root, group, label)
    plan.jobs["eval"] = _eval_job(*eval_inputs, blind=exp.evaluation.blind)
    if blind_control and not exp.evaluation.blind:
        plan.jobs[BLIND_JOB] = _eval_job(*eval_inputs, blind=True)
    return plan


def training_identity(training: dict[str, Any]) -> dict[str, Any]:
    """What a training computes from its subset: its config without TRAIN_NOT_IN_KEY."""
    return _without(training, TRAIN_NOT_IN_KEY)


def evaluation_identity(evaluation: dict[str, Any]) -> dict[str, Any]:
    """What an evaluation computes from its checkpoint: its config without EVAL_NOT_IN_KEY."""
    return _without(evaluation, EVAL_NOT_IN_KEY)


def _control(configured: str, method: Any) -> str:
    """A run's control: the config's, or the one its method is (the oracle), never both."""
    if method.control and configured not in ("", method.control):
        raise ConfigError(
            f"curation.control={configured}: method={method.name} is the "
            f"{method.control} control (set curation.control={method.control} or leave it empty)"
        )
    return configured or method.control


def full_pool_steps(exp: ExperimentConfig, pool_path: Path) -> int:
    """The optimizer steps a training of exp.training takes over the whole pool (the steps
    protocol's budget for every subset). A ToyWorld pool's size is its config's; a LLaVA
    pool's is the number of records in its file, invalid ones included."""
    from training.batches import plan_batches

    if exp.data.kind == "toyworld":
        n_records = exp.data.toyworld.pool_size
    else:
        from curation.data.records import iter_records

        n_records = sum(1 for _ in iter_records(pool_path))
    return plan_batches(exp.training, n_records).total_steps


def _eval_job(
    exp: ExperimentConfig,
    store: Path,
    train_key: str,
    train_dir: Path,
    image_root: Path | None,
    group: str,
    label: str,
    blind: bool,
) -> Job:
    """The eval job of the run's checkpoint; blind=True: its blind control (grey images), keyed
    apart by the flag. `blind` enters the key only when true: real evaluations keep the keys
    they had before the option existed."""
    evaluation = dataclasses.asdict(exp.evaluation)
    evaluation["blind"] = blind
    eval_identity = _without(evaluation, EVAL_NOT_IN_KEY + (() if blind else ("blind",)))
    eval_key = sha256_json({"checkpoint": train_key, "evaluation": eval_identity})
    suite = (exp.evaluation.suite or "suite") + ("-blind" if blind else "")
    eval_dir = store / "eval" / f"{suite}-{eval_key[:12]}"
    evaluation.update(
        checkpoint=str(train_dir / EXPORT_DIR), out_dir=str(eval_dir), reference="", resume=True
    )
    if exp.data.kind == "toyworld":  # the benchmarks of the world the pool came from
        evaluation["data_root"] = str(image_root)
    name = f"{label} eval" + (" blind" if blind else "")
    evaluation["wandb"].update(
        mode=exp.wandb.mode, project=exp.wandb.project, group=group or exp.name, name=name
    )
    return Job(
        "eval",
        eval_key,
        str(eval_dir),
        (train_key,),
        {
            "evaluation": evaluation,
            "wandb": {**_tracking(exp, group, label, "eval"), "name": name},
        },
        f"{label} (blind)" if blind else label,
    )


def _plan_pool(exp: ExperimentConfig, store: Path, plan: RunPlan, label: str):
    check_pool_keys(exp.data)
    if exp.data.kind == "toyworld":
        world = copy.deepcopy(exp.data.toyworld)
        key = world_id(world)
        world.out_dir = str(store / "worlds" / f"toyworld-{key[:12]}")
        plan.jobs["pool"] = Job(
            "pool",
            key,
            world.out_dir,
            (),
            {
                "toyworld": dataclasses.asdict(world),
                "progress": exp.progress,
            },
            label,
        )
        return Path(world.out_dir) / "pool.json", Path(world.out_dir), key, (key,)
    if not exp.data.pool:
        raise InputNotFoundError("data.pool is not set: point it at a LLaVA JSON/JSONL file")
    pool = Path(exp.data.pool).expanduser().resolve()
    if not (pool.is_file() or is_table_pool(pool)):
        raise InputNotFoundError(f"data.pool: no such file: {pool}")
    root = Path(exp.data.image_root).expanduser().resolve() if exp.data.image_root else None
    if root is not None and not root.is_dir():
        raise InputNotADirectoryError(f"data.image_root: no such directory: {root}")
    if root is None and is_table_pool(pool):
        root = pool_image_root(pool, store / "cache", progress=exp.progress)
    return pool, root, sha256_file(pool), ()


def decontaminate_job(
    exp: ExperimentConfig,
    store: Path,
    cfg: DecontaminateConfig,
    pool_path: Path,
    image_root: Path | None,
    pool: tuple[str, tuple[str, ...]],
    label: str,
) -> Job:
    """The job that writes the pool without its leaks of cfg.suite, in <store>/decontaminated/.

    Keyed by the pool, the config and the data rules. A ToyWorld's benchmarks are its world's
    (data_root defaults to the world's directory, keyed by the world id); other benchmark
    copies are keyed by their data_root path, not their bytes: a copy changed in place needs
    a new path (or the old folder removed) to be checked again.
    """
    check_config(cfg)
    config = dataclasses.asdict(cfg)
    if exp.data.kind == "toyworld" and not cfg.data_root:
        config["data_root"] = str(image_root)
    elif config["data_root"]:
        config["data_root"] = str(Path(config["data_root"]).expanduser().resolve())
    config["progress"] = exp.progress
    pool_key, deps = pool
    key = sha256_json(
        {
            "pool": pool_key,
            "decontaminate": _without(config, ("progress", "examples", "batch_rows")),
            "on_error": exp.data.on_error,
            **_record_rules(exp.data),
        }
    )
    out_dir = store / "decontaminated" / f"{cfg.suite}-{key[:12]}"
    spec = {"decontaminate": config, **_pool_inputs(exp, store, pool_path, image_root)}
    return Job("decontaminate", key, str(out_dir), deps, spec, label)


def run_decontaminate(
    spec: dict[str, Any], out_dir: str, ignore: tuple[str, ...] = ()
) -> dict[str, Any]:
    """Run a decontaminate job (its spec and out_dir): the stage runner's whole work. The
    suite's benchmark files are looked up now, when the world that holds them exists."""
    from curation.data.records import RecordRules
    from curation.decontaminate.run import decontaminate

    cfg = compose_node(DecontaminateConfig, spec["decontaminate"], "decontaminate")
    sources, unchecked = benchmark_sources(cfg)
    report = decontaminate(
        spec["pool"],
        sources,
        cfg,
        out_dir,
        image_root=spec["image_root"] or None,
        on_error=spec["on_error"],
        rules=RecordRules(spec["image_paths"], RecordLimits(**spec["limits"])),
        unchecked_tasks=unchecked,
        ignore=ignore,
    )
    return {"records": report["records"], "matched_by_kind": report["matched_by_kind"]}


def pool_identity(data: DataConfig, pool_path: Path) -> str:
    """The key of a pool that exists: its world's id (as the plan's pool job names it), or the
    sha256 of a LLaVA file. A standalone command keys its reference job as the plan does."""
    world = pool_path.parent / "world.json"
    if data.kind == "toyworld" and world.is_file():
        return json.loads(world.read_text(encoding="utf-8"))["world_id"]
    return sha256_file(pool_path)


def reference_job(
    method: Any,
    *,
    pool_key: str,
    pool_path: Path,
    image_root: Path | None,
    data: DataConfig,
    cache_root: Path,
    progress: bool,
    deps: tuple[str, ...] = (),
    label: str = "",
    key_prefix: str = "",
) -> Job | None:
    """The job that trains `method`'s tiny reference (params.reference.model=tiny) on the whole
    pool with the training stage and configs/training/<reference.training>.yaml (+ its
    training_overrides); None when the method reads no reference or names a checkpoint.

    Keyed by the pool and the training config, in <cache_root>/reference/: every run, sweep and
    standalone `vlmdata curate` on one pool and cache that asks for the same recipe shares it.
    `key_prefix` is where the method's params sit, for messages ("curation." in a run).
    """
    from curation.features.reference import uses_reference

    if not uses_reference(method) or not method.needs_training():
        return None
    node = method.reference_model()
    key_name = f"{key_prefix}{method.reference_key}.training"
    yaml = config_path("training", node.training)
    if not yaml.is_file():
        raise ConfigError(f"{key_name}={node.training}: no configs/training/{node.training}.yaml")
    from training.config import TrainingConfig

    try:
        cfg = compose(TrainingConfig, yaml, list(node.training_overrides))
    except ConfigError as err:
        message = str(err).removeprefix("command line: ")
        raise ConfigError(f"{key_name}_overrides: {message}") from None
    training = dataclasses.asdict(to_object(cfg))
    identity = {
        "pool": pool_key,
        "reference": _without(training, TRAIN_NOT_IN_KEY),
        "on_error": data.on_error,
        **_record_rules(data),
    }
    foundation = foundation_job(training, data, Path(cache_root), progress, label, key_name)
    if foundation is not None:
        identity["foundation"] = foundation.key
        deps = (*deps, foundation.key)
    key = sha256_json(identity)
    out_dir = Path(cache_root).resolve() / "reference" / f"{node.training}-{key[:12]}"
    training.update(
        out_dir=str(out_dir),
        subset="",
        records=str(pool_path),
        image_root=str(image_root or pool_path.parent),
        resume=True,
        export=True,
    )
    training["loader"].update(
        on_error=data.on_error,
        image_paths=data.image_paths,
        limits=dataclasses.asdict(data.limits),
    )
    training["trainer"]["progress_bar"] = progress
    spec: dict[str, Any] = {"training": training}
    if foundation is not None:
        spec["foundation"] = foundation_spec(foundation)
    return Job("reference", key, str(out_dir), deps, spec, label)


def foundation_job(
    training: dict[str, Any],
    data: DataConfig,
    cache_root: Path,
    progress: bool,
    label: str,
    key_name: str = "training",
) -> Job | None:
    """model.foundation=world: the job that makes the world's foundation models (stage 0 and
    1, training.foundation), keyed by the world's corpus settings and data.foundation, in
    <cache_root>/foundation/; `training` (a resolved training config) is pointed at its
    directory. Any other model: None, `training` unchanged."""
    model = training["model"]
    if model["kind"] != "assemble" or model["foundation"] != FOUNDATION_OF_WORLD:
        return None
    if data.kind != "toyworld":
        raise ConfigError(
            f"{key_name}.model.foundation={FOUNDATION_OF_WORLD} needs data.kind=toyworld "
            f"(got {data.kind}); give a foundation directory or the model's parts instead"
        )
    from training.foundation.build import foundation_key

    world, recipe = data.toyworld, data.foundation
    key = foundation_key(world, recipe)
    out_dir = Path(cache_root).resolve() / "foundation" / f"toyworld-{key[:12]}"
    model["foundation"] = str(out_dir)
    spec = {
        "toyworld": dataclasses.asdict(world),
        "recipe": dataclasses.asdict(recipe),
        "progress": progress,
    }
    return Job("foundation", key, str(out_dir), (), spec, label)


def foundation_spec(job: Job) -> dict[str, Any]:
    """The foundation job, as the spec of a job that reads it (foundation_of rebuilds it)."""
    return {"key": job.key, "out_dir": job.out_dir, "label": job.label, **job.spec}


def foundation_of(job: Job) -> Job | None:
    """The foundation job that `job` (a reference job) reads, or None."""
    spec = job.spec.get("foundation")
    if spec is None:
        return None
    keys = ("toyworld", "recipe", "progress")
    return Job(
        "foundation", spec["key"], spec["out_dir"], (), {k: spec[k] for k in keys}, spec["label"]
    )


def checkpoint_of(reference: Job | None) -> str:
    """The exported directory a reference job leaves ("" for no job)."""
    return "" if reference is None else str(Path(reference.out_dir) / EXPORT_DIR)


def _plan_features(
    exp: ExperimentConfig,
    store: Path,
    plan: RunPlan,
    label: str,
    method: Any,
    reference: Job | None,
    pool_key: str,
    pool_deps: tuple[str, ...],
    pool_path: Path,
    image_root: Path | None,
) -> tuple[str, ...]:
    """feature_shards=n > 0 and a method that reads a reference pass: n feature-shard jobs (one
    SLURM array) ahead of curation, which then only merges the cached shards; after the
    reference job when the reference is trained. Returns the keys curation waits for."""
    from curation.features.reference_pass import reads_reference_pass

    if exp.feature_shards <= 0 or not reads_reference_pass(method):
        return ()
    n = exp.feature_shards
    spec = {
        "method": exp.curation.method,
        "params": dataclasses.asdict(exp.curation)["params"],
        "reference_checkpoint": checkpoint_of(reference),
        **_pool_inputs(exp, store, pool_path, image_root),
        "num_shards": n,
    }
    # keyed by the pass, not the method: COINCIDE and a baseline asking for the same pass
    # share its jobs (and would otherwise write the same cache folder at the same time)
    identity = method.pass_spec().identity()
    if reference is not None:
        reference_key, deps = reference.key, (reference.key,)
    else:
        reference_key = sha256_json(
            {
                "pool": pool_key,
                "on_error": exp.data.on_error,
                "reference": identity["reference"],
                **_record_rules(exp.data),
            }
        )
        deps = pool_deps
    pass_key = sha256_json({"reference": reference_key, "request": identity["request"]})
    name = Path(identity["reference"]["model"]).name or "reference"
    folder = store / "features"
    keys = []
    for shard in range(n):
        key = sha256_json({"pass": pass_key, "shard": shard, "num_shards": n})
        plan.jobs[f"features:{shard}"] = Job(
            "features",
            key,
            str(folder / f"{name}-{shard}of{n}-{key[:12]}"),
            deps,
            {**spec, "shard": shard},
            label,
        )
        keys.append(key)
    return tuple(keys)


def _pool_inputs(
    exp: ExperimentConfig, store: Path, pool_path: Path, image_root: Path | None
) -> dict[str, Any]:
    """What a curation-side job reads: the pool, its images, the per-pool cache."""
    return {
        "pool": str(pool_path),
        "image_root": str(image_root) if image_root else "",
        "on_error": exp.data.on_error,
        "image_paths": exp.data.image_paths,
        "limits": dataclasses.asdict(exp.data.limits),
        "cache_dir": str(store / "cache"),
        "progress": exp.progress,
    }


def _record_rules(data: DataConfig) -> dict[str, Any]:
    """The data rules for a key: only where they differ from the defaults, so that stages
    planned before the rules existed keep their keys."""
    rules = {"image_paths": data.image_paths, "limits": dataclasses.asdict(data.limits)}
    defaults = {"image_paths": "inside", "limits": dataclasses.asdict(RecordLimits())}
    return {} if rules == defaults else {"record_rules": rules}


def _tracking(exp: ExperimentConfig, group: str, label: str, job_type: str) -> dict[str, Any]:
    return {
        **dataclasses.asdict(exp.wandb),
        "group": group or exp.name,
        "name": f"{label} {job_type}",
        "job_type": job_type,
    }


_ABSENT = object()


def _without_defaults(config: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    """`config` without the dotted keys that hold their default value."""
    at_default = []
    for path, default in defaults.items():
        node: Any = config
        for part in path.split("."):
            node = node.get(part, _ABSENT) if isinstance(node, dict) else _ABSENT
        if node == default:
            at_default.append(path)
    return _without(config, tuple(at_default))


def _without(config: dict[str, Any], dotted: tuple[str, ...]) -> dict[str, Any]:
    kept = copy.deepcopy(config)
    for path in dotted:
        *parents, leaf = path.split(".")
        node = kept
        for part in parents:
            node = node.get(part, {})
        node.pop(leaf, None)
    return kept


def _label(method: str, budget: float | None, seed: int) -> str:
    return f"{method}" + ("" if budget is None else f" b{budget:g}") + f" s{seed}"


def benchmark_sources(cfg: DecontaminateConfig) -> tuple[list[BenchmarkSource], list[str]]:
    """The local parquet files of each task of cfg.suite (cfg.only: just those), found as
    evaluation finds them under data_root (cfg.data_root, else the suite's own), and the
    tasks that have none there when cfg.missing=skip (missing=raise: one line naming it)."""
    from curation.decontaminate.benchmarks import BenchmarkSource
    from evaluation.materialize import local_data_files, read_task_yaml
    from evaluation.suites import eval_config, selected_tasks, task_yaml

    if not cfg.suite:
        raise ConfigError("decontaminate: suite is not set: name the suite to check against")
    evaluation = eval_config([f"suite={cfg.suite}"])
    evaluation.only = list(cfg.only)
    data_root = cfg.data_root or evaluation.data_root
    if not data_root:
        raise ConfigError(
            f"decontaminate: data_root is not set and suite {cfg.suite} names none: point it at "
            "the local parquet copies of the suite's tasks (a ToyWorld: the world's directory)"
        )
    root = Path(data_root).expanduser().resolve()
    sources, unchecked = [], []
    for spec in selected_tasks(evaluation):
        split = str(read_task_yaml(task_yaml(spec)).get("test_split") or "test")
        try:
            local_data_files(str(root), spec, split)
        except InputNotFoundError:
            if cfg.missing == "raise":
                raise InputNotFoundError(
                    f"decontaminate: task '{spec.name}' has no local data at "
                    f"{root / spec.data_files.format(task=spec.name, split=split)} "
                    "(missing=skip checks the other tasks and lists it as unchecked)"
                ) from None
            unchecked.append(spec.name)
            continue
        pattern = spec.data_files.format(task=spec.name, split=split)
        files = sorted(str(path) for path in root.glob(pattern) if path.is_file())
        sources.append(BenchmarkSource(spec.name, tuple(files)))
    return sources, unchecked


def experiment_dict(exp: ExperimentConfig) -> dict[str, Any]:
    return resolved_dict(exp)
