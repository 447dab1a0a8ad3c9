"""Package discovery that pyproject.toml cannot express; everything else is in pyproject.toml.

The default mappings, policy profiles and templates live at the top of the repository in
``mappings/`` (data a team reads and copies, not code) and are installed as the package
``bridge.mappings``, so ``importlib.resources.files("bridge.mappings")`` finds them in an
editable install and in the wheel alike. ``packages.find`` only discovers packages under
their own directory, hence this file.
"""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["bridge", "bridge.*"]), "bridge.mappings"],
    package_dir={"bridge.mappings": "mappings"},
)
