"""Reading the mappings and the policy profiles from their files.

The only module of :mod:`bridge.mapping` (and of the policy) that touches the file system:
it finds ``default.yaml`` and ``profiles/NAME.yaml`` in a team's directory or among the
packaged defaults (the repository's ``mappings/``, installed as ``bridge.mappings``), parses
them with :mod:`bridge.file_schema`, validates them into :class:`~bridge.mapping.models.Mappings`
and :class:`~bridge.policy.profiles.Profile`, and runs their cross-checks. Every problem is a
:class:`~bridge.errors.MappingError` naming the file and the key path, or a
:class:`~bridge.errors.UsageError` for an unknown profile name.

Profiles differ in severity names (``emergency`` … ``low``, ``p1`` … ``p4``, ``severity-1`` …
``severity-3``), so the mappings file may carry a ``per_profile`` section whose
``severities`` / ``helpdesk_priority`` / ``subject_rules`` replace the top-level ones when
that profile is selected; :func:`load_mappings` applies it, so callers only ever read
``mappings.severities``. A profile may ``extends:`` another; the merged keys remember which
file set them, so an error names the file to fix.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from bridge.errors import MappingError, UsageError
from bridge.file_schema import mapping_error, parse_yaml
from bridge.mapping.models import MAPPINGS_FILE, Mappings
from bridge.mapping.sections import default_per_profile
from bridge.mapping.validation import check_references
from bridge.policy.profile_checks import check_profile
from bridge.policy.profiles import Profile, normal_name

if TYPE_CHECKING:
    from bridge.config import Config


def packaged_mappings_dir() -> Path:
    """The mappings shipped with the package (the repository's ``mappings/``).

    setup.py installs that folder as the package ``bridge.mappings``. The package is
    installed as plain files (setuptools, editable or not), never imported from a zip, so
    the traversable is a real directory we can hand to Jinja and ``shutil``.
    """
    return Path(str(files("bridge.mappings")))


def packaged_profiles_dir() -> Path:
    """The directory of the profiles shipped with bridge."""
    return packaged_mappings_dir() / "profiles"


def read_yaml(path: Path, *, display: str | None = None, top_level: str = "keys") -> dict[str, Any]:
    """Read the YAML mapping file at ``path``; an empty file is ``{}``.

    Raises :class:`MappingError` naming the file (``display`` or the path) when it is
    missing or unreadable, and as :func:`bridge.file_schema.parse_yaml` does for its text.
    """
    name = display or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise MappingError(name, "", "file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise MappingError(name, "", f"cannot read the file: {exc.__class__.__name__}") from None
    return parse_yaml(text, name, top_level=top_level)


# ---------------------------------------------------------------------------------------
# The mappings file
# ---------------------------------------------------------------------------------------


def _apply_profile(data: dict[str, Any], profile: str | None) -> dict[str, Any]:
    """Return ``data`` with the selected profile and its per_profile overrides applied."""
    data = dict(data)
    if profile is not None:
        data["profile"] = profile
    selected = data.get("profile", Mappings.model_fields["profile"].default)
    per_profile = data.get("per_profile")
    built_in = per_profile is None
    if built_in:
        per_profile = {k: v.model_dump(exclude_none=True) for k, v in default_per_profile().items()}
    if not isinstance(per_profile, Mapping):
        return data  # validation will name per_profile as the wrong type
    overrides = per_profile.get(selected)
    if isinstance(overrides, Mapping):
        for key in ("severities", "helpdesk_priority", "subject_rules"):
            # The built-in per-profile names only fill in what the file leaves out: a team
            # that writes `severities` for its profile at the top level gets those.
            if overrides.get(key) is not None and not (built_in and key in data):
                data[key] = overrides[key]
    return data


def parse_mappings(
    data: Mapping[str, Any],
    *,
    file: str = MAPPINGS_FILE,
    directory: Path | None = None,
    profile: str | None = None,
) -> Mappings:
    """Validate already-parsed mappings data (from YAML or a test) into :class:`Mappings`.

    ``profile`` (config ``policy.profile``) overrides the file's ``profile``. Raises
    :class:`MappingError` naming ``file`` and the key path of the first problem.
    """
    # Validate the file as written first, so key paths point at what the user wrote
    # (per_profile.p1-p4-matrix.severities...), then again with the overrides applied.
    try:
        Mappings.model_validate(dict(data))
        mappings = Mappings.model_validate(_apply_profile(dict(data), profile))
    except ValidationError as exc:
        raise mapping_error(file, exc) from None
    mappings._directory = directory
    mappings._file = file
    check_references(mappings)
    return mappings


def load_mappings(directory: Path | None = None, *, profile: str | None = None) -> Mappings:
    """Load ``<directory>/default.yaml``, or the packaged defaults when ``directory`` is None.

    Templates are looked up in ``<directory>/templates`` first, then in the packaged ones,
    so a team may override only some messages. ``profile`` (config ``policy.profile``)
    overrides the file's ``profile``.
    """
    base = packaged_mappings_dir() if directory is None else Path(directory)
    path = base / MAPPINGS_FILE
    return parse_mappings(read_yaml(path), file=str(path), directory=None if directory is None else base,
                          profile=profile)


def load_mappings_for(config: Config) -> Mappings:
    """The mappings as configured: ``mappings.dir``, with the config's overrides applied.

    ``policy.profile``, ``jira.project``, ``sentry.project`` and ``monitor.environment``
    from the configuration (file or ``BRIDGE_*`` environment) win over the mappings file.
    """
    mappings = load_mappings(config.mappings.dir, profile=config.policy.profile)
    updates: dict[str, Any] = {}
    if config.jira.project:
        updates["jira"] = mappings.jira.model_copy(update={"project": config.jira.project})
    if config.sentry.project:
        updates["sentry"] = mappings.sentry.model_copy(update={"project": config.sentry.project})
    if config.monitor.environment:
        updates["monitoring"] = mappings.monitoring.model_copy(update={"environment": config.monitor.environment})
    if not updates:
        return mappings
    updated = mappings.model_copy(update=updates)
    updated._directory, updated._file = mappings._directory, mappings._file
    return updated


# ---------------------------------------------------------------------------------------
# Policy profiles: find by name, follow `extends`, remember which file set each key
# ---------------------------------------------------------------------------------------


class _Origins:
    """Which file set each key path, so an error in an ``extends`` chain names the right file."""

    def __init__(self, default: str) -> None:
        self.default = default
        self.files: dict[tuple[str, ...], str] = {}

    def record(self, data: Any, file: str, prefix: tuple[str, ...] = (),
               seen: set[int] | None = None) -> None:
        self.files[prefix] = file
        seen = set() if seen is None else seen
        if isinstance(data, Mapping) and id(data) not in seen:
            # A mapping shared through a YAML alias is walked once: everything beneath it
            # is this same file's, which file_of finds from the alias's own path.
            seen.add(id(data))
            for key, value in data.items():
                self.record(value, file, (*prefix, str(key)), seen)

    def overlay(self, data: Any, file: str, prefix: tuple[str, ...] = ()) -> None:
        """Record that ``file`` (a child in an ``extends`` chain) set the keys in ``data``."""
        if prefix:
            self.files[prefix] = file
        if not isinstance(data, Mapping):
            return
        for key, value in data.items():
            sub = (*prefix, str(key))
            if not isinstance(value, Mapping):
                # A replaced list or scalar: what the parent said beneath it is gone.
                for known in [k for k in self.files if k[: len(sub)] == sub]:
                    del self.files[known]
            self.overlay(value, file, sub)

    def file_of(self, path: str) -> str:
        """The file that set the key at ``path`` (``tiers.standard.hours``, ``a["b c"][0]``)."""
        parts = tuple(_split_path(path))
        while parts:
            if parts in self.files:
                return self.files[parts]
            parts = parts[:-1]
        return self.default


_PATH_PART = re.compile(r'\["((?:[^"\\]|\\.)*)"\]|\[\d+\]|([^.\[\]]+)')


def _split_path(path: str) -> list[str]:
    # List indexes are dropped: origins are recorded per mapping key only.
    return [quoted or plain for quoted, plain in _PATH_PART.findall(path) if quoted or plain]


def _deep_merge(base: Any, override: Any) -> Any:
    if isinstance(base, Mapping) and isinstance(override, Mapping):
        merged = dict(base)
        for key, value in override.items():
            merged[key] = _deep_merge(base[key], value) if key in base else copy.deepcopy(value)
        return merged
    return copy.deepcopy(override)


def _dirs(search_dirs: Iterable[str | Path] | None) -> list[Path]:
    return [Path(d) for d in (search_dirs or ())] + [packaged_profiles_dir()]


def _names_in(dirs: list[Path]) -> list[str]:
    names = set()
    for directory in dirs:
        if directory.is_dir():
            names.update(p.stem for p in directory.iterdir() if p.suffix in (".yaml", ".yml"))
    return sorted(names)


def list_profiles(*, search_dirs: Iterable[str | Path] | None = None) -> list[str]:
    """Names of the profiles found in ``search_dirs`` and the packaged directory, sorted."""
    return _names_in(_dirs(search_dirs))


def _find(name: str, dirs: list[Path], *, skip: Path | None = None) -> Path | None:
    for directory in dirs:
        for suffix in (".yaml", ".yml"):
            candidate = directory / f"{name}{suffix}"
            if candidate.is_file() and (skip is None or candidate.resolve() != skip):
                return candidate
    return None


def _looks_like_path(text: str) -> bool:
    return "/" in text or "\\" in text or text.endswith((".yaml", ".yml"))


def load_profile(name_or_path: str | Path, *, search_dirs: Iterable[str | Path] | None = None) -> Profile:
    """Load and validate a profile by name (``p1-p4-matrix``) or by file path.

    Names are looked up as ``NAME.yaml`` in ``search_dirs`` (a team's own
    ``mappings/profiles/``, searched first) and then in the packaged directory. A profile
    may ``extends:`` another, including the packaged profile of its own name.

    Raises :class:`UsageError` for an unknown name (listing the known ones) and
    :class:`MappingError` (file, key path, expected form) for a malformed file.
    """
    dirs = _dirs(search_dirs)
    text = str(name_or_path)
    if isinstance(name_or_path, Path) or _looks_like_path(text):
        path = Path(text)
        if not path.is_file():
            raise UsageError(f"no profile file {text}", hint="check the path")
    else:
        found = _find(normal_name(text), dirs)
        if found is None:
            raise UsageError(f"unknown policy profile {text!r}",
                             hint="known profiles: " + ", ".join(list_profiles(search_dirs=search_dirs)))
        path = found
    data, origins = _load_chain(path, dirs, ())
    data.pop("extends", None)
    data.setdefault("name", path.stem)
    try:
        profile = Profile.model_validate(data)
    except ValidationError as exc:
        raise mapping_error(str(path), exc, file_of=origins.file_of) from None
    check_profile(profile, origins.file_of)
    profile._file = str(path)
    return profile


def _load_chain(path: Path, dirs: list[Path], stack: tuple[Path, ...]) -> tuple[dict[str, Any], _Origins]:
    resolved = path.resolve()
    if resolved in stack:
        chain = " -> ".join(str(p) for p in (*stack, resolved))
        raise MappingError(str(path), "extends", f"profiles extend each other in a circle: {chain}")
    data = read_yaml(path, top_level="keys (severities, tiers, ...)")
    parent_ref = data.get("extends")
    if parent_ref is None:
        origins = _Origins(str(path))
        origins.record(data, str(path))
        return data, origins
    if not isinstance(parent_ref, str) or not parent_ref.strip():
        raise MappingError(str(path), "extends", "expected a profile name or a path to a .yaml file")
    if _looks_like_path(parent_ref):
        parent_path: Path | None = path.parent / parent_ref
        if not parent_path.is_file():
            raise MappingError(str(path), "extends", f"no profile file {parent_path}")
    else:
        # Skipping this very file lets a team's own p1-p4-matrix.yaml extend the packaged one.
        parent_path = _find(normal_name(parent_ref), dirs, skip=resolved)
        if parent_path is None:
            raise MappingError(str(path), "extends",
                               f"unknown profile {parent_ref!r}; expected one of " + ", ".join(_names_in(dirs)))
    parent, origins = _load_chain(parent_path, dirs, (*stack, resolved))
    parent.pop("name", None)  # a name belongs to its file; the child's stem names the result
    merged = _deep_merge(parent, data)
    origins.default = str(path)
    origins.overlay(data, str(path))
    return merged, origins


__all__ = ["list_profiles", "load_mappings", "load_mappings_for", "load_profile", "packaged_mappings_dir",
           "packaged_profiles_dir", "parse_mappings", "read_yaml"]
