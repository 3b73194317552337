"""Activations of a reference LVLM over a pool: one pass, several feature kinds, cached on disk.

    features = extract_features(records, image_root, hf_reference("path/to/llava"),
                                FeatureRequest(layers=(3, 7, 11, 15, 19), kinds=("coincide",)),
                                cache_dir=ctx.cache_dir, pool_sha256=ctx.pool_sha256)
    x = features.load("coincide")          # (N, 2 * hidden * L) float16, memory-mapped

Kinds (all from the same forward pass; ask for several at once):
  coincide     per hooked layer l, the output of the attention output projection (o_proj, before
               the residual add) mean-pooled over the image positions (visual block) and over
               the text after the image (language block), each -> tanh -> L2; concatenated as
               [visual_0, language_0, visual_1, ...] and divided by sqrt(number of non-empty
               blocks), i.e. sqrt(2 L): unit norm. Text-only records: the visual blocks are
               zero and the language blocks carry the unit norm (language = text from the
               first user message on). A multi-image record's visual block pools the
               positions of all its images, its language block the text after its first
               image. float16.
  last_token   the language model's last hidden state (after its final norm) at the last
               token, L2-normalised. float16. (SemDeDup)
  mean_last    the same states mean-pooled over all tokens. float32. (D2-Pruning)
  answer_stats per record over its answer tokens: [mean NLL, mean EL2N, mean AUM, count].
               float32; NaN when a record has no answer token left. (Perplexity, EL2N, AUM)

The prompt is the checkpoint's own chat template over the FULL conversation (the image first
in the first user turn; a multi-image record's images first in the turns that hold their
`<image>` tokens, all of them passed in token order, as training does); images are padded to
square with the processor's mean colour (LLaVA-1.5 "pad") before the processor sees them.
Answer tokens are the ones that start inside an assistant message's rendering (its text and
end-of-turn token).

Work is split into fixed chunks of `chunk_size` records with fixed batches inside them, so
the bytes of a feature never depend on sharding or restarts; they do depend on the CPU's
kernels and torch's thread count (GEMM reduction order), which are therefore not in the key:
values agree to about 1e-4 across them, and the cached set is what later stages read. Each
finished chunk is written atomically (a killed run resumes at the next missing chunk); shard
i of n takes a contiguous range of chunks (SLURM arrays); `extract_features(shard=None)`
computes what is missing and merges the chunks in pool order. Cached under
cache_dir/features/<key>/, keyed by (pool sha256, reference fingerprint, layers, kinds,
max_length, dtype, chunking).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from configs.errors import UserError
from curation.data.fileio import TMP_PREFIX, atomic_directory, atomic_write_json, sha256_json
from curation.data.messages import record_to_messages
from curation.data.records import record_images
from curation.data.threads import torch_threads

FEATURES_VERSION = 1
KINDS = ("coincide", "last_token", "mean_last", "answer_stats")
ANSWER_STATS_COLUMNS = ("mean_nll", "el2n", "aum", "n_answer_tokens")
SPEC, META, PARTS = "spec.json", "meta.json", "parts"
_SENTINEL = "\x00"


class FeatureError(UserError, ValueError):
    """A record or reference model the feature pass cannot handle (one line, names it)."""


# --- what to compute, and with which model ---------------------------------------------------


@dataclass(frozen=True)
class FeatureRequest:
    layers: tuple[int, ...] = (3, 7, 11, 15, 19)  # 0-based decoder layers hooked for "coincide"
    kinds: tuple[str, ...] = ("coincide",)
    batch_size: int = 8
    chunk_size: int = 512  # records per resumable unit (fixes the batches: part of the key)
    max_length: int = 2048  # tokens, image positions included; longer records are truncated
    dtype: str = "float32"  # model compute dtype: float32 | bfloat16 | float16
    device: str = "auto"  # auto | cpu | cuda
    attn_output: str = "self_attn.o_proj"  # module hooked inside each decoder layer
    cpu_threads: int = 0  # torch threads during the pass (0: leave as is); changes the last bits

    def __post_init__(self) -> None:
        unknown = [k for k in self.kinds if k not in KINDS]
        if unknown or not self.kinds:
            raise FeatureError(f"feature kinds must be among {', '.join(KINDS)}, got {self.kinds}")
        if "coincide" in self.kinds and not self.layers:
            raise FeatureError("the coincide feature kind needs at least one layer")
        if self.batch_size < 1 or self.chunk_size < 1:
            raise FeatureError("batch_size and chunk_size must be >= 1")
        if self.dtype not in ("float32", "bfloat16", "float16"):
            raise FeatureError(f"dtype must be float32, bfloat16 or float16, got {self.dtype!r}")

    def key_fields(self) -> dict[str, Any]:
        """The fields that change the numbers (the cache key). batch_size is in: it fixes the
        batches, hence the padding, hence the last bits. Layers only count for "coincide"."""
        fields = asdict(self)
        fields.pop("device")
        fields.pop("cpu_threads")
        fields["kinds"] = sorted(self.kinds)
        fields["layers"] = list(self.layers) if "coincide" in self.kinds else []
        return fields

    def pass_fields(self) -> dict[str, Any]:
        """The key fields of the forward pass itself, whatever it emits."""
        fields = self.key_fields()
        fields.pop("kinds")
        fields.pop("layers")
        return fields

    def served_by(self, meta: Mapping[str, Any]) -> bool:
        """Whether a finished feature set (its meta) holds everything this request asks for."""
        done = meta["request"]
        return set(self.kinds) <= set(done["kinds"]) and (
            "coincide" not in self.kinds or list(self.layers) == done["layers"]
        )


@dataclass(frozen=True)
class Reference:
    """A reference LVLM: a fingerprint of its weights (cache key) and how to load it."""

    fingerprint: str
    load: Callable[[], tuple[Any, Any]]  # -> (LlavaForConditionalGeneration, processor)
    name: str = ""


@dataclass(frozen=True)
class FeaturePass:
    """A method's reference forward pass: the model, and what to compute with it."""

    reference: Reference
    request: FeatureRequest


def hf_reference(name_or_path: str | Path, local_files_only: bool = True) -> Reference:
    """An HF LLaVA checkpoint (a directory, or a hub name already in the local cache)."""
    path = Path(name_or_path)
    fingerprint = directory_sha256(path) if path.is_dir() else f"hf:{name_or_path}"

    def load() -> tuple[Any, Any]:
        from transformers import AutoImageProcessor, AutoProcessor, LlavaForConditionalGeneration

        model = LlavaForConditionalGeneration.from_pretrained(
            str(name_or_path), local_files_only=local_files_only
        )
        processor = AutoProcessor.from_pretrained(
            str(name_or_path), local_files_only=local_files_only
        )
        # the PIL backend: the same pixels with or without torchvision
        processor.image_processor = AutoImageProcessor.from_pretrained(
            str(name_or_path), backend="pil", local_files_only=local_files_only
        )
        return model, processor

    return Reference(fingerprint, load, str(name_or_path))


# Files that describe how a checkpoint was made (training time, output folder), not what it
# computes: two byte-identical exports must share one fingerprint and so one feature cache.
PROVENANCE_FILES = ("vlmdata_export.json",)


def directory_sha256(path: str | Path) -> str:
    """Content hash of every file under `path` (names and bytes, in sorted order), provenance
    files left out."""
    digest = hashlib.sha256()
    files = (p for p in Path(path).rglob("*") if p.is_file() and p.name not in PROVENANCE_FILES)
    for file in sorted(files):
        digest.update(str(file.relative_to(path)).encode() + b"\0")
        with open(file, "rb") as handle:
            while block := handle.read(1 << 20):
                digest.update(block)
    return digest.hexdigest()


# --- the cached result -----------------------------------------------------------------------


@dataclass(frozen=True)
class FeatureSet:
    path: Path
    meta: dict[str, Any] = field(repr=False)

    def load(self, kind: str, mmap: bool = True) -> np.ndarray:
        if kind not in self.meta["kinds"]:
            raise FeatureError(f"{self.path}: no {kind!r} features (has {self.meta['kinds']})")
        return np.load(
            self.path / f"{kind}.npy", mmap_mode="r" if mmap else None, allow_pickle=False
        )

    def sha256(self, kind: str) -> str:
        """Content hash of one kind's array (dtype, shape, bytes): a stable id for caches."""
        return self.meta["sha256"][kind]

    @property
    def hidden(self) -> int:
        return int(self.meta["hidden"])

    @property
    def layers(self) -> list[int]:
        return list(self.meta["request"]["layers"])

    def __len__(self) -> int:
        return int(self.meta["n"])


def feature_key(pool_sha256: str, reference: Reference, request: FeatureRequest) -> str:
    """<pass>-<outputs>: sets from the same forward pass share the first part, so a request
    can be served by a finished set that computed more kinds (see `extract_features`)."""
    same_pass = sha256_json(
        {
            "version": FEATURES_VERSION,
            "pool": pool_sha256,
            "reference": reference.fingerprint,
            "pass": request.pass_fields(),
        }
    )
    outputs = sha256_json(
        {"kinds": sorted(request.kinds), "layers": request.key_fields()["layers"]}
    )
    return f"{same_pass[:16]}-{outputs[:8]}"


def chunk_ranges(n: int, chunk_size: int) -> list[tuple[int, int]]:
    return [(s, min(n, s + chunk_size)) for s in range(0, n, chunk_size)]


def shard_chunks(n_chunks: int, shard: int, num_shards: int) -> range:
    """Shard i of n: a contiguous range of chunk numbers."""
    if not 0 <= shard < num_shards:
        raise FeatureError(f"shard {shard} is outside 0..{num_shards - 1}")
    return range(shard * n_chunks // num_shards, (shard + 1) * n_chunks // num_shards)


def extract_features(
    records: Sequence[Mapping[str, Any]],
    image_root: str | Path | None,
    reference: Reference,
    request: FeatureRequest,
    cache_dir: str | Path,
    pool_sha256: str,
    *,
    shard: int | None = None,
    num_shards: int = 1,
    progress: bool = True,
) -> FeatureSet | None:
    """The features of `records` (pool order), computed or read from the cache.

    shard=None: compute every missing chunk, merge, return the FeatureSet.
    shard=i: compute only shard i of `num_shards` and return None (merging is left to a
    final call with shard=None, which then only merges), unless the set is already finished.
    A finished set of the same pass with more kinds (e.g. COINCIDE's run with
    extra_kinds=[last_token, answer_stats]) serves a request for fewer.
    """
    if not records:
        raise FeatureError("no records to extract features from")
    key = feature_key(pool_sha256, reference, request)
    root = Path(cache_dir) / "features"
    for folder in [root / key, *sorted(root.glob(f"{key.split('-')[0]}-*"))]:
        finished = _finished(folder)
        if finished is not None and request.served_by(finished.meta):
            return finished
    folder = root / key
    chunks = chunk_ranges(len(records), request.chunk_size)
    todo = range(len(chunks)) if shard is None else shard_chunks(len(chunks), shard, num_shards)
    spec = {
        "pool_sha256": pool_sha256,
        "reference": reference.fingerprint,
        "reference_name": reference.name,
        "request": request.key_fields(),
        "n": len(records),
        "chunks": len(chunks),
    }
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / SPEC).is_file():
        atomic_write_json(folder / SPEC, spec)
    parts = folder / PARTS
    _remove_stale_temporaries(parts, todo)
    missing = [c for c in todo if not (parts / _chunk_name(c) / "done").is_file()]
    if missing:
        with torch_threads(request.cpu_threads):
            _compute(
                records, image_root, reference, request, chunks, todo, missing, parts, progress
            )
    if shard is not None:
        return None
    return _merge(folder, spec, request, chunks)


def _compute(
    records: Sequence[Mapping[str, Any]],
    image_root: str | Path | None,
    reference: Reference,
    request: FeatureRequest,
    chunks: list[tuple[int, int]],
    todo: range,
    missing: list[int],
    parts: Path,
    progress: bool,
) -> None:
    """Run the reference over the missing chunks; each finished chunk is written atomically."""
    runner = _Runner(reference, request, image_root)
    total = sum(chunks[c][1] - chunks[c][0] for c in todo)
    done = total - sum(chunks[c][1] - chunks[c][0] for c in missing)
    with _progress_bar(total, done, progress) as bar:
        for c in missing:
            start, stop = chunks[c]
            arrays = runner.run(records, start, stop, bar)
            with atomic_directory(parts / _chunk_name(c)) as tmp:
                for kind, array in arrays.items():
                    np.save(tmp / f"{kind}.npy", array, allow_pickle=False)
                (tmp / "done").write_text("")


# --- merge -----------------------------------------------------------------------------------


def _finished(folder: Path) -> FeatureSet | None:
    if not (folder / META).is_file():
        return None
    with open(folder / META, encoding="utf-8") as handle:
        meta = json.load(handle)
    shutil.rmtree(folder / PARTS, ignore_errors=True)  # left over by a kill after the merge
    return FeatureSet(folder, meta)


def _merge(
    folder: Path, spec: dict[str, Any], request: FeatureRequest, chunks: list[tuple[int, int]]
) -> FeatureSet:
    parts = folder / PARTS
    first = parts / _chunk_name(0)
    digests: dict[str, str] = {}
    widths: dict[str, int] = {}
    for kind in request.kinds:
        head = np.load(first / f"{kind}.npy", mmap_mode="r", allow_pickle=False)
        shape = (spec["n"], *head.shape[1:])
        digest = hashlib.sha256(f"{head.dtype.str}{shape}".encode())
        target = folder / f"{kind}.npy"
        tmp = folder / f"{TMP_PREFIX}{kind}.{os.getpid()}.npy"
        merged = np.lib.format.open_memmap(tmp, mode="w+", dtype=head.dtype, shape=shape)
        for c, (start, stop) in enumerate(chunks):
            part = np.load(parts / _chunk_name(c) / f"{kind}.npy", allow_pickle=False)
            merged[start:stop] = part
            digest.update(np.ascontiguousarray(part).tobytes())
        merged.flush()
        del merged
        os.replace(tmp, target)
        digests[kind] = digest.hexdigest()
        widths[kind] = int(head.shape[1])
    if "coincide" in widths:
        hidden = widths["coincide"] // (2 * len(request.layers))
    else:
        hidden = widths.get("last_token", widths.get("mean_last"))
    meta = {
        **spec,
        "kinds": list(request.kinds),
        "hidden": hidden,
        "sha256": digests,
        "answer_stats_columns": list(ANSWER_STATS_COLUMNS),
    }
    atomic_write_json(folder / META, meta)
    shutil.rmtree(parts, ignore_errors=True)
    return FeatureSet(folder, meta)


def _chunk_name(c: int) -> str:
    return f"chunk-{c:07d}"


def _remove_stale_temporaries(parts: Path, todo: range) -> None:
    """Half-written chunk directories of this shard's chunks, left by a killed run."""
    if not parts.is_dir():
        return
    prefix = f"{TMP_PREFIX}chunk-"
    for entry in parts.iterdir():
        if entry.name.startswith(prefix):
            number = entry.name[len(prefix) :].split(".", 1)[0]
            if number.isdigit() and int(number) in todo:
                shutil.rmtree(entry, ignore_errors=True)


@contextlib.contextmanager
def _progress_bar(total: int, done: int, enabled: bool):
    from tqdm import tqdm

    with tqdm(
        total=total,
        initial=done,
        unit="sample",
        desc="reference features",
        disable=not enabled,
        smoothing=0.1,
    ) as bar:
        yield bar


# --- the forward pass ------------------------------------------------------------------------


@dataclass
class _Encoded:
    ids: list[int]
    answer: list[bool]  # token carries an answer (loss) position
    image: bool
    language_start: int  # first text position of the language block


class _Runner:
    """Loads the reference once and turns record ranges into feature arrays."""

    def __init__(
        self, reference: Reference, request: FeatureRequest, image_root: str | Path | None
    ) -> None:
        import torch

        self.torch = torch
        self.request = request
        self.image_root = Path(image_root) if image_root is not None else None
        model, processor = reference.load()
        device = request.device
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = torch.device(device)
        dtype = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[
            request.dtype
        ]
        self.model = model.to(self.device, dtype).eval()
        self.processor = processor
        self.tokenizer = processor.tokenizer
        if not getattr(self.tokenizer, "is_fast", False):
            raise FeatureError("the reference's tokenizer must be a fast tokenizer (offsets)")
        if getattr(processor, "chat_template", None) is None:
            raise FeatureError("the reference's processor has no chat template")
        config = self.model.config
        self.image_token_id = int(config.image_token_index)
        self.image_positions = int(config.image_seq_length)
        self.pad_id = self.tokenizer.pad_token_id
        if self.pad_id is None:
            self.pad_id = self.tokenizer.eos_token_id
        language_model = self.model.model.language_model
        layers = language_model.layers
        bad = [layer for layer in request.layers if not 0 <= layer < len(layers)]
        if bad and "coincide" in request.kinds:
            raise FeatureError(f"layers {bad} are outside the reference's 0..{len(layers) - 1}")
        self.attn_outputs = (
            [_submodule(layers[layer], request.attn_output) for layer in request.layers]
            if "coincide" in request.kinds
            else []
        )
        self.language_model = language_model
        mean = getattr(processor.image_processor, "image_mean", None) or (0.5, 0.5, 0.5)
        self.pad_colour = tuple(int(x * 255) for x in mean)

    # encoding ----------------------------------------------------------------------------

    def encode(self, record: Mapping[str, Any], position: int) -> _Encoded:
        messages = record_to_messages(record)
        render = self.processor.apply_chat_template
        text = render(messages, tokenize=False)
        spans = []
        for k, message in enumerate(messages):
            if message["role"] != "assistant":
                continue
            prompt = render(messages[:k], tokenize=False, add_generation_prompt=True)
            upto = render(messages[: k + 1], tokenize=False)
            if not (text.startswith(upto) and upto.startswith(prompt)):
                raise FeatureError(
                    "the reference's chat template is not prefix-stable: "
                    "answer tokens cannot be located"
                )
            spans.append((len(prompt), len(upto)))
        enc = self.tokenizer(text, return_offsets_mapping=True, add_special_tokens=True)
        ids: list[int] = list(enc["input_ids"])
        offsets = enc["offset_mapping"]
        answer = [end > start and any(a <= start < b for a, b in spans) for start, end in offsets]
        image_at = [i for i, t in enumerate(ids) if t == self.image_token_id]
        n_images = len(record_images(record))
        has_image = n_images > 0
        if len(image_at) != n_images:
            raise FeatureError(
                f"record {position} (id={record.get('id')!r}): expected "
                f"{n_images} image token(s) after templating, found "
                f"{len(image_at)}"
            )
        images_end = 0
        if has_image:
            block = self.image_positions
            for p in reversed(image_at):  # from the back: earlier positions stay valid
                ids = ids[:p] + [self.image_token_id] * block + ids[p + 1 :]
                answer = answer[:p] + [False] * block + answer[p + 1 :]
            language_start = image_at[0] + block
            images_end = image_at[-1] + len(image_at) * block - (len(image_at) - 1)
        else:
            marked = [dict(m) for m in messages]
            marked[0] = {"role": "user", "content": [{"type": "text", "text": _SENTINEL}]}
            char = render(marked, tokenize=False).index(_SENTINEL)
            language_start = next(
                (i for i, (s, e) in enumerate(offsets) if e > s and s >= char), len(ids)
            )
        if len(ids) > self.request.max_length:
            if has_image and images_end > self.request.max_length:
                raise FeatureError(
                    f"record {position} (id={record.get('id')!r}): max_length="
                    f"{self.request.max_length} cuts into the image positions"
                )
            ids, answer = ids[: self.request.max_length], answer[: self.request.max_length]
        return _Encoded(ids, answer, has_image, language_start)

    def pixels(self, record: Mapping[str, Any], position: int):
        """(k, 3, H, W): the record's images in `<image>` order."""
        images = [self._image(path, record, position) for path in record_images(record)]
        return self.processor.image_processor(images=images, return_tensors="pt")["pixel_values"]

    def _image(self, name: str, record: Mapping[str, Any], position: int):
        from PIL import Image

        path = Path(name)
        if self.image_root is not None and not path.is_absolute():
            path = self.image_root / path
        try:
            with Image.open(path) as image:
                image = image.convert("RGB")
        except (OSError, ValueError) as exc:
            raise FeatureError(
                f"record {position} (id={record.get('id')!r}): cannot read image "
                f"{str(path)!r}: {exc}"
            ) from None
        width, height = image.size
        if width != height:
            side = max(width, height)
            canvas = Image.new("RGB", (side, side), self.pad_colour)
            canvas.paste(image, ((side - width) // 2, (side - height) // 2))
            image = canvas
        return image

    # forward -----------------------------------------------------------------------------

    def run(
        self, records: Sequence[Mapping[str, Any]], start: int, stop: int, bar: Any
    ) -> dict[str, np.ndarray]:
        outputs: dict[str, list[np.ndarray]] = {kind: [] for kind in self.request.kinds}
        for lo in range(start, stop, self.request.batch_size):
            hi = min(stop, lo + self.request.batch_size)
            for kind, array in self._batch(records, lo, hi).items():
                outputs[kind].append(array)
            bar.update(hi - lo)
        return {kind: np.concatenate(arrays) for kind, arrays in outputs.items()}

    def _batch(
        self, records: Sequence[Mapping[str, Any]], lo: int, hi: int
    ) -> dict[str, np.ndarray]:
        torch = self.torch
        encoded = [self.encode(records[i], i) for i in range(lo, hi)]
        pixels = [self.pixels(records[lo + j], lo + j) for j, e in enumerate(encoded) if e.image]
        length = max(len(e.ids) for e in encoded)
        batch = len(encoded)
        ids = torch.full((batch, length), self.pad_id, dtype=torch.long)
        mask = torch.zeros((batch, length), dtype=torch.bool)
        image_mask = torch.zeros((batch, length), dtype=torch.bool)
        language_mask = torch.zeros((batch, length), dtype=torch.bool)
        for b, e in enumerate(encoded):
            n = len(e.ids)
            ids[b, :n] = torch.tensor(e.ids)
            mask[b, :n] = True
            if e.image:
                image_mask[b, :n] = ids[b, :n] == self.image_token_id
            language_mask[b, e.language_start : n] = True
        language_mask &= ~image_mask  # a multi-image record's later images are not language
        captured: dict[str, Any] = {}
        handles = [
            module.register_forward_hook(self._block_hook(captured, image_mask, language_mask))
            for module in self.attn_outputs
        ]
        handles.append(
            self.language_model.register_forward_hook(
                lambda _m, _i, out: captured.__setitem__("last", out[0])
            )
        )
        try:
            with torch.inference_mode():
                self.model(
                    input_ids=ids.to(self.device),
                    attention_mask=mask.long().to(self.device),
                    pixel_values=(
                        torch.cat(pixels).to(self.device, self.model.dtype) if pixels else None
                    ),
                    logits_to_keep=1,
                )
        finally:
            for handle in handles:
                handle.remove()
        return self._collect(captured, encoded, mask)

    def _block_hook(self, captured: dict[str, Any], image_mask, language_mask):
        torch = self.torch

        def hook(_module, _inputs, output) -> None:
            out = output.float()
            blocks = []
            for positions in (image_mask, language_mask):
                weights = positions.to(out.device, out.dtype)
                mean = (out * weights[..., None]).sum(1) / weights.sum(1).clamp(min=1)[:, None]
                blocks.append(torch.nn.functional.normalize(torch.tanh(mean), dim=-1))
            captured.setdefault("blocks", []).extend(blocks)

        return hook

    def _collect(
        self, captured: dict[str, Any], encoded: list[_Encoded], mask
    ) -> dict[str, np.ndarray]:
        torch = self.torch
        out: dict[str, np.ndarray] = {}
        mask = mask.to(self.device)
        if "coincide" in self.request.kinds:
            vector = torch.cat(captured["blocks"], dim=1)
            has_image = torch.tensor([e.image for e in encoded], device=vector.device)
            has_text = torch.tensor(
                [e.language_start < len(e.ids) for e in encoded], device=vector.device
            )
            blocks = len(self.request.layers) * (has_image.float() + has_text.float())
            vector = vector / blocks.clamp(min=1).sqrt()[:, None]
            out["coincide"] = torch.nan_to_num(vector, nan=0.0).cpu().numpy().astype(np.float16)
        last = captured["last"].float()
        if "last_token" in self.request.kinds:
            lengths = mask.sum(1) - 1
            tokens = last[torch.arange(len(encoded), device=last.device), lengths]
            tokens = torch.nn.functional.normalize(tokens, dim=-1)
            out["last_token"] = tokens.cpu().numpy().astype(np.float16)
        if "mean_last" in self.request.kinds:
            weights = mask.to(last.dtype)[..., None]
            mean = (last * weights).sum(1) / weights.sum(1).clamp(min=1)
            out["mean_last"] = mean.cpu().numpy().astype(np.float32)
        if "answer_stats" in self.request.kinds:
            out["answer_stats"] = self._answer_stats(captured["last"], encoded)
        return out

    def _answer_stats(self, last, encoded: list[_Encoded]) -> np.ndarray:
        """Per record: mean NLL, EL2N and AUM over its answer tokens, and their count.

        Token t is predicted from position t - 1; logits are only computed there.
        """
        torch = self.torch
        stats = np.full((len(encoded), 4), np.nan, dtype=np.float32)
        head = self.model.lm_head
        for b, e in enumerate(encoded):
            targets = [t for t in range(1, len(e.ids)) if e.answer[t]]
            stats[b, 3] = len(targets)
            if not targets:
                continue
            with torch.inference_mode():
                logits = head(last[b, [t - 1 for t in targets]]).float()
            labels = torch.tensor([e.ids[t] for t in targets], device=logits.device)
            probs = logits.softmax(-1)
            rows = torch.arange(len(targets), device=logits.device)
            p_target = probs[rows, labels]
            nll = -logits.log_softmax(-1)[rows, labels]
            onehot = torch.nn.functional.one_hot(labels, probs.shape[-1]).to(probs.dtype)
            el2n = (probs - onehot).norm(dim=-1)
            others = probs.clone()
            others[rows, labels] = -1.0
            aum = p_target - others.max(-1).values
            stats[b, :3] = [float(nll.mean()), float(el2n.mean()), float(aum.mean())]
        return stats


def _submodule(module: Any, dotted: str) -> Any:
    for name in dotted.split("."):
        if not hasattr(module, name):
            raise FeatureError(
                f"the reference's decoder layers have no module {dotted!r} "
                "(set attn_output to the attention output projection)"
            )
        module = getattr(module, name)
    return module
