"""What a job computed on: "cpu" unless it put memory on a GPU since the watch was reset."""

import sys
from types import SimpleNamespace

from curation.data.device import job_device, reset_device_watch


class FakeCuda:
    """torch.cuda's memory counters for one device, moved by hand."""

    def __init__(self, initialized=True):
        self.initialized, self.allocated, self.peak = initialized, 0, 0

    def is_initialized(self):
        return self.initialized

    def device_count(self):
        return 1

    def memory_allocated(self, index):
        return self.allocated

    def max_memory_allocated(self, index):
        return self.peak

    def reset_peak_memory_stats(self, index):
        self.peak = self.allocated

    def get_device_name(self, index):
        return "Fake GPU"


def test_a_job_without_torch_or_cuda_ran_on_the_cpu(monkeypatch):
    monkeypatch.delitem(sys.modules, "torch", raising=False)
    assert job_device() == "cpu"
    monkeypatch.setitem(sys.modules, "torch", SimpleNamespace(cuda=FakeCuda(initialized=False)))
    reset_device_watch()
    assert job_device() == "cpu"


def test_a_job_that_allocates_on_the_gpu_is_named_by_it(monkeypatch):
    cuda = FakeCuda()
    monkeypatch.setitem(sys.modules, "torch", SimpleNamespace(cuda=cuda))
    cuda.allocated = cuda.peak = 500  # an earlier job of the process still holds memory
    reset_device_watch()
    assert job_device() == "cpu"  # this job allocated nothing beyond it
    cuda.peak = 800
    assert job_device() == "cuda: Fake GPU"
    reset_device_watch()
    assert job_device() == "cpu"
