"""``claim_many`` past one statement's worth of rows, on SQLite and PostgreSQL: the keys of a
round large enough to span several IN lists and INSERT batches (issue #15's 10,000 changed
escalations claim in 500s and more) are each granted exactly as :meth:`claim` would."""

from __future__ import annotations

from bridge.store.repository import Store
from tests.integration.test_store import count_rows, intent


def _wanted(keys: list[str]) -> list[dict]:
    return [{"key": k, "target": f"zendesk:{k}", "kind": "Announce", "payload": {"n": k}} for k in keys]


def test_claim_many_across_batches_grants_like_claim(store: Store) -> None:
    keys = [f"announce:zendesk:{n}" for n in range(1_234)]
    # Before the round: every 7th key sent, every 11th failed, every 13th pending elsewhere.
    for n, key in enumerate(keys):
        if n % 7 == 0 or n % 11 == 0 or n % 13 == 0:
            assert store.outbox.claim(key, target="zendesk:x", kind="Announce")
            if n % 7 == 0:
                store.outbox.done(key)
            elif n % 11 == 0:
                store.outbox.failed(key, "503")

    answers = store.outbox.claim_many(_wanted(keys + keys[:3]))  # the first three named twice

    def expected(n: int) -> tuple[bool, str, int]:
        if n % 7 == 0:
            return False, "sent", 1
        if n % 11 == 0:
            return True, "pending", 2
        if n % 13 == 0:
            return False, "pending", 1
        return True, "pending", 1
    got = [(claimed, entry.state, entry.attempts) for claimed, entry in answers]
    assert got[:len(keys)] == [expected(n) for n in range(len(keys))]
    assert [claimed for claimed, _ in answers[len(keys):]] == [False, False, False]
    assert [entry.key for _, entry in answers] == keys + keys[:3]
    assert count_rows(store, "outbox") == len(keys)
    fresh = store.outbox.get(keys[1])
    assert fresh is not None and store.outbox.payload(fresh) == {"n": keys[1]}

    again = store.outbox.claim_many(_wanted(keys))
    assert not any(claimed for claimed, _ in again)  # every key is pending or sent now


def test_latest_by_target_is_the_newest_state_write_of_each_ticket_whatever_its_state(store: Store) -> None:
    """What sync asks when a ticket carries a state marker the store does not know: the
    last state write the bridge set out to make on that ticket, of its own escalation."""
    first, _ = intent(store, "501")
    second, _ = intent(store, "502")
    store.outbox.claim_many([
        {"key": "announce:a", "target": "zendesk:501", "kind": "Announce", "escalation_id": first.id,
         "payload": {"state": "in_progress"}},
        {"key": "note:a", "target": "zendesk:501", "kind": "InternalNote", "escalation_id": first.id},
        {"key": "announce:b", "target": "zendesk:501", "kind": "Announce", "escalation_id": first.id,
         "payload": {"state": "fixed"}},
        {"key": "note:b", "target": "zendesk:501", "kind": "InternalNote", "escalation_id": first.id},
        {"key": "state:c", "target": "zendesk:502", "kind": "StateNote", "escalation_id": second.id},
        {"key": "announce:d", "target": "zendesk:502", "kind": "Announce", "escalation_id": second.id},
        # The same ticket under another escalation (an old link): not this one's.
        {"key": "announce:e", "target": "zendesk:502", "kind": "Announce", "escalation_id": first.id},
    ])
    store.outbox.done("announce:d")

    found = store.outbox.latest_by_target([(first.id, "zendesk:501"), (second.id, "zendesk:502")],
                                          ("Announce", "StateNote"))

    assert {target: (e.key, e.state) for target, e in found.items()} == {
        "zendesk:501": ("announce:b", "pending"), "zendesk:502": ("announce:d", "sent")}
    assert store.outbox.payload(found["zendesk:501"]) == {"state": "fixed"}
    assert store.outbox.latest_by_target([(second.id, "zendesk:501")], ("Announce",)) == {}
