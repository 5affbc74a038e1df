"""Where the fake UCWA front end serves what: the URL paths of its resources."""

from __future__ import annotations

ROOT = "/Autodiscover/AutodiscoverService.svc/root"  # discovery
USER = ROOT + "/oauth/user"
XFRAME = "/Autodiscover/XFrame/XFrame.html"
TOKEN = "/WebTicket/oauthtoken"  # matched case-insensitively, as web ticket path case varies between servers
APPS = "/ucwa/oauth/v1/applications"  # an application is APPS/<app id>
MY_ONLINE_MEETINGS = "/onlineMeetings/myOnlineMeetings"  # under an application
PAGE = "/Autodiscover/XFrame/meetings.html"  # the browser page, meetings.html
SCRIPT = "/static/app.js"  # a script that is not UCWA traffic
