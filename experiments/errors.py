"""The error types that mean "the user's input is wrong" (reported as one line by the CLI).

Anything else is a bug and keeps its traceback. Types are named, not imported: a module that
raised one is already loaded, and the CLI never loads torch just to list the errors.
"""

from __future__ import annotations

import sys

USER_ERRORS: tuple[str, ...] = (
    "configs.compose:ConfigError",  # EvalError, EntityError, RebalanceError, SynthesisError too
    "curation.data.records:RecordError",
    "curation.data.records:PoolFormatError",
    "curation.data.jsonstream:JsonStreamError",
    "curation.method:BudgetError",
    "curation.registry:UnknownMethodError",
    "curation.data.subset:SubsetError",
    "curation.features.extract:FeatureError",
    "curation.features.clip:ClipImageError",
    "curation.methods.adr.entities.objects:AnnotationError",
    "training.images:ImageLoadError",
    "training.models:ModelSourceError",
    "training.template:TemplateError",
    "builtins:FileNotFoundError",
    "builtins:NotADirectoryError",
    "builtins:FileExistsError",
)


def is_user_error(exc: BaseException) -> bool:
    for name in USER_ERRORS:
        module_name, cls_name = name.split(":")
        module = sys.modules.get(module_name)
        cls = getattr(module, cls_name, None) if module is not None else None
        if isinstance(cls, type) and isinstance(exc, cls):
            return True
    return False
