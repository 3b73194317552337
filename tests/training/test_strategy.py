"""Export from a model sharded over two gloo processes: the gathered weights give an HF
directory whose logits equal the unsharded model's.

FSDP1 (Lightning's "fsdp", a FullyShardedDataParallel wrapper) needs an accelerator, so on CPU
the model is sharded with FSDP2's fully_shard, per LLaMA decoder and CLIP encoder layer as
make_strategy("fsdp") wraps; full_state_dict reads both through torch's
get_model_state_dict.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from training.models import load_hf_llava
from training.strategy import gathered_model_state, make_strategy

REPO = Path(__file__).resolve().parents[2]

RANK_SCRIPT = textwrap.dedent("""
    import json, sys
    from pathlib import Path

    import torch
    import torch.distributed as dist
    from PIL import Image
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard
    from transformers.models.clip.modeling_clip import CLIPEncoderLayer
    from transformers.models.llama.modeling_llama import LlamaDecoderLayer

    from training.config import LoraConfig
    from training.export import export_hf
    from training.finetune import prepare_model
    from training.models import build_tiny_llava
    from training.strategy import full_state_dict

    method, out = sys.argv[1], Path(sys.argv[2])
    torch.set_num_threads(1)
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()

    texts = ["What colour is the square?", "Red.", "What shape is it?", "A circle."] * 10
    model, processor = build_tiny_llava(texts, seed=1)
    torch.manual_seed(0)  # LoRA's initial A: one model on every rank, as seed_everything makes
    model = prepare_model(model, method, LoraConfig(r=4, alpha=8, dropout=0.0))
    generator = torch.Generator().manual_seed(7)  # the same trained-looking weights on every rank
    with torch.no_grad():
        for name, param in model.named_parameters():
            scale = 0.5 if "lora_B" in name else 0.01
            param.add_(torch.randn(param.shape, generator=generator) * scale)
    model.eval()
    full_numel = sum(p.numel() for p in model.parameters())

    if rank == 0:
        prompt = processor.apply_chat_template(
            [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Colour?"}]}],
            add_generation_prompt=True,
        )
        inputs = processor(
            images=[Image.new("RGB", (32, 20), (200, 30, 30))], text=prompt, return_tensors="pt"
        )
        with torch.no_grad():
            torch.save(model(**inputs).logits, out / "expected.pt")

    mesh = init_device_mesh("cpu", (world,))
    for module in list(model.modules()):
        if isinstance(module, (LlamaDecoderLayer, CLIPEncoderLayer)):
            fully_shard(module, mesh=mesh)
    fully_shard(model, mesh=mesh)
    local_numel = sum(p.to_local().numel() for p in model.parameters())

    state = full_state_dict(model)
    if rank == 0:
        export_hf(model, processor, out / "hf", state=state)
    (out / f"rank{rank}.json").write_text(json.dumps(
        {"full": full_numel, "local": local_numel, "gathered": len(state)}
    ))
    dist.barrier()
    dist.destroy_process_group()
""")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _run_sharded(method: str, out: Path) -> list[dict]:
    script = out / "rank.py"
    script.write_text(RANK_SCRIPT, encoding="utf-8")
    port = str(_free_port())
    procs = []
    for rank in range(2):
        env = {
            **os.environ,
            "PYTHONPATH": str(REPO),
            "OMP_NUM_THREADS": "1",
            "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": port,
            "RANK": str(rank),
            "WORLD_SIZE": "2",
            "HF_HUB_OFFLINE": "1",
        }
        procs.append(
            subprocess.Popen(
                [sys.executable, str(script), method, str(out)],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        )
    for proc in procs:
        output, _ = proc.communicate(timeout=300)
        assert proc.returncode == 0, output[-3000:]
    return [json.loads((out / f"rank{r}.json").read_text()) for r in range(2)]


def _logits(checkpoint: Path) -> torch.Tensor:
    from PIL import Image

    model, processor = load_hf_llava(str(checkpoint))
    prompt = processor.apply_chat_template(
        [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Colour?"}]}],
        add_generation_prompt=True,
    )
    inputs = processor(
        images=[Image.new("RGB", (32, 20), (200, 30, 30))], text=prompt, return_tensors="pt"
    )
    model.eval()
    with torch.no_grad():
        return model(**inputs).logits


@pytest.mark.slow
def test_export_of_a_sharded_model_equals_the_unsharded_model(tmp_path):
    ranks = _run_sharded("full", tmp_path)
    for rank in ranks:  # each rank held about half of every weight, never the whole model
        assert rank["local"] < 0.6 * rank["full"], rank
    assert ranks[0]["gathered"] > 0 and ranks[1]["gathered"] == 0  # the whole model on rank 0
    expected = torch.load(tmp_path / "expected.pt", weights_only=True)
    assert torch.equal(_logits(tmp_path / "hf"), expected)


@pytest.mark.slow
def test_lora_export_of_a_sharded_model_merges_the_gathered_adapters(tmp_path):
    ranks = _run_sharded("lora", tmp_path)
    assert all(rank["local"] < 0.6 * rank["full"] for rank in ranks), ranks
    expected = torch.load(tmp_path / "expected.pt", weights_only=True)
    reloaded, _ = load_hf_llava(str(tmp_path / "hf"))
    assert not any("lora" in name for name, _ in reloaded.named_parameters())
    # merging reorders float sums (as the unsharded LoRA export, tests/training/test_export.py)
    assert torch.allclose(_logits(tmp_path / "hf"), expected, rtol=1e-4, atol=1e-4)


def test_unsharded_strategies_export_their_own_weights():
    class Trainer:  # only the strategy is read
        def __init__(self, strategy):
            self.strategy = strategy

    from pytorch_lightning.strategies import DDPStrategy, SingleDeviceStrategy

    for strategy in (DDPStrategy(), SingleDeviceStrategy(torch.device("cpu"))):
        assert gathered_model_state(Trainer(strategy)) is None  # type: ignore[arg-type]
    assert make_strategy("ddp") == "ddp"
