"""Every CSMS-initiated operation through the operator API, answered by stations of the Python
`ocpp` package (which validates every request it receives, and every answer it gives, against
the OCA schemas) for OCPP 1.6 and 2.0.1. The stations accept, reject, refuse with a CALLERROR,
time out, and disconnect; the API must return what the station said, the command's record
must show it, and the notifications that follow a command (firmware, log, report, customer
information, reservation status) must appear on its record."""

import asyncio
import sqlite3
import subprocess
import json
import threading
import time
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone

from ocpp.exceptions import NotSupportedError
from ocpp.routing import on
from ocpp.v16 import ChargePoint as ChargePoint16
from ocpp.v16 import call as call16
from ocpp.v16 import call_result as result16
from ocpp.v201 import ChargePoint as ChargePoint201
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as result201

from conftest import TOKEN, Server
from test_interop import connect, now

CALL_TIMEOUT_S = 2
# The arguments of conftest's `server`.
SERVER_ARGS = ["--call-timeout", str(CALL_TIMEOUT_S)]
PASSWORD = "commands-secret-password"
LATER = (datetime.now(timezone.utc) + timedelta(hours=1)).isoformat()
HASH = {
    "hashAlgorithm": "SHA256",
    "issuerNameHash": "a1" * 32,
    "issuerKeyHash": "b2" * 32,
    "serialNumber": "0c",
}


def scripted(cls, answers):
    """A station class answering each action with `answers[action](station, request)`: a
    call_result, or "timeout" (no answer in time), or an exception to raise (a CALLERROR)."""

    class Scripted(cls):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.received = []

    def handler(action):
        async def handle(self, **request):
            self.received.append((action, request))
            answer = answers[action](self, request)
            if answer == "timeout":
                await asyncio.sleep(CALL_TIMEOUT_S + 2)
                raise NotSupportedError(description="too late")
            if isinstance(answer, Exception):
                raise answer
            return answer

        # The package routes by function name.
        handle.__name__ = f"on_{action}"
        return on(action)(handle)

    for action in answers:
        setattr(Scripted, f"on_{action}", handler(action))
    return Scripted


def later(station, *calls):
    """Sends `calls` after the current answer has gone out."""

    async def send():
        await asyncio.sleep(0.2)
        for c in calls:
            await station.call(c, suppress=False)

    asyncio.get_running_loop().create_task(send())


ANSWERS_16 = {
    "RemoteStartTransaction": lambda st, r: result16.RemoteStartTransaction(status="Accepted"),
    "RemoteStopTransaction": lambda st, r: result16.RemoteStopTransaction(status="Rejected"),
    "Reset": lambda st, r: result16.Reset(status="Rejected"),
    "UnlockConnector": lambda st, r: result16.UnlockConnector(status="Unlocked"),
    "ChangeAvailability": lambda st, r: result16.ChangeAvailability(status="Scheduled"),
    "TriggerMessage": lambda st, r: result16.TriggerMessage(status="Accepted"),
    "ExtendedTriggerMessage": lambda st, r: result16.ExtendedTriggerMessage(status="Accepted"),
    "GetConfiguration": lambda st, r: result16.GetConfiguration(
        configuration_key=[{"key": "HeartbeatInterval", "readonly": False, "value": "300"}],
        unknown_key=[k for k in r.get("key", []) if k != "HeartbeatInterval"] or None,
    ),
    "ChangeConfiguration": lambda st, r: result16.ChangeConfiguration(
        status="Accepted" if r["key"] == "HeartbeatInterval" else "NotSupported"
    ),
    "ClearCache": lambda st, r: "timeout",
    "SendLocalList": lambda st, r: result16.SendLocalList(status="Accepted"),
    "GetLocalListVersion": lambda st, r: result16.GetLocalListVersion(list_version=3),
    "ReserveNow": lambda st, r: result16.ReserveNow(status="Occupied"),
    "CancelReservation": lambda st, r: NotSupportedError(description="no reservations here"),
    "UpdateFirmware": lambda st, r: (
        later(
            st,
            call16.FirmwareStatusNotification(status="Downloading"),
            call16.FirmwareStatusNotification(status="Installed"),
        ),
        result16.UpdateFirmware(),
    )[1],
    "SignedUpdateFirmware": lambda st, r: result16.SignedUpdateFirmware(status="Accepted"),
    "GetDiagnostics": lambda st, r: (
        later(st, call16.DiagnosticsStatusNotification(status="Uploaded")),
        result16.GetDiagnostics(file_name="diagnostics.zip"),
    )[1],
    "GetLog": lambda st, r: (
        later(st, call16.LogStatusNotification(status="Uploaded", request_id=r["request_id"])),
        result16.GetLog(status="Accepted", filename="security.log"),
    )[1],
    "DataTransfer": lambda st, r: result16.DataTransfer(status="Accepted", data="pong:" + r.get("data", "")),
    "InstallCertificate": lambda st, r: result16.InstallCertificate(status="Rejected"),
    "GetInstalledCertificateIds": lambda st, r: result16.GetInstalledCertificateIds(
        status="Accepted" if r["certificate_type"] == "CentralSystemRootCertificate" else "NotFound",
        certificate_hash_data=[HASH] if r["certificate_type"] == "CentralSystemRootCertificate" else None,
    ),
    "DeleteCertificate": lambda st, r: result16.DeleteCertificate(status="NotFound"),
}


def variable_results(r, key):
    out = []
    for d in r[key]:
        known = d["variable"]["name"] == "HeartbeatInterval"
        res = {"component": d["component"], "variable": d["variable"]}
        if key == "get_variable_data":
            res["attribute_status"] = "Accepted" if known else "UnknownVariable"
            if known:
                res["attribute_value"] = "300"
        else:
            res["attribute_status"] = "Accepted" if known else "Rejected"
        out.append(res)
    return out


def report(st, r):
    later(
        st,
        call201.NotifyReport(
            request_id=r["request_id"],
            generated_at=now(),
            seq_no=0,
            tbc=False,
            report_data=[
                {
                    "component": {"name": "OCPPCommCtrlr"},
                    "variable": {"name": "HeartbeatInterval"},
                    "variable_attribute": [{"type": "Actual", "value": "300", "mutability": "ReadWrite"}],
                }
            ],
        ),
    )
    return result201.GetBaseReport(status="Accepted")


ANSWERS_201 = {
    "RequestStartTransaction": lambda st, r: result201.RequestStartTransaction(status="Accepted", transaction_id="T-77"),
    "RequestStopTransaction": lambda st, r: result201.RequestStopTransaction(status="Rejected"),
    "Reset": lambda st, r: result201.Reset(status="Scheduled"),
    "UnlockConnector": lambda st, r: result201.UnlockConnector(status="UnlockFailed"),
    "ChangeAvailability": lambda st, r: result201.ChangeAvailability(status="Accepted"),
    "TriggerMessage": lambda st, r: result201.TriggerMessage(
        status="Rejected", status_info={"reason_code": "NotEnabled", "additional_info": "by config"}
    ),
    "GetVariables": lambda st, r: result201.GetVariables(get_variable_result=variable_results(r, "get_variable_data")),
    "SetVariables": lambda st, r: result201.SetVariables(set_variable_result=variable_results(r, "set_variable_data")),
    "GetBaseReport": report,
    "GetReport": lambda st, r: (report(st, r), result201.GetReport(status="Accepted"))[1],
    "ClearCache": lambda st, r: "timeout",
    "SendLocalList": lambda st, r: result201.SendLocalList(status="VersionMismatch"),
    "GetLocalListVersion": lambda st, r: result201.GetLocalListVersion(version_number=7),
    "ReserveNow": lambda st, r: (
        later(st, call201.ReservationStatusUpdate(reservation_id=r["id"], reservation_update_status="Expired")),
        result201.ReserveNow(status="Accepted"),
    )[1],
    "CancelReservation": lambda st, r: NotSupportedError(description="no reservations here"),
    "UpdateFirmware": lambda st, r: (
        later(
            st,
            call201.FirmwareStatusNotification(status="Downloading", request_id=r["request_id"]),
            call201.FirmwareStatusNotification(status="Installed", request_id=r["request_id"]),
        ),
        result201.UpdateFirmware(status="Accepted"),
    )[1],
    "GetLog": lambda st, r: (
        later(st, call201.LogStatusNotification(status="Uploaded", request_id=r["request_id"])),
        result201.GetLog(status="Accepted", filename="diag.log"),
    )[1],
    "GetTransactionStatus": lambda st, r: result201.GetTransactionStatus(messages_in_queue=False, ongoing_indicator=True),
    "CustomerInformation": lambda st, r: (
        later(
            st,
            call201.NotifyCustomerInformation(
                data="card GOOD used twice", seq_no=0, generated_at=now(), request_id=r["request_id"], tbc=False
            ),
        ),
        result201.CustomerInformation(status="Accepted"),
    )[1],
    "DataTransfer": lambda st, r: result201.DataTransfer(status="UnknownVendorId"),
    "InstallCertificate": lambda st, r: result201.InstallCertificate(status="Accepted"),
    "GetInstalledCertificateIds": lambda st, r: result201.GetInstalledCertificateIds(
        status="Accepted",
        certificate_hash_data_chain=[{"certificate_type": "CSMSRootCertificate", "certificate_hash_data": HASH}],
    ),
    "DeleteCertificate": lambda st, r: result201.DeleteCertificate(status="Accepted"),
    "SetNetworkProfile": lambda st, r: result201.SetNetworkProfile(status="Rejected"),
}

PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"

# (API command, body, action the station must receive (None: nothing is sent), what it must
# receive, HTTP status, record status, outcome status)
CASES_16 = [
    ("remoteStart", {"evseId": 1, "idToken": "GOOD"}, "RemoteStartTransaction",
     {"connector_id": 1, "id_tag": "GOOD"}, 200, "answered", "Accepted"),
    ("remoteStop", {"transactionId": "42"}, "RemoteStopTransaction", {"transaction_id": 42}, 200, "answered", "Rejected"),
    ("remoteStop", {"transactionId": "not-a-number"}, None, None, 422, "invalid", None),
    ("reset", {"kind": "Immediate"}, "Reset", {"type": "Hard"}, 200, "answered", "Rejected"),
    ("reset", {"kind": "OnIdle", "evseId": 1}, None, None, 422, "unsupported", None),
    ("unlockConnector", {"evseId": 2}, "UnlockConnector", {"connector_id": 2}, 200, "answered", "Unlocked"),
    ("changeAvailability", {"operative": False}, "ChangeAvailability",
     {"connector_id": 0, "type": "Inoperative"}, 200, "answered", "Scheduled"),
    ("triggerMessage", {"message": "StatusNotification", "evseId": 1}, "TriggerMessage",
     {"requested_message": "StatusNotification", "connector_id": 1}, 200, "answered", "Accepted"),
    ("triggerMessage", {"message": "LogStatusNotification"}, "ExtendedTriggerMessage",
     {"requested_message": "LogStatusNotification"}, 200, "answered", "Accepted"),
    ("triggerMessage", {"message": "Heartbeat", "extended": True}, "ExtendedTriggerMessage",
     {"requested_message": "Heartbeat"}, 200, "answered", "Accepted"),
    ("getVariables", {"variables": [{"variable": "HeartbeatInterval"}, {"variable": "Nope"}]}, "GetConfiguration",
     {"key": ["HeartbeatInterval", "Nope"]}, 200, "answered", None),
    ("getBaseReport", {"report": "ConfigurationInventory"}, "GetConfiguration", {}, 200, "answered", "Accepted"),
    ("setVariables", {"variables": [{"variable": "HeartbeatInterval", "value": "60"}, {"variable": "Nope", "value": "1"}]},
     "ChangeConfiguration", {"key": "Nope", "value": "1"}, 200, "answered", "NotSupported"),
    ("clearCache", {}, "ClearCache", {}, 504, "timeout", None),
    ("sendLocalList", {"version": 4, "update": "Full", "entries": [{"idToken": "GOOD", "status": "Accepted"}]},
     "SendLocalList", {"list_version": 4, "update_type": "Full"}, 200, "answered", "Accepted"),
    ("getLocalListVersion", {}, "GetLocalListVersion", {}, 200, "answered", None),
    ("reserveNow", {"reservationId": 9, "evseId": 1, "expiry": LATER, "idToken": "GOOD"}, "ReserveNow",
     {"reservation_id": 9, "connector_id": 1, "id_tag": "GOOD"}, 200, "answered", "Occupied"),
    ("cancelReservation", {"reservationId": 9}, "CancelReservation", {"reservation_id": 9}, 502, "failed", None),
    ("updateFirmware", {"location": "https://fw.example/v2.bin", "retrieveAt": now()}, "UpdateFirmware",
     {"location": "https://fw.example/v2.bin"}, 200, "answered", "Accepted"),
    ("updateFirmware", {"location": "https://fw.example/v3.bin", "retrieveAt": now(), "signingCertificate": PEM,
                        "signature": "c2lnbmF0dXJl"}, "SignedUpdateFirmware", {}, 200, "answered", "Accepted"),
    ("getLog", {"log": "DiagnosticsLog", "location": "ftp://logs.example/"}, "GetDiagnostics",
     {"location": "ftp://logs.example/"}, 200, "answered", "Accepted"),
    ("getLog", {"log": "SecurityLog", "location": "ftp://logs.example/"}, "GetLog",
     {"log_type": "SecurityLog"}, 200, "answered", "Accepted"),
    ("dataTransfer", {"vendorId": "com.example", "messageId": "ping", "data": "x"}, "DataTransfer",
     {"vendor_id": "com.example", "message_id": "ping", "data": "x"}, 200, "answered", "Accepted"),
    ("installCertificate", {"kind": "CentralSystemRootCertificate", "certificate": PEM}, "InstallCertificate",
     {"certificate_type": "CentralSystemRootCertificate"}, 200, "answered", "Rejected"),
    ("installCertificate", {"kind": "V2GRootCertificate", "certificate": PEM}, None, None, 422, "unsupported", None),
    ("getInstalledCertificates", {}, "GetInstalledCertificateIds", {}, 200, "answered", "Accepted"),
    ("deleteCertificate", {"certificate": HASH}, "DeleteCertificate", {}, 200, "answered", "NotFound"),
    ("getReport", {}, None, None, 422, "unsupported", None),
    ("getTransactionStatus", {}, None, None, 422, "unsupported", None),
    ("customerInformation", {"report": True, "clear": False, "customerIdentifier": "c1"}, None, None, 422,
     "unsupported", None),
    ("setNetworkProfile", {"configurationSlot": 1, "csmsUrl": "wss://x/ocpp", "securityProfile": 2,
                           "messageTimeoutS": 30}, None, None, 422, "unsupported", None),
]

CASES_201 = [
    ("remoteStart", {"evseId": 1, "idToken": "GOOD", "chargingProfile": {
        "id": 5, "purpose": "TxProfile", "kind": "Relative",
        "schedules": [{"rateUnit": "A", "periods": [{"startS": 0, "limit": 16.0}]}]}},
     "RequestStartTransaction", {"evse_id": 1}, 200, "answered", "Accepted"),
    ("remoteStop", {"transactionId": "T-77"}, "RequestStopTransaction", {"transaction_id": "T-77"}, 200, "answered",
     "Rejected"),
    ("reset", {"kind": "OnIdle", "evseId": 1}, "Reset", {"type": "OnIdle", "evse_id": 1}, 200, "answered",
     "Scheduled"),
    ("unlockConnector", {"evseId": 1, "connectorId": 1}, "UnlockConnector", {"evse_id": 1, "connector_id": 1}, 200,
     "answered", "UnlockFailed"),
    ("changeAvailability", {"operative": True, "evseId": 1}, "ChangeAvailability",
     {"operational_status": "Operative", "evse": {"id": 1}}, 200, "answered", "Accepted"),
    ("triggerMessage", {"message": "TransactionEvent", "evseId": 1}, "TriggerMessage",
     {"requested_message": "TransactionEvent"}, 200, "answered", "Rejected"),
    ("triggerMessage", {"message": "DiagnosticsStatusNotification"}, None, None, 422, "unsupported", None),
    ("getVariables", {"variables": [{"component": "OCPPCommCtrlr", "variable": "HeartbeatInterval"},
                                    {"component": "OCPPCommCtrlr", "variable": "Nope"}]}, "GetVariables", {}, 200,
     "answered", None),
    ("getVariables", {}, None, None, 422, "invalid", None),
    ("setVariables", {"variables": [{"component": "OCPPCommCtrlr", "variable": "HeartbeatInterval", "value": "60"}]},
     "SetVariables", {}, 200, "answered", "Accepted"),
    ("getBaseReport", {"report": "FullInventory"}, "GetBaseReport", {"report_base": "FullInventory"}, 200,
     "answered", "Accepted"),
    ("getReport", {"criteria": ["Problem"], "variables": [{"component": "EVSE", "evseId": 1, "variable": ""}]},
     "GetReport", {"component_criteria": ["Problem"]}, 200, "answered", "Accepted"),
    ("clearCache", {}, "ClearCache", {}, 504, "timeout", None),
    ("sendLocalList", {"version": 8, "update": "Differential", "entries": [{"idToken": "OLD"}]}, "SendLocalList",
     {"version_number": 8, "update_type": "Differential"}, 200, "answered", "VersionMismatch"),
    ("getLocalListVersion", {}, "GetLocalListVersion", {}, 200, "answered", None),
    ("reserveNow", {"reservationId": 11, "expiry": LATER, "idToken": "GOOD"}, "ReserveNow", {"id": 11}, 200,
     "answered", "Accepted"),
    ("cancelReservation", {"reservationId": 11}, "CancelReservation", {"reservation_id": 11}, 502, "failed", None),
    ("updateFirmware", {"location": "https://fw.example/v2.bin", "retrieveAt": now()}, "UpdateFirmware", {}, 200,
     "answered", "Accepted"),
    ("getLog", {"log": "DiagnosticsLog", "location": "https://logs.example/up"}, "GetLog",
     {"log_type": "DiagnosticsLog"}, 200, "answered", "Accepted"),
    ("getTransactionStatus", {"transactionId": "T-77"}, "GetTransactionStatus", {"transaction_id": "T-77"}, 200,
     "answered", None),
    ("customerInformation", {"report": True, "clear": False, "idToken": "GOOD"}, "CustomerInformation",
     {"report": True, "clear": False}, 200, "answered", "Accepted"),
    ("dataTransfer", {"vendorId": "com.example", "data": {"n": 1}}, "DataTransfer", {"data": {"n": 1}}, 200,
     "answered", "UnknownVendorId"),
    ("installCertificate", {"kind": "V2GRootCertificate", "certificate": PEM}, "InstallCertificate",
     {"certificate_type": "V2GRootCertificate"}, 200, "answered", "Accepted"),
    ("getInstalledCertificates", {"kinds": ["CSMSRootCertificate"]}, "GetInstalledCertificateIds",
     {"certificate_type": ["CSMSRootCertificate"]}, 200, "answered", "Accepted"),
    ("deleteCertificate", {"certificate": HASH}, "DeleteCertificate", {}, 200, "answered", "Accepted"),
    ("setNetworkProfile", {"configurationSlot": 1, "csmsUrl": "wss://csms.example/ocpp", "securityProfile": 2,
                           "messageTimeoutS": 30}, "SetNetworkProfile", {"configuration_slot": 1}, 200, "answered",
     "Rejected"),
]


def contains(received, expected):
    return all(received.get(k) == v for k, v in expected.items())


async def api(server, method, path, body=None):
    return await asyncio.to_thread(server.request, method, path, body)


async def exercise(server, station_id, cls, answers, protocol, cases):
    server.post("/api/v1/stations", {"id": station_id, "password": PASSWORD})
    st = await connect(server, scripted(cls, answers), station_id, PASSWORD, protocol)
    boot = (
        call16.BootNotification(charge_point_vendor="Py", charge_point_model="Cmd")
        if protocol == "ocpp1.6"
        else call201.BootNotification(charging_station={"vendor_name": "Py", "model": "Cmd"}, reason="PowerUp")
    )
    assert (await st.call(boot)).status == "Accepted"
    records = {}
    for command, body, action, expect, http, status, outcome in cases:
        before = len(st.cp.received)
        code, answer = await api(server, "POST", f"/api/v1/stations/{station_id}/commands/{command}", body)
        record = answer if code in (200, 202) else answer["command"]
        assert code == http, (command, body, code, answer)
        assert record["status"] == status, (command, record)
        assert record["stationId"] == station_id
        if status == "answered":
            # The outcome is the command's, in one shape for 1.6 and 2.0.1; answers without
            # a status (a list version, variables read) show none.
            assert record["outcome"]["type"] == command, (command, record)
            assert record["outcome"].get("status") == outcome, (command, record)
        got = st.cp.received[before:]
        if action is None:
            assert got == [], (command, "nothing may be sent", got)
        else:
            assert got, (command, "the station received nothing")
            assert all(a == action for a, _ in got), (command, got)
            assert contains(got[-1][1], expect), (command, got[-1][1], expect)
        # The stored record is what the API answered.
        stored = server.get(f"/api/v1/commands/{record['id']}")
        assert stored["status"] == record["status"] and stored.get("outcome") == record.get("outcome")
        records.setdefault(command, []).append(stored)
        if status == "timeout":
            await asyncio.sleep(CALL_TIMEOUT_S + 1)
    return st, records


async def follow_ups(server, command_id, count):
    for _ in range(50):
        record = await asyncio.to_thread(server.get, f"/api/v1/commands/{command_id}")
        if len(record["followUps"]) >= count:
            return record["followUps"]
        await asyncio.sleep(0.1)
    raise AssertionError(f"no follow-ups on {command_id}: {record}")


def test_every_command_on_ocpp16(server):
    async def scenario():
        st, records = await exercise(server, "CMD16", ChargePoint16, ANSWERS_16, "ocpp1.6", CASES_16)
        # 1.6 GetConfiguration: known keys with values, unknown keys marked.
        variables = records["getVariables"][0]["outcome"]["variables"]
        assert {"variable": "HeartbeatInterval", "value": "300", "status": "Accepted"}.items() <= variables[0].items()
        assert variables[1]["variable"] == "Nope" and variables[1]["status"] == "UnknownVariable"
        # One ChangeConfiguration per key; the first refusal is the command's status.
        changes = [r for a, r in st.cp.received if a == "ChangeConfiguration"]
        assert [c["key"] for c in changes] == ["HeartbeatInterval", "Nope"]
        per_key = records["setVariables"][0]["outcome"]["variables"]
        assert [v["status"] for v in per_key] == ["Accepted", "NotSupported"]
        assert records["getLocalListVersion"][0]["outcome"]["version"] == 3
        assert records["dataTransfer"][0]["outcome"]["data"] == "pong:x"
        assert records["getLog"][0]["outcome"]["filename"] == "diagnostics.zip"
        # One GetInstalledCertificateIds per kind 1.6 knows; each hash shown with its kind.
        certificates = records["getInstalledCertificates"][0]["outcome"]["certificates"]
        assert certificates == [{"kind": "CSMSRootCertificate", "hash": HASH}]
        assert "NotSupported" in records["cancelReservation"][0]["error"]
        # Firmware and log progress appear on the command they follow.
        fw = await follow_ups(server, records["updateFirmware"][0]["id"], 2)
        assert [f["status"] for f in fw][:2] == ["Downloading", "Installed"]
        log = await follow_ups(server, records["getLog"][1]["id"], 1)
        assert log[0]["status"] == "Uploaded"
        # The configuration read and changed is kept: read as 300, then set to 60.
        config = server.get("/api/v1/stations/CMD16/variables")["items"]
        assert [(v["component"], v["variable"], v["value"], v["mutability"]) for v in config] == [
            ("", "HeartbeatInterval", "60", "ReadWrite")
        ], "only what the station confirmed (not the unknown or refused key)"
        await st.close()

    asyncio.run(scenario())


def test_every_command_on_ocpp201(server):
    from test_events import read_sse

    # The event stream carries every command's progress: read it while the commands run.
    seen = {}
    reader = threading.Thread(target=lambda: seen.update(events=read_sse(
        server, "?stationId=CMD201&type=command", count=2 * len(CASES_201), seconds=60)), daemon=True)
    reader.start()
    time.sleep(0.3)

    async def scenario():
        st, records = await exercise(server, "CMD201", ChargePoint201, ANSWERS_201, "ocpp2.0.1", CASES_201)
        start = [r for a, r in st.cp.received if a == "RequestStartTransaction"][0]
        assert start["id_token"] == {"id_token": "GOOD", "type": "Central"}
        assert start["charging_profile"]["charging_profile_purpose"] == "TxProfile"
        assert records["remoteStart"][0]["outcome"]["transactionId"] == "T-77"
        assert records["remoteStart"][0]["command"]["remoteStartId"] == start["remote_start_id"]
        assert records["triggerMessage"][0]["outcome"]["reason"] == "NotEnabled: by config"
        got = records["getVariables"][0]["outcome"]["variables"]
        assert [(v["variable"], v["status"]) for v in got] == [("HeartbeatInterval", "Accepted"), ("Nope", "UnknownVariable")]
        assert got[0]["value"] == "300" and got[0]["component"] == "OCPPCommCtrlr"
        assert records["getLocalListVersion"][0]["outcome"]["version"] == 7
        status = records["getTransactionStatus"][0]["outcome"]
        assert status == {"type": "getTransactionStatus", "ongoing": True, "messagesInQueue": False}
        assert records["getInstalledCertificates"][0]["outcome"]["certificates"][0]["kind"] == "CSMSRootCertificate"
        # What the station sends afterwards lands on the command's record.
        report = await follow_ups(server, records["getBaseReport"][0]["id"], 1)
        assert report[0]["kind"] == "Report"
        fw = await follow_ups(server, records["updateFirmware"][0]["id"], 2)
        assert [f["status"] for f in fw] == ["Downloading", "Installed"]
        log = await follow_ups(server, records["getLog"][0]["id"], 1)
        assert log[0]["status"] == "Uploaded"
        ci = await follow_ups(server, records["customerInformation"][0]["id"], 1)
        assert ci[0]["kind"] == "CustomerInformation"
        reservation = await follow_ups(server, records["reserveNow"][0]["id"], 1)
        assert reservation[0]["status"] == "Expired"
        # The device model: reported by NotifyReport (with its mutability), read and set.
        model = server.get("/api/v1/stations/CMD201/variables?component=OCPPCommCtrlr")["items"]
        assert [(v["variable"], v["attribute"], v["mutability"]) for v in model] == [
            ("HeartbeatInterval", "Actual", "ReadWrite")
        ]
        assert model[0]["value"] in ("60", "300")
        assert server.get("/api/v1/stations/CMD201/variables?variable=Nope")["items"] == []
        await st.close()
        return records

    records = asyncio.run(scenario())
    reader.join(30)
    finals = {e[2]["commandId"]: e[2] for e in seen.get("events", []) if e[2]["status"] != "pending"}
    for recs in records.values():
        for r in recs:
            event = finals.get(r["id"])
            assert event, ("no event for", r["command"]["type"], r["id"])
            assert event["status"] == r["status"]
            assert event.get("outcome") == (r.get("outcome") or {}).get("status")


def test_command_semantics(server):
    """Async commands, queueing with expiry, idempotency keys, disconnection mid-command, one
    outstanding CALL at a time in submission order."""
    answers = dict(ANSWERS_201)
    order = []

    def slow_reset(st, r):
        order.append(("Reset", r["type"]))
        return result201.Reset(status="Accepted")

    def disconnect(st, r):
        asyncio.get_running_loop().create_task(st._connection.close())
        return "timeout"

    answers["Reset"] = slow_reset
    answers["UnlockConnector"] = disconnect

    async def scenario():
        server.post("/api/v1/stations", {"id": "SEM", "password": PASSWORD})
        # Not connected: a clear problem, unless queued.
        code, problem = await api(server, "POST", "/api/v1/stations/SEM/commands/clearCache", {})
        assert code == 409 and problem["command"]["status"] == "notDelivered"
        code, queued = await api(server, "POST", "/api/v1/stations/SEM/commands/reset?queueFor=60", {"kind": "OnIdle"})
        assert code == 202 and queued["status"] == "queued"
        code, short = await api(server, "POST", "/api/v1/stations/SEM/commands/reset?queueFor=1", {"kind": "Immediate"})
        assert code == 202 and short["status"] == "queued"
        await asyncio.sleep(1.5)
        st = await connect(server, scripted(ChargePoint201, answers), "SEM", PASSWORD, "ocpp2.0.1")
        await st.call(call201.BootNotification(charging_station={"vendor_name": "Py", "model": "Sem"}, reason="PowerUp"))
        for _ in range(50):
            first = (await api(server, "GET", f"/api/v1/commands/{queued['id']}"))[1]
            if first["status"] == "answered":
                break
            await asyncio.sleep(0.1)
        assert first["status"] == "answered" and first["outcome"]["status"] == "Accepted"
        expired = (await api(server, "GET", f"/api/v1/commands/{short['id']}"))[1]
        assert expired["status"] == "expired", "a queued command is not sent after its expiry"
        assert order == [("Reset", "OnIdle")]

        # Async: 202 at once, then the record shows the answer.
        code, pending = await api(server, "POST", "/api/v1/stations/SEM/commands/getLocalListVersion?async=true", {})
        assert code == 202 and pending["status"] in ("pending", "answered")
        for _ in range(50):
            done = (await api(server, "GET", f"/api/v1/commands/{pending['id']}"))[1]
            if done["status"] == "answered":
                break
            await asyncio.sleep(0.05)
        assert done["outcome"]["version"] == 7

        # Idempotency-Key: the retry gets the first command, and nothing is sent twice.
        def keyed(body):
            req = urllib.request.Request(server.url + "/api/v1/stations/SEM/commands/reset",
                                         data=json.dumps(body).encode(), method="POST")
            req.add_header("Authorization", f"Bearer {TOKEN}")
            req.add_header("Idempotency-Key", "reset-once")
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, json.loads(r.read()), r.headers.get("Idempotency-Replayed")

        before = len(order)
        code1, one, replay1 = await asyncio.to_thread(keyed, {"kind": "Immediate"})
        code2, two, replay2 = await asyncio.to_thread(keyed, {"kind": "Immediate"})
        assert (code1, code2) == (200, 200) and one["id"] == two["id"]
        assert replay1 is None and replay2 == "true"
        assert len(order) == before + 1, "the retried request sent nothing"
        try:
            await asyncio.to_thread(keyed, {"kind": "OnIdle"})
            raise AssertionError("a different request with a used key must be refused")
        except urllib.error.HTTPError as e:
            assert e.code == 409 and json.loads(e.read())["commandId"] == one["id"]
        assert len(order) == before + 1

        # Commands leave in order, one at a time.
        results = await asyncio.gather(*[
            api(server, "POST", "/api/v1/stations/SEM/commands/reset", {"kind": k})
            for k in ["Immediate", "OnIdle", "Immediate", "OnIdle"]
        ])
        assert all(code == 200 for code, _ in results)
        created = [r for _, r in results]
        sent = sorted(created, key=lambda r: r["sentAt"])
        finished = sorted(created, key=lambda r: r["finishedAt"])
        assert [r["id"] for r in sent] == [r["id"] for r in finished]
        for a, b in zip(sent, sent[1:]):
            assert a["finishedAt"] <= b["sentAt"], "one outstanding CALL at a time"

        # The station disconnects during a command.
        code, problem = await api(server, "POST", "/api/v1/stations/SEM/commands/unlockConnector",
                                  {"evseId": 1, "connectorId": 1})
        assert code == 502 and problem["command"]["status"] == "notDelivered"
        assert "disconnected" in problem["command"]["error"]
        await st.close()

    asyncio.run(scenario())


def test_roles_and_revocation(server):
    def as_token(token, method, path, body=None):
        req = urllib.request.Request(server.url + path, method=method,
                                     data=json.dumps(body).encode() if body is not None else None)
        req.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")

    server.post("/api/v1/stations", {"id": "ROLE"})
    reader = server.post("/api/v1/tokens", {"name": "dashboard", "role": "read-only"})
    operator = server.post("/api/v1/tokens", {"name": "ops", "role": "operator"})
    assert as_token(reader["token"], "GET", "/api/v1/stations")[0] == 200
    code, problem = as_token(reader["token"], "POST", "/api/v1/stations/ROLE/commands/reset", {"kind": "OnIdle"})
    assert code == 403 and "operator" in problem["detail"]
    assert as_token(reader["token"], "POST", "/api/v1/tokens", {"name": "x", "role": "admin"})[0] == 403
    # Secrets sent to a station are not shown back, to anyone.
    code, problem = as_token(operator["token"], "POST", "/api/v1/stations/ROLE/commands/setVariables",
                             {"variables": [{"variable": "AuthorizationKey", "value": "0011223344556677"}]})
    assert code == 409 and problem["command"]["command"]["variables"][0]["value"] == "********"
    listed = as_token(reader["token"], "GET", "/api/v1/commands?stationId=ROLE")[1]["items"]
    assert "0011223344556677" not in json.dumps(listed)
    # The operator may command (the station is offline: 409), but not manage tokens.
    assert as_token(operator["token"], "POST", "/api/v1/stations/ROLE/commands/reset", {"kind": "OnIdle"})[0] == 409
    assert as_token(operator["token"], "GET", "/api/v1/tokens")[0] == 403
    assert as_token(operator["token"], "GET", "/api/v1/audit")[0] == 403
    # Revoked: refused at once, and its open event stream ends.
    stream = urllib.request.Request(server.url + "/api/v1/events")
    stream.add_header("Authorization", f"Bearer {operator['token']}")
    lines, ended = [], threading.Event()

    def follow():
        with urllib.request.urlopen(stream, timeout=20) as r:
            for raw in r:
                lines.append(raw.decode().rstrip("\n"))
        ended.set()

    threading.Thread(target=follow, daemon=True).start()
    time.sleep(0.5)
    code, revoked = server.request("DELETE", f"/api/v1/tokens/{operator['id']}")
    assert code == 200 and revoked["revokedAt"]
    assert ended.wait(10), "the revoked token's stream ends"
    assert "event: revoked" in lines, lines
    assert as_token(operator["token"], "GET", "/api/v1/stations")[0] == 401
    assert as_token(reader["token"], "GET", "/api/v1/stations")[0] == 200
    # The audit log has every change, with who made it and the result.
    audit = server.get("/api/v1/audit")["items"]
    seen = [(a["actor"], a["method"], a["path"], a["status"]) for a in audit]
    assert ("ops", "POST", "/api/v1/stations/ROLE/commands/reset", 409) in seen
    assert ("ops", "POST", "/api/v1/stations/ROLE/commands/setVariables", 409) in seen
    assert ("dashboard", "POST", "/api/v1/stations/ROLE/commands/reset", 403) in seen
    assert any(a[1] == "DELETE" and a[2].startswith("/api/v1/tokens/") and a[3] == 200 for a in seen)
    assert not any(a[1] == "GET" for a in seen), "reads are not audited"
    # Each entry names what it acted on.
    objects = {(a["method"], a["path"]): a.get("objects", []) for a in audit}
    assert {"kind": "station", "id": "ROLE"} in objects[("POST", "/api/v1/stations/ROLE/commands/reset")]
    assert objects[("POST", "/api/v1/stations")] == [{"kind": "station", "id": "ROLE"}]
    assert {"kind": "token", "id": operator["id"]} in objects[("DELETE", f"/api/v1/tokens/{operator['id']}")]
    made = [o for a in audit if a["method"] == "POST" and a["path"] == "/api/v1/tokens" for o in a.get("objects", [])]
    assert {"kind": "token", "id": reader["id"]} in made and {"kind": "token", "id": operator["id"]} in made


def test_a_change_the_audit_log_cannot_record_is_not_made(database):
    """Issue 10, fault 9: a request whose audit entry cannot be written fails (503), and what it
    asked for is not done; once the log can write again, the same request is carried out."""
    refuse = {
        "sqlite": ["CREATE TRIGGER refuse_audit BEFORE INSERT ON records WHEN NEW.kind = 'audit' "
                   "BEGIN SELECT RAISE(ABORT, 'audit refused'); END"],
        "postgres": ["CREATE FUNCTION refuse_audit() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'audit refused'; "
                     "END $$ LANGUAGE plpgsql",
                     "CREATE TRIGGER refuse_audit BEFORE INSERT ON records FOR EACH ROW WHEN (NEW.kind = 'audit') "
                     "EXECUTE FUNCTION refuse_audit()"],
    }
    allow = {"sqlite": ["DROP TRIGGER refuse_audit"], "postgres": ["DROP TRIGGER refuse_audit ON records"]}

    def run(statements):
        if database.startswith("sqlite://"):
            with sqlite3.connect(database[len("sqlite://"):], timeout=10) as db:
                for sql in statements["sqlite"]:
                    db.execute(sql)
        else:
            for sql in statements["postgres"]:
                subprocess.run(["psql", database, "-q", "-c", sql], check=True)

    server = Server(database)
    try:
        run(refuse)
        code, problem = server.request("POST", "/api/v1/id-tokens", {"idToken": "AUDITED", "type": "ISO14443", "status": "Accepted"})
        assert code == 503 and "audit log" in problem["detail"], (code, problem)
        assert server.request("GET", "/api/v1/id-tokens/AUDITED")[0] == 404, "nothing was changed"
        run(allow)
        code, _ = server.request("POST", "/api/v1/id-tokens", {"idToken": "AUDITED", "type": "ISO14443", "status": "Accepted"})
        assert code == 201
        entry = server.get("/api/v1/audit")["items"][0]
        assert entry["path"] == "/api/v1/id-tokens" and entry["status"] == 201
        assert entry["objects"] == [{"kind": "idToken", "id": "AUDITED"}]
    finally:
        server.stop()


def test_bulk_operation(server):
    """One configuration change across a mixed fleet: 1.6 and 2.0.1 stations get their own
    version's request; an offline and an unknown station get a result too."""

    async def scenario():
        for sid in ("BULK16", "BULK201", "BULKOFF"):
            server.post("/api/v1/stations", {"id": sid, "password": PASSWORD})
        s16 = await connect(server, scripted(ChargePoint16, ANSWERS_16), "BULK16", PASSWORD, "ocpp1.6")
        s201 = await connect(server, scripted(ChargePoint201, ANSWERS_201), "BULK201", PASSWORD, "ocpp2.0.1")
        code, bulk = await api(server, "POST", "/api/v1/bulk", {
            "command": {"type": "setVariables", "variables": [
                {"component": "OCPPCommCtrlr", "variable": "HeartbeatInterval", "value": "60"}]},
            "stationIds": ["BULK16", "BULK201", "BULKOFF", "NOSUCH"],
            "concurrency": 2,
        })
        assert code == 202 and bulk["status"] == "running"
        for _ in range(100):
            detail = (await api(server, "GET", f"/api/v1/bulk/{bulk['id']}"))[1]
            if detail["status"] == "done":
                break
            await asyncio.sleep(0.1)
        assert detail["status"] == "done" and detail["submitted"] == 4
        assert detail["byStatus"] == {"answered": 2, "notDelivered": 2}
        results = {r["stationId"]: r for r in detail["results"]}
        assert results["BULK16"]["outcome"] == "Accepted" and results["BULK201"]["outcome"] == "Accepted"
        assert "no station" in results["NOSUCH"]["error"]
        assert [a for a, _ in s16.cp.received] == ["ChangeConfiguration"]
        assert [a for a, _ in s201.cp.received] == ["SetVariables"]
        listed = (await api(server, "GET", f"/api/v1/commands?bulkId={bulk['id']}"))[1]["items"]
        assert len(listed) == 4
        await s16.close()
        await s201.close()

    asyncio.run(scenario())


def stored_records(database):
    """Every command record's stored text, read from the database itself."""
    if database.startswith("sqlite://"):
        import sqlite3

        with sqlite3.connect(database[len("sqlite://"):]) as db:
            return [row[0] for row in db.execute("SELECT body FROM records")]
    import subprocess

    out = subprocess.run(["psql", database, "-Atc", "SELECT body FROM records"], check=True,
                         capture_output=True, text=True)
    return out.stdout.splitlines()


def test_secrets_are_sent_but_never_stored_or_logged(server, database):
    """Hardening: secret values (1.6 AuthorizationKey, 2.0.1 BasicAuthPassword) reach the
    station, also from the queue, but neither the command record nor the frame log keeps them;
    the frame log needs the operator role."""
    key16, password201, queued = "0011223344556677", "basic-auth-s3cret-value", "queued-s3cret-password"
    answers16 = {
        "ChangeConfiguration": lambda st, r: result16.ChangeConfiguration(status="Accepted"),
        # A station that reports a write-only key back: the frame log must not keep it either.
        "GetConfiguration": lambda st, r: result16.GetConfiguration(
            configuration_key=[{"key": "AuthorizationKey", "readonly": False, "value": key16}]),
    }
    answers201 = {
        "SetVariables": lambda st, r: result201.SetVariables(set_variable_result=[
            {"attribute_status": "Accepted", "component": d["component"], "variable": d["variable"]}
            for d in r["set_variable_data"]]),
    }

    async def scenario():
        server.post("/api/v1/stations", {"id": "SEC16"})
        server.post("/api/v1/stations", {"id": "SEC201"})
        # Queued while SEC201 is offline: the store has the record, without the secret.
        code, record = await api(server, "POST", "/api/v1/stations/SEC201/commands/setVariables?queueFor=600", {
            "variables": [{"component": "SecurityCtrlr", "variable": "BasicAuthPassword", "value": queued}]})
        assert code == 202 and record["status"] == "queued", record
        st16 = await connect(server, scripted(ChargePoint16, answers16), "SEC16", None, "ocpp1.6")
        st201 = await connect(server, scripted(ChargePoint201, answers201), "SEC201", None, "ocpp2.0.1")
        for _ in range(50):
            if st201.cp.received:
                break
            await asyncio.sleep(0.1)
        code, _ = await api(server, "POST", "/api/v1/stations/SEC16/commands/setVariables",
                            {"variables": [{"variable": "AuthorizationKey", "value": key16}]})
        assert code == 200
        code, _ = await api(server, "POST", "/api/v1/stations/SEC16/commands/getVariables",
                            {"variables": [{"variable": "AuthorizationKey"}]})
        assert code == 200
        code, _ = await api(server, "POST", "/api/v1/stations/SEC201/commands/setVariables", {
            "variables": [{"component": "SecurityCtrlr", "variable": "BasicAuthPassword", "value": password201}]})
        assert code == 200
        # The stations got the real values.
        assert [r["value"] for a, r in st16.cp.received if a == "ChangeConfiguration"] == [key16]
        sent = [d["attribute_value"] for a, r in st201.cp.received if a == "SetVariables"
                for d in r["set_variable_data"]]
        assert sent == [queued, password201]
        await st16.close()
        await st201.close()

    asyncio.run(scenario())
    secrets = ["0011223344556677", "basic-auth-s3cret-value", "queued-s3cret-password"]
    for station, expected in [("SEC16", 2), ("SEC201", 2)]:
        # The frame log is written in the background, about once a second.
        deadline = time.time() + 10
        while True:
            items = server.get(f"/api/v1/stations/{station}/frames?limit=1000")["items"]
            if sum("********" in json.dumps(f) for f in items) >= expected or time.time() > deadline:
                break
            time.sleep(0.2)
        frames = json.dumps(items)
        assert sum("********" in json.dumps(f) for f in items) >= expected, frames
        for s in secrets:
            assert s not in frames, (station, s)
    for body in stored_records(database):
        for s in secrets:
            assert s not in body, body
    reader = server.post("/api/v1/tokens", {"name": "viewer", "role": "read-only"})
    req = urllib.request.Request(server.url + "/api/v1/stations/SEC16/frames")
    req.add_header("Authorization", f"Bearer {reader['token']}")
    try:
        urllib.request.urlopen(req, timeout=10)
        raise AssertionError("a read-only token read the frame log")
    except urllib.error.HTTPError as e:
        assert e.code == 403
