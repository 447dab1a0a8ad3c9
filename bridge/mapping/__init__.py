"""The mappings: how helpdesk tickets become JIRA issues and JIRA states become messages.

A team's mappings directory (or the packaged defaults, the repository's ``mappings/``)
holds ``default.yaml``, ``profiles/*.yaml`` (one support policy each) and
``templates/<locale>/`` (the customer wording). This package is split along what a reader
looks for:

* :mod:`bridge.mapping.sections` — the sections of ``default.yaml`` and their built-in values;
* :mod:`bridge.mapping.models` — :class:`Mappings`, the whole file, and its pure look-ups;
* :mod:`bridge.mapping.validation` — checks across keys, and between mappings and a profile;
* :mod:`bridge.mapping.load` — reading the mappings and the policy profiles from files
  (the policy itself, :mod:`bridge.policy`, reads no file).

Every name the rest of the code uses is importable from here.
"""

from bridge.file_schema import StrictModel, did_you_mean, validation_problems
from bridge.mapping.load import (
    list_profiles,
    load_mappings,
    load_mappings_for,
    load_profile,
    packaged_mappings_dir,
    packaged_profiles_dir,
    parse_mappings,
    read_yaml,
)
from bridge.mapping.models import MAPPINGS_FILE, Mappings
from bridge.mapping.sections import (
    HELPDESK_KINDS,
    CommentBridging,
    EscalationRules,
    FieldMapping,
    HelpdeskKind,
    HelpdeskStatus,
    JiraMapping,
    MessageSettings,
    MonitoringMapping,
    ProfileOverrides,
    RedactionPattern,
    RedactionRules,
    SentryMapping,
    SeverityMapping,
    StatusCondition,
    StatusRule,
    SubjectRule,
    TicketKeyField,
    TierMapping,
)
from bridge.mapping.validation import COMPUTED_FIELDS, REQUIRED_TEMPLATES, check_references, profile_problems

__all__ = [
    "COMPUTED_FIELDS", "HELPDESK_KINDS", "MAPPINGS_FILE", "REQUIRED_TEMPLATES", "CommentBridging",
    "EscalationRules", "FieldMapping", "HelpdeskKind", "HelpdeskStatus", "JiraMapping", "Mappings",
    "MessageSettings", "MonitoringMapping", "ProfileOverrides", "RedactionPattern", "RedactionRules",
    "SentryMapping", "SeverityMapping", "StatusCondition", "StatusRule", "StrictModel", "SubjectRule",
    "TicketKeyField", "TierMapping", "check_references", "did_you_mean", "list_profiles",
    "load_mappings", "load_mappings_for", "load_profile", "packaged_mappings_dir", "packaged_profiles_dir",
    "parse_mappings", "profile_problems", "read_yaml", "validation_problems",
]
