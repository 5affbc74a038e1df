"""What the model falls back on when the recording shows no meeting: the shapes of Microsoft's reference pages.

The meeting is the JSON answer to POST on myOnlineMeetings_ref.md (201 Created, `Etag: <guid>` unquoted,
`Content-Type: application/json`); the XML layout is myOnlineMeeting_ref.md's (nested, two spaces).
"""

from __future__ import annotations

from typing import Any

from .wire import JsonStyle, XmlStyle

COLLECTION = "//v1/applications/{app}/onlineMeetings/myOnlineMeetings"
SEGMENT = "810"
MEETING: dict[str, Any] = {
    "rel": "myOnlineMeeting",
    "accessLevel": "SameEnterprise",
    "attendees": [],
    "automaticLeaderAssignment": "Disabled",
    "conferenceId": "12983487",
    "description": "",
    "entryExitAnnouncement": "Disabled",
    "expirationTime": "/Date(1436925247807)/",
    "joinUrl": "https://meet.contoso.com/bmauldin/IB88RLLY",
    "leaders": [],
    "lobbyBypassForPhoneUsers": "Disabled",
    "onlineMeetingId": "IB88RLLY",
    "onlineMeetingRel": "myOnlineMeetings",
    "onlineMeetingUri": "sip:bmauldin@contoso.com;gruu;opaque=app:conf:focus:id:IB88RLLY",
    "organizerUri": "sip:bmauldin@contoso.com",
    "phoneUserAdmission": "Disabled",
    "subject": "",
    "_links": {
        "self": {"href": f"{COLLECTION}/{SEGMENT}"},
        "onlineMeetingExtensions": {"href": f"{COLLECTION}/{SEGMENT}/onlineMeetingExtensions"},
    },
    "_embedded": {"onlineMeetingExtension": [{
        "rel": "onlineMeetingExtension", "id": "917823", "type": "RoamedParticipantData",
        "_links": {"self": {"href": f"{COLLECTION}/{SEGMENT}/onlineMeetingExtensions/onlineMeetingExtension"}}}]},
}
LIST_KEYS = ("rel", "_links", "_embedded")
LIST_GROUPS = ("myAssignedOnlineMeeting", "myOnlineMeeting")
JSON = JsonStyle(indent=1, colon=" : ", escape_slash=False, escape_apostrophe=True)
XML = XmlStyle()
ETAG = "ad207a38-2c52-4443-9b01-8228f44c1eb7"
ETAG_HEADER = "Etag"
CONTENT_TYPES = {"json": "application/json", "xml": "application/xml"}

# The documented settable properties of a meeting (myOnlineMeeting_ref.md, PUT) and their documented values.
INPUTS = ("accessLevel", "attendees", "automaticLeaderAssignment", "description", "entryExitAnnouncement",
          "expirationTime", "leaders", "lobbyBypassForPhoneUsers", "phoneUserAdmission", "subject")
LISTS = ("attendees", "leaders")
ENUMS: dict[str, tuple[str, ...]] = {
    "accessLevel": ("None", "SameEnterprise", "Locked", "Invited", "Everyone"),
    "automaticLeaderAssignment": ("Disabled", "SameEnterprise", "Everyone"),
    "entryExitAnnouncement": ("Unsupported", "Disabled", "Enabled"),
    "lobbyBypassForPhoneUsers": ("Disabled", "Enabled"),
    "phoneUserAdmission": ("Disabled", "Enabled"),
}
# What a server fills in when a create leaves a property out (ScheduleAnOnlineMeeting.md's answer).
DEFAULTS: dict[str, Any] = {"accessLevel": "SameEnterprise", "automaticLeaderAssignment": "Disabled",
                            "entryExitAnnouncement": "Disabled", "lobbyBypassForPhoneUsers": "Disabled",
                            "phoneUserAdmission": "Disabled", "attendees": [], "leaders": [], "description": "",
                            "subject": ""}
EXPIRY_MS = 8 * 3600 * 1000  # "If no value is supplied, the expiry time is set to 8 hours" (myOnlineMeeting_ref.md)
# Skype for Business Server's per-organizer limit (MaxScheduledMeetingsPerOrganizer; OCS 2007 R2 documents its
# "Maximum scheduled meetings per user" as 1 to 10000, default 1000). No UCWA page gives a number.
MAX_MEETINGS = 1000
PUT_MARKER = "please pass this in a PUT request"
