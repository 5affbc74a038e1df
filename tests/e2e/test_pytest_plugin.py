"""The pytest plugin as users meet it: the example suite in a separate pytest run (plain and under pytest-xdist),
a failing test's report, a miss nobody asserted, recording and replaying with workers, mode rewrite, exchanges."""

from __future__ import annotations

import pytest
from processes import ROOT
from ucwa_vcr.cassette.codec import COMPLETE, load_cassette

EXAMPLE = ROOT / "tests" / "example_suite"  # a user's suite, kept out of this suite's collection
SEED = ROOT / "cassettes" / "myOnlineMeetings-seed.yaml"
RUN = ("-p", "no:cacheprovider")
LIMIT = 300  # seconds any inner pytest run may take


@pytest.mark.parametrize("how", [
    # the async httpx and aiohttp tests among them: ucwa-vcr's kwargs must be today's, not deprecated ones
    ["-W", "error::DeprecationWarning"],
    ["-n", "2"],  # pytest-xdist: a proxy per worker
], ids=["plain", "xdist"])
def test_example_suite_passes(pytester, how):
    result = pytester.runpytest_subprocess(str(EXAMPLE), "--confcutdir", str(EXAMPLE), *RUN, "-v", *how, timeout=LIMIT)
    result.assert_outcomes(passed=9)
    assert "warnings summary" not in result.stdout.str(), "the proxy's dependencies' warnings are not the tests'"


def test_a_proxy_per_worker_and_one_ca_for_all(pytester):
    for name in ("test_one", "test_two"):  # --dist loadfile: a file per worker
        pytester.makepyfile(**{name: f'''
import hashlib, os
from pathlib import Path

def {name}_where(ucwa_proxy):
    ca = Path(ucwa_proxy.ca_bundle)
    with open("workers.txt", "a") as f:
        f.write(f"{{os.environ['PYTEST_XDIST_WORKER']}} {{ucwa_proxy.url}} {{ca}} {{hashlib.sha256(ca.read_bytes()).hexdigest()}}\\n")
'''})
        (pytester.path / "cassettes").mkdir(exist_ok=True)
        (pytester.path / "cassettes" / f"{name}_where.yaml").write_text("version: 1\ninteractions: []\n")
    pytester.runpytest_subprocess(*RUN, "-n", "2", "--dist", "loadfile", timeout=LIMIT).assert_outcomes(passed=2)
    lines = (pytester.path / "workers.txt").read_text().splitlines()
    workers, urls, cas, digests = zip(*(line.split() for line in lines), strict=True)
    assert sorted(workers) == ["gw0", "gw1"]
    assert len(set(urls)) == 2, "a proxy per worker, each on its own port"
    assert len(set(cas)) == 1 and len(set(digests)) == 1, "one CA for the run"


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
    pytester.makepyfile(test_user=f'''
import pytest, requests

@pytest.mark.ucwa_cassette({str(SEED)!r})
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
    out = result.stdout.str()
    assert "Traceback" not in out and "OptionsError" not in out and "During handling" not in out


def test_record_mode_option_is_validated(pytester):
    pytester.makepyfile(test_x="def test_x(): pass\n")
    result = pytester.runpytest_subprocess("--ucwa-record-mode=sometimes")
    assert result.ret != 0
    result.stderr.fnmatch_lines(["*--ucwa-record-mode*invalid choice*'sometimes'*"
                                 "(choose from 'once', 'new_episodes', 'none', 'all', 'rewrite')*"])


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


def test_a_miss_nobody_asserted_fails_the_test_that_passed(pytester, canaries):
    canary_password = canaries["password"]
    pytester.makepyfile(test_user=f'''
import pytest, requests

MEETINGS = "https://fe1.contoso.com//v1/applications/833/onlineMeetings/myOnlineMeetings"

@pytest.mark.ucwa_cassette({str(SEED)!r})
def test_meetings(ucwa_proxy):
    headers = {{"Accept": "application/json", "Authorization": "Bearer {canaries["token"]}"}}
    assert requests.get(MEETINGS, headers=headers, timeout=10, **ucwa_proxy.requests_kwargs).status_code == 200
    requests.get(MEETINGS + "/999?password={canary_password}", headers=headers, timeout=10,
                 **ucwa_proxy.requests_kwargs)  # its 500 goes unnoticed
''')
    result = pytester.runpytest_subprocess(*RUN, "-ra", timeout=LIMIT)
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines([
        "*ERROR at teardown of test_meetings*",
        "ucwa-vcr: 1 request got no recorded answer from */myOnlineMeetings-seed.yaml (the client got the proxy's 500 "
        "instead):",
        "ucwa-vcr: no recorded answer for GET https://fe1.contoso.com//v1/applications/833/onlineMeetings/"
        "myOnlineMeetings/999?password=REDACTED",
        "*path: recorded '//v1/applications/{app}/onlineMeetings/myOnlineMeetings', got*",
        "Record what is missing (--ucwa-record-mode=new_episodes), fix the request, or mark a test that means to "
        "provoke misses with @pytest.mark.ucwa_cassette(..., allow_misses=True).",
        "ERROR test_user.py::test_meetings - Failed: ucwa-vcr: 1 request*",
    ])
    out = result.stdout.str()
    assert "Traceback" not in out and "pytest_plugin.py" not in out, "a plain report, no plugin internals"
    assert canaries["token"] not in out and canaries["password"] not in out


RECORDING = '''
import pytest, requests

@pytest.mark.parametrize("n", range(3))
def {name}(ucwa_proxy, n):
    for _ in range(n + 1):
        r = requests.get({url!r}, headers={{"Accept": "application/json"}}, timeout=10, **ucwa_proxy.requests_kwargs)
        assert r.status_code == 200
'''


def test_recording_and_replaying_under_xdist(pytester, fake):
    for name in ("test_one", "test_two"):
        pytester.makepyfile(**{name: RECORDING.format(name=f"{name}_discovery", url=fake.discovery_url)})
    pytester.runpytest_subprocess(*RUN, "-n", "2", "--ucwa-record-mode=all", timeout=LIMIT).assert_outcomes(passed=6)
    for name in ("test_one", "test_two"):
        for n in range(3):
            cassette = pytester.path / "cassettes" / f"{name}_discovery_{n}_.yaml"
            assert len(load_cassette(cassette).interactions) == n + 1
            assert COMPLETE not in cassette.read_text()
    hits = fake.total_hits
    fake.stop()  # replayed from here on: nothing may reach a server
    pytester.runpytest_subprocess(*RUN, "-n", "2", timeout=LIMIT).assert_outcomes(passed=6)
    assert fake.total_hits == hits


def test_a_cassette_another_worker_records_is_refused_in_one_line(pytester, fake):
    pytester.makepyfile(conftest='''
import time
from pathlib import Path
import pytest

def wait_for(name):
    deadline = time.monotonic() + 60
    while not Path(name).exists():
        assert time.monotonic() < deadline, f"no {name} after 60 s"
        time.sleep(0.05)

@pytest.fixture
def after_a():  # B tries while A holds the cassette; then A may end
    wait_for("a_holds")
    yield
    Path("b_tried").touch()
''', test_a=f'''
import pytest, requests
from pathlib import Path
from conftest import wait_for

@pytest.mark.ucwa_cassette("cassettes/shared.yaml")
def test_a(ucwa_proxy):
    assert requests.get({fake.discovery_url!r}, timeout=10, **ucwa_proxy.requests_kwargs).status_code == 200
    Path("a_holds").touch()
    wait_for("b_tried")
''', test_b='''
import pytest

@pytest.mark.ucwa_cassette("cassettes/shared.yaml")
def test_b(after_a, ucwa_proxy):
    pass
''')
    result = pytester.runpytest_subprocess(*RUN, "-n", "2", "--dist", "loadfile", "--ucwa-record-mode=all",
                                           timeout=LIMIT)
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*cassettes/shared.yaml is being recorded by another pytest worker (gw?, pid *, "
                                 "test_a.py::test_a); tests that record one cassette must run on one worker*"])
    assert "Traceback" not in result.stdout.str() and "During handling" not in result.stdout.str()
    assert len(load_cassette(pytester.path / "cassettes" / "shared.yaml").interactions) == 1


def test_rewrite_starts_each_cassette_over_once_per_run(pytester, fake):
    pytester.makepyfile(test_rec=RECORDING.format(name="test_discovery", url=fake.discovery_url) + f'''

@pytest.mark.ucwa_cassette("cassettes/shared.yaml")
@pytest.mark.parametrize("n", range(2))
def test_shared(ucwa_proxy, n):
    assert requests.get({fake.discovery_url!r}, timeout=10, **ucwa_proxy.requests_kwargs).status_code == 200
''')
    pytester.runpytest_subprocess(*RUN, "--ucwa-record-mode=all", timeout=LIMIT).assert_outcomes(passed=5)
    folder = pytester.path / "cassettes"
    assert [len(load_cassette(folder / f"test_discovery_{n}_.yaml").interactions) for n in range(3)] == [1, 2, 3]
    assert len(load_cassette(folder / "shared.yaml").interactions) == 2
    # mode all would add to them ([2, 4, 6] and 4); rewrite records them anew
    pytester.runpytest_subprocess(*RUN, "--ucwa-record-mode=rewrite", timeout=LIMIT).assert_outcomes(passed=5)
    assert [len(load_cassette(folder / f"test_discovery_{n}_.yaml").interactions) for n in range(3)] == [1, 2, 3]
    assert len(load_cassette(folder / "shared.yaml").interactions) == 2, "started over by the first test to use it"


def test_exchanges_are_redacted_as_the_cassette(pytester, fake, canaries):
    pytester.makepyfile(test_rec=f'''
def test_sent(ucwa_proxy):
    import requests
    headers = {{"Accept": "application/json", "Authorization": "Bearer {canaries["token"]}"}}
    for _ in range(2):
        assert requests.get({fake.discovery_url!r}, headers=headers, timeout=10, **ucwa_proxy.requests_kwargs).ok
    sent = ucwa_proxy.exchanges
    assert [(e.method, e.status, e.answered_by) for e in sent] == [("GET", 200, "server")] * 2
    with open("exchanges.txt", "w") as f:
        f.write(repr([vars(e) for e in sent]))
''')
    pytester.runpytest_subprocess(*RUN, "--ucwa-record-mode=all", timeout=LIMIT).assert_outcomes(passed=1)
    kept = (pytester.path / "exchanges.txt").read_text()
    assert canaries["token"] not in kept and "canary" not in kept
    recorded = load_cassette(pytester.path / "cassettes" / "test_sent.yaml").interactions
    auth = [v for k, v in recorded[0].request.headers if k.lower() == "authorization"][0]
    assert auth.startswith("Bearer cwt=REDACTED-") and kept.count(auth) == 2, "the cassette's placeholder, twice"
