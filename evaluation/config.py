"""Config schemas of the evaluation stage (configs/evaluation/<suite>.yaml + overrides).

Each YAML in configs/evaluation/ is a complete `EvalConfig` whose `tasks` list is one suite:
`vlmdata eval checkpoint=DIR suite=adr11` composes configs/evaluation/adr11.yaml.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from configs.compose import choice


@dataclass
class TaskSpec:
    """One benchmark of a suite: which lmms-eval task runs and which of its numbers counts."""

    name: str = "???"  # lmms-eval task name (a built-in one, or ours when `yaml` is set)
    metric: str = "???"  # primary metric key in lmms-eval's results ("exact_match", ...)
    higher_is_better: bool = True
    scale: float = 1.0  # lmms-eval value x scale = the paper's units (100 for 0..1 accuracies)
    # none: rule-based scoring; always: an LLM judge scores every answer (llava_in_the_wild,
    # mmvet); fallback: a judge only when rule extraction fails (mmbench)
    judge: str = choice("none", ("none", "always", "fallback"))
    # judge=fallback without a judge: the aggregation (dotted path) that scores `metric` by
    # rules alone, e.g. lmms_eval.tasks.mmbench.en_utils.mmbench_aggregate_dev_results_static
    static_aggregation: str = ""
    # a task YAML of our own: an absolute path, or one relative to <config dir>/tasks/ of a user
    # config folder (searched first) or to evaluation/tasks/; "" = lmms-eval's built-in task
    yaml: str = ""
    # local parquet files (glob) under `data_root`; {task} and {split} are filled in
    data_files: str = "{task}/**/{split}*.parquet"
    local_process_docs: str = ""  # with local data: replaces the task's process_docs (dotted path)


@dataclass
class EvalModelConfig:
    device: str = "cpu"  # cpu | cuda | cuda:0 ...
    dtype: str = choice("float32", ("float32", "bfloat16", "float16"))
    batch_size: int = 1  # LLaVA's protocol is 1; larger batches pad on the left (faster on GPUs)
    attn_implementation: str | None = None  # e.g. sdpa, flash_attention_2; None: default
    threads: int = 0  # CPU threads for torch; 0 = torch's default (tiny models: 1 is fastest)
    # the prompt's template: vicuna_v1 = LLaVA-1.5's own (its evaluation and our training);
    # checkpoint = the checkpoint's own (lmms-eval's llava_hf; llava-hf's has no system line)
    chat_template: str = choice("vicuna_v1", ("vicuna_v1", "checkpoint"))
    # pad = LLaVA-1.5's image_aspect_ratio=pad (its evaluation and our training): pad to a square
    # of the processor's mean colour, then resize; crop = resize + centre crop only (llava_hf)
    image_aspect_ratio: str = choice("pad", ("pad", "crop"))
    # llava = LLaVA-1.5's tokenizer_image_token (its evaluation and our training's default): the
    # text after <image> tokenized apart ("▁" after the image with a legacy=False Llama
    # tokenizer); whole = the prompt in one processor call (llava_hf)
    token_stream: str = choice("llava", ("llava", "whole"))


@dataclass
class EvalWandbConfig:
    # offline/online: log to the active W&B run, or start one inside the run directory;
    # disabled: never touch W&B
    mode: str = choice("offline", ("offline", "online", "disabled"))
    project: str = "vlmdata"
    name: str = ""  # default: the run directory's name
    group: str = ""
    log_samples: bool = True  # the per-task samples files as an artifact


@dataclass
class EvalConfig:
    """Score one exported checkpoint on one suite."""

    checkpoint: str = ""  # HF LLaVA directory (training.export) with its chat template (required)
    suite: str = ""  # the suite's name (= the YAML's name in configs/evaluation/)
    tasks: list[TaskSpec] = field(default_factory=list)
    only: list[str] = field(default_factory=list)  # run just these tasks of the suite
    out_dir: str = ""  # default: outputs/eval/<checkpoint name>/<suite> (<suite>-blind if blind)
    # "" = the Hugging Face hub (or its local cache); a directory = local parquet copies,
    # found at <data_root>/<task.data_files>; ToyWorld: the world's directory
    data_root: str = ""
    limit: int | None = None  # the first N documents of each task (quick looks)
    # none: judged tasks are run for their predictions only and reported unscored;
    # api: lmms-eval's own GPT judge, set up by its environment (API_TYPE, OPENAI_API_KEY ...)
    judge: str = choice("none", ("none", "api"))
    gen_kwargs: str = ""  # lmms-eval generation overrides for every task, e.g. max_new_tokens=16
    reference: str = ""  # scores.json (or its run dir) of the reference run for relative measures
    resume: bool = True  # keep finished tasks of an earlier run with the same inputs
    # a control: every image the model sees is replaced by a grey (128, 128, 128) image of the
    # same size, so the scores show what the questions alone give away (evaluation.model)
    blind: bool = False
    model: EvalModelConfig = field(default_factory=EvalModelConfig)
    wandb: EvalWandbConfig = field(default_factory=EvalWandbConfig)
