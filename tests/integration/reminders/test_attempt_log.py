"""The attempt log on real Redis: the one record that may send a claimed row back to `planned`
instead of `uncertain`. It must vouch only for what it saw from start to seal, on one server."""

from __future__ import annotations

import pytest

from reminders.sending.queue import (
    AttemptLogLost,
    attempts_key,
    log_attempts,
    never_attempted,
    start_attempt_log,
)


def test_rows_missing_from_an_intact_log_never_began(redis):
    marker = start_attempt_log(redis, "job-1#a")
    log_attempts(redis, "job-1#a", marker, [1, 2])
    assert never_attempted(redis, [(1, "job-1#a"), (2, "job-1#a"), (3, "job-1#a")]) == {3}


def test_a_flushed_log_is_not_recreated_by_the_next_write(redis):
    marker = start_attempt_log(redis, "job-1#a")
    log_attempts(redis, "job-1#a", marker, [1])
    redis.flushdb()
    with pytest.raises(AttemptLogLost, match="lost"):
        log_attempts(redis, "job-1#a", marker, [2])
    assert not redis.exists(attempts_key("job-1#a"))
    assert never_attempted(redis, [(1, "job-1#a"), (2, "job-1#a")]) == set()


def test_a_log_without_its_start_marker_vouches_for_nothing(redis):
    """What a bare SADD after a flush used to leave behind."""
    redis.sadd(attempts_key("job-1#a"), "7")
    assert never_attempted(redis, [(1, "job-1#a"), (7, "job-1#a")]) == set()


def test_a_log_started_on_another_server_run_vouches_for_nothing(redis):
    """A restart with persistence or a failover to a replica may have lost the last writes."""
    redis.sadd(attempts_key("job-1#a"), "start:0123456789abcdef", "1")
    assert never_attempted(redis, [(1, "job-1#a"), (2, "job-1#a")]) == set()


def test_once_sealed_by_the_sweeper_no_attempt_can_be_added(redis):
    """A live but slow worker whose lease expired cannot start a row the sweeper handed back."""
    marker = start_attempt_log(redis, "job-1#a")
    log_attempts(redis, "job-1#a", marker, [1])
    assert never_attempted(redis, [(1, "job-1#a"), (2, "job-1#a")]) == {2}
    with pytest.raises(AttemptLogLost, match="sealed"):
        log_attempts(redis, "job-1#a", marker, [2])


def test_rows_without_a_run_stay_in_doubt(redis):
    assert never_attempted(redis, [(1, None)]) == set()
