"""Interoperability: the `ocpp` Python package (which validates every message against the OCA
schemas, answers included) plays 1.6 and 2.0.1 stations against the real server over HTTP Basic
auth; then the operator API must show the stations and transactions with the right energy."""

import asyncio
import base64
import json
from datetime import datetime, timezone

import pytest
import websockets
from ocpp.v16 import ChargePoint as ChargePoint16
from ocpp.v16 import call as call16
from ocpp.v201 import ChargePoint as ChargePoint201
from ocpp.v201 import call as call201


def now():
    return datetime.now(timezone.utc).isoformat()


def basic(station, password):
    creds = base64.b64encode(f"{station}:{password}".encode()).decode()
    return {"Authorization": f"Basic {creds}"}


class Station:
    """A station of the `ocpp` package over a `websockets` connection."""

    def __init__(self, cls, station, ws):
        self.cp = cls(station, ws)
        self.ws = ws
        self.task = asyncio.create_task(self.cp.start())

    async def call(self, payload):
        # suppress=False: a CALLERROR raises; answers are schema-validated by the package.
        return await self.cp.call(payload, suppress=False)

    async def close(self):
        self.task.cancel()
        await self.ws.close()


async def connect(server, cls, station, password, protocol):
    ws = await websockets.connect(
        f"{server.ws}/{station}",
        subprotocols=[protocol],
        additional_headers=basic(station, password) if password else {},
    )
    assert ws.subprotocol == protocol
    return Station(cls, station, ws)


def run(coro):
    asyncio.run(coro)


def test_ocpp16_station(server):
    server.post("/api/v1/stations", {"id": "PY16", "password": "py16-secret-password"})
    server.post("/api/v1/id-tokens", {"idToken": "GOOD", "type": "ISO14443", "status": "Accepted", "groupIdToken": "FAMILY"})
    server.post("/api/v1/id-tokens", {"idToken": "BLOCKED", "type": "ISO14443", "status": "Blocked"})

    async def scenario():
        st = await connect(server, ChargePoint16, "PY16", "py16-secret-password", "ocpp1.6")
        boot = await st.call(call16.BootNotification(charge_point_vendor="PyVendor", charge_point_model="PyModel"))
        assert boot.status == "Accepted" and boot.interval > 0
        await st.call(call16.Heartbeat())
        for connector, status in [(0, "Available"), (1, "Preparing"), (2, "Available")]:
            await st.call(call16.StatusNotification(connector_id=connector, error_code="NoError", status=status, timestamp=now()))
        good = await st.call(call16.Authorize(id_tag="GOOD"))
        assert good.id_tag_info["status"] == "Accepted"
        assert good.id_tag_info["parent_id_tag"] == "FAMILY"
        assert (await st.call(call16.Authorize(id_tag="STRANGER"))).id_tag_info["status"] == "Invalid"
        assert (await st.call(call16.Authorize(id_tag="BLOCKED"))).id_tag_info["status"] == "Blocked"

        start = await st.call(call16.StartTransaction(connector_id=1, id_tag="GOOD", meter_start=40000, timestamp=now()))
        assert start.id_tag_info["status"] == "Accepted"
        tx = start.transaction_id
        for wh in (41000, 42500, 44000):
            await st.call(call16.MeterValues(connector_id=1, transaction_id=tx, meter_value=[{
                "timestamp": now(),
                "sampledValue": [
                    {"value": str(wh), "measurand": "Energy.Active.Import.Register", "unit": "Wh", "context": "Sample.Periodic"},
                    {"value": "11.0", "measurand": "Power.Active.Import", "unit": "kW"},
                    {"value": "230", "measurand": "Voltage", "phase": "L1-N", "unit": "V"},
                ],
            }]))
        stop = call16.StopTransaction(meter_stop=45000, timestamp=now(), transaction_id=tx, reason="EVDisconnected", id_tag="GOOD")
        first = await st.call(stop)
        assert first.id_tag_info["status"] == "Accepted"
        # The same stop again, as a station does when the answer was lost.
        again = await st.call(stop)
        assert again.id_tag_info == first.id_tag_info

        # An unknown tag still gets its transaction; the station ends it at once.
        start2 = await st.call(call16.StartTransaction(connector_id=2, id_tag="STRANGER", meter_start=500, timestamp=now()))
        assert start2.id_tag_info["status"] == "Invalid"
        await st.call(call16.StopTransaction(meter_stop=500, timestamp=now(), transaction_id=start2.transaction_id, reason="DeAuthorized"))
        await st.close()
        return tx, start2.transaction_id

    tx, tx2 = asyncio.run(scenario())
    station = server.get("/api/v1/stations/PY16")
    assert station["ocppVersion"] == "1.6"
    assert station["vendor"] == "PyVendor" and station["model"] == "PyModel"
    assert station["status"] == "Available"
    statuses = {e["id"]: e["connectors"][0]["status"] for e in station["evses"]}
    assert statuses == {1: "Preparing", 2: "Available"}
    items = {t["transactionId"]: t for t in server.get("/api/v1/transactions?stationId=PY16&limit=10")["items"]}
    assert set(items) == {tx, tx2}
    t = items[tx]
    assert (t["meterStartWh"], t["meterStopWh"], t["energyWh"]) == (40000, 45000, 5000)
    assert t["stopReason"] == "EVDisconnected" and t["idToken"] == "GOOD" and t["connectorId"] == 1
    assert items[tx2]["energyWh"] == 0 and items[tx2]["stopReason"] == "DeAuthorized"


def test_ocpp201_station(server):
    server.post("/api/v1/stations", {"id": "PY201", "password": "py201-secret-password"})
    server.post("/api/v1/id-tokens", {"idToken": "CARD-1", "type": "ISO14443", "status": "Accepted"})
    server.post("/api/v1/id-tokens", {"idToken": "CARD-X", "type": "ISO14443", "status": "Blocked"})

    def event(kind, seq, trigger, tx, **extra):
        info = {"transaction_id": tx}
        info.update(extra.pop("info", {}))
        return call201.TransactionEvent(event_type=kind, timestamp=now(), trigger_reason=trigger, seq_no=seq, transaction_info=info, **extra)

    def energy(wh, context):
        return [{"timestamp": now(), "sampled_value": [{"value": wh, "context": context, "measurand": "Energy.Active.Import.Register", "unit_of_measure": {"unit": "Wh"}}]}]

    async def scenario():
        st = await connect(server, ChargePoint201, "PY201", "py201-secret-password", "ocpp2.0.1")
        boot = await st.call(call201.BootNotification(charging_station={"model": "PyDC", "vendor_name": "PyVendor", "firmware_version": "9.9"}, reason="PowerUp"))
        assert boot.status == "Accepted"
        await st.call(call201.StatusNotification(timestamp=now(), connector_status="Available", evse_id=1, connector_id=1))
        card = {"id_token": "CARD-1", "type": "ISO14443"}
        assert (await st.call(call201.Authorize(id_token=card))).id_token_info["status"] == "Accepted"
        assert (await st.call(call201.Authorize(id_token={"id_token": "CARD-X", "type": "ISO14443"}))).id_token_info["status"] == "Blocked"
        unknown = await st.call(call201.Authorize(id_token={"id_token": "NOBODY", "type": "ISO14443"}))
        assert unknown.id_token_info["status"] in ("Invalid", "Unknown")

        await st.call(call201.StatusNotification(timestamp=now(), connector_status="Occupied", evse_id=1, connector_id=1))
        r = await st.call(event("Started", 0, "Authorized", "PY-TX-1", id_token=card, evse={"id": 1, "connector_id": 1}, meter_value=energy(1000.0, "Transaction.Begin"), info={"charging_state": "Charging"}))
        assert r.id_token_info["status"] == "Accepted"
        for seq, wh in ((1, 2500.0), (2, 4000.0)):
            r = await st.call(event("Updated", seq, "MeterValuePeriodic", "PY-TX-1", meter_value=energy(wh, "Sample.Periodic")))
            assert r.id_token_info is None
        ended = event("Ended", 3, "EVCommunicationLost", "PY-TX-1", meter_value=energy(6200.0, "Transaction.End"), info={"stopped_reason": "EVDisconnected", "charging_state": "Idle"})
        await st.call(ended)
        # The same event again (seqNo 3 already seen): answered, nothing changes.
        await st.call(ended)
        await st.call(call201.StatusNotification(timestamp=now(), connector_status="Available", evse_id=1, connector_id=1))
        dt = await st.call(call201.DataTransfer(vendor_id="org.example", message_id="hello"))
        assert dt.status == "UnknownVendorId"
        await st.close()

    asyncio.run(scenario())
    station = server.get("/api/v1/stations/PY201")
    assert station["ocppVersion"] == "2.0.1" and station["model"] == "PyDC"
    assert station["evses"][0]["connectors"][0]["status"] == "Available"
    [t] = server.get("/api/v1/transactions?stationId=PY201")["items"]
    assert t["transactionId"] == "PY-TX-1"
    assert (t["meterStartWh"], t["meterStopWh"], t["energyWh"]) == (1000, 6200, 5200)
    assert t["evseId"] == 1 and t["idToken"] == "CARD-1" and t["stopReason"] == "EVDisconnected"


def test_refusals(server):
    server.post("/api/v1/stations", {"id": "LOCKED", "password": "the-right-password"})

    async def scenario():
        for headers, expected in [
            (basic("LOCKED", "the-wrong-password"), 401),
            ({}, 401),
            (basic("SOMEONE-ELSE", "the-right-password"), 401),
        ]:
            with pytest.raises(websockets.exceptions.InvalidStatus) as e:
                await websockets.connect(f"{server.ws}/LOCKED", subprotocols=["ocpp1.6"], additional_headers=headers)
            assert e.value.response.status_code == expected
        with pytest.raises(websockets.exceptions.InvalidStatus) as e:
            await websockets.connect(f"{server.ws}/UNKNOWN", subprotocols=["ocpp2.0.1"])
        assert e.value.response.status_code == 404
        # No OCPP version in common: the handshake completes without one and is closed.
        ws = await websockets.connect(f"{server.ws}/LOCKED", subprotocols=["ocpp1.5"], additional_headers=basic("LOCKED", "the-right-password"))
        assert ws.subprotocol is None
        with pytest.raises(websockets.exceptions.ConnectionClosed) as e:
            await asyncio.wait_for(ws.recv(), 5)
        assert e.value.rcvd.code == 1002

    asyncio.run(scenario())


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_bad_frames_keep_the_connection(server, version):
    server.post("/api/v1/stations", {"id": "RAW"})
    v16 = version == "1.6"
    cases = [
        ("not json at all", "-1", "FormationViolation" if v16 else "RpcFrameworkError"),
        ('[2, "r1", "Heartbeat"]', "r1", "FormationViolation" if v16 else "RpcFrameworkError"),
        ('[2, "r2", "Teleport", {}]', "r2", "NotImplemented"),
        ('[2, "r3", "Authorize", {}]', "r3", "ProtocolError" if v16 else "OccurrenceConstraintViolation"),
        ('[2, "r4", "Heartbeat", {"unexpected": true}]', "r4", "FormationViolation" if v16 else "ProtocolError"),
    ]

    async def scenario():
        async with websockets.connect(f"{server.ws}/RAW", subprotocols=[f"ocpp{version}"]) as ws:
            for text, msg_id, code in cases:
                await ws.send(text)
                answer = json.loads(await asyncio.wait_for(ws.recv(), 5))
                assert answer[:3] == [4, msg_id, code], (text, answer)
                assert isinstance(answer[3], str) and isinstance(answer[4], dict)
                await ws.send('[2, "hb", "Heartbeat", {}]')
                ok = json.loads(await asyncio.wait_for(ws.recv(), 5))
                assert ok[0] == 3 and ok[1] == "hb" and "currentTime" in ok[2]

    asyncio.run(scenario())
