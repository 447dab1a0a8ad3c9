"""The mappings file: how helpdesk tickets become JIRA issues and JIRA states become messages.

``mappings/default.yaml`` holds every decision that differs between support teams and is not
a secret or an address: severity names and their JIRA priorities, the subject rules, which
helpdesk field lands in which JIRA field, the JIRA project and issue types, the tier of each
organization, who may escalate, extra redaction patterns, the sync status map (issue 5), the
comment bridging switches, Sentry and monitoring settings. The support *profile* (severity
order, tiers, SLA targets) lives in ``mappings/profiles/`` and is loaded by
:mod:`bridge.policy.profiles`; this file only names it.

Everything has a default, so an empty file (or none: the packaged defaults) works. The file is
validated with pydantic; every problem raises :class:`bridge.errors.MappingError` naming the
file, the key path (``severities.high.jira_priority``, ``status_map[2].template``) and the
expected form. Cross-references that can be checked without a service are checked on load: a
template named in ``status_map`` exists, the severities named by ``subject_rules`` and
``helpdesk_priority`` exist in ``severities``, regular expressions compile, templates parse.

Profiles use different severity names (``emergency`` … ``low``, ``p1`` … ``p4``,
``severity-1`` … ``severity-3``), so the file may carry a ``per_profile`` section whose
``severities`` / ``helpdesk_priority`` / ``subject_rules`` replace the top-level ones when that
profile is selected. :func:`load_mappings` applies it, so callers only ever read
``mappings.severities``.

The YAML helpers here (:func:`load_yaml`, :func:`validation_problems`, :class:`StrictModel`)
are public so the policy profile loader reports its errors the same way.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Collection, Iterable, Mapping
from functools import cached_property
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from bridge.errors import MappingError

if TYPE_CHECKING:
    from bridge.config import Config
    from bridge.messages import Messages
    from bridge.models import Issue, Ticket

#: The helpdesks the bridge talks to; each may read a mapped field from its own key.
HelpdeskKind = Literal["zendesk", "freshdesk", "django-helpdesk"]
HELPDESK_KINDS: tuple[str, ...] = ("zendesk", "freshdesk", "django-helpdesk")

#: Helpdesk ticket statuses, normalised as in :class:`bridge.models.Ticket`.
HelpdeskStatus = Literal["new", "open", "pending", "hold", "solved", "closed"]

#: Templates the bridge renders outside the status map (escalate, SLA cadence); they must exist.
REQUIRED_TEMPLATES: tuple[str, ...] = ("acknowledgement", "status_update")

#: Mapped fields whose value the bridge computes instead of reading it from the ticket.
COMPUTED_FIELDS: frozenset[str] = frozenset({"tier", "affected_count"})

MAPPINGS_FILE = "default.yaml"

_JIRA_TARGET = re.compile(r"component|label|customfield_\d+")
_SLUG = re.compile(r"[a-z0-9][a-z0-9_-]*")
_PLAIN_KEY = re.compile(r"[A-Za-z0-9_-]+")


def packaged_mappings_dir() -> Path:
    """The mappings shipped with the package (the repository's ``mappings/``).

    pyproject.toml installs that folder as the package ``bridge.mappings``. The package is
    installed as plain files (setuptools, editable or not), never imported from a zip, so
    the traversable is a real directory we can hand to Jinja and ``shutil``.
    """
    return Path(str(files("bridge.mappings")))


# ---------------------------------------------------------------------------------------
# Reading YAML and turning pydantic's errors into "file: key.path: expected form"
# ---------------------------------------------------------------------------------------


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe loader that refuses duplicate keys.

    PyYAML silently keeps the last of two equal keys; in a mapping file that hides a pasted
    block or a typo fixed in one place only, so a duplicate is an error with its line.
    """


def _construct_unique_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode) -> dict:
    loader.flatten_mapping(node)
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None,
                f"duplicate key {key!r} (first on line {seen[key] + 1})",
                key_node.start_mark,
            )
        seen[key] = key_node.start_mark.line
    return loader.construct_mapping(node)


_UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_unique_mapping
)


def load_yaml(path: Path, *, display: str | None = None) -> dict[str, Any]:
    """Read a YAML mapping file safely; an empty file is ``{}``.

    Raises :class:`MappingError` naming the file (``display`` or the path) when it is
    missing, unreadable, not valid YAML (with the line), has duplicate keys, or its top
    level is not a mapping.
    """
    name = display or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise MappingError(name, "", "file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise MappingError(name, "", f"cannot read the file: {exc.__class__.__name__}") from None
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}" if mark is not None else ""
        problem = exc.problem or exc.context or "invalid YAML"
        raise MappingError(name, where, f"invalid YAML: {problem}") from None
    except yaml.YAMLError as exc:
        raise MappingError(name, "", f"invalid YAML: {exc.__class__.__name__}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise MappingError(name, "", "expected a mapping of keys at the top level")
    return data


def key_path(loc: Iterable[str | int]) -> str:
    """Render a pydantic location as ``a.b[0].c``, quoting keys that are not plain words."""
    out = ""
    for part in loc:
        if part == "[key]":  # pydantic's marker for "the key itself was invalid"
            continue
        if isinstance(part, int):
            out += f"[{part}]"
        elif _PLAIN_KEY.fullmatch(part):
            out += f".{part}" if out else part
        else:
            out += f"[{json.dumps(part)}]"
    return out


_TYPE_WORDS = {
    "string_type": "expected a string",
    "int_type": "expected an integer",
    "int_parsing": "expected an integer",
    "int_from_float": "expected a whole number",
    "float_type": "expected a number",
    "float_parsing": "expected a number",
    "bool_type": "expected true or false",
    "bool_parsing": "expected true or false",
    "dict_type": "expected a mapping (key: value)",
    "model_type": "expected a mapping (key: value)",
    "model_attributes_type": "expected a mapping (key: value)",
    "list_type": "expected a list",
    "missing": "required, but missing",
    "extra_forbidden": "unknown key",
}


def _problem(err: Mapping[str, Any]) -> str:
    kind = err["type"]
    ctx = err.get("ctx") or {}
    if kind == "literal_error":
        return f"expected one of {ctx.get('expected', '')}"
    if kind == "value_error":
        # Our validators raise ValueError("expected ..."); pydantic prefixes "Value error, ".
        return str(ctx.get("error", err["msg"]))
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        return err["msg"].replace("Input should be", "expected a number")
    return _TYPE_WORDS.get(kind, err["msg"])


def validation_problems(exc: ValidationError) -> list[tuple[str, str]]:
    """``(key_path, problem)`` for each error of a pydantic validation, inputs never echoed.

    Inputs are left out on purpose: a value in the wrong place may be a secret.
    """
    problems: list[tuple[str, str]] = []
    for err in exc.errors(include_input=False, include_url=False):
        loc = list(err["loc"])
        if err["type"] == "unknown_key":
            loc.append(err["ctx"]["key"])
        problems.append((key_path(loc), _problem(err)))
    return problems


def raise_mapping_error(file: str, exc: ValidationError) -> None:
    """Raise the first problem of ``exc`` as a :class:`MappingError` on ``file``."""
    problems = validation_problems(exc)
    key, problem = problems[0]
    if len(problems) > 1:
        problem += f" (and {len(problems) - 1} more problem{'s' if len(problems) > 2 else ''})"
    raise MappingError(file, key, problem) from None


def did_you_mean(key: str, known: Iterable[str]) -> str | None:
    """The closest known name to a mistyped ``key``, if one is close enough."""
    close = difflib.get_close_matches(key, list(known), n=1, cutoff=0.6)
    return close[0] if close else None


class StrictModel(BaseModel):
    """Base of every validated file model: frozen, and unknown keys are errors.

    An unknown key is almost always a typo that would otherwise silently fall back to a
    default, so it fails with a did-you-mean suggestion.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _reject_unknown_keys(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            known = set(cls.model_fields)
            known |= {f.alias for f in cls.model_fields.values() if f.alias}
            for key in data:
                if key in known:
                    continue
                suggestion = did_you_mean(str(key), sorted(known))
                hint = f"; did you mean {suggestion!r}?" if suggestion else (
                    f"; expected one of: {', '.join(sorted(known))}"
                )
                raise PydanticCustomError(
                    "unknown_key", "unknown key{hint}", {"key": str(key), "hint": hint}
                )
        return data


def _as_list(value: Any) -> Any:
    """Let a single value stand for a one-element list (``status: Done``)."""
    return [value] if isinstance(value, (str, bool)) else value


# ---------------------------------------------------------------------------------------
# The mappings schema
# ---------------------------------------------------------------------------------------


class SeverityMapping(StrictModel):
    """What one severity of the profile becomes in JIRA."""

    jira_priority: str = Field(min_length=1)
    #: An extra label put on the Bug, e.g. ``sev-emergency``.
    label: str | None = None


class SubjectRule(StrictModel):
    """A subject that holds ``pattern`` means ``severity`` (``[Emergency]`` -> emergency)."""

    pattern: str = Field(min_length=1)
    severity: str
    match: Literal["contains", "regex"] = "contains"

    @model_validator(mode="after")
    def _regex_compiles(self) -> SubjectRule:
        if self.match == "regex":
            try:
                re.compile(self.pattern)
            except re.error as exc:
                raise ValueError(f"expected a valid regular expression in pattern: {exc}") from None
        return self

    @property
    def contains(self) -> str | None:
        """The text for a ``contains`` rule (None for a regex), as the profile rules have it.

        :func:`bridge.policy.severity.classify` takes these rules next to the profile's own
        and reads ``contains`` / ``pattern`` / ``severity`` / ``matches`` from either kind.
        """
        return self.pattern if self.match == "contains" else None

    def matches(self, subject: str) -> bool:
        """Whether ``subject`` triggers this rule; ``contains`` ignores case."""
        if self.match == "regex":
            return re.search(self.pattern, subject) is not None
        return self.pattern.casefold() in subject.casefold()


class FieldMapping(StrictModel):
    """Where one helpdesk field is read from, per helpdesk kind, and where it goes in JIRA.

    ``source`` names the key in :attr:`Ticket.custom_fields` for each helpdesk (Zendesk
    ticket field id ``"360001"``, Freshdesk ``cf_category``, a django-helpdesk field name);
    ``attribute`` reads a normalised :class:`~bridge.models.Ticket` attribute instead (the
    organization). A field with neither is computed by the bridge (``tier``,
    ``affected_count``). ``to`` is ``component``, ``label`` (``<label_prefix><value>``) or a
    JIRA custom field id.
    """

    to: str
    source: dict[HelpdeskKind, str] = Field(default_factory=dict)
    attribute: Literal["organization", "priority", "requester", "locale"] | None = None
    label_prefix: str = ""

    @field_validator("to")
    @classmethod
    def _target_form(cls, value: str) -> str:
        if not _JIRA_TARGET.fullmatch(value):
            raise ValueError("expected component, label or a custom field id like customfield_10101")
        return value

    @model_validator(mode="after")
    def _one_source(self) -> FieldMapping:
        if self.source and self.attribute:
            raise ValueError("expected either source (per helpdesk) or attribute, not both")
        return self

    def source_key(self, helpdesk: str) -> str | None:
        """The custom-field key this field is read from on ``helpdesk``, if any."""
        return self.source.get(helpdesk)  # type: ignore[call-overload]

    def read(self, ticket: Ticket) -> object | None:
        """The field's value on ``ticket`` (None when the ticket or helpdesk lacks it)."""
        if self.attribute is not None:
            return getattr(ticket, self.attribute, None)
        key = self.source_key(ticket.helpdesk)
        return ticket.custom_fields.get(key) if key is not None else None


class TicketKeyField(StrictModel):
    """Where the JIRA key is written back on the ticket: a tag, a custom field, or both."""

    #: Tag ``<tag_prefix><key>`` in lower case (Zendesk tags are lower case); "" = no tag.
    tag_prefix: str = "jira_"
    #: Custom field per helpdesk that receives the key.
    field: dict[HelpdeskKind, str] = Field(default_factory=lambda: {"zendesk": "360004"})

    @model_validator(mode="after")
    def _somewhere(self) -> TicketKeyField:
        if not self.tag_prefix and not self.field:
            raise ValueError("expected a tag_prefix or a field: the JIRA key must land somewhere")
        return self

    def tag_for(self, jira_key: str) -> str | None:
        """The ticket tag carrying ``jira_key`` (None when tags are not used)."""
        return f"{self.tag_prefix}{jira_key}".lower() if self.tag_prefix else None


class JiraMapping(StrictModel):
    """Names in the JIRA project the bridge files into (``bridge doctor`` checks each)."""

    project: str = Field(default="SUP", pattern=r"^[A-Z][A-Z0-9_]{0,19}$")
    bug_type: str = "Bug"
    task_type: str = "Task"
    relates_link: str = "Relates"
    #: Prefix of the bridge's own labels, e.g. the deterministic ``bridge-zendesk-123``.
    label_prefix: str = Field(default="bridge", pattern=r"^[A-Za-z0-9_-]+$")
    #: Number field on the Bug holding how many customer tickets are linked to it.
    affected_customers_field: str = Field(default="customfield_10100", pattern=r"^customfield_\d+$")


class TierMapping(StrictModel):
    """The support tier of each organization (policies 002/003 differ per tier)."""

    default: str = "standard"
    organizations: dict[str, str] = Field(default_factory=dict)
    #: An organization tag on the helpdesk (Zendesk org tag ``premium``) -> tier.
    organization_tags: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _tier_names(self) -> TierMapping:
        for tier in [self.default, *self.organizations.values(), *self.organization_tags.values()]:
            if not _SLUG.fullmatch(tier):
                raise ValueError(f"expected tier names in lower case like 'premium', got {tier!r}")
        return self

    def tier_for(self, organization: str | None, tags: Iterable[str] = ()) -> str:
        """Tier of an organization: by name (case-insensitive), else by tag, else the default."""
        if organization:
            by_name = {name.casefold(): tier for name, tier in self.organizations.items()}
            if (tier := by_name.get(organization.strip().casefold())) is not None:
                return tier
        by_tag = {tag.casefold(): tier for tag, tier in self.organization_tags.items()}
        for tag in tags:
            if (tier := by_tag.get(tag.casefold())) is not None:
                return tier
        return self.default


class EscalationRules(StrictModel):
    """Who may escalate, and which tickets may be escalated."""

    #: E-mail addresses or user names; empty (with allowed_groups empty) = anyone.
    allowed_actors: list[str] = Field(default_factory=list)
    #: Helpdesk group names whose agents may escalate.
    allowed_groups: list[str] = Field(default_factory=list)
    #: Policy 003: only tickets opened by an active admin of the account may be escalated.
    require_active_admin_requester: bool = False
    #: What marks a requester as an admin of their (customer) account: a user field of this
    #: key holding a true value (a Zendesk checkbox user field) or a user tag of this name.
    #: Helpdesk staff roles (Zendesk ``admin`` / ``agent``) are not used: they describe the
    #: vendor's own support staff, not a customer's standing in their account.
    account_admin_marker: str = Field(default="account_admin", pattern=r"^[A-Za-z0-9_.:-]+$")
    #: Solved / closed tickets are refused unless --force.
    refuse_closed: bool = True

    def actor_allowed(self, actor: str, groups: Iterable[str] = ()) -> bool:
        """Whether ``actor`` (member of ``groups``) may escalate. Case-insensitive."""
        if not self.allowed_actors and not self.allowed_groups:
            return True
        if actor.casefold() in {a.casefold() for a in self.allowed_actors}:
            return True
        allowed = {g.casefold() for g in self.allowed_groups}
        return any(g.casefold() in allowed for g in groups)

    def requester_refusal(self, ticket: Ticket) -> str | None:
        """Why policy 003 refuses ``ticket``'s requester, or None when the rule allows it.

        With ``require_active_admin_requester``, the requester must belong to an account
        (the ticket has an organization), be active (not suspended, not deactivated) and
        carry ``account_admin_marker`` as a true user field or a user tag. A helpdesk that
        does not report the requester's standing is refused: the rule fails closed.
        """
        if not self.require_active_admin_requester:
            return None
        who = ticket.requester or "the requester"
        if ticket.requester_active is None:
            return f"{ticket.helpdesk} does not report whether {who} is an active account admin"
        if not ticket.organization:
            return f"{who} belongs to no customer account"
        if not ticket.requester_active:
            return f"{who} is not an active user"
        marker = self.account_admin_marker.casefold()
        flagged = any(str(k).casefold() == marker and _truthy(v) for k, v in ticket.requester_fields.items())
        tagged = any(t.casefold() == marker for t in ticket.requester_tags)
        if not (flagged or tagged):
            return f"{who} is not an admin of {ticket.organization}'s account"
        return None


def _truthy(value: object) -> bool:
    """A user-field value that means yes (checkbox true, or text like "yes" / "true" / "1")."""
    if isinstance(value, str):
        return value.strip().casefold() in ("true", "yes", "1", "y")
    return value is True or (isinstance(value, int) and not isinstance(value, bool) and value == 1)


class RedactionPattern(StrictModel):
    """A team-specific PII pattern, redacted as ``[redacted <name>]``."""

    name: str = Field(pattern=r"^[A-Za-z0-9_ -]+$")
    regex: str

    @field_validator("regex")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"expected a valid regular expression: {exc}") from None
        return value


class RedactionRules(StrictModel):
    extra_patterns: list[RedactionPattern] = Field(default_factory=list)
    #: E-mail domains that are not PII (the vendor's own support address), kept as is.
    keep_domains: list[str] = Field(default_factory=list)


class StatusCondition(StrictModel):
    """What a JIRA issue must look like for a status-map row to apply; every key must hold.

    Names compare case-insensitively. ``fix_version``: ``released`` (some fix version is
    released), ``unreleased`` (has fix versions, none released), ``none`` (no fix version).
    ``reopened`` is true when the Bug left a done state since the last sync (the planner
    knows; :meth:`Mappings.status_rule_for` takes it as an argument).
    """

    status: list[str] | None = None
    status_category: list[Literal["new", "indeterminate", "done"]] | None = None
    resolution: list[str] | None = None
    fix_version: Literal["released", "unreleased", "none"] | None = None
    reopened: bool | None = None

    @field_validator("status", "status_category", "resolution", mode="before")
    @classmethod
    def _listify(cls, value: Any) -> Any:
        return _as_list(value)

    def holds(self, issue: Issue, *, reopened: bool = False) -> bool:
        def within(value: str | None, names: list[str] | None) -> bool:
            if names is None:
                return True
            return value is not None and value.casefold() in {n.casefold() for n in names}

        if self.reopened is not None and self.reopened != reopened:
            return False
        if not within(issue.status, self.status):
            return False
        if not within(issue.status_category, self.status_category):  # type: ignore[arg-type]
            return False
        if not within(issue.resolution, self.resolution):
            return False
        if self.fix_version is not None:
            versions = issue.fix_versions
            state = (
                "none" if not versions
                else "released" if any(v.released for v in versions)
                else "unreleased"
            )
            if state != self.fix_version:
                return False
        return True


class StatusRule(StrictModel):
    """One row of the sync status map: a JIRA state -> what the customer's ticket shows.

    ``name`` identifies the announced state (the sync engine records it as the ticket's last
    announced state, so one state change yields one message). ``template`` is rendered as a
    public reply when ``public`` is true, as an internal note otherwise; no template and not
    public means an internal note written by the engine for the agent only.
    """

    name: str = Field(pattern=r"^[a-z0-9_-]+$")
    when: StatusCondition
    helpdesk_status: HelpdeskStatus | None = None
    template: str | None = None
    public: bool = True

    @model_validator(mode="after")
    def _public_needs_text(self) -> StatusRule:
        if self.public and self.template is None:
            raise ValueError("expected a template for a public row (or public: false)")
        return self


def _default_status_map() -> list[StatusRule]:
    rows: list[dict[str, Any]] = [
        # A reopened Bug comes first: its status may look like any in-progress status.
        {"name": "reopened", "when": {"reopened": True},
         "helpdesk_status": "open", "template": "reopened"},
        # Released beats "fix ready": a release is the last thing that happens to a fix.
        {"name": "released", "when": {"status_category": ["done"], "resolution": ["Fixed", "Done"],
                                      "fix_version": "released"},
         "helpdesk_status": "solved", "template": "released"},
        {"name": "fix_ready", "when": {"status_category": ["done"], "resolution": ["Fixed", "Done"],
                                       "fix_version": "unreleased"},
         "helpdesk_status": "open", "template": "fix_ready"},
        # Closed without a fix: the agent decides what to tell the customer.
        {"name": "closed_unfixed", "when": {"status_category": ["done"],
                                            "resolution": ["Won't Fix", "Duplicate",
                                                           "Cannot Reproduce"]},
         "public": False},
        {"name": "in_qa", "when": {"status": ["In QA"]},
         "helpdesk_status": "open", "template": "in_qa"},
        {"name": "in_progress", "when": {"status": ["In Progress"]},
         "helpdesk_status": "open", "template": "in_progress"},
    ]
    return [StatusRule.model_validate(row) for row in rows]


class CommentBridging(StrictModel):
    #: JIRA comments become internal notes on every linked ticket.
    jira_to_internal_notes: bool = True
    #: A JIRA comment starting with this marker goes to customers as a public reply.
    customer_marker: str = Field(default="[customer]", min_length=1)
    #: New public customer messages on a linked ticket become (redacted) comments on the Bug.
    customer_to_jira: bool = True


class SentryMapping(StrictModel):
    #: JIRA project for Tasks filed from Sentry issues; None = the jira.project.
    project: str | None = Field(default=None, pattern=r"^[A-Z][A-Z0-9_]{0,19}$")
    #: Base URL of a self-hosted Sentry, to recognise its issue URLs.
    self_hosted_base: str | None = Field(default=None, pattern=r"^https?://[^\s/]+")
    #: Short-id prefixes of the organization's projects (``BACKEND`` in ``BACKEND-3K``).
    known_projects: list[str] = Field(default_factory=list)
    #: A Sentry issue regressing while its Bug is done: comment on the Bug, reopen the Task,
    #: or only flag it in ``bridge status``.
    regression_action: Literal["comment", "reopen", "alert"] = "comment"


class MonitoringMapping(StrictModel):
    #: Environment reported with the bridge's own errors (config monitor.environment wins).
    environment: str = "production"


class MessageSettings(StrictModel):
    #: Locale used when a ticket has none and as the last fallback.
    default_locale: str = Field(default="en", pattern=r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*$")
    #: Customers normally get a neutral reference, not an internal JIRA key.
    show_jira_key_to_customer: bool = False


class ProfileOverrides(StrictModel):
    """Replacements that apply when one profile is selected (its own severity names)."""

    severities: dict[str, SeverityMapping] | None = None
    helpdesk_priority: dict[str, str] | None = None
    subject_rules: list[SubjectRule] | None = None


def _default_severities() -> dict[str, SeverityMapping]:
    return {
        "emergency": SeverityMapping(jira_priority="Highest"),
        "high": SeverityMapping(jira_priority="High"),
        "normal": SeverityMapping(jira_priority="Medium"),
        "low": SeverityMapping(jira_priority="Low"),
    }


def _default_fields() -> dict[str, FieldMapping]:
    def src(zendesk: str, freshdesk: str, django: str) -> dict[str, str]:
        return {"zendesk": zendesk, "freshdesk": freshdesk, "django-helpdesk": django}

    return {
        # A label, not a component: JIRA refuses components that do not exist yet, and a
        # new customer organization would make every escalation of theirs fail.
        "organization": FieldMapping(to="label", attribute="organization", label_prefix="org-"),
        "category": FieldMapping(
            to="customfield_10101", source=src("360001", "cf_category", "category")),
        "impacted_device_id": FieldMapping(
            to="customfield_10102", source=src("360002", "cf_impacted_device_id", "device_id")),
        "operating_system": FieldMapping(
            to="customfield_10103", source=src("360003", "cf_operating_system", "operating_system")),
        "tier": FieldMapping(to="customfield_10104"),
        "affected_count": FieldMapping(to="customfield_10100"),
    }


def _default_per_profile() -> dict[str, ProfileOverrides]:
    return {
        "after-hours-critical": ProfileOverrides(
            severities={
                "critical": SeverityMapping(jira_priority="Highest"),
                "non-critical": SeverityMapping(jira_priority="Medium"),
            },
            helpdesk_priority={
                "urgent": "critical", "high": "non-critical",
                "normal": "non-critical", "low": "non-critical",
            },
            subject_rules=[SubjectRule(pattern="[Emergency]", severity="critical")],
        ),
        "p1-p4-matrix": ProfileOverrides(
            severities={
                "p1": SeverityMapping(jira_priority="Highest"),
                "p2": SeverityMapping(jira_priority="High"),
                "p3": SeverityMapping(jira_priority="Medium"),
                "p4": SeverityMapping(jira_priority="Low"),
            },
            helpdesk_priority={"urgent": "p1", "high": "p2", "normal": "p3", "low": "p4"},
            subject_rules=[SubjectRule(pattern="[Emergency]", severity="p1")],
        ),
        "severity-1-3": ProfileOverrides(
            severities={
                "severity-1": SeverityMapping(jira_priority="Highest"),
                "severity-2": SeverityMapping(jira_priority="High"),
                "severity-3": SeverityMapping(jira_priority="Medium"),
            },
            helpdesk_priority={
                "urgent": "severity-1", "high": "severity-2",
                "normal": "severity-3", "low": "severity-3",
            },
            subject_rules=[SubjectRule(pattern="[Emergency]", severity="severity-1")],
        ),
    }


class Mappings(StrictModel):
    """The validated mappings file, with the selected profile's overrides applied.

    Build it with :func:`load_mappings` (or :func:`load_mappings_for`); constructing it
    directly skips the profile overrides and the template checks.
    """

    profile: str = Field(default="emergency-to-low", pattern=r"^[a-z0-9][a-z0-9_-]*$")
    severities: dict[str, SeverityMapping] = Field(default_factory=_default_severities)
    helpdesk_priority: dict[Literal["urgent", "high", "normal", "low"], str] = Field(
        default_factory=lambda: {"urgent": "emergency", "high": "high",
                                 "normal": "normal", "low": "low"})
    subject_rules: list[SubjectRule] = Field(
        default_factory=lambda: [SubjectRule(pattern="[Emergency]", severity="emergency")])
    fields: dict[str, FieldMapping] = Field(default_factory=_default_fields)
    ticket_key_field: TicketKeyField = Field(default_factory=TicketKeyField)
    jira: JiraMapping = Field(default_factory=JiraMapping)
    tiers: TierMapping = Field(default_factory=TierMapping)
    escalation: EscalationRules = Field(default_factory=EscalationRules)
    redaction: RedactionRules = Field(default_factory=RedactionRules)
    #: Ordered rows; the first whose condition holds applies.
    status_map: list[StatusRule] = Field(default_factory=_default_status_map)
    comments: CommentBridging = Field(default_factory=CommentBridging)
    sentry: SentryMapping = Field(default_factory=SentryMapping)
    monitoring: MonitoringMapping = Field(default_factory=MonitoringMapping)
    messages: MessageSettings = Field(default_factory=MessageSettings)
    per_profile: dict[str, ProfileOverrides] = Field(default_factory=_default_per_profile)

    _directory: Path | None = PrivateAttr(default=None)
    _file: str = PrivateAttr(default=MAPPINGS_FILE)

    @field_validator("status_map")
    @classmethod
    def _unique_row_names(cls, rows: list[StatusRule]) -> list[StatusRule]:
        seen: set[str] = set()
        for row in rows:
            if row.name in seen:
                raise ValueError(f"expected unique row names, {row.name!r} appears twice")
            seen.add(row.name)
        return rows

    # -- where it came from ---------------------------------------------------------
    @property
    def directory(self) -> Path | None:
        """The user mappings directory, or None for the packaged defaults."""
        return self._directory

    @property
    def file(self) -> str:
        """The mappings file as named in error messages."""
        return self._file

    @property
    def show_jira_key_to_customer(self) -> bool:
        return self.messages.show_jira_key_to_customer

    @property
    def sentry_project(self) -> str:
        """JIRA project for Sentry Tasks (defaults to the Bug project)."""
        return self.sentry.project or self.jira.project

    @cached_property
    def templates(self) -> Messages:
        """The customer message templates: the user's first, then the packaged ones."""
        from bridge.messages import Messages

        roots = []
        if self._directory is not None:
            roots.append(self._directory / "templates")
        roots.append(packaged_mappings_dir() / "templates")
        return Messages(
            roots,
            default_locale=self.messages.default_locale,
            show_jira_key=self.messages.show_jira_key_to_customer,
        )

    # -- pure look-ups the escalate and sync code use -------------------------------
    def severity_for_subject(self, subject: str) -> str | None:
        """Severity named by the first subject rule that matches ``subject``."""
        for rule in self.subject_rules:
            if rule.matches(subject):
                return rule.severity
        return None

    def severity_for_priority(self, priority: str | None) -> str | None:
        """Severity of a helpdesk priority (urgent/high/normal/low), case-insensitive."""
        if not priority:
            return None
        return self.helpdesk_priority.get(priority.strip().casefold())  # type: ignore[call-overload]

    def jira_priority(self, severity: str) -> str:
        """JIRA priority name for ``severity``; KeyError-free: unknown raises MappingError."""
        try:
            return self.severities[severity].jira_priority
        except KeyError:
            raise MappingError(
                self._file, f"severities.{severity}",
                f"no JIRA priority mapped for severity {severity!r} "
                f"(known: {', '.join(self.severities)})",
            ) from None

    def tier_for(self, organization: str | None, tags: Iterable[str] = ()) -> str:
        """Tier of an organization (see :meth:`TierMapping.tier_for`)."""
        return self.tiers.tier_for(organization, tags)

    def status_rule_for(self, issue: Issue, *, reopened: bool = False) -> StatusRule | None:
        """The first status-map row that holds for ``issue``; None = nothing to announce.

        ``reopened``: the Bug left a done state since the last sync (the planner knows).
        """
        for row in self.status_map:
            if row.when.holds(issue, reopened=reopened):
                return row
        return None

    def profile_problems(
        self, severities: Collection[str], tiers: Collection[str] = ()
    ) -> list[MappingError]:
        """Mismatches between these mappings and the selected profile's names.

        ``severities`` / ``tiers`` come from :func:`bridge.policy.profiles.load_profile`. The
        profile loader lives elsewhere, so this check is a method the caller (escalate,
        doctor) runs once both are loaded.
        """
        problems = [
            MappingError(self._file, f"severities.{name}",
                         f"severity {name!r} of profile {self.profile!r} has no JIRA priority")
            for name in severities if name not in self.severities
        ]
        problems += [
            MappingError(self._file, f"severities.{name}",
                         f"not a severity of profile {self.profile!r} "
                         f"(expected one of {', '.join(severities)})")
            for name in self.severities if name not in severities
        ]
        if tiers:
            used = {"tiers.default": self.tiers.default}
            used |= {f"tiers.organizations[{json.dumps(o)}]": t
                     for o, t in self.tiers.organizations.items()}
            used |= {f"tiers.organization_tags.{tag}": t
                     for tag, t in self.tiers.organization_tags.items()}
            problems += [
                MappingError(self._file, where,
                             f"tier {tier!r} is not in profile {self.profile!r} "
                             f"(expected one of {', '.join(tiers)})")
                for where, tier in used.items() if tier not in tiers
            ]
        return problems

    # -- cross-reference checks ------------------------------------------------------
    def _check_references(self) -> None:
        for name, mapping in self.fields.items():
            if not mapping.source and mapping.attribute is None and name not in COMPUTED_FIELDS:
                raise MappingError(
                    self._file, f"fields.{name}",
                    "expected a source per helpdesk (e.g. source: {zendesk: \"360001\"}) or an "
                    f"attribute; only {', '.join(sorted(COMPUTED_FIELDS))} are computed",
                )
        for i, rule in enumerate(self.subject_rules):
            if rule.severity not in self.severities:
                raise MappingError(self._file, f"subject_rules[{i}].severity",
                                   f"expected one of the severities: {', '.join(self.severities)}")
        for prio, severity in self.helpdesk_priority.items():
            if severity not in self.severities:
                raise MappingError(self._file, f"helpdesk_priority.{prio}",
                                   f"expected one of the severities: {', '.join(self.severities)}")
        for i, row in enumerate(self.status_map):
            if row.template is not None and not self.templates.exists(row.template):
                raise MappingError(
                    self._file, f"status_map[{i}].template",
                    f"no template {row.template!r} ({row.template}.txt.j2) for locale "
                    f"{self.messages.default_locale!r}",
                )
        for name in REQUIRED_TEMPLATES:
            if not self.templates.exists(name):
                raise MappingError(self._file, "templates",
                                   f"the required template {name}.txt.j2 is missing")
        # Parse every template now so a broken one stops the run at start, not mid-sync.
        self.templates.check()


def _apply_profile(data: dict[str, Any], profile: str | None) -> dict[str, Any]:
    """Return ``data`` with the selected profile and its per_profile overrides applied."""
    data = dict(data)
    if profile is not None:
        data["profile"] = profile
    selected = data.get("profile", Mappings.model_fields["profile"].default)
    per_profile = data.get("per_profile")
    built_in = per_profile is None
    if built_in:
        per_profile = {k: v.model_dump(exclude_none=True)
                       for k, v in _default_per_profile().items()}
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
    except ValidationError as exc:
        raise_mapping_error(file, exc)
    try:
        mappings = Mappings.model_validate(_apply_profile(dict(data), profile))
    except ValidationError as exc:
        raise_mapping_error(file, exc)
    mappings._directory = directory
    mappings._file = file
    mappings._check_references()
    return mappings


def load_mappings(directory: Path | None = None, *, profile: str | None = None) -> Mappings:
    """Load ``<directory>/default.yaml``, or the packaged defaults when ``directory`` is None.

    Templates are looked up in ``<directory>/templates`` first, then in the packaged ones,
    so a team may override only some messages. ``profile`` (config ``policy.profile``)
    overrides the file's ``profile``.
    """
    base = packaged_mappings_dir() if directory is None else Path(directory)
    path = base / MAPPINGS_FILE
    data = load_yaml(path)
    return parse_mappings(data, file=str(path), directory=None if directory is None else base,
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
        updates["monitoring"] = mappings.monitoring.model_copy(
            update={"environment": config.monitor.environment})
    if not updates:
        return mappings
    updated = mappings.model_copy(update=updates)
    updated._directory, updated._file = mappings._directory, mappings._file
    return updated


__all__ = [
    "COMPUTED_FIELDS", "HELPDESK_KINDS", "REQUIRED_TEMPLATES", "CommentBridging",
    "EscalationRules", "FieldMapping", "HelpdeskKind", "JiraMapping", "Mappings",
    "MessageSettings", "MonitoringMapping", "ProfileOverrides", "RedactionPattern",
    "RedactionRules", "SentryMapping", "SeverityMapping", "StatusCondition",
    "StatusRule", "StrictModel", "SubjectRule", "TicketKeyField", "TierMapping", "did_you_mean",
    "key_path", "load_mappings", "load_mappings_for", "load_yaml", "packaged_mappings_dir",
    "parse_mappings", "raise_mapping_error", "validation_problems",
]
