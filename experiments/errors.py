"""The error types that mean "the user's input is wrong" (reported as one line by the CLI).

Anything else is a bug and keeps its traceback.
"""

from configs.compose import ConfigError
from curation.method import BudgetError
from curation.records import PoolFormatError, RecordError
from curation.registry import UnknownMethodError
from curation.subset import SubsetError

USER_ERRORS: tuple[type[BaseException], ...] = (
    ConfigError,
    RecordError,
    PoolFormatError,
    BudgetError,
    UnknownMethodError,
    SubsetError,
    FileNotFoundError,
    NotADirectoryError,
    FileExistsError,
)
