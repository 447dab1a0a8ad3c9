"""The search index of the JIRA emulator: eventual consistency and the search itself.

:class:`SearchIndex` is mixed into :class:`~bridge.sandbox.jira_state.JiraState`. Search
reads a separate index that lags behind writes by ``search_lag_s`` seconds when that knob
is set — Jira Cloud's search is eventually consistent — unless an issue's id is passed in
``reconcileIssues``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Iterable

from bridge.sandbox import jql
from bridge.sandbox.jira_catalog import (
    JiraUser,
)
from bridge.sandbox.jira_records import (
    IndexEntry,
    IssueRecord,
    copy_for_index,
)
from bridge.sandbox.jira_search import JiraJqlSchema, default_order, document


class SearchIndex:
    """Keeps the index and answers JQL searches (needs the JiraState attributes)."""

    # -- search ----------------------------------------------------------------------------
    def _touched(self, record: IssueRecord) -> None:
        """Record a write for the search index (now, or after the lag when one is set)."""
        self._write_seq += 1
        self._search_cache.clear()
        if self.search_lag_s > 0:
            self._pending.append((self.clock(), record.id, copy_for_index(record)))
        else:
            self._index[record.id] = IndexEntry(record, {})

    def _invalidate_search(self) -> None:
        self._write_seq += 1
        self._search_cache.clear()
        for entry in self._index.values():
            entry.doc = {}

    def _catch_up_index(self) -> None:
        if self.search_lag_s <= 0:
            # Lag switched off: everything pending is visible now.
            for _, issue_id, _ in self._pending:
                if issue_id in self.issues:
                    self._index[issue_id] = IndexEntry(self.issues[issue_id], {})
            self._pending.clear()
            return
        cutoff = self.clock() - timedelta(seconds=self.search_lag_s)
        keep = []
        for written, issue_id, snapshot in self._pending:
            if written <= cutoff:
                if issue_id in self.issues:
                    self._index[issue_id] = IndexEntry(snapshot or self.issues[issue_id], {})
            else:
                keep.append((written, issue_id, snapshot))
        if len(keep) != len(self._pending):
            # The index changed: results cached before no longer say what search sees.
            self._write_seq += 1
        self._pending = keep

    def index_entry(self, issue_id: int) -> IndexEntry | None:
        return self._index.get(issue_id)

    def search(self, jql_text: str, user: JiraUser, *, strict: bool = True,
               reconcile: Iterable[int] = ()) -> tuple[list[IssueRecord], tuple[str, ...]]:
        """All issues ``user`` may see that match, in order, as search sees them (maybe stale).

        The list may be shared with later calls: callers slice it, never change it.
        """
        with self.lock:
            self._catch_up_index()
            tz = self.user_tz(user)
            reconcile = {int(i) for i in reconcile}
            query = jql.parse(jql_text)
            ctx = jql.EvalContext(now=self.clock(), tz=tz, user=user.key)
            compiled = jql.compile_query(query, JiraJqlSchema(self, user), ctx, strict=strict)
            # Every input of the result is in the key: a write, or a pending write reaching
            # the index, moves _write_seq; reconciled issues are read live, and any write to
            # them moves it too. So pages 2..n of a query reuse page 1's evaluation.
            cache_key = (jql_text, user.key, str(tz), strict, self._write_seq, tuple(sorted(reconcile)))
            cacheable = not _uses_now(query)
            if cacheable and cache_key in self._search_cache:
                self._search_cache.move_to_end(cache_key)
                return self._search_cache[cache_key], compiled.warnings
            visible = {p.id for p in self.visible_projects(user)}
            predicate = compiled.predicate
            matched = []
            # One pass over the index (documents built once per indexed version), or, for a
            # query that names or bounds its issues' ids (``id in (...)``, ``id >= a``), a
            # lookup of those only, as Jira's own index answers it.
            for issue_id, entry in _candidates(query.where, self._index):
                if entry.record.project_id not in visible or issue_id in reconcile:
                    continue
                doc = entry.doc
                if not doc:
                    doc = entry.doc = document(self, entry.record)
                if predicate(doc):
                    matched.append(doc)
            for issue_id in reconcile:
                record = self.issues.get(issue_id)
                if record is not None and record.project_id in visible:
                    doc = document(self, record)
                    if predicate(doc):
                        matched.append(doc)
            ordered = compiled.sort(matched, default_order())
            records = [d["@record"] for d in ordered]
            if cacheable:
                self._search_cache[cache_key] = records
                while len(self._search_cache) > 64:
                    self._search_cache.popitem(last=False)
            return records, compiled.warnings


#: What an ``id`` clause says of the issues a query may match: named ids (or None: any)
#: and the bounds they lie within.
_Narrowing = tuple["set[int] | None", float, float]
_ANY: _Narrowing = (None, float("-inf"), float("inf"))


def _narrowing(node: Any) -> _Narrowing:
    """The ids and id bounds a query's ``id`` clauses restrict it to, through ANDs
    (``id = n``, ``id in (...)``, ``id >= a``, ...); :data:`_ANY` where they say nothing.
    Only the candidates are then read: the predicate still decides, on those."""
    if isinstance(node, jql.Clause) and node.field.lower() == "id":
        operand, op = node.operand, node.op
        if isinstance(operand, jql.Value) and operand.text.isdigit():
            n = int(operand.text)
            return {"=": ({n}, n, n), ">=": (None, n, float("inf")), ">": (None, n + 1, float("inf")),
                    "<=": (None, float("-inf"), n), "<": (None, float("-inf"), n - 1)}.get(op, _ANY)
        if op == "in" and isinstance(operand, jql.ListOperand) and all(
                isinstance(v, jql.Value) and v.text.isdigit() for v in operand.items):
            named = {int(v.text) for v in operand.items}
            return (named, min(named, default=0), max(named, default=-1))
        return _ANY
    if isinstance(node, jql.And):
        ids, low, high = _ANY
        for item_ids, item_low, item_high in map(_narrowing, node.items):
            ids = item_ids if ids is None else ids if item_ids is None else ids & item_ids
            low, high = max(low, item_low), min(high, item_high)
        return ids, low, high
    return _ANY


def _candidates(where: Any, index: dict) -> Iterable[tuple[int, Any]]:
    """The index entries a query can match, in the index's (id) order: those its ``id``
    clauses name or bound, looked up as Jira's own index answers them, else all."""
    ids, low, high = _narrowing(where)
    if ids is not None:
        return ((i, index[i]) for i in sorted(ids) if low <= i <= high and i in index)
    if high - low < len(index):  # a span narrower than the index: look its ids up
        return ((i, index[i]) for i in range(int(low), int(high) + 1) if i in index)
    return index.items()


def _uses_now(query: jql.Query) -> bool:
    """Whether a query's meaning moves with the clock (relative dates, now(), ...)."""
    def operand_uses_now(operand: Any) -> bool:
        if isinstance(operand, jql.Function):
            return True
        if isinstance(operand, jql.ListOperand):
            return any(operand_uses_now(o) for o in operand.items)
        if isinstance(operand, jql.Value):
            text = operand.text.strip()
            return bool(text) and (text[0] in "+-" or text[-1:] in ("w", "d", "h", "m"))
        return False

    return any(isinstance(node, jql.Clause) and operand_uses_now(node.operand) for node in jql.walk(query.where))
