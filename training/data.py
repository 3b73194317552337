"""LightningDataModule: LLaVA records -> vicuna_v1 tokens, loss labels and padded pixels.

Batches are dicts: input_ids, attention_mask, labels (B, T) right-padded; pixel_values
(n_images, 3, H, W) for the records that have an image, in batch order, or absent when none
has; and counters n_samples, n_tokens, n_truncated, n_skipped for logging.
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

from curation.data.records import Problem, RecordError, RecordRules, image_path_problem
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
    pixel_values: torch.Tensor | None  # (3, H, W)
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
        pixels = None
        if "image" in record:
            image = self._image(index, record)
            if image is None:
                return None
            square = expand_to_square(image, self.background)
            pixels = self.image_processor(square, return_tensors="pt")["pixel_values"][0]
        try:
            encoded = self.encoder(record)
        except UnsupervisedRecordError as exc:
            if self.on_error == "skip":
                return None
            raise self._error(index, Problem(exc.reason, exc.detail)) from None
        return Example(encoded.input_ids, encoded.labels, pixels, encoded.truncated)

    def _image(self, index: int, record: Mapping[str, Any]) -> Any:
        """The record's image; None when it is bad and on_error=skip."""
        problem = image_path_problem(record["image"], self.rules)
        if problem is None:
            try:
                return load_image(self.image_root / record["image"])
            except ImageLoadError as exc:
                reason = "image_missing" if "no image file" in str(exc) else "image_unreadable"
                problem = Problem(reason, str(exc))
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
            batch["pixel_values"] = torch.stack(pixels)
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
