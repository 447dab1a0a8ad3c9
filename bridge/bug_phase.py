"""The executor's first step for an escalation: its Bug (:class:`BugPhase`, mixed into
:class:`bridge.executor.Executor`).

One escalation is exactly one JIRA Bug, whatever crashes, time-outs, retries or concurrent
runs happen:

- **A new escalation** (:class:`~bridge.actions.CreateBug`) records its intent in the store
  and claims it (one creator per ticket across processes sharing the store) before JIRA is
  called; the Bug carries a deterministic label JIRA is searched for before anything is
  created (:meth:`bridge.connectors.jira.JiraTracker.create_once`).
- **A Bug already recorded** is never replaced behind anyone's back: one JIRA no longer shows
  (deleted, or hidden from the bridge's user: JIRA answers 404 to both) stops the run, exit
  2, claim given back, nothing written (:func:`recorded_bug_missing`).
- **A refile** (``bridge escalate --refile``, a CreateBug that ``replaces`` the gone Bug) is
  that decision taken by a person: JIRA is asked once more that the recorded Bug is gone;
  then, in one transaction, the escalation lets go of it (an unclaimed ``intent`` again) and
  the outbox records the refile's intent — which Bug it replaces, who asked. From there it
  is the first escalation's path: claim, search for the new Bug's own label, create. A run
  that dies anywhere leaves either the old Bug recorded (nothing began) or an intent whose
  next run, by any escalate of the ticket, searches before it creates.
- **``--into`` a Bug the bridge did not create** (:class:`~bridge.actions.AdoptBug`)
  makes it an escalation of its own.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from bridge.actions import AdoptBug, CreateBug, Replacing
from bridge.errors import ItemFailed, UsageError

if TYPE_CHECKING:
    from bridge.executor import Item, Outcome


class BugPhase:
    """Finds, creates, refiles or adopts the Bug of an item before its other actions run."""

    #: How long a second process waits for the one that claimed the escalation to create
    #: its Bug before giving up with "run again" (seconds between looks).
    CLAIM_WAITS_S = (0.2, 0.5, 1.0, 2.0, 4.0)

    def _bug_phase(self, item: Item, outcomes: list[Outcome]) -> bool:
        """Find or create the Bug of a new escalation; False when it could not be had (the
        item's other actions then wait for the next run)."""
        for action in item.actions:
            if isinstance(action, CreateBug):
                return self._create_bug(item, action, outcomes)
            if isinstance(action, AdoptBug):
                return self._adopt_bug(item, action, outcomes)
        return True

    def _create_bug(self, item: Item, action: CreateBug, outcomes: list[Outcome]) -> bool:
        from bridge.executor import Outcome

        self._fence()
        if action.replaces is not None:
            self._begin_refile(action.replaces, action.label)
        escalation = self._claim_escalation(action)
        item.escalation = escalation
        try:
            if escalation.jira_issue_id:
                # The Bug recorded for this ticket, never a second one: one JIRA cannot show
                # (deleted, or hidden from the bridge's user) is a person's to decide about.
                issue = self.tracker.issue(escalation.jira_issue_id)
                if issue is None:
                    raise recorded_bug_missing(escalation)
                item.bug_how = "recorded"
            else:
                self._fence()
                kwargs = {"sleep": self.sleep} if self.sleep else {}
                issue, how = self.tracker.create_once(action.label, action.fields, what="Bug", **kwargs)
                item.bug_how = "created" if how == "created" else "found"
        except BaseException:
            self.store.escalations.release_claim(escalation.id)
            raise
        item.issue = issue
        item.escalation = self.store.escalations.mark_created(
            escalation.id, jira_issue_id=issue.id, jira_key=issue.key, jira_url=issue.url)
        if action.replaces is not None:
            self._refiled(action.replaces, item)
        detail = {"created": f"created {issue.key}", "found": f"found {issue.key} by its label",
                  "recorded": f"found {issue.key} recorded for this ticket"}[item.bug_how]
        outcomes.append(Outcome(action, "done" if item.bug_how == "created" else "skipped", detail))
        item.outcomes.append(outcomes[-1])
        return True

    def _claim_escalation(self, action: CreateBug):
        """The escalation row, claimed for this process (one creator per ticket, across
        processes sharing the store). Another process's live claim is waited for: once it
        has created the Bug, that Bug is this run's too."""
        escalation, claimed = self.store.escalations.record_intent(**action.intent)
        for pause in self.CLAIM_WAITS_S:
            if claimed or escalation.jira_issue_id:
                return escalation
            (self.sleep or time.sleep)(pause)
            escalation, claimed = self.store.escalations.record_intent(**action.intent)
        if claimed or escalation.jira_issue_id:
            return escalation
        raise ItemFailed(f"another process is escalating ticket {action.intent['origin_ticket_id']} right now",
                         hint="run the same command again in a minute: it then finds that Bug")

    # ----------------------------------------------------------------------- refile --
    def _begin_refile(self, replacing: Replacing, label: str) -> None:
        """Let go of the gone Bug and record the refile's intent, once (see the module
        docstring). An escalation that no longer holds it began the refile already (a run
        that died, another process) or finished it: the claim and the label search decide."""
        row = self.store.escalations.get(replacing.escalation_id)
        if row is None or row.jira_issue_id != replacing.issue_id:
            return
        # Asked again here, not only when planning: a Bug that shows again is never replaced.
        if self.tracker.issue(replacing.issue_id) is not None:
            raise recorded_bug_exists(row)
        self._fence()
        store = self.store
        with store.session() as s:
            if store.escalations.begin_refile(replacing.escalation_id, replaced_issue_id=replacing.issue_id, s=s):
                store.outbox.claim_many([{
                    "key": replacing.record_key, "target": f"jira:{replacing.issue_key or replacing.issue_id}",
                    "kind": "RefileBug", "escalation_id": replacing.escalation_id,
                    "payload": {"replaced_issue_id": replacing.issue_id, "replaced_key": replacing.issue_key,
                                "replaced_url": replacing.issue_url, "label": label, "by": replacing.by}}], s=s)

    def _refiled(self, replacing: Replacing, item: Item) -> None:
        """The new Bug is recorded: the refile's outbox entry is done and the audit says who
        replaced which Bug by which — once, whichever run gets here (recorded with the
        item's other results)."""
        entry = self.store.outbox.get(replacing.record_key)
        if entry is None or entry.state == "sent":
            return
        escalation, issue = item.escalation, item.issue
        self._ledger.done.append((replacing.record_key, {"jira_key": issue.key, "jira_issue_id": issue.id}))
        self._ledger.audit.append((
            replacing.by, "escalate-refile", f"{escalation.origin_helpdesk}:{escalation.origin_ticket_id}", "ok",
            f"{replacing.issue_key or replacing.issue_id} (gone from JIRA) replaced by {issue.key} "
            f"({item.bug_how}), requested by {replacing.by}"))

    # -------------------------------------------------------------------- --into --
    def _adopt_bug(self, item: Item, action: AdoptBug, outcomes: list[Outcome]) -> bool:
        from bridge.executor import Outcome

        self._fence()
        escalation = self.store.escalations.by_issue(action.issue_id)
        if escalation is None:
            escalation, _ = self.store.escalations.record_intent(**action.intent)
            escalation = self.store.escalations.mark_created(
                escalation.id, jira_issue_id=action.issue_id, jira_key=action.issue_key, jira_url=action.issue_url)
            escalation = self.store.escalations.mark_complete(escalation.id)
            outcomes.append(Outcome(action, "done", f"adopted {action.issue_key}"))
        else:
            outcomes.append(Outcome(action, "skipped", f"{action.issue_key} is already an escalation"))
        item.outcomes.append(outcomes[-1])
        item.escalation = escalation
        item.bug_how = "adopted"
        return True


def recorded_bug_missing(escalation) -> UsageError:
    """Why an escalation whose recorded Bug JIRA answers 404 for goes no further (exit 2).
    JIRA answers the same for a Bug deleted and one the bridge's user may not see: the
    message says both, and the person decides."""
    ticket = escalation.origin_ticket_id
    return UsageError(
        f"the Bug {escalation.jira_key} recorded for {escalation.origin_helpdesk} ticket {ticket} does not exist "
        "in JIRA or the bridge's JIRA user cannot see it; nothing was written and no second Bug was made",
        hint=f"if {escalation.jira_key} was deleted, `bridge escalate {ticket} --refile` files a new Bug for the "
             "escalation and moves its tickets onto it; if it is only hidden, restore the bridge's JIRA user's "
             f"permission to see it (or restore {escalation.jira_key}) and run `bridge escalate {ticket}` again")


def recorded_bug_exists(escalation) -> UsageError:
    """Why ``--refile`` refuses while JIRA shows the recorded Bug (exit 2): one escalation is
    one Bug, and a second one is never filed beside a visible first."""
    ticket = escalation.origin_ticket_id
    return UsageError(
        f"the Bug {escalation.jira_key} recorded for {escalation.origin_helpdesk} ticket {ticket} exists in JIRA; "
        "--refile files a new Bug only for one JIRA no longer has, so nothing was written",
        hint=f"`bridge escalate {ticket}` finishes or re-checks the escalation on {escalation.jira_key}")
