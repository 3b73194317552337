#!/usr/bin/env bash
# The GPU check of issue 19 in one call (at most 8 minutes): feature pass (TinyLLaVA-2B shape),
# LoRA step (LLaVA-1.5-7B shape, tokens/s and MFU), FSDP run with export; the figures are
# appended to bench/RESULTS.md. Needs the CUDA set-up (`make setup LOCK=lock/cuda.txt`) or a
# python with the lock's packages on PATH.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
[ -x "$PY" ] || PY=python3
"$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'no CUDA device: the GPU check needs one')"
PYTHONUNBUFFERED=1 timeout 480 "$PY" bench/gpu_check.py --out "${OUT:-/tmp}/gpu_check.json" "$@"
