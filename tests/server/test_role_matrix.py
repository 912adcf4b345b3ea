"""Who may call what: every route × every role (and anonymous), from a table written out by hand.

The table below is the specification. It is not derived from the code's ``@requires`` declarations,
so a guard that is loosened or tightened by mistake shows up here. A new route fails
``test_every_route_is_in_the_matrix`` until someone adds its row (and thereby decides who may call it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sanic import Sanic

from identity import tokens
from identity.models import Account
from identity.roles import Role
from server.auth import declared_access
from tests.factories import auth, make_account, make_staff_with_password, token_for

COLUMNS = (
    "anonymous",
    "resident",
    "party_member",
    "grid_staff",
    "officer",
    "police",
    "health_staff",
    "admin",
    "employer",
    "employment_staff",
)

# "+" allowed (the guard lets the request through: any status but 401/403), "-" denied
# (401 for anonymous, 403 for a signed-in account whose role may not).
#
#                                                          anon res  party grid off  pol  hlth admin empl emps
MATRIX: dict[tuple[str, str], str] = {
    ("GET", "/healthz"):                                   "+    +    +    +    +    +    +    +    +    +",
    ("GET", "/readyz"):                                    "+    +    +    +    +    +    +    +    +    +",
    ("GET", "/metrics"):                                   "+    +    +    +    +    +    +    +    +    +",
    ("GET", "/docs"):                                      "+    +    +    +    +    +    +    +    +    +",
    ("GET", "/docs/openapi.json"):                         "+    +    +    +    +    +    +    +    +    +",
    ("POST", "/api/v1/auth/wechat"):                       "+    +    +    +    +    +    +    +    +    +",
    ("POST", "/api/v1/auth/login"):                        "+    +    +    +    +    +    +    +    +    +",
    ("POST", "/api/v1/auth/refresh"):                      "+    +    +    +    +    +    +    +    +    +",
    ("POST", "/api/v1/auth/logout"):                       "+    +    +    +    +    +    +    +    +    +",
    ("GET", "/api/v1/me"):                                 "-    +    +    +    +    +    +    +    +    +",
    ("PUT", "/api/v1/me/profile"):                         "-    +    +    -    -    -    -    -    -    -",
    ("GET", "/api/v1/hierarchy/nodes"):                    "+    +    +    +    +    +    +    +    +    +",
    ("GET", "/api/v1/hierarchy/nodes/<code:str>"):         "+    +    +    +    +    +    +    +    +    +",
    ("GET", "/api/v1/accounts"):                           "-    -    -    -    -    -    -    +    -    -",
    ("POST", "/api/v1/accounts"):                          "-    -    -    -    -    -    -    +    -    -",
    ("GET", "/api/v1/accounts/<public_id:str>"):           "-    +    +    +    +    +    +    +    +    +",
    ("PATCH", "/api/v1/accounts/<public_id:str>"):         "-    -    -    -    -    -    -    +    -    -",
    ("PUT", "/api/v1/accounts/<public_id:str>/id-number"): "-    -    -    -    +    -    -    +    -    -",
    ("GET", "/api/v1/admin/audit"):                        "-    -    -    -    -    -    -    +    -    -",
    ("GET", "/api/v1/admin/audit/verify"):                 "-    -    -    -    -    -    -    +    -    -",
    # QR signing keys: the district administration (403 district_only lower down: tests/qr/test_admin_keys.py).
    ("GET", "/api/v1/admin/qr/keys"):                      "-    -    -    -    -    -    -    +    -    -",
    ("POST", "/api/v1/admin/qr/keys/rotate"):              "-    -    -    -    -    -    -    +    -    -",
    ("POST", "/api/v1/admin/qr/keys/<kid:str>/retire"):    "-    -    -    -    -    -    -    +    -    -",
    # Sticker-sheet print jobs: an administrator, for their part of the hierarchy (tests/qr/test_admin_sheets.py).
    ("POST", "/api/v1/admin/qr/sheets"):                   "-    -    -    -    -    -    -    +    -    -",
    ("GET", "/api/v1/admin/qr/sheets/<job_id:str>"):       "-    -    -    -    -    -    -    +    -    -",
    ("GET", "/api/v1/admin/qr/sheets/<job_id:str>/sheets.pdf"): "- - -    -    -    -    -    +    -    -",
    ("GET", "/.well-known/jwks.json"):                     "+    +    +    +    +    +    +    +    +    +",
    ("GET", "/api/v1/qr/revocations"):                     "+    +    +    +    +    +    +    +    +    +",
    ("GET", "/api/v1/qr/verifier-bundle"):                 "+    +    +    +    +    +    +    +    +    +",
    ("POST", "/api/v1/scan"):                              "+    +    +    +    +    +    +    +    +    +",
    ("GET", "/q/<token:str>"):                             "+    +    +    +    +    +    +    +    +    +",
    ("GET", "/api/v1/credentials/<public_id:str>"):        "-    +    +    +    +    +    +    +    +    +",
    ("GET", "/api/v1/credentials/<public_id:str>/qr.png"): "-    +    +    +    +    +    +    +    +    +",
    ("GET", "/api/v1/credentials/<public_id:str>/qr.svg"): "-    +    +    +    +    +    +    +    +    +",
    ("GET", "/api/v1/credentials/<public_id:str>/sticker.png"): "-  +    +    +    +    +    +    +    +    +",
    ("POST", "/api/v1/credentials/<public_id:str>/revoke"): "-   -    -    -    -    -    -    +    -    -",
    ("POST", "/api/v1/credentials/<public_id:str>/reissue"): "-  -    -    -    -    -    -    +    -    -",
    ("GET", "/api/v1/admin/notifications"):                "-    -    -    -    -    -    -    +    -    -",
    ("GET", "/api/v1/admin/notifications/<public_id:str>"): "-   -    -    -    -    -    -    +    -    -",
    ("POST", "/api/v1/admin/notifications/<public_id:str>/retry"): "- - -  -    -    -    -    +    -    -",
    ("GET", "/api/v1/notify/wechat/events"):               "+    +    +    +    +    +    +    +    +    +",
    ("POST", "/api/v1/notify/wechat/events"):              "+    +    +    +    +    +    +    +    +    +",
    ("GET", "/api/v1/notify/wechat/miniprogram/events"):   "+    +    +    +    +    +    +    +    +    +",
    ("POST", "/api/v1/notify/wechat/miniprogram/events"):  "+    +    +    +    +    +    +    +    +    +",
    ("POST", "/api/v1/notify/sms/status"):                 "+    +    +    +    +    +    +    +    +    +",
    ("POST", "/api/v1/ebikes"):                            "-    +    +    -    -    -    -    -    -    -",
    ("GET", "/api/v1/ebikes"):                             "-    +    +    -    -    -    -    -    -    -",
    ("GET", "/api/v1/ebikes/<public_id:str>"):             "-    +    +    -    -    -    -    +    -    -",
    ("PATCH", "/api/v1/ebikes/<public_id:str>"):           "-    +    +    -    -    -    -    -    -    -",
    ("DELETE", "/api/v1/ebikes/<public_id:str>"):          "-    +    +    -    -    -    -    -    -    -",
    ("POST", "/api/v1/ebikes/<public_id:str>/transfer"):   "-    +    +    -    -    -    -    -    -    -",
    ("POST", "/api/v1/ebikes/transfers/accept"):           "-    +    +    -    -    -    -    -    -    -",
    ("POST", "/api/v1/ebikes/<public_id:str>/alarm"):      "-    +    +    -    -    -    -    -    -    -",
    ("DELETE", "/api/v1/ebikes/<public_id:str>/alarm"):    "-    +    +    -    -    -    -    -    -    -",
    ("POST", "/api/v1/devices"):                           "-    -    -    +    -    -    -    +    -    -",
    ("GET", "/api/v1/devices"):                            "-    -    -    +    +    -    -    +    -    -",
    ("GET", "/api/v1/devices/<device_id:str>"):            "-    -    -    +    +    -    -    +    -    -",
    ("PATCH", "/api/v1/devices/<device_id:str>"):          "-    -    -    +    -    -    -    +    -    -",
    ("POST", "/api/v1/devices/<device_id:str>/secret"):    "-    -    -    +    -    -    -    +    -    -",
    ("POST", "/api/v1/devices/bind"):                      "-    +    +    -    -    -    -    -    -    -",
    ("GET", "/api/v1/me/devices"):                         "-    +    +    -    -    -    -    -    -    -",
    ("POST", "/api/v1/devices/readings"):                  "+    +    +    +    +    +    +    +    +    +",
    ("POST", "/api/v1/devices/<device_id:str>/binding-requests"): "-  +    +    -    -    -    -    -    -    -",
    ("GET", "/api/v1/me/device-binding-requests"):         "-    +    +    -    -    -    -    -    -    -",
    ("GET", "/api/v1/device-binding-requests"):            "-    -    -    +    -    -    -    +    -    -",
    ("POST", "/api/v1/device-binding-requests/<request_id:str>/approve"): "- -  -    +    -    -    -    +    -    -",
    ("POST", "/api/v1/device-binding-requests/<request_id:str>/refuse"): "-  -  -    +    -    -    -    +    -    -",
    ("POST", "/api/v1/device-silences"):                   "-    -    -    +    +    -    -    +    -    -",
    ("GET", "/api/v1/device-silences"):                    "-    -    -    +    +    -    -    +    -    -",
    ("POST", "/api/v1/device-silences/<silence_id:str>/lift"): "- -    -    +    +    -    -    +    -    -",
    ("POST", "/api/v1/wristbands"):                        "-    -    -    -    -    -    +    +    -    -",
    ("GET", "/api/v1/wristbands"):                         "-    -    -    -    -    -    +    +    -    -",
    ("GET", "/api/v1/wristbands/<band_id:str>"):           "-    -    -    -    -    -    +    +    -    -",
    ("POST", "/api/v1/wristbands/issue"):                  "-    -    -    +    -    -    +    +    -    -",
    ("POST", "/api/v1/wristbands/<band_id:str>/revoke"):   "-    -    -    +    -    -    +    +    -    -",
    ("POST", "/api/v1/me/wristband"):                      "-    +    +    -    -    -    -    -    -    -",
    ("GET", "/api/v1/me/wristband"):                       "-    +    +    -    -    -    -    -    -    -",
    ("DELETE", "/api/v1/me/wristband"):                    "-    +    +    -    -    -    -    -    -    -",
    ("GET", "/api/v1/health/people"):                      "-    -    -    -    -    -    +    +    -    -",
    ("PUT", "/api/v1/health/people/<person_id:str>/status"): "- -    -    -    -    -    +    +    -    -",
    ("DELETE", "/api/v1/health/people/<person_id:str>/status"): "- -  -    -    -    -    +    +    -    -",
    ("POST", "/api/v1/health/people/<person_id:str>/quarantines"): "- - - -  -    -    +    +    -    -",
    ("POST", "/api/v1/health/people/<person_id:str>/quarantines/<order_id:str>/lift"): "- - - - - - + +    -    -",
    ("POST", "/api/v1/me/trips"):                          "-    +    +    -    -    -    -    -    -    -",
    ("GET", "/api/v1/me/trips"):                           "-    +    +    -    -    -    -    -    -    -",
    ("DELETE", "/api/v1/me/trips/<trip_id:str>"):          "-    +    +    -    -    -    -    -    -    -",
    ("GET", "/api/v1/me/health"):                          "-    +    +    -    -    -    -    -    -    -",
    ("POST", "/api/v1/welfare/screen"):                    "+    +    +    +    +    +    +    +    +    +",
    ("GET", "/api/v1/welfare/policies"):                   "+    +    +    +    +    +    +    +    +    +",
    ("GET", "/api/v1/welfare/policies/<policy_id:str>"):   "+    +    +    +    +    +    +    +    +    +",
    ("POST", "/api/v1/welfare/policies/<policy_id:str>/trace"): "+ + +    +    +    +    +    +    +    +",
    ("PUT", "/api/v1/me/welfare/profile"):                 "-    +    +    -    -    -    -    -    -    -",
    ("GET", "/api/v1/me/welfare/profile"):                 "-    +    +    -    -    -    -    -    -    -",
    ("DELETE", "/api/v1/me/welfare/profile"):              "-    +    +    -    -    -    -    -    -    -",
    ("PUT", "/api/v1/me/welfare/consent"):                 "-    +    +    -    -    -    -    -    -    -",
    ("GET", "/api/v1/health/key-areas"):                   "+    +    +    +    +    +    +    +    +    +",
    ("POST", "/api/v1/health/key-areas"):                  "-    -    -    -    -    -    -    +    -    -",
    ("PATCH", "/api/v1/health/key-areas/<area_id:str>"):   "-    -    -    -    -    -    -    +    -    -",
    ("DELETE", "/api/v1/health/key-areas/<area_id:str>"):  "-    -    -    -    -    -    -    +    -    -",
    ("POST", "/api/v1/health/key-areas/import"):           "-    -    -    -    -    -    -    +    -    -",
    ("GET", "/api/v1/device-alarms"):                      "-    -    -    +    +    -    -    +    -    -",
    ("GET", "/api/v1/me/device-alarms"):                   "-    +    +    -    -    -    -    -    -    -",
    ("GET", "/api/v1/device-alarms/<alarm_id:str>"):       "-    +    +    +    +    -    -    +    -    -",
    ("POST", "/api/v1/device-alarms/<alarm_id:str>/ack"):  "-    +    +    +    +    -    -    +    -    -",
    ("POST", "/api/v1/device-alarms/<alarm_id:str>/clear"): "-   -    -    +    +    -    -    +    -    -",
    ("POST", "/api/v1/devices/<device_id:str>/open"):      "-    +    +    +    -    -    -    +    -    -",
    ("GET", "/api/v1/devices/<device_id:str>/commands"):   "-    +    +    +    -    -    -    +    -    -",
    ("GET", "/api/v1/device-alarms/stream"):               "-    -    -    +    +    -    -    +    -    -",
    ("GET", "/api/v1/devices/<device_id:str>/readings"):   "-    +    +    +    +    -    -    +    -    -",
    ("GET", "/api/v1/device-alarms/<alarm_id:str>/evidence"): "- +    +    +    +    -    -    +    -    -",
    ("GET", "/api/v1/buildings/<code:str>/device-rules"):  "-    -    -    +    +    -    -    +    -    -",
    ("PUT", "/api/v1/buildings/<code:str>/device-rules"):  "-    -    -    +    -    -    -    +    -    -",
    ("POST", "/api/v1/checkpoints"):                       "-    -    -    +    -    -    -    +    -    -",
    ("GET", "/api/v1/checkpoints"):                        "-    -    -    +    -    -    -    +    -    -",
    ("GET", "/api/v1/checkpoints/<checkpoint_id:str>"):    "-    -    -    +    -    -    -    +    -    -",
    ("PATCH", "/api/v1/checkpoints/<checkpoint_id:str>"):  "-    -    -    +    -    -    -    +    -    -",
    ("PUT", "/api/v1/checkpoints/<checkpoint_id:str>/staff/<account_id:str>"): "- - - + - - - +    -    -",
    ("DELETE", "/api/v1/checkpoints/<checkpoint_id:str>/staff/<account_id:str>"): "- - - + - - - +    -    -",
    ("POST", "/api/v1/checkins"):                          "-    -    +    +    +    +    +    +    -    -",
    ("POST", "/api/v1/checkins/batch"):                    "-    -    +    +    +    +    +    +    -    -",
    ("GET", "/api/v1/checkins/rules"):                     "-    -    -    -    -    -    +    +    -    -",
    ("POST", "/api/v1/checkins/rules"):                    "-    -    -    -    -    -    -    +    -    -",
    ("POST", "/api/v1/me/device-binding-requests/<request_id:str>/cancel"): "- + + - - - -    -    -    -",
    ("GET", "/api/v1/police/ebikes"):                      "-    -    -    -    -    +    -    -    -    -",
    ("POST", "/api/v1/police/ebikes/lookup"):              "-    -    -    -    -    +    -    -    -    -",
    ("POST", "/api/v1/buildings/import"):                  "-    -    -    -    -    -    -    +    -    -",
    ("GET", "/api/v1/buildings"):                          "-    -    -    +    +    +    -    +    -    -",
    ("GET", "/api/v1/buildings/<code:str>"):               "-    -    -    +    +    +    -    +    -    -",
    ("PATCH", "/api/v1/buildings/<code:str>"):             "-    -    -    +    +    -    -    +    -    -",
    ("GET", "/api/v1/report-categories"):                  "+    +    +    +    +    +    +    +    +    +",
    ("GET", "/api/v1/report-departments"):                 "+    +    +    +    +    +    +    +    +    +",
    ("POST", "/api/v1/reports"):                           "-    +    +    +    -    -    -    -    -    -",
    ("GET", "/api/v1/reports/mine"):                       "-    +    +    +    +    +    +    +    +    +",
    ("GET", "/api/v1/reports/<public_id:str>"):            "-    +    +    +    +    +    +    +    +    +",
    ("GET", "/api/v1/clinic/reports/<public_id:str>/insight"): "- - + + + - -    +    -    -",
    ("PUT", "/api/v1/reports/<public_id:str>/category"):   "-    -    -    +    -    -    -    +    -    -",
    ("GET", "/api/v1/clinic/groups"):                      "-    -    +    +    +    -    -    +    -    -",
    ("GET", "/api/v1/clinic/groups/<public_id:str>"):      "-    -    +    +    +    -    -    +    -    -",
    ("POST", "/api/v1/clinic/groups/<public_id:str>/merge"): "- -    -    +    -    -    -    +    -    -",
    ("GET", "/api/v1/clinic/ledger"):                      "-    -    +    +    +    -    -    +    -    -",
    ("GET", "/api/v1/clinic/hot"):                         "-    -    +    +    +    -    -    +    -    -",
    ("GET", "/api/v1/reports/following"):                  "-    +    +    +    +    +    +    +    +    +",
    ("PUT", "/api/v1/reports/<public_id:str>/follow"):     "-    +    +    +    +    +    +    +    +    +",
    ("DELETE", "/api/v1/reports/<public_id:str>/follow"):  "-    +    +    +    +    +    +    +    +    +",
    ("POST", "/api/v1/reports/<public_id:str>/transitions"): "- +    +    +    +    +    +    +    +    +",
    ("POST", "/api/v1/reports/<public_id:str>/photos"):   "-    +    +    +    +    +    +    +    +    +",
    ("GET", "/api/v1/reports/<public_id:str>/photos"):    "-    +    +    +    +    +    +    +    +    +",
    ("GET", "/api/v1/reports/<public_id:str>/photos/<filename:str>"): "- + + + + + +    +    +    +",
    ("GET", "/api/v1/grid/feed"):                          "-    -    +    +    +    -    -    +    -    -",
    ("GET", "/api/v1/grid/feed/stream"):                   "-    -    +    +    +    -    -    +    -    -",
    ("GET", "/api/v1/reports/similar"):                    "-    +    +    +    +    +    +    +    +    +",
    ("POST", "/api/v1/grid/reports/bulk"):                 "-    -    -    +    -    -    -    +    -    -",
    ("PUT", "/api/v1/boards"):                             "-    -    -    +    -    -    -    +    -    -",
    ("GET", "/api/v1/boards/<code:str>"):                  "+    +    +    +    +    +    +    +    +    +",
    ("GET", "/api/v1/boards"):                             "+    +    +    +    +    +    +    +    +    +",
    ("POST", "/api/v1/boards/<code:str>/messages"):        "-    +    +    -    -    -    -    -    -    -",
    ("GET", "/open311/v2/services.json"):                  "+    +    +    +    +    +    +    +    +    +",
    ("GET", "/open311/v2/services/<service_code:str>"):    "+    +    +    +    +    +    +    +    +    +",
    ("GET", "/open311/v2/requests.json"):                  "+    +    +    +    +    +    +    +    +    +",
    ("POST", "/open311/v2/requests.json"):                 "+    +    +    +    +    +    +    +    +    +",
    ("GET", "/open311/v2/requests/<service_request_id:str>"): "+ +    +    +    +    +    +    +    +    +",
    ("GET", "/open311/v2/tokens/<token:str>"):             "+    +    +    +    +    +    +    +    +    +",
    ("POST", "/api/v1/admin/open311/clients"):             "-    -    -    -    -    -    -    +    -    -",
    ("POST", "/api/v1/tracing/checkpoint"):                "-    -    -    -    -    +    +    -    -    -",
    ("POST", "/api/v1/tracing/band"):                      "-    -    -    -    -    +    +    -    -    -",
    ("POST", "/api/v1/tracing/contacts"):                  "-    -    -    -    -    +    +    -    -    -",
    ("GET", "/api/v1/admin/open311/clients"):              "-    -    -    -    -    -    -    +    -    -",
    ("POST", "/api/v1/admin/open311/clients/<public_id:str>/revoke"): "- - - - -  -    -    +    -    -",
    ("GET", "/api/v1/checkins/bundle"):                   "-    -    -    -    -    -    -    +    -    -",
    ("POST", "/api/v1/jobs/enterprises"):                  "-    +    +    -    -    -    -    -    -    +",
    ("GET", "/api/v1/jobs/enterprises"):                   "-    -    -    -    -    -    -    -    -    +",
    ("GET", "/api/v1/jobs/enterprises/<enterprise_id:str>"): "- - -    -    -    -    -    -    -    +",
    ("POST", "/api/v1/jobs/enterprises/<enterprise_id:str>/verify"): "- - - - -    -    -    -    -    +",
    ("POST", "/api/v1/jobs/enterprises/<enterprise_id:str>/reject"): "- - - - -    -    -    -    -    +",
    ("POST", "/api/v1/jobs/enterprises/<enterprise_id:str>/suspend"): "- - - - -   -    -    -    -    +",
    ("POST", "/api/v1/jobs/enterprises/<enterprise_id:str>/employers"): "- - - - - -    -    -    -    +",
    ("GET", "/api/v1/employer/enterprise"):                "-    -    -    -    -    -    -    -    +    -",
    ("POST", "/api/v1/employer/postings"):                 "-    -    -    -    -    -    -    -    +    -",
    ("GET", "/api/v1/employer/postings"):                  "-    -    -    -    -    -    -    -    +    -",
    ("GET", "/api/v1/employer/postings/<posting_id:str>"): "-    -    -    -    -    -    -    -    +    -",
    ("PUT", "/api/v1/employer/postings/<posting_id:str>"): "-    -    -    -    -    -    -    -    +    -",
    ("POST", "/api/v1/employer/postings/<posting_id:str>/publish"): "- - - -  -    -    -    -    +    -",
    ("POST", "/api/v1/employer/postings/<posting_id:str>/close"): "- - -  -    -    -    -    -    +    -",
    ("POST", "/api/v1/jobs/postings/<posting_id:str>/take-down"): "- - -  -    -    -    -    -    -    +",
    ("GET", "/api/v1/jobs/postings"):                      "+    +    +    +    +    +    +    +    +    +",
    ("GET", "/api/v1/jobs/postings/<posting_id:str>"):     "+    +    +    +    +    +    +    +    +    +",
    ("POST", "/api/v1/jobs/postings/<posting_id:str>/apply"): "-    +    +    -    -    -    -    -    -    -",
    ("GET", "/api/v1/me/jobs/applications"):               "-    +    +    -    -    -    -    -    -    -",
    ("POST", "/api/v1/me/jobs/applications/<application_id:str>/accept"): "- +    +    -    -    -    -    -    -    -",
    ("POST", "/api/v1/me/jobs/applications/<application_id:str>/decline"): "- + +    -    -    -    -    -    -    -",
    ("POST", "/api/v1/me/jobs/applications/<application_id:str>/withdraw"): "- + +    -    -    -    -    -    -    -",
    ("POST", "/api/v1/employer/postings/<posting_id:str>/invitations"): "- -    -    -    -    -    -    -    +    -",
    ("GET", "/api/v1/employer/postings/<posting_id:str>/applications"): "- -    -    -    -    -    -    -    +    -",
    ("POST", "/api/v1/employer/applications/<application_id:str>/reject"): "- - -    -    -    -    -    -    +    -",
    ("POST", "/api/v1/employer/applications/<application_id:str>/hire"): "- -    -    -    -    -    -    -    +    -",
    ("GET", "/api/v1/jobs/ledger"):                        "-    -    -    -    -    -    -    +    -    +",
    ("GET", "/api/v1/jobs/skills"):                        "+    +    +    +    +    +    +    +    +    +",
    # Editing the taxonomy: district staff only; the matrix's employment staff sit at GM01 (403 from the service
    # for DELETE; PUT without a body is 422 first).
    ("PUT", "/api/v1/jobs/skills/<slug:str>"):             "-    -    -    -    -    -    -    +    -    +",
    ("DELETE", "/api/v1/jobs/skills/<slug:str>"):          "-    -    -    -    -    -    -    +    -    -",
    ("PUT", "/api/v1/me/jobs/profile"):                    "-    +    +    -    -    -    -    -    -    -",
    ("GET", "/api/v1/me/jobs/profile"):                    "-    +    +    -    -    -    -    -    -    -",
    ("DELETE", "/api/v1/me/jobs/profile"):                 "-    +    +    -    -    -    -    -    -    -",
    ("GET", "/api/v1/jobs/matches"):                       "-    +    +    -    -    -    -    -    -    -",
    ("GET", "/api/v1/employer/postings/<posting_id:str>/candidates"): "- - - -  -    -    -    -    +    -",
    # The staff console (HTML pages; a browser without a session is sent to sign in, see tests/console).
    ("GET", "/console"):                                   "-    -    +    +    +    +    +    +    -    +",
    ("GET", "/console/login"):                             "+    +    +    +    +    +    +    +    +    +",
    ("POST", "/console/login"):                            "+    +    +    +    +    +    +    +    +    +",
    ("POST", "/console/logout"):                           "-    -    +    +    +    +    +    +    -    +",
    ("GET", "/console/static/<path:path>"):                "+    +    +    +    +    +    +    +    +    +",
    ("GET", "/console/ledger"):                            "-    -    +    +    +    -    -    +    -    -",
    ("GET", "/console/ledger/jobs"):                       "-    -    -    -    -    -    -    +    -    +",
    ("GET", "/console/feed"):                              "-    -    +    +    +    -    -    +    -    -",
    ("GET", "/console/reports/<public_id:str>"):           "-    -    +    +    +    -    -    +    -    -",
    ("GET", "/console/admin/accounts"):                    "-    -    -    -    -    -    -    +    -    -",
    ("GET", "/console/admin/qr-keys"):                     "-    -    -    -    -    -    -    +    -    -",
    ("GET", "/console/admin/sheets"):                      "-    -    -    -    -    -    -    +    -    -",
    ("GET", "/console/admin/buildings"):                   "-    -    -    -    -    -    -    +    -    -",
    ("GET", "/console/admin/notifications"):               "-    -    -    -    -    -    -    +    -    -",
    ("GET", "/console/scan"):                              "-    -    +    +    +    +    +    +    -    +",
    ("GET", "/console/sw.js"):                             "+    +    +    +    +    +    +    +    +    +",
    ("GET", "/console/police"):                            "-    -    -    -    -    +    -    -    -    -",
    ("GET", "/console/audit"):                             "-    -    -    -    -    -    -    +    -    -",
    ("GET", "/console/alarms"):                            "-    -    -    +    +    -    -    +    -    -",
    ("GET", "/console/devices/<device_id:str>"):           "-    -    -    +    +    -    -    +    -    -",
}  # fmt: skip

STAFF_PASSWORD = "Matrix-pass-2024!"


def expected(route: tuple[str, str]) -> dict[str, bool]:
    marks = MATRIX[route].split()
    assert len(marks) == len(COLUMNS), f"row {route} needs {len(COLUMNS)} marks"
    assert set(marks) <= {"+", "-"}, f"row {route}: use + or -"
    return {column: mark == "+" for column, mark in zip(COLUMNS, marks, strict=True)}


def app_routes(app: Sanic) -> dict[tuple[str, str], Any]:
    """Every route and method but HEAD, which is its GET route itself (the same route and handler: see
    test_head_is_its_get_route; OPTIONS has no routes, the error handler answers it)."""
    found: dict[tuple[str, str], Any] = {}
    for route in app.router.routes:
        for method in route.methods:
            if method == "HEAD" and "GET" in route.methods:
                continue
            found[(method.upper(), "/" + route.path.lstrip("/"))] = route.handler
    return found


def test_head_is_its_get_route(app: Sanic) -> None:
    gets = heads = 0
    for route in app.router.routes:
        if "GET" in route.methods:
            gets += 1
            assert "HEAD" in route.methods, route.path  # one route: same name, handler, guards and limits
        elif "HEAD" in route.methods:
            raise AssertionError(f"HEAD without GET on {route.path}")
        assert "OPTIONS" not in route.methods, route.path  # answered for every known path, by no route
        heads += "HEAD" in route.methods
    assert gets == heads > 100


async def test_head_and_options_answer_like_their_routes(client: httpx.AsyncClient) -> None:
    assert (await client.head("/api/v1/me")).status_code == 401  # the GET route's guard
    head = await client.head("/api/v1/report-categories")
    assert head.status_code == 200 and head.content == b""
    options = await client.options("/api/v1/reports/similar")
    assert options.status_code == 204
    assert set(options.headers["allow"].split(",")) == {"GET", "HEAD", "OPTIONS"}


def test_every_route_is_in_the_matrix_and_declares_access(app: Sanic) -> None:
    routes = app_routes(app)
    missing = sorted(set(routes) - set(MATRIX))
    assert not missing, f"routes missing from the role matrix (add a row for each): {missing}"
    stale = sorted(set(MATRIX) - set(routes))
    assert not stale, f"rows in the role matrix for routes that no longer exist: {stale}"
    undeclared = sorted(key for key, handler in routes.items() if declared_access(handler) == "undeclared")
    assert not undeclared, f"routes without @public or @requires(...): {undeclared}"
    for key in MATRIX:
        expected(key)


@dataclass
class World:
    app: Sanic
    accounts: dict[str, Account]
    tokens: dict[str, str]
    login_username: str
    patch_target: Account


@pytest.fixture
async def world(app: Sanic, client: httpx.AsyncClient) -> World:
    accounts = {role.value: await make_account(role) for role in Role}
    toks = {name: await token_for(app, account) for name, account in accounts.items()}
    staff = await make_staff_with_password("matrix.login", Role.GRID_STAFF, STAFF_PASSWORD)
    target = await make_account(Role.GRID_STAFF, node="GM010102")
    return World(app, accounts, toks, staff.username or "", target)


async def request_for(world: World, route: tuple[str, str], caller: str) -> tuple[str, str, Any]:
    """Method, concrete path and a minimal valid body for one cell of the matrix."""
    method, pattern = route
    own = world.accounts.get(caller, world.accounts["resident"])
    path = (
        pattern.replace("<code:str>", "GM01").replace("<public_id:str>", own.public_id).replace("<token:str>", "junk")
    )
    body: Any = None
    if route == ("POST", "/api/v1/auth/wechat"):
        body = {"code": "matrix-code"}
    elif route == ("POST", "/api/v1/auth/login"):
        body = {"username": world.login_username, "password": STAFF_PASSWORD}
    elif route in {("POST", "/api/v1/auth/refresh"), ("POST", "/api/v1/auth/logout")}:
        body = {"refresh_token": await tokens.issue_refresh_token(account=world.accounts["resident"], ttl=600)}
    elif route == ("PUT", "/api/v1/me/profile"):
        body = {"name": "张三"}
    elif route == ("POST", "/api/v1/accounts"):
        body = {"username": f"made.by.{caller}", "role": "grid_staff", "node": "GM010101", "password": STAFF_PASSWORD}
    elif route == ("POST", "/api/v1/scan"):
        body = {"payload": "not-a-code"}
    elif route == ("POST", "/api/v1/credentials/<public_id:str>/revoke"):
        body = {"reason": "lost"}
    elif route == ("PUT", "/api/v1/accounts/<public_id:str>/id-number"):
        body = {"id_number": None, "reason": "持证更正", "case_no": "GZ-2026-1"}
    elif route == ("PATCH", "/api/v1/accounts/<public_id:str>"):
        path = pattern.replace("<public_id:str>", world.patch_target.public_id)
        body = {"is_active": True}
    return method, path, body


async def test_role_matrix(world: World, client: httpx.AsyncClient) -> None:
    failures: list[str] = []
    for route in MATRIX:
        allowed = expected(route)
        for caller in COLUMNS:
            method, path, body = await request_for(world, route, caller)
            headers = {} if caller == "anonymous" else auth(world.tokens[caller])
            if path.endswith("/stream"):  # an event stream never ends: the status and headers are the answer
                async with client.stream(method, path, headers=headers) as streamed:
                    if streamed.status_code >= 400:
                        await streamed.aread()
                    r = streamed
                    text = r.text if streamed.status_code >= 400 else ""
            else:
                r = await client.request(method, path, json=body, headers=headers)
                text = r.text
            cell = f"{method} {path} as {caller}: {r.status_code} {text[:160]}"
            if r.status_code == 500:  # a role the route did not expect must not crash it
                failures.append("crashed: " + cell)
            if allowed[caller]:
                if r.status_code in (401, 403):
                    failures.append("should be allowed: " + cell)
            elif caller == "anonymous":
                if r.status_code != 401 or r.json()["error"]["code"] != "unauthorized":
                    failures.append("should be 401 unauthorized: " + cell)
                elif "bearer" not in r.headers.get("www-authenticate", "").lower():
                    failures.append("401 without WWW-Authenticate: Bearer: " + cell)
            elif r.status_code != 403 or r.json()["error"]["code"] != "forbidden":
                failures.append("should be 403 forbidden: " + cell)
    assert not failures, "\n".join(failures)
    # The one allowed create really acted, the refused ones did not.
    assert await Account.filter(username__startswith="made.by.").values_list("username", flat=True) == ["made.by.admin"]


# Scope: who sees which account ------------------------------------------------------------------


async def test_resident_cannot_tell_another_residents_account_from_a_missing_one(
    world: World, app: Sanic, client: httpx.AsyncClient
) -> None:
    other = await make_account(Role.RESIDENT)
    me = auth(world.tokens["resident"])
    theirs = await client.get(f"/api/v1/accounts/{other.public_id}", headers=me)
    missing = await client.get("/api/v1/accounts/acc_doesnotexist0000", headers=me)
    assert theirs.status_code == missing.status_code == 404
    assert theirs.json() == missing.json()
    assert theirs.json()["error"]["code"] == "account_not_found"
    assert other.public_id not in theirs.text
    # Staff other than administrators do not read residents either, and get the same answer.
    for role in ("party_member", "grid_staff", "officer", "police"):
        r = await client.get(f"/api/v1/accounts/{other.public_id}", headers=auth(world.tokens[role]))
        assert (r.status_code, r.json()) == (404, missing.json()), role
    # The resident reads their own account.
    own = await client.get(f"/api/v1/accounts/{world.accounts['resident'].public_id}", headers=me)
    assert own.status_code == 200
    assert own.json()["account"]["id"] == world.accounts["resident"].public_id


async def test_street_admin_is_confined_to_its_subtree(world: World, app: Sanic, client: httpx.AsyncClient) -> None:
    street_admin = await make_account(Role.ADMIN, node="GM01")
    headers = auth(await token_for(app, street_admin))
    resident = world.accounts["resident"]

    r = await client.get(f"/api/v1/accounts/{resident.public_id}", headers=headers)
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "account_not_found"
    # The district administration does see the resident.
    r = await client.get(f"/api/v1/accounts/{resident.public_id}", headers=auth(world.tokens["admin"]))
    assert r.status_code == 200

    outside = {"username": "street.outsider", "role": "grid_staff", "node": "GM020101", "password": STAFF_PASSWORD}
    r = await client.post("/api/v1/accounts", json=outside, headers=headers)
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "outside_scope"
    assert not await Account.exists(username="street.outsider")

    inside = {"username": "street.insider", "role": "grid_staff", "node": "GM010101", "password": STAFF_PASSWORD}
    r = await client.post("/api/v1/accounts", json=inside, headers=headers)
    assert r.status_code == 201, r.text
    assert r.json()["node"] == "GM010101"

    # A staff member of another street is invisible too, and cannot be disabled.
    elsewhere = await make_account(Role.GRID_STAFF, node="GM020101")
    r = await client.get(f"/api/v1/accounts/{elsewhere.public_id}", headers=headers)
    assert r.status_code == 404
    r = await client.patch(f"/api/v1/accounts/{elsewhere.public_id}", json={"is_active": False}, headers=headers)
    assert r.status_code == 404
    await elsewhere.refresh_from_db()
    assert elsewhere.is_active


async def listed_ids(client: httpx.AsyncClient, headers: dict[str, str]) -> set[str]:
    ids: set[str] = set()
    after: str | None = None
    while True:
        params: dict[str, str | int] = {"limit": 3}
        if after:
            params["after"] = after
        r = await client.get("/api/v1/accounts", params=params, headers=headers)
        assert r.status_code == 200, r.text
        page = r.json()
        ids |= {item["id"] for item in page["items"]}
        after = page["next_after"]
        if after is None:
            return ids


async def test_account_lists_show_only_the_admins_part_of_the_hierarchy(
    world: World, app: Sanic, client: httpx.AsyncClient
) -> None:
    street_admin = await make_account(Role.ADMIN, node="GM01")
    other_street_staff = await make_account(Role.GRID_STAFF, node="GM020101")
    other_street_admin = await make_account(Role.ADMIN, node="GM02")
    everyone = {a.public_id for a in await Account.all()}

    district = await listed_ids(client, auth(world.tokens["admin"]))
    assert district == everyone  # the district sees every account, residents included

    street = await listed_ids(client, auth(await token_for(app, street_admin)))
    under_gm01 = {
        a.public_id for a in await Account.filter(node__path__startswith="/GM/GM01/").prefetch_related("node")
    }
    assert street == under_gm01
    assert street_admin.public_id in street
    assert world.accounts["grid_staff"].public_id in street
    assert world.accounts["resident"].public_id not in street
    assert other_street_staff.public_id not in street
    assert other_street_admin.public_id not in street
    assert world.accounts["admin"].public_id not in street

    # Asking for a node outside the subtree shows nothing rather than leaking it.
    r = await client.get("/api/v1/accounts", params={"node": "GM02"}, headers=auth(await token_for(app, street_admin)))
    assert r.status_code == 200
    assert r.json()["items"] == []
