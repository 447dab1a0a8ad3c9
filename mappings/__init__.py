"""The default mappings, policy profiles and customer templates, shipped as data.

This folder is the ``bridge.mappings`` package of the wheel (pyproject.toml maps it with
``package-dir``); this file only makes it importable so ``importlib.resources`` finds it in
editable installs and installed wheels alike. ``bridge init`` copies the YAML and template
files, never this one.
"""
