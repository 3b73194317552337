"""Decontamination: find pool records that leak benchmark items (the same image, a
near-duplicate of it, or the benchmark's question text) and write the pool without them.

README.md states the rules as implemented; `run.decontaminate` is the entry point.
"""
