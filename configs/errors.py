"""The base of every error that means "the user's input is wrong".

The CLI catches `UserError` and prints its message as one line (exit 2); any other exception
is a bug and keeps its traceback. Each stage subclasses `UserError` for its own errors, keeping
the builtin base callers catch (`class RecordError(UserError, ValueError)`). It lives in the
bottom layer so that every stage can use it and the CLI needs no stage (nor torch) to catch it.
"""

from __future__ import annotations


class UserError(Exception):
    """Wrong input: a one-line message that names the key, record or path."""


class InputNotFoundError(UserError, FileNotFoundError):
    """A file or directory the user named does not exist."""


class InputNotADirectoryError(UserError, NotADirectoryError):
    """A path the user named should be a directory and is not."""


class OutputExistsError(UserError, FileExistsError):
    """An output path the user named is taken by something this command must not replace."""


class JobFailedError(UserError, RuntimeError):
    """A job of a plan (a SLURM task, a rank) failed or ended without its result: one line naming
    the job and where its own output is; the job's traceback is in that output."""
