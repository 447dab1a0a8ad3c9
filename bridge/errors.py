"""The one exception hierarchy of bridge.

Every error the bridge raises on purpose derives from :class:`BridgeError`. The CLI turns
each into one message (no traceback) and the exit code it carries, so the exit codes in
DESIGN.md are decided here and nowhere else::

    BridgeError                         exit 1  an item failed; the run went on
    ├── UsageError                      exit 2  the caller must change something
    │   ├── ConfigError                         bridge.toml / environment
    │   ├── MappingError                        a mapping or profile file (names file + key)
    │   ├── UnknownTicket                       no such ticket on the helpdesk
    │   ├── NotAllowed                          the policy forbids this action
    │   └── InvalidValue                        a value that would change a query's meaning
    ├── ServiceError                    exit 3  a service is unreachable or refused us
    │   ├── ServiceUnreachable                  connection refused, time-out, 5xx after retries
    │   │   └── UnexpectedAnswer                an answer that is not the API's JSON (HTML, …)
    │   └── CredentialsRefused                  401 / 403
    └── ServiceRejected                 exit 1  the service answered 4xx to a well-formed call
    └── ItemFailed                      exit 1  one item of a batch failed (recorded, retried)
        └── Conflict                            the ticket changed since it was read (re-read, retry)
    └── LeaseLost                       exit 1  this process lost the lease it worked under

Messages never carry secrets: connectors build them from the service name, the method, the
path and the vendor's own error text, never from headers or the request body.
"""

from __future__ import annotations

#: How much of a value given by the caller an error message quotes.
SHOWN_LIMIT = 40

EXIT_OK = 0
EXIT_ITEMS_FAILED = 1
EXIT_USAGE = 2
EXIT_SERVICE = 3


def shown(value: object, limit: int = SHOWN_LIMIT) -> str:
    """``value`` quoted for an error message, cut to ``limit`` characters: a 10 KB ticket
    id (or anything pasted by mistake) is named, not echoed whole."""
    text = str(value)
    if len(text) > limit:
        return repr(text[:limit - 1] + "…") + f" ({len(text)} characters)"
    return repr(text)


class BridgeError(Exception):
    """Base of every error the bridge raises on purpose."""

    exit_code = EXIT_ITEMS_FAILED

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class UsageError(BridgeError):
    """The caller (person, script or configuration) must change something."""

    exit_code = EXIT_USAGE


class ConfigError(UsageError):
    """bridge.toml, the environment or a secrets file is wrong or incomplete."""


class MappingError(UsageError):
    """A mapping or policy profile file is malformed; names the file and the key path."""

    def __init__(self, file: str, key: str, problem: str) -> None:
        self.file = file
        self.key = key
        self.problem = problem
        where = f"{file}: {key}" if key else file
        super().__init__(f"{where}: {problem}")


class UnknownTicket(UsageError):
    """The helpdesk has no ticket with that id."""

    def __init__(self, ticket: str, helpdesk: str) -> None:
        self.ticket = ticket
        super().__init__(f"{helpdesk} has no ticket {shown(ticket)}", hint="check the ticket id")


class NotAllowed(UsageError):
    """The support policy forbids the action (actor not allowed, ticket closed, ...)."""


class InvalidValue(UsageError):
    """A value that cannot be used safely, e.g. one that would change a JQL query's meaning."""


class ServiceError(BridgeError):
    """A service could not be reached or refused our credentials."""

    exit_code = EXIT_SERVICE

    def __init__(self, service: str, message: str, *, hint: str | None = None) -> None:
        self.service = service
        super().__init__(f"{service}: {message}", hint=hint)


class ServiceUnreachable(ServiceError):
    """Connection refused, timed out, or 5xx / 429 still answered after the retries.

    ``maybe_applied`` is True when a write may have reached the service before the failure
    (a time-out or a connection dropped after sending): the caller must read back before
    trying the write again.
    """

    def __init__(self, service: str, message: str, *, hint: str | None = None,
                 maybe_applied: bool = False, retry_after: float | None = None) -> None:
        super().__init__(service, message, hint=hint)
        self.maybe_applied = maybe_applied
        self.retry_after = retry_after


class UnexpectedAnswer(ServiceUnreachable):
    """The service answered, but not with its API's JSON: an HTML page from a proxy or a
    login wall, invalid or empty JSON, a list or ``null`` where an object belongs, or an
    object without the fields the API always sends.

    ``content_type`` and ``excerpt`` (the first bytes, secrets already stripped by the
    connector) say what came instead. A write that got such an answer may have been applied
    (``maybe_applied``): whatever sat in front of the service may have passed it on.
    """

    def __init__(self, service: str, content_type: str, excerpt: str, *, maybe_applied: bool = False) -> None:
        shown = content_type or "no content type"
        body = f"{excerpt!r}" if excerpt else "an empty body"
        super().__init__(service, "", maybe_applied=maybe_applied,
                         hint=f"is BRIDGE_{_env_section(service)}_URL the API's base URL, "
                              "and nothing (a proxy, a sign-in page) in between?")
        self.content_type = content_type
        self.excerpt = excerpt
        self.message = f"{service} answered something that is not its API's JSON: {shown}, {body}"
        self.args = (self.message,)


def _env_section(service: str) -> str:
    return {"JIRA": "JIRA", "Sentry": "SENTRY", "Bugsink": "ERRORS"}.get(service, "HELPDESK")


class CredentialsRefused(ServiceError):
    """The service answered 401 or 403 to our credentials."""


class ServiceRejected(BridgeError):
    """The service answered a 4xx (other than auth) to a request; carries its own message."""

    def __init__(self, service: str, status: int, message: str) -> None:
        self.service = service
        self.status = status
        super().__init__(f"{service} answered {status}: {message}")


class ItemFailed(BridgeError):
    """One item of a batch failed; the run goes on and exits 1."""


class Conflict(ItemFailed):
    """The ticket changed since it was read (optimistic concurrency): re-read and retry.
    Left over after the retries, it is one failed item like any other."""


class LeaseLost(BridgeError):
    """This process no longer holds the lease it works under (it expired, its renewal
    failed, or another holder took it over): it must stop writing at once (exit 1; the
    next run, or the new holder, goes on)."""
