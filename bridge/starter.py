"""`bridge init`: a commented starter ``bridge.toml`` and a copy of the packaged mappings.

The starter file is generated from the configuration models (:mod:`bridge.config`), so every
section and key is in it with its explanation, its default and its environment variable,
and a key added to the models appears in the next ``bridge init`` without anyone editing a
template. Secrets appear only as comments naming the variable to set.

The mappings are copied, not generated: ``default.yaml``, whatever profiles are packaged in
``mappings/profiles/`` and every template under ``mappings/templates/``, so a team edits
its own copies and keeps them in version control.
"""

from __future__ import annotations

import json
import textwrap
import shutil
from pathlib import Path

from pydantic.fields import FieldInfo

from bridge.config import DEFAULT_FILE, env_name, secret_keys, sections
from bridge.errors import UsageError
from bridge.mapping import MAPPINGS_FILE, packaged_mappings_dir

MAPPINGS_DIRNAME = "mappings"

_HEADER = """\
# bridge.toml — configuration of the escalation bridge, written by `bridge init`.
#
# Every key can be overridden by an environment variable BRIDGE_<SECTION>_<KEY>
# (shown next to each key), which wins over this file; an empty variable counts as unset.
# Keys left out or commented take the default shown.
#
# Secrets (tokens, passwords, the monitoring DSN, the pager routing key) are NEVER read from
# this file — it is meant to be committed. Set them in the environment, or in a secrets file
# (KEY=VALUE lines, mode 600) named by [secrets] file or BRIDGE_SECRETS_FILE.
#
# Without changes this file points at the local sandbox (`bridge sandbox`) and a SQLite
# store in ./bridge.db. Check your settings with `bridge doctor`.
"""


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    # JSON strings are valid TOML basic strings (same escapes, \\uXXXX included).
    return json.dumps(str(value), ensure_ascii=False)


def _key_lines(section: str, key: str, field: FieldInfo, secret: bool, overrides: dict) -> list[str]:
    variable = env_name(section, key)
    text = field.description or key
    if not secret:
        text += f" [{variable}]"
    lines = textwrap.wrap(text, width=90, initial_indent="# ", subsequent_indent="#   ")
    if secret:
        lines.append(f"# {key}: secret — set {variable} in the environment or the secrets file.")
        return lines
    if key in overrides:
        lines.append(f"{key} = {_toml_value(overrides[key])}")
    elif field.default not in (None, ""):
        lines.append(f"{key} = {_toml_value(field.default)}")
    else:
        example = field.examples[0] if field.examples else "..."
        lines.append(f"# {key} = {_toml_value(example)}")
    return lines


def starter_toml(*, mappings_dir: str | None = MAPPINGS_DIRNAME) -> str:
    """The text of a commented starter ``bridge.toml``.

    ``mappings_dir`` is written as ``[mappings] dir`` (relative to the file); None leaves
    it commented so the packaged mappings are used.
    """
    secrets = set(secret_keys())
    overrides: dict[str, dict[str, object]] = {}
    if mappings_dir is not None:
        overrides["mappings"] = {"dir": mappings_dir}
    chunks = [_HEADER]
    for section, model in sections().items():
        doc = (model.__doc__ or "").strip().splitlines()[0]
        lines = [f"[{section}]", f"# {doc}"] if doc else [f"[{section}]"]
        for key, field in model.model_fields.items():
            lines.extend(_key_lines(section, key, field, (section, key) in secrets,
                                    overrides.get(section, {})))
        chunks.append("\n".join(lines) + "\n")
    return "\n".join(chunks)


def _mapping_files() -> list[tuple[Path, Path]]:
    """(packaged file, path relative to the mappings dir) for everything ``init`` copies."""
    root = packaged_mappings_dir()
    files = [(root / MAPPINGS_FILE, Path(MAPPINGS_FILE))]
    # Profiles and templates are globbed at run time: whatever is packaged gets copied.
    for pattern in ("profiles/*.yaml", "templates/**/*.j2"):
        files += [(p, p.relative_to(root)) for p in sorted(root.glob(pattern)) if p.is_file()]
    return files


def write_starter(directory: Path, *, force: bool = False) -> list[Path]:
    """Write ``bridge.toml`` and ``mappings/`` into ``directory``; return the paths written.

    Refuses (:class:`bridge.errors.UsageError` naming the first existing file) to overwrite
    anything unless ``force``; the check covers every file before the first write, so a
    refusal leaves the directory as it was.
    """
    directory = Path(directory)
    plan: list[tuple[Path, Path | str]] = [(directory / DEFAULT_FILE, starter_toml())]
    plan += [(directory / MAPPINGS_DIRNAME / rel, src) for src, rel in _mapping_files()]
    for target, _ in plan:
        # A link to nowhere would be written through (open() follows it), putting the file
        # wherever the link points; even --force does not do that.
        relative = target.relative_to(directory)
        for part in (relative, *relative.parents):
            path = directory / part
            if path.is_symlink() and not path.exists():
                raise UsageError(f"{path} is a symbolic link to nothing",
                                 hint="remove the link, or make it point at a file: bridge init does not write through it")
            # A file where a folder must go (or a folder where a file must) would fail
            # half-way through the writes, whatever --force says; refuse before the first.
            if part != relative and path.exists() and not path.is_dir():
                raise UsageError(f"{path} is not a directory",
                                 hint="move it away, or run bridge init in another directory")
        if target.is_dir():
            raise UsageError(f"{target} is a directory",
                             hint="move it away, or run bridge init in another directory")
        if not force and target.exists():
            raise UsageError(f"{target} already exists",
                             hint="keep it, or run `bridge init --force` to overwrite")
    written: list[Path] = []
    for target, content in plan:
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, Path):
            shutil.copyfile(content, target)
        else:
            target.write_text(content, encoding="utf-8")
        written.append(target)
    return written


__all__ = ["MAPPINGS_DIRNAME", "starter_toml", "write_starter"]
