"""LightningDataModule: LLaVA records -> vicuna_v1 tokens, loss labels and padded pixels.

Batches are dicts: input_ids, attention_mask, labels (B, T) right-padded; pixel_values
(n_images, 3, H, W): every image of the batch, record by record and within a record in
`<image>` order (HF LLaVA fills the image blocks of input_ids in that order), absent when no
record has one; and counters n_samples, n_tokens, n_truncated, n_skipped for logging.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset
from transformers import LlavaProcessor

from curation.data.messages import IMAGE_TOKEN
from curation.data.records import (
    Problem,
    RecordError,
    RecordRules,
    image_path_problem,
    record_images,
)
from training.config import LoaderConfig
from training.encode import IGNORE_INDEX, ConversationEncoder, UnsupervisedRecordError
from training.images import ImageLoadError, expand_to_square, load_image, mean_colour
from training.inputs import record_rules
from training.models import num_image_tokens
from training.sampler import ResumableSampler


@dataclass
class Example:
    input_ids: torch.Tensor
    labels: torch.Tensor
    pixel_values: torch.Tensor | None  # (k, 3, H, W) for k images; (3, H, W) is one image
    truncated: bool


class LlavaDataset(Dataset):
    """Records -> `Example`; a bad image, or a record LLaVA-1.5 would train on with every
    label masked (training.encode), raises RecordError, or gives None with on_error=skip.

    An image path that `rules` refuse (by default: absolute or with '..') is a bad image too,
    decided before the file is looked at.
    """

    def __init__(
        self,
        records: Sequence[Mapping[str, Any]],
        image_root: str | Path,
        processor: LlavaProcessor,
        model_max_length: int,
        on_error: str = "raise",
        records_path: str | Path = "<records>",
        positions: Sequence[int] | None = None,
        rules: RecordRules | None = None,
        token_stream: str = "llava",
    ) -> None:
        self.records = records
        self.image_root = Path(image_root)
        self.image_processor = processor.image_processor
        self.background = mean_colour(self.image_processor.image_mean)
        self.encoder = ConversationEncoder(
            processor.tokenizer, num_image_tokens(processor), model_max_length, token_stream
        )
        self.on_error = on_error
        self.records_path = Path(records_path)
        self.positions = positions
        self.rules = rules or RecordRules()

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> Example | None:
        record = self.records[index]
        paths = record_images(record)
        n_tokens = sum(str(turn["value"]).count(IMAGE_TOKEN) for turn in record["conversations"])
        if n_tokens != len(paths):
            detail = f"record has {len(paths)} image(s) and {n_tokens} {IMAGE_TOKEN!r} tokens"
            return self._refuse(index, Problem("image_token_count", detail))
        pixels = None
        if paths:
            images = [self._image(index, path) for path in paths]
            if any(image is None for image in images):
                return None
            squares = [expand_to_square(image, self.background) for image in images]
            pixels = self.image_processor(squares, return_tensors="pt")["pixel_values"]
        try:
            encoded = self.encoder(record)
        except UnsupervisedRecordError as exc:
            if self.on_error == "skip":
                return None
            raise self._error(index, Problem(exc.reason, exc.detail)) from None
        return Example(encoded.input_ids, encoded.labels, pixels, encoded.truncated)

    def _image(self, index: int, path: str) -> Any:
        """One image of the record; None when it is bad and on_error=skip."""
        problem = image_path_problem(path, self.rules)
        if problem is None:
            try:
                return load_image(self.image_root / path)
            except ImageLoadError as exc:
                reason = "image_missing" if "no image file" in str(exc) else "image_unreadable"
                problem = Problem(reason, str(exc))
        return self._refuse(index, problem)

    def _refuse(self, index: int, problem: Problem) -> None:
        """None with on_error=skip; otherwise the one-line RecordError."""
        if self.on_error == "skip":
            return None
        raise self._error(index, problem) from None

    def _error(self, index: int, problem: Problem) -> RecordError:
        position = int(self.positions[index]) if self.positions is not None else index
        return RecordError(self.records_path, position, self.records[index].get("id"), problem)


class Collator:
    """Right-pads a list of examples (None = a skipped record) into a batch dict."""

    def __init__(self, pad_token_id: int) -> None:
        self.pad_token_id = pad_token_id

    def __call__(self, items: Sequence[Example | None]) -> dict[str, Any]:
        examples = [item for item in items if item is not None]
        n_skipped = len(items) - len(examples)
        length = max((len(e.input_ids) for e in examples), default=1)
        batch_size = len(examples)
        input_ids = torch.full((batch_size, length), self.pad_token_id, dtype=torch.long)
        labels = torch.full((batch_size, length), IGNORE_INDEX, dtype=torch.long)
        attention_mask = torch.zeros((batch_size, length), dtype=torch.long)
        for row, example in enumerate(examples):
            n = len(example.input_ids)
            input_ids[row, :n] = example.input_ids
            labels[row, :n] = example.labels
            attention_mask[row, :n] = 1
        batch: dict[str, Any] = {
            "input_ids": input_ids,
            "attention_mask": attention_mask,
            "labels": labels,
            "n_samples": batch_size,
            "n_tokens": int(attention_mask.sum()),
            "n_truncated": sum(e.truncated for e in examples),
            "n_skipped": n_skipped,
        }
        pixels = [e.pixel_values for e in examples if e.pixel_values is not None]
        if pixels:
            batch["pixel_values"] = torch.cat([p.reshape(-1, *p.shape[-3:]) for p in pixels])
        return batch


class LlavaDataModule(pl.LightningDataModule):
    """The training data of one run; the sample order is seeded, sharded per rank and resumable."""

    def __init__(
        self,
        records: Sequence[Mapping[str, Any]],
        image_root: str | Path,
        processor: LlavaProcessor,
        model_max_length: int,
        loader: LoaderConfig,
        seed: int,
        records_path: str | Path = "<records>",
        positions: Sequence[int] | None = None,
    ) -> None:
        super().__init__()
        rules = record_rules(Path(records_path), loader.image_paths, loader.limits)
        self.dataset = LlavaDataset(
            records,
            image_root,
            processor,
            model_max_length,
            loader.on_error,
            records_path,
            positions,
            rules,
            loader.token_stream,
        )
        self.collator = Collator(processor.tokenizer.pad_token_id)
        self.loader = loader
        self.seed = seed
        self.sampler: ResumableSampler | None = None
        self._resume: tuple[int, int] | None = None

    def resume_at(self, epoch: int, batches_done: int) -> None:
        """Start `epoch` after its first `batches_done` per-device batches (set before fit)."""
        self._resume = (epoch, batches_done)

    def train_dataloader(self) -> DataLoader:
        rank, world = (
            (0, 1) if self.trainer is None else (self.trainer.global_rank, self.trainer.world_size)
        )
        self.sampler = ResumableSampler(
            len(self.dataset), self.seed, self.loader.shuffle, rank, world
        )
        if self._resume is not None:
            epoch, batches = self._resume
            self.sampler.resume_at(epoch, batches * self.loader.per_device_batch_size)
            self._resume = None
        workers = self.loader.num_workers
        return DataLoader(
            self.dataset,
            batch_size=self.loader.per_device_batch_size,
            sampler=self.sampler,
            collate_fn=self.collator,
            num_workers=workers,
            pin_memory=self.loader.pin_memory,
            persistent_workers=workers > 0,
            generator=torch.Generator().manual_seed(self.seed),
        )
