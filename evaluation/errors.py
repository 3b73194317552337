"""The evaluation stage's user error: one line that names the checkpoint, suite, task or file."""

from __future__ import annotations

from configs.compose import ConfigError


class EvalError(ConfigError):
    """Inputs that cannot be evaluated as given (a ConfigError, so the CLI prints one line)."""
