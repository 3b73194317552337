"""Which device a job computed on: what a recorded cost was measured on."""

from __future__ import annotations

import sys

# CUDA memory allocated per device when the current job started (reset_device_watch)
_held_at_start: dict[int, int] = {}


def reset_device_watch() -> None:
    """Start a job: its GPU use is what it allocates beyond what the process holds now."""
    _held_at_start.clear()
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_initialized():
        for index in range(torch.cuda.device_count()):
            torch.cuda.reset_peak_memory_stats(index)
            _held_at_start[index] = torch.cuda.memory_allocated(index)


def job_device() -> str:
    """ "cuda: <name>" when the job allocated GPU memory since reset_device_watch, else "cpu".
    A job that never loaded torch computed on the CPU, and so did one whose torch never
    touched CUDA (importing torch here would cost seconds and tell nothing)."""
    torch = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_initialized():
        return "cpu"
    for index in range(torch.cuda.device_count()):
        if torch.cuda.max_memory_allocated(index) > _held_at_start.get(index, 0):
            return f"cuda: {torch.cuda.get_device_name(index)}"
    return "cpu"
