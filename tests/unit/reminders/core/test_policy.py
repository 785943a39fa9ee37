from pathlib import Path

import pytest

from dunlin.yamlsource import ConfigFileError
from reminders.planning.policy_file import load_policy, parse_policy

EXAMPLE = Path(__file__).parents[4] / "reminders" / "policies" / "three-tracks.yaml"


def test_shipped_example_is_valid_and_has_three_tracks():
    policy = load_policy(EXAMPLE)
    assert [t.name for t in policy.tracks] == ["key-accounts", "large-balances", "standard"]
    assert policy.tracks[0].veto_hours == 24


BASE = """\
name: p
tracks:
  - name: t
    steps:
      - name: s
        offset_days: 3
        channels: [email]
"""


def _issues(text: str, **kw):
    with pytest.raises(ConfigFileError) as info:
        parse_policy(text, "p.yaml", **kw)
    return info.value.issues


def test_unknown_channel_is_named_with_its_line():
    (issue,) = _issues(BASE.replace("[email]", "[email, fax]"))
    assert issue.line == 7 and issue.field == "tracks.0.steps.0.channels" and "fax" in issue.message


def test_thank_you_is_off_unless_given_and_its_channels_are_checked():
    assert parse_policy(BASE, "p.yaml").thank_you is None
    assert load_policy(EXAMPLE).thank_you.channels == ["email", "wecom"]
    (issue,) = _issues("thank_you: {channels: [pigeon]}\n" + BASE)
    assert issue.line == 1 and issue.field == "thank_you.channels" and "pigeon" in issue.message


def test_unknown_template_is_named():
    (issue,) = _issues(BASE + "        template: dunning-letter\n")
    assert issue.line == 8 and "dunning-letter" in issue.message


def test_unknown_tag_is_named_against_the_orgs_tags():
    text = BASE.replace("  - name: t\n", "  - name: t\n    match: {tags: [vip, vipp]}\n")
    (issue,) = _issues(text, known_tags={"vip"})
    assert "vipp" in issue.message and "vip," not in issue.message
    assert parse_policy(
        text.replace("name: p\n", "name: p\nknown_tags: [vipp]\n"), "p.yaml", {"vip"}
    )


def test_misspelt_key_and_bad_windows():
    issues = _issues(BASE.replace("offset_days", "ofset_days") + "send_windows: {mon: '9am-5pm'}\n")
    fields = {i.field for i in issues}
    assert "send_windows" in fields and any("ofset_days" in f for f in fields)


def test_structure_rules():
    assert (
        "first step must be timed"
        in _issues(BASE.replace("offset_days: 3", "after_previous_days: 3"))[0].message
    )
    both = BASE.replace("offset_days: 3", "offset_days: 3\n        after_previous_days: 2")
    assert "exactly one" in _issues(both)[0].message
    unreachable = (
        BASE + "  - name: never\n    steps: [{name: x, offset_days: 1, channels: [sms]}]\n"
    )
    assert "later tracks never run" in _issues(unreachable)[0].message
    repeat_first = BASE.replace(
        "channels: [email]", "channels: [email]\n        repeat: {every_days: 7}"
    )
    assert "until_day or times" in _issues(repeat_first)[0].message
    assert "holiday calendar" in _issues(BASE + "calendar: XX\n")[0].message


def test_live_check_is_off_unless_given_and_holds_by_default():
    assert parse_policy(BASE, "p.yaml").live_check is None
    spec = parse_policy(BASE + "live_check: {}\n", "p.yaml").live_check
    assert spec.when_unreachable == "hold" and spec.hold_minutes == 15
    (issue,) = _issues(BASE + "live_check:\n  when_unreachable: maybe\n")
    assert issue.line == 9 and issue.field == "live_check.when_unreachable"
