"""Root config schemas that the glue composes, and the schema of every config group.

Each stage owns the schema of its own parameters; this module only says which schema
describes which folder of configs/, so that every shipped YAML can be checked.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from configs.compose import choice
from curation.config import CurationConfig
from curation.data.limits import RecordLimits
from curation.decontaminate.config import DecontaminateConfig
from evaluation.config import EvalConfig
from toyworld.config import ToyWorldConfig
from training.config import TrainingConfig
from training.foundation.recipe import FoundationRecipe

# How long each subset of a sweep trains. epochs: training.trainer.epochs for every subset (the
# papers: a smaller subset takes fewer optimizer steps); steps: every subset trains as many
# optimizer steps as the full pool takes in those epochs (DataComp's fixed compute).
PROTOCOLS = ("epochs", "steps")


@dataclass
class DataConfig:
    """Where the pool comes from: a generated ToyWorld, or a LLaVA JSON/JSONL + image root."""

    kind: str = choice("toyworld", ("toyworld", "llava"))
    pool: str = ""  # kind=llava: the LLaVA JSON/JSONL; kind=toyworld: derived from toyworld.out_dir
    image_root: str = ""
    # inside: a record's image must be a relative path without '..' ("/x", "../x" are invalid
    # records, refused without looking at the file); any: paths are used as given, for LLaVA
    # layouts whose records name images by absolute path
    image_paths: str = choice("inside", ("inside", "any"))
    on_error: str = choice("raise", ("raise", "skip"))
    limits: RecordLimits = field(default_factory=RecordLimits)  # caps on one record
    toyworld: ToyWorldConfig = field(default_factory=ToyWorldConfig)
    # how the world's foundation models are made (model.foundation=world): CLIP, LM, projector
    foundation: FoundationRecipe = field(default_factory=FoundationRecipe)


# folder of configs/ -> schema of the YAML files in it
@dataclass
class TrackingConfig:
    """W&B for every stage of every run: offline by default, files inside each stage's dir."""

    mode: str = choice("offline", ("offline", "online", "disabled"))
    project: str = "vlmdata"
    entity: str = ""


@dataclass
class ExperimentConfig:
    """One run: pool -> curate -> train (+ export) -> evaluate."""

    name: str = "run"  # the W&B group and the label of the run
    store: str = "outputs/store"  # content-addressed stage outputs, shared by runs and sweeps
    progress: bool = True
    data: DataConfig = field(default_factory=DataConfig)
    curation: CurationConfig = field(default_factory=CurationConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    evaluation: EvalConfig = field(default_factory=EvalConfig)
    wandb: TrackingConfig = field(default_factory=TrackingConfig)
    # > 0: methods with a reference pass (COINCIDE, the model-based baselines) get it computed
    # ahead of curation in this many shard jobs (a SLURM array); 0: inside the curate job
    feature_shards: int = 0


@dataclass
class StageResources:
    gpus_per_node: int = 0
    cpus_per_task: int = 2
    mem_gb: int = 8
    timeout_min: int = 60


@dataclass
class ClusterConfig:
    """Where SLURM jobs go (configs/cluster/*.yaml); one resource block per stage."""

    partition: str = ""
    account: str = ""
    qos: str = ""
    constraint: str = ""
    array_parallelism: int = 64
    max_requeues: int = 3  # on preemption/timeout a stage is requeued and resumes
    setup: list[str] = field(default_factory=list)  # shell lines run before each job
    extra_sbatch: dict[str, str] = field(default_factory=dict)  # more #SBATCH options
    pool: StageResources = field(default_factory=StageResources)
    foundation: StageResources = field(default_factory=StageResources)
    reference: StageResources = field(default_factory=StageResources)
    features: StageResources = field(default_factory=StageResources)
    decontaminate: StageResources = field(default_factory=StageResources)
    curate: StageResources = field(default_factory=StageResources)
    train: StageResources = field(default_factory=StageResources)
    eval: StageResources = field(default_factory=StageResources)


@dataclass
class SweepConfig:
    """A grid: curation configs x budgets x seeds (+ the full-data reference per seed)."""

    name: str = "sweep"
    experiment: str = "toyworld"  # the base run: configs/experiment/<name>.yaml
    methods: list[str] = field(default_factory=lambda: ["random"])  # configs/curation names
    budgets: list[float] = field(default_factory=lambda: [0.2])
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    reference: str = "full"  # curation config of the reference run; "" for none
    overrides: list[str] = field(default_factory=list)  # key=value applied to every run
    executor: str = choice("local", ("local", "slurm"))
    workers: int = 1  # local executor: jobs of one stage run in this many processes
    reference_seeds: list[int] | None = None  # seeds of the reference run; None: `seeds`
    # true: every run also gets a blind control eval of its checkpoint (evaluation.blind=true:
    # every image grey), reported beside the real score
    blind_controls: bool = False
    # with blind_controls: only the runs of these curation configs (e.g. [full, random]);
    # None: every run
    blind_methods: list[str] | None = None
    protocol: str = choice("epochs", PROTOCOLS)  # how long each subset trains (PROTOCOLS)
    # decontaminate.suite=NAME (or decontaminate=toyworld: configs/decontaminate/toyworld.yaml):
    # a job after the pool removes the records that leak the suite's benchmarks, and every
    # run curates from what is left; suite "" (the default): the pool as it is
    decontaminate: DecontaminateConfig = field(default_factory=DecontaminateConfig)
    out_root: str = "outputs/sweeps"
    cluster: ClusterConfig = field(default_factory=ClusterConfig)


GROUP_SCHEMAS: dict[str, type] = {
    "data": DataConfig,
    "curation": CurationConfig,
    "training": TrainingConfig,
    "evaluation": EvalConfig,
    "experiment": ExperimentConfig,
    "sweep": SweepConfig,
    "cluster": ClusterConfig,
    "decontaminate": DecontaminateConfig,
}
