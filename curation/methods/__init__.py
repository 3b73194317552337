"""One file per curation method; listed in curation/registry.py."""
