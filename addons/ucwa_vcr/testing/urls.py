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

# Under an application: the signed-in user, their presence, and instant messaging.
ME = "/me"
MAKE_ME_AVAILABLE = ME + "/makeMeAvailable"
PRESENCE = ME + "/presence"
REPORT_MY_ACTIVITY = "/reportMyActivity"
COMMUNICATION = "/communication"
MESSAGING_INVITATIONS = COMMUNICATION + "/messagingInvitations"  # startMessaging
CONVERSATIONS = COMMUNICATION + "/conversations"  # a conversation is CONVERSATIONS/<id>
MESSAGING = "/messaging"  # under a conversation; sendMessage is MESSAGING/messages, stopMessaging MESSAGING/terminate

# Azure AD (the online flavour): the token endpoint on any host, as at https://login.microsoftonline.com.
AD_TOKEN = "/<tenant>/oauth2/token"
AD_TOKEN_V2 = "/<tenant>/oauth2/v2.0/token"
AD_AUTHORIZE = "https://login.windows.net/common/oauth2/authorize"  # named in the online 401 challenge
