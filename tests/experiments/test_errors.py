import importlib

from experiments.errors import USER_ERRORS, is_user_error


def test_every_listed_user_error_exists():
    for name in USER_ERRORS:
        module, cls = name.split(":")
        assert isinstance(getattr(importlib.import_module(module), cls), type), name


def test_user_errors_and_bugs_are_told_apart():
    from curation.data.records import RecordError
    from training.models import ModelSourceError

    assert is_user_error(FileNotFoundError("x")) and is_user_error(ModelSourceError("x"))
    assert is_user_error(RecordError.__new__(RecordError))
    assert not is_user_error(KeyError("x")) and not is_user_error(ValueError("x"))
