"""Executors run a job graph: `local` (in order, this machine) or `slurm` (submitit)."""
