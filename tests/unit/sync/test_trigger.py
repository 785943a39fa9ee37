"""Push-triggered syncs are coalesced per source: a burst costs one run, and a request that
lands mid-run costs exactly one more (its change may be newer than the page that run read)."""

from __future__ import annotations

import threading

from sync.trigger import InlineSyncs


def test_requests_during_a_run_join_one_follow_up_run_with_all_their_entities():
    started, release = threading.Event(), threading.Event()
    runs: list[tuple[int, frozenset[str]]] = []

    def run(source_id: int, entities: frozenset[str]) -> None:
        runs.append((source_id, entities))
        if len(runs) == 1:
            started.set()
            release.wait(5)

    syncs = InlineSyncs(run)
    assert syncs.request(1, ["receivables"]) == "started"
    assert started.wait(5)
    assert syncs.request(1, ["customers"]) == "coalesced"
    assert syncs.request(1, ["receivables"]) == "coalesced"
    assert syncs.request(2, ["customers"]) == "started"  # other sources do not wait
    release.set()
    syncs.wait()
    by_source_1 = [entities for source, entities in runs if source == 1]
    assert by_source_1 == [frozenset({"receivables"}), frozenset({"customers", "receivables"})]
    assert (2, frozenset({"customers"})) in runs


def test_a_failing_run_does_not_wedge_the_source():
    calls = []

    def run(source_id: int, entities: frozenset[str]) -> None:
        calls.append(entities)
        raise RuntimeError("source down")

    syncs = InlineSyncs(run)
    syncs.request(7, ["customers"])
    syncs.wait()
    assert syncs.request(7, ["customers"]) == "started"
    syncs.wait()
    assert len(calls) == 2
