"""The one file to pass to mitmdump: wires ucwa-vcr's addons, nothing else.

Usage:
    mitmdump -s addons/ucwa.py --set ucwa_cassette=cassettes/today.yaml --set ucwa_record_mode=none
"""

from ucwa_vcr import make_addons

addons = make_addons()
