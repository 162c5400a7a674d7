"""K Smart charging through the operator API, with stations of the Python `ocpp` package (which
validates every request it receives against the OCA schemas) for OCPP 1.6 and 2.0.1:
profiles are checked against the specification's rules before they leave, recorded as
installed only when the station accepts them, cleared when it accepts their clearing, read
back from a 2.0.1 station's ReportChargingProfiles, and merged by Arus into the composite
schedule the station would follow."""

import asyncio
from datetime import datetime, timedelta, timezone

from ocpp.v16 import ChargePoint as ChargePoint16
from ocpp.v16 import call as call16
from ocpp.v16 import call_result as result16
from ocpp.v201 import ChargePoint as ChargePoint201
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as result201

from test_commands import PASSWORD, api, later, scripted
from test_interop import connect, now

# Raises on a site wait 0.3 s after a decrease there (5 s by default).
SERVER_ARGS = ("--load-settle", "0.3")

MIDNIGHT = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)


def iso(t):
    return t.isoformat().replace("+00:00", "Z")


def profile(pid, purpose, kind="Absolute", stack=0, periods=((0, 32.0),), **more):
    schedule = {"rateUnit": "A", "periods": [{"startS": s, "limit": lim} for s, lim in periods]}
    schedule.update(more.pop("schedule", {}))
    return {"id": pid, "stackLevel": stack, "purpose": purpose, "kind": kind, "schedules": [schedule], **more}


def command(server, station, name, body):
    return api(server, "POST", f"/api/v1/stations/{station}/commands/{name}", body)


def composite(server, station, evse, start, hours, unit="A"):
    q = f"evseId={evse}&start={iso(start).replace('+', '%2B')}&duration={hours * 3600}&unit={unit}"
    return server.get(f"/api/v1/stations/{station}/composite-schedule?{q}")


def periods(c):
    return [(p["startPeriod"], p["limit"]) for p in c["chargingSchedulePeriod"]]


async def boot(server, station_id, cls, protocol):
    server.post("/api/v1/stations", {"id": station_id, "password": PASSWORD, "maxCurrentA": 32.0})
    st = await connect(server, cls, station_id, PASSWORD, protocol)
    msg = (
        call16.BootNotification(charge_point_vendor="Py", charge_point_model="SC")
        if protocol == "ocpp1.6"
        else call201.BootNotification(charging_station={"vendor_name": "Py", "model": "SC"}, reason="PowerUp")
    )
    assert (await st.call(msg)).status == "Accepted"
    return st


async def refused(server, station, name, body, words):
    """The API refuses the command (400) with `words` in its reason, and sends nothing."""
    code, answer = await command(server, station, name, body)
    assert code == 400, (body, code, answer)
    assert words in answer["detail"], answer


ANSWERS_16 = {
    "SetChargingProfile": lambda st, r: result16.SetChargingProfile(
        status="Rejected" if r["cs_charging_profiles"]["stack_level"] == 9 else "Accepted"
    ),
    "ClearChargingProfile": lambda st, r: result16.ClearChargingProfile(status="Accepted"),
    "GetCompositeSchedule": lambda st, r: result16.GetCompositeSchedule(
        status="Accepted",
        connector_id=r["connector_id"],
        schedule_start=now(),
        charging_schedule={"charging_rate_unit": "A", "charging_schedule_period": [
            {"start_period": 0, "limit": getattr(st, "composite_limit", 10.0)}]},
    ),
}


def test_profiles_on_ocpp16(server):
    async def scenario():
        st = await boot(server, "SC16", scripted(ChargePoint16, ANSWERS_16), "ocpp1.6")
        # A station-wide default of 16 A, and 10 A at a higher stack level from 08:00 to 18:00
        # every day; no startSchedule given on the first: Arus sends one (it always does on
        # Absolute profiles).
        code, r = await command(server, "SC16", "setChargingProfile", {
            "evseId": 0, "chargingProfile": profile(1, "TxDefaultProfile", periods=((0, 16.0),),
                                                    validFrom=iso(MIDNIGHT - timedelta(days=1)))})
        assert code == 200 and r["outcome"]["status"] == "Accepted", r
        daily = profile(2, "TxDefaultProfile", kind="Recurring", stack=1, recurrency="Daily",
                        periods=((0, 16.0), (8 * 3600, 10.0), (18 * 3600, 16.0)),
                        schedule={"start": iso(MIDNIGHT - timedelta(days=3))})
        code, r = await command(server, "SC16", "setChargingProfile", {"evseId": 0, "chargingProfile": daily})
        assert code == 200 and r["outcome"]["status"] == "Accepted", r
        # The station maximum, 24 A on the whole station (1.6 ChargePointMaxProfile).
        code, r = await command(server, "SC16", "setChargingProfile", {
            "evseId": 0, "chargingProfile": profile(3, "ChargingStationMaxProfile", periods=((0, 24.0),),
                                                    schedule={"start": iso(MIDNIGHT - timedelta(days=1))})})
        assert code == 200 and r["outcome"]["status"] == "Accepted", r
        sent = [r for a, r in st.cp.received if a == "SetChargingProfile"]
        assert [s["cs_charging_profiles"]["charging_profile_purpose"] for s in sent] == [
            "TxDefaultProfile", "TxDefaultProfile", "ChargePointMaxProfile"]
        assert sent[0]["connector_id"] == 0
        assert sent[0]["cs_charging_profiles"]["charging_schedule"]["start_schedule"], "startSchedule is always sent"
        assert sent[1]["cs_charging_profiles"]["recurrency_kind"] == "Daily"
        # A profile the station rejects is not recorded.
        code, r = await command(server, "SC16", "setChargingProfile", {
            "evseId": 1, "chargingProfile": profile(4, "TxDefaultProfile", stack=9)})
        assert code == 200 and r["outcome"]["status"] == "Rejected", r
        held = server.get("/api/v1/stations/SC16/charging-profiles")["items"]
        assert [(p["evseId"], p["chargingProfile"]["id"], p["source"]) for p in held] == [
            (0, 3, "CSMS"), (0, 1, "CSMS"), (0, 2, "CSMS")]

        # The rules, checked before anything is sent (1.6 §3.13.1).
        before = len(st.cp.received)
        await refused(server, "SC16", "setChargingProfile",
                      {"evseId": 1, "chargingProfile": profile(5, "ChargingStationMaxProfile")}, "EVSE 0")
        await refused(server, "SC16", "setChargingProfile",
                      {"evseId": 1, "chargingProfile": profile(6, "TxProfile")}, "transaction")
        await refused(server, "SC16", "setChargingProfile",
                      {"evseId": 0, "chargingProfile": profile(7, "TxProfile")}, "never on 0")
        await refused(server, "SC16", "setChargingProfile",
                      {"evseId": 0, "chargingProfile": profile(8, "ChargingStationExternalConstraints")},
                      "never by the CSMS")
        await refused(server, "SC16", "setChargingProfile", {
            "evseId": 1, "chargingProfile": profile(9, "TxDefaultProfile", kind="Relative",
                                                    schedule={"start": now()})}, "Relative")
        await refused(server, "SC16", "setChargingProfile", {
            "evseId": 1, "chargingProfile": profile(10, "TxDefaultProfile", periods=((60, 10.0),))},
                      "first period starts at 0")
        await refused(server, "SC16", "setChargingProfile", {
            "evseId": 0, "chargingProfile": profile(12, "ChargingStationMaxProfile", kind="Relative")}, "K01.FR.38")
        # Another profile at a stack level taken for the same purpose and EVSE (K01.FR.06).
        await refused(server, "SC16", "setChargingProfile", {
            "evseId": 0, "chargingProfile": profile(13, "TxDefaultProfile", stack=1, schedule={"start": now()})},
                      "reuse its id")
        await refused(server, "SC16", "clearChargingProfile", {}, "K10.FR.02")
        await refused(server, "SC16", "setChargingProfile", {
            "evseId": 1, "chargingProfile": profile(14, "TxDefaultProfile", periods=((0, 7.25),))}, "one decimal")
        await refused(server, "SC16", "setChargingProfile", {
            "evseId": 1, "chargingProfile": profile(900000001, "TxDefaultProfile")}, "load management")
        assert len(st.cp.received) == before, "nothing refused was sent"
        # What 1.6 cannot carry: a second schedule.
        two = profile(11, "TxDefaultProfile")
        two["schedules"].append(dict(two["schedules"][0]))
        code, r = await command(server, "SC16", "setChargingProfile", {"evseId": 1, "chargingProfile": two})
        assert code == 422 and r["command"]["status"] == "unsupported", r
        code, r = await command(server, "SC16", "getChargingProfiles", {"purpose": "TxDefaultProfile"})
        assert code == 422 and r["command"]["status"] == "unsupported", r

        # Arus's composite for connector 1 over a day from 06:00: the daily profile on top of
        # the default, capped by the station maximum (24 A over 16 A: the default binds).
        c = composite(server, "SC16", 1, MIDNIGHT + timedelta(hours=6), 24)
        assert c["chargingRateUnit"] == "A" and c["evseId"] == 1 and c["duration"] == 24 * 3600
        assert periods(c) == [(0, 16.0), (2 * 3600, 10.0), (12 * 3600, 16.0)], c
        assert c["chargingSchedulePeriod"][1]["binding"] == {"kind": "profile", "id": 2, "purpose": "TxDefaultProfile"}
        # The station as a whole: its maximum profile.
        assert periods(composite(server, "SC16", 0, MIDNIGHT + timedelta(hours=6), 1)) == [(0, 24.0)]
        # In watts, at the default 230 V on three phases.
        assert periods(composite(server, "SC16", 1, MIDNIGHT + timedelta(hours=6), 1, "W")) == [(0, 11040.0)]

        # The station's own composite schedule, through the command.
        code, r = await command(server, "SC16", "getCompositeSchedule", {"evseId": 1, "durationS": 3600, "unit": "A"})
        assert code == 200 and r["outcome"]["status"] == "Accepted", r
        assert r["outcome"]["schedule"]["chargingSchedulePeriod"] == [{"startS": 0, "limit": 10.0}]

        # A TxProfile goes once a transaction is going on at its connector, overrules the
        # default while it lasts, and ends with it (1.6 §3.13.1).
        started = await st.call(call16.StartTransaction(connector_id=1, id_tag="TAG", meter_start=0, timestamp=now()))
        # Arus names the transaction going on (2.0.1 K01.FR.03); another one is refused.
        await refused(server, "SC16", "setChargingProfile", {"evseId": 1, "chargingProfile": profile(
            41, "TxProfile", kind="Relative", transactionId=str(started.transaction_id + 1))}, "K01.FR.33")
        tx = {"evseId": 1, "chargingProfile": profile(40, "TxProfile", kind="Relative", periods=((0, 6.0),))}
        code, r = await command(server, "SC16", "setChargingProfile", tx)
        assert code == 200 and r["outcome"]["status"] == "Accepted", r
        sent = [r for a, r in st.cp.received if a == "SetChargingProfile"][-1]["cs_charging_profiles"]
        assert sent["transaction_id"] == started.transaction_id and "start_schedule" not in sent["charging_schedule"]
        assert periods(composite(server, "SC16", 1, datetime.now(timezone.utc), 1)) == [(0, 6.0)]
        await st.call(call16.StopTransaction(transaction_id=started.transaction_id, meter_stop=100, timestamp=now()))
        held = server.get("/api/v1/stations/SC16/charging-profiles")["items"]
        assert 40 not in [p["chargingProfile"]["id"] for p in held], held

        # Clearing by purpose and stack level, accepted: the daily profile goes.
        code, r = await command(server, "SC16", "clearChargingProfile",
                                {"purpose": "TxDefaultProfile", "stackLevel": 1})
        assert code == 200 and r["outcome"]["status"] == "Accepted", r
        clear = [r for a, r in st.cp.received if a == "ClearChargingProfile"][-1]
        assert clear == {"charging_profile_purpose": "TxDefaultProfile", "stack_level": 1}
        held = server.get("/api/v1/stations/SC16/charging-profiles")["items"]
        assert [p["chargingProfile"]["id"] for p in held] == [3, 1]
        assert periods(composite(server, "SC16", 1, MIDNIGHT + timedelta(hours=6), 24)) == [(0, 16.0)]

        # Verifying what the station applied: its own composite against Arus's, from now.
        c = await asyncio.to_thread(server.get, "/api/v1/stations/SC16/composite-schedule?evseId=1&duration=3600&compare=true")
        assert c["station"]["status"] == "Accepted" and c["station"]["matches"] is False, c
        d = c["station"]["differences"]
        assert len(d) == 1 and (d[0]["arus"], d[0]["station"]) == (16.0, 10.0) and d[0]["endPeriod"] == 3600, d
        st.cp.composite_limit = 16.0
        c = await asyncio.to_thread(server.get, "/api/v1/stations/SC16/composite-schedule?evseId=1&duration=3600&compare=true")
        assert c["station"]["matches"] is True and c["station"]["differences"] == [], c
        code, answer = server.request("GET", "/api/v1/stations/SC16/composite-schedule?compare=true&start=" + iso(MIDNIGHT))
        assert code == 400 and "from now" in answer["detail"]
        await st.close()

    asyncio.run(scenario())


def report_profiles(st, r):
    later(st, call201.ReportChargingProfiles(
        request_id=r["request_id"], charging_limit_source="EMS", evse_id=1, tbc=False,
        charging_profile=[{
            "id": 900, "stack_level": 0, "charging_profile_purpose": "ChargingStationExternalConstraints",
            "charging_profile_kind": "Absolute",
            "charging_schedule": [{"id": 900, "start_schedule": iso(MIDNIGHT), "charging_rate_unit": "W",
                                   "charging_schedule_period": [{"start_period": 0, "limit": 3680.0}]}],
        }]))
    return result201.GetChargingProfiles(status="Accepted")


ANSWERS_201 = {
    "SetChargingProfile": lambda st, r: result201.SetChargingProfile(status="Accepted"),
    "ClearChargingProfile": lambda st, r: result201.ClearChargingProfile(status="Unknown"),
    "GetChargingProfiles": report_profiles,
    "RequestStartTransaction": lambda st, r: result201.RequestStartTransaction(status="Accepted"),
    "GetCompositeSchedule": lambda st, r: result201.GetCompositeSchedule(
        status="Accepted",
        schedule={"evse_id": r["evse_id"], "duration": r["duration"], "schedule_start": now(),
                  "charging_rate_unit": "A",
                  "charging_schedule_period": [{"start_period": 0, "limit": 6.0, "number_phases": 1,
                                                "phase_to_use": 2}]},
    ),
}


def test_profiles_on_ocpp201(server):
    async def scenario():
        st = await boot(server, "SC201", scripted(ChargePoint201, ANSWERS_201), "ocpp2.0.1")
        # Several schedules and phaseToUse are 2.0.1's own.
        p = profile(20, "TxDefaultProfile", periods=((0, 16.0), (3600, 8.0)),
                    schedule={"start": iso(MIDNIGHT)})
        p["schedules"][0]["periods"][1].update({"phases": 1, "phaseToUse": 3})
        code, r = await command(server, "SC201", "setChargingProfile", {"evseId": 1, "chargingProfile": p})
        assert code == 200 and r["outcome"]["status"] == "Accepted", r
        sent = [r for a, r in st.cp.received if a == "SetChargingProfile"][-1]
        assert sent["evse_id"] == 1
        schedule = sent["charging_profile"]["charging_schedule"][0]
        assert schedule["id"] == 20 and schedule["charging_schedule_period"][1]["phase_to_use"] == 3
        # phaseToUse needs numberPhases 1 (checked before sending).
        bad = profile(21, "TxDefaultProfile", schedule={"start": now()})
        bad["schedules"][0]["periods"][0]["phaseToUse"] = 2
        await refused(server, "SC201", "setChargingProfile", {"evseId": 1, "chargingProfile": bad}, "phaseToUse")

        # A remote start carrying its TxProfile: the profile must be TxProfile, and is
        # recorded as installed once the station accepts the start.
        await refused(server, "SC201", "remoteStart", {
            "evseId": 2, "idToken": "GOOD", "chargingProfile": profile(30, "TxDefaultProfile")}, "TxProfile")
        code, r = await command(server, "SC201", "remoteStart", {
            "evseId": 2, "idToken": "GOOD", "chargingProfile": profile(31, "TxProfile", kind="Relative",
                                                                        periods=((0, 12.0),))})
        assert code == 200 and r["outcome"]["status"] == "Accepted", r
        start = [r for a, r in st.cp.received if a == "RequestStartTransaction"][-1]
        assert start["charging_profile"]["charging_profile_purpose"] == "TxProfile"

        # The station's report of its profiles is recorded with who set them.
        await refused(server, "SC201", "getChargingProfiles", {"evseId": 1}, "K09.FR.03")
        code, r = await command(server, "SC201", "getChargingProfiles", {"evseId": 1, "sources": ["EMS"]})
        assert code == 200 and r["outcome"]["status"] == "Accepted", r
        asked = [r for a, r in st.cp.received if a == "GetChargingProfiles"][-1]
        assert asked["charging_profile"] == {"charging_limit_source": ["EMS"]} and asked["evse_id"] == 1
        for _ in range(50):
            held = server.get("/api/v1/stations/SC201/charging-profiles")["items"]
            if any(h["source"] == "EMS" for h in held):
                break
            await asyncio.sleep(0.1)
        assert sorted((h["evseId"], h["chargingProfile"]["id"], h["source"]) for h in held) == [
            (1, 20, "CSMS"), (1, 900, "EMS"), (2, 31, "CSMS")], held
        # The external constraint caps EVSE 1 in Arus's composite: 3,680 W with no number of
        # phases is taken over three phases at 230 V, 5.3 A, under both periods of profile 20.
        c = composite(server, "SC201", 1, MIDNIGHT, 2)
        assert periods(c) == [(0, 5.3)], c
        # A clearing the station answers Unknown changes nothing recorded.
        code, r = await command(server, "SC201", "clearChargingProfile", {"id": 20})
        assert code == 200 and r["outcome"]["status"] == "Unknown", r
        assert len(server.get("/api/v1/stations/SC201/charging-profiles")["items"]) == 3
        # The station's own composite keeps what 2.0.1 reports per period.
        code, r = await command(server, "SC201", "getCompositeSchedule", {"evseId": 1, "durationS": 600})
        assert code == 200, r
        assert r["outcome"]["schedule"]["chargingSchedulePeriod"] == [
            {"startS": 0, "limit": 6.0, "phases": 1, "phaseToUse": 2}]
        await st.close()

    asyncio.run(scenario())


def test_iso15118_charging_needs_get_a_schedule(server):
    """K15 (OCTT reusable state ISO15118SmartCharging): a car's NotifyEVChargingNeeds during a
    transaction is accepted and followed by a TxProfile for that transaction: at the car's
    maximum off a site; on a site, from its division, where what the car needs by its
    departure is served first. Without a transaction it is rejected."""
    from datetime import timedelta

    def needs(evse, energy_wh, max_a, hours):
        return call201.NotifyEVChargingNeeds(evse_id=evse, charging_needs={
            "requested_energy_transfer": "AC_three_phase",
            "departure_time": iso(datetime.now(timezone.utc) + timedelta(hours=hours)),
            "ac_charging_parameters": {"energy_amount": energy_wh, "ev_min_current": 6,
                                       "ev_max_current": max_a, "ev_max_voltage": 400}})

    def tx_profiles(st):
        return [(r["evse_id"], r["charging_profile"]["transaction_id"],
                 r["charging_profile"]["charging_schedule"][0]["charging_schedule_period"][0]["limit"])
                for a, r in st.cp.received if a == "SetChargingProfile"
                and r["charging_profile"]["charging_profile_purpose"] == "TxProfile"]

    async def wait_for(st, count):
        for _ in range(100):
            if len(tx_profiles(st)) >= count:
                return tx_profiles(st)
            await asyncio.sleep(0.05)
        raise AssertionError(f"expected {count} TxProfiles, got {tx_profiles(st)}")

    def started(evse, tx):
        return call201.TransactionEvent(
            event_type="Started", timestamp=now(), trigger_reason="CablePluggedIn", seq_no=0,
            transaction_info={"transaction_id": tx, "charging_state": "EVConnected"},
            evse={"id": evse, "connector_id": 1})

    async def scenario():
        st = await boot(server, "ISO1", scripted(ChargePoint201, ANSWERS_201), "ocpp2.0.1")
        assert (await st.call(needs(1, 20000, 16, 4))).status == "Rejected"
        await st.call(started(1, "iso-tx-1"))
        assert (await st.call(needs(1, 20000, 16, 4))).status == "Accepted"
        assert (await wait_for(st, 1)) == [(1, "iso-tx-1", 16.0)]
        await st.close()

        # On a site of 30 A: the car that needs 18 kWh in 1 h on three phases (26.1 A) is
        # served first; the other keeps its 6 A minimum.
        server.post("/api/v1/stations", {"id": "ISO2", "password": PASSWORD})
        site = {"id": "iso", "groups": [{"id": "grid", "phaseLimitsA": [30, 30, 30]}],
                "evses": [{"stationId": "ISO2", "evseId": e, "group": "grid"} for e in (1, 2)]}
        assert server.request("POST", "/api/v1/sites", site)[0] == 201
        st = await boot(server, "ISO2", scripted(ChargePoint201, ANSWERS_201), "ocpp2.0.1")
        await st.call(started(1, "iso-a"))
        assert await wait_for(st, 1) == [(1, "iso-a", 30.0)]
        await st.call(started(2, "iso-b"))
        assert (await wait_for(st, 3))[1:] == [(1, "iso-a", 15.0), (2, "iso-b", 15.0)]
        assert (await st.call(needs(2, 18000, 32, 1))).status == "Accepted"
        # Down first, then up.
        got = await wait_for(st, 5)
        assert got[3:] == [(1, "iso-a", 6.0), (2, "iso-b", 24.0)], got
        allocation = server.get("/api/v1/sites/iso/allocation")["allocations"]
        assert "departure" in allocation[1]["why"], allocation
        await st.close()

        # With prices (dear for the next two hours, cheap after), a car leaving in five hours
        # waits for the cheap hours: its limit now is 0. One leaving within the dear hours
        # charges now.
        server.post("/api/v1/stations", {"id": "ISO3", "password": PASSWORD})
        t = datetime.now(timezone.utc)
        priced = {"id": "priced", "groups": [{"id": "grid", "phaseLimitsA": [40, 40, 40]}],
                  "evses": [{"stationId": "ISO3", "evseId": e, "group": "grid"} for e in (1, 2)],
                  "prices": [{"from": iso(t - timedelta(hours=1)), "to": iso(t + timedelta(hours=2)), "price": 0.5},
                             {"from": iso(t + timedelta(hours=2)), "price": 0.1}]}
        assert server.request("POST", "/api/v1/sites", priced)[0] == 201
        st = await boot(server, "ISO3", scripted(ChargePoint201, ANSWERS_201), "ocpp2.0.1")
        await st.call(started(1, "iso-late"))
        await st.call(started(2, "iso-soon"))
        await wait_for(st, 2)
        assert (await st.call(needs(1, 11000, 16, 5))).status == "Accepted"
        assert (await st.call(needs(2, 5000, 16, 1))).status == "Accepted"
        for _ in range(100):
            last = {e: limit for e, _, limit in tx_profiles(st)}
            if last.get(1) == 0 and last.get(2) == 16:
                break
            await asyncio.sleep(0.05)
        assert last == {1: 0, 2: 16}, tx_profiles(st)
        why = [a["why"] for a in server.get("/api/v1/sites/priced/allocation")["allocations"]]
        assert why[0].startswith("planned:") and "0 A now" in why[0], why
        assert why[1].startswith("planned:") and "16 A now" in why[1], why
        await st.close()

    asyncio.run(scenario())
