"""The pytest plugin as users meet it: the example suite in a separate pytest run, and a failing test's report."""

from __future__ import annotations

from processes import ROOT
from ucwa_vcr.cassette.cache import load_cassette
from ucwa_vcr.cassette.codec import COMPLETE

EXAMPLE = ROOT / "tests" / "example_suite"  # a user's suite, kept out of this suite's collection


def test_example_suite_passes_with_one_proxy_for_the_session(pytester):
    result = pytester.runpytest_subprocess(str(EXAMPLE), "--confcutdir", str(EXAMPLE), "-p", "no:cacheprovider", "-v")
    result.assert_outcomes(passed=4)


def test_one_proxy_serves_every_test_of_a_session(pytester):
    pytester.makepyfile(test_many='''
import pytest

@pytest.mark.parametrize("n", range(5))
def test_n(ucwa_proxy, n):
    with open("urls.txt", "a") as f:
        f.write(ucwa_proxy.url + " " + str(ucwa_proxy.cassette) + "\\n")
''')
    (pytester.path / "cassettes").mkdir()
    for n in range(5):
        (pytester.path / "cassettes" / f"test_n_{n}_.yaml").write_text("version: 1\ninteractions: []\n")
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=5)
    lines = (pytester.path / "urls.txt").read_text().splitlines()
    assert len({line.split()[0] for line in lines}) == 1, "one proxy for the session"
    assert len({line.split()[1] for line in lines}) == 5, "a cassette per test (cassettes/<test name>.yaml)"


def test_a_failing_replay_shows_what_matched_nothing(pytester):
    seed = ROOT / "cassettes" / "myOnlineMeetings-seed.yaml"
    pytester.makepyfile(test_user=f'''
import pytest, requests

@pytest.mark.ucwa_cassette({str(seed)!r})
def test_wrong_meeting(ucwa_proxy):
    r = requests.get("https://fe1.contoso.com//v1/applications/833/onlineMeetings/myOnlineMeetings/999",
                     headers={{"Accept": "application/json", "Authorization": "Bearer cwt=t"}}, timeout=10, **ucwa_proxy.requests_kwargs)
    assert r.status_code == 200
''')
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*ucwa-vcr: requests with no recorded answer*",
        "*no recorded answer for GET https://fe1.contoso.com//v1/applications/833/onlineMeetings/myOnlineMeetings/999*",
        "*path: recorded '//v1/applications/{app}/onlineMeetings/myOnlineMeetings', got*",
    ])


def test_a_cassette_that_does_not_exist_fails_its_test_in_one_line(pytester):
    pytester.makepyfile(test_typo='''
import pytest

@pytest.mark.ucwa_cassette("cassettes/tpyo.yaml")
def test_replay(ucwa_proxy):
    pass
''')
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*ucwa_cassette: */cassettes/tpyo.yaml: no such cassette (record mode none replays an "
                                 "existing one*"])
    assert "Traceback" not in result.stdout.str() and "OptionsError" not in result.stdout.str()


def test_record_mode_option_is_validated(pytester):
    pytester.makepyfile(test_x="def test_x(): pass\n")
    result = pytester.runpytest_subprocess("--ucwa-record-mode=sometimes")
    assert result.ret != 0
    result.stderr.fnmatch_lines(["*--ucwa-record-mode*invalid choice*'sometimes'*"
                                 "(choose from 'once', 'new_episodes', 'none', 'all')*"])


def test_recording_through_the_plugin_writes_each_tests_cassette_whole(pytester, fake):
    pytester.makepyfile(test_rec=f'''
import pytest, requests

@pytest.mark.parametrize("n", range(3))
def test_discovery(ucwa_proxy, n):
    for _ in range(n + 1):
        r = requests.get({fake.discovery_url!r}, headers={{"Accept": "application/json"}}, timeout=10,
                         **ucwa_proxy.requests_kwargs)
        assert r.status_code == 200
''')
    pytester.runpytest_subprocess("-p", "no:cacheprovider", "--ucwa-record-mode=all").assert_outcomes(passed=3)
    for n in range(3):
        cassette = pytester.path / "cassettes" / f"test_discovery_{n}_.yaml"
        assert len(load_cassette(cassette).interactions) == n + 1
        # switching cassettes (and stopping) leaves each file in its final form
        assert COMPLETE not in cassette.read_text()
