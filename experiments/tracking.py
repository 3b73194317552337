"""W&B for the curate stage (training and evaluation log their own runs the same way).

Every stage is a W&B run in the sweep's group with job_type curate/train/eval; offline by
default, and every W&B file stays inside the stage's directory.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from curation.data.subset import INDICES, MANIFEST, Subset
from experiments.composition import composition_summary, subset_composition
from experiments.plan import Job
from training.wandb_env import scoped_environ, wandb_env


@contextlib.contextmanager
def stage_run(job: Job, run_dir: Path, config: Mapping[str, Any]) -> Iterator[Any]:
    """A W&B run for `job` (None when tracking is disabled), finished on exit."""
    tracking = job.spec["wandb"]
    if tracking["mode"] == "disabled":
        yield None
        return
    import wandb

    with scoped_environ(wandb_env(run_dir, tracking["mode"], environ={})):
        run = wandb.init(
            project=tracking["project"],
            entity=tracking["entity"] or None,
            group=tracking["group"],
            name=tracking["name"],
            job_type=tracking["job_type"],
            dir=str(run_dir),
            config=dict(config),
            reinit="finish_previous",
        )
        try:
            yield run
        finally:
            run.finish()


def curate_tracking(job: Job, subset: Subset) -> None:
    world = Path(job.spec["image_root"]) if job.spec["image_root"] else None
    composition = subset_composition(subset.path, world)
    with stage_run(job, subset.path, job.spec["curation"]) as run:
        if run is None:
            return
        import wandb

        from experiments.plots import composition_figure

        counts = subset.manifest["counts"]
        run.summary.update(
            {
                "curate/selected": counts["selected"],
                "curate/pool": counts["pool"],
                "curate/fraction": counts["fraction_of_pool"],
                **{f"curate/{k}_s": v for k, v in subset.manifest["timings_s"].items()},
                **{f"curate/{k}": v for k, v in composition_summary(composition).items()},
            }
        )
        figure = composition_figure({job.label: composition}, title=f"composition: {job.label}")
        if figure is not None:
            run.log({"curate/composition": wandb.Image(figure)})
        artifact = wandb.Artifact(
            f"subset-{job.key[:12]}", type="subset", metadata={"label": job.label, "counts": counts}
        )
        for name in (MANIFEST, INDICES):
            artifact.add_file(str(subset.path / name))
        run.log_artifact(artifact)
