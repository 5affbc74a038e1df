"""ucwa_vcr.options is the one source of the options' names, defaults and choices: the CLI and the README agree."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from ucwa_vcr.errors import UsageError
from ucwa_vcr.options import OPTIONS, Exhausted, RecordMode
from ucwa_vcr.tools.cli import build_parser, options_for

README = Path(__file__).resolve().parents[2] / "README.md"


def _readme_options() -> dict[str, str]:
    """{option name: default as the README's options table shows it}."""
    section = README.read_text(encoding="utf-8").split("## Options", 1)[1].split("\n## ", 1)[0]
    table = {}
    for row in re.findall(r"^\|(.+)\|$", section, re.MULTILINE):
        cells = [c.strip() for c in row.split("|")]
        for name in re.findall(r"`(ucwa_\w+)`", cells[0]):
            table[name] = cells[1].strip("`")
    return table


def _shown(default: object) -> str:
    if isinstance(default, bool):  # as --set takes it
        return str(default).lower()
    if isinstance(default, list):
        return ",".join(default) if default else "–"
    return str(default) if default != "" else "–"


def test_the_readme_lists_every_option_with_its_default():
    assert {name: _shown(o.default) for name, o in OPTIONS.items()} == _readme_options()


def test_the_replay_command_defaults_are_the_options_defaults():
    args = build_parser().parse_args(["replay", "c.yaml"])
    opts = options_for(args)
    for name in ("ucwa_latency", "ucwa_event_hold", "ucwa_exhausted"):
        assert opts[name] == OPTIONS[name].default, name
    assert opts["ucwa_record_mode"] == RecordMode.NONE


@pytest.mark.parametrize("argv, message", [
    (["record", "c.yaml", "--record-mode", "none"], "invalid choice: 'none'"),  # replay is the offline command
    (["record", "c.yaml", "--record-mode", "none"], "'all', 'new_episodes', 'once'"),  # as its help describes them
    (["replay", "--exhausted", "sometimes"], "invalid choice: 'sometimes'"),
])
def test_the_command_refuses_values_outside_the_choices(argv, message, capsys):
    with pytest.raises(SystemExit) as e:
        build_parser().parse_args(argv)
    assert e.value.code == 2 and message in capsys.readouterr().err


@pytest.mark.parametrize("name, value, message", [
    ("ucwa_record_mode", "sometimes", "ucwa_record_mode: 'sometimes' is not a record mode; use one of once, "
                                      "new_episodes, none, all"),
    ("ucwa_exhausted", "never", "ucwa_exhausted: 'never' is not a policy; use one of repeat, miss"),
    ("ucwa_match_on", ["method", "colour"], "ucwa_match_on: 'colour' is not a matcher; use some of method, "),
    ("ucwa_latency", -5, "ucwa_latency: -5 is negative; use 0 or more"),
])
def test_a_bad_value_names_the_option_the_value_and_what_is_allowed(name, value, message):
    with pytest.raises(UsageError) as e:
        OPTIONS[name].check(value)
    assert str(e.value).startswith(message)


def test_every_choice_is_accepted():
    for mode in RecordMode:
        OPTIONS["ucwa_record_mode"].check(mode.value)
    for policy in Exhausted:
        OPTIONS["ucwa_exhausted"].check(policy.value)
    OPTIONS["ucwa_match_on"].check(list(OPTIONS["ucwa_match_on"].choices))
