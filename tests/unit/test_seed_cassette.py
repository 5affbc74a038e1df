"""The shipped seed cassette is exactly what scripts/seed_cassette.py builds from the vendored reference page."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from ucwa_vcr import DEFAULT_CASSETTE

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "cassettes" / "sources" / "myOnlineMeetings_ref.md"  # the page the seed is built from


def test_seed_cassette_is_rebuilt_byte_for_byte_from_the_reference_page(tmp_path):
    out = tmp_path / "seed.yaml"
    built = subprocess.run([sys.executable, str(ROOT / "scripts" / "seed_cassette.py"), str(REFERENCE), str(out)],
                           capture_output=True, text=True, timeout=60)
    assert built.returncode == 0, built.stderr[-2000:]
    assert out.read_bytes() == DEFAULT_CASSETTE.read_bytes()


def test_the_cassettes_folder_links_to_the_one_seed_file():
    assert (ROOT / "cassettes" / "myOnlineMeetings-seed.yaml").resolve() == DEFAULT_CASSETTE.resolve()
