"""Training: finetune LLaVA-1.5 (full or LoRA) on a curated subset with Lightning.

Entry points other stages use (each returns `(model, processor)` unless noted):
  training.train.train(cfg: TrainingConfig, callbacks=()) -> TrainResult  (one resumable run)
  training.models.build_tiny_llava(texts, cfg=None, seed=0)
  training.models.load_hf_llava(name_or_path, dtype=torch.float32, local_files_only=True)
  training.models.assemble_llava15(language_model, vision_tower, projector, dtype=...)
  training.export.export_hf(model, processor, out_dir, dtype=None, metadata=None) -> Path
  training.wandb_env.wandb_env(run_dir, mode="offline") -> the W&B variables it set
"""
