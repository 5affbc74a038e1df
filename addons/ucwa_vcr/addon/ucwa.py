"""The one file to pass to mitmdump: wires ucwa-vcr's addons, nothing else.

Usage:
    mitmdump -s addons/ucwa.py ...              # in a checkout (a link to this file)
    mitmdump -s "$(ucwa-vcr addon)" ...         # where ucwa-vcr is installed (prints this file's path)

This file sits alone in its folder: mitmproxy puts a script's folder on sys.path, which must shadow nothing.
"""

from ucwa_vcr import make_addons

addons = make_addons()
