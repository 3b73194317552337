from curation.method import CurationMethod
from curation.registry import METHODS, get_method


def test_every_registered_method_loads_under_its_name():
    for name in METHODS:
        method = get_method(name)
        assert issubclass(method, CurationMethod) and method.name == name
