"""K Real chargers are uneven: Arus verifies what a station applied (its GetCompositeSchedule
against Arus's own computation), sends again what a station lost, and learns its model's quirks
from what the station does, recorded with their evidence at `/api/v1/station-models`. The
stations are the Python `ocpp` package's, for OCPP 1.6 and 2.0.1, each playing a kind of
charger operators report: one that rejects profiles on connector 0, one that cannot be asked for
its composite schedule, one that forgets its profiles when it reconnects, one that accepts
profiles and ignores them."""

import asyncio

from ocpp.exceptions import NotImplementedError as OcppNotImplemented
from ocpp.v16 import ChargePoint as ChargePoint16
from ocpp.v16 import call as call16
from ocpp.v16 import call_result as result16
from ocpp.v201 import ChargePoint as ChargePoint201
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as result201

from test_commands import scripted
from test_interop import connect, now

# Stations are asked for their composite schedule half a second after they boot, connect or are
# sent profiles (30 s by default); raises wait 0.3 s after a decrease.
SERVER_ARGS = ("--load-verify-after", "0.5", "--load-settle", "0.3", "--load-min-interval", "0.5")

# The station's own hardware maximum, which it reports where it holds no profile.
HARDWARE_A = 32.0


def site(stations, limit_a=20.0):
    return {
        "id": "depot",
        "groups": [{"id": "grid", "phaseLimitsA": [limit_a] * 3}],
        "evses": [{"stationId": s, "evseId": e, "group": "grid"} for s, evses in stations for e in evses],
    }


async def until(check, what, seconds=10.0):
    """Waits until `check()` (run in a thread when it calls the API) is true."""
    for _ in range(int(seconds / 0.1)):
        got = check()
        if got:
            return got
        await asyncio.sleep(0.1)
    raise AssertionError(f"not seen in {seconds} s: {what}")


def model(server, vendor, name):
    for m in server.get("/api/v1/station-models")["items"]:
        if m["vendor"] == vendor and m["model"] == name:
            return m
    return None


def learnt(server, vendor, name, quirk):
    m = model(server, vendor, name)
    return m if m and m.get(quirk) else None


def sets16(st):
    return [(r["connector_id"], r["cs_charging_profiles"]["charging_profile_id"],
             r["cs_charging_profiles"]["charging_schedule"]["charging_schedule_period"][0]["limit"])
            for a, r in st.cp.received if a == "SetChargingProfile"]


def asked(st):
    return [r.get("connector_id", r.get("evse_id")) for a, r in st.cp.received if a == "GetCompositeSchedule"]


def test_a_station_rejecting_connector_0_gets_its_default_on_each_connector(server):
    """It rejects the safe TxDefaultProfile on connector 0: Arus sends it on each connector, and
    the model is learnt to refuse connector 0, so the next boot goes to the connectors at once.
    It answers GetCompositeSchedule with NotImplemented: the model is learnt not to be asked."""
    answers = {
        "SetChargingProfile": lambda st, r: result16.SetChargingProfile(
            status="Rejected" if r["connector_id"] == 0 else "Accepted"),
        "GetCompositeSchedule": lambda st, r: OcppNotImplemented(description="no smart charging read-back"),
    }

    async def scenario():
        server.post("/api/v1/stations", {"id": "CP1", "maxCurrentA": HARDWARE_A})
        assert server.request("POST", "/api/v1/sites", site([("CP1", (1, 2))]))[0] == 201
        st = await connect(server, scripted(ChargePoint16, answers), "CP1", None, "ocpp1.6")
        await st.call(call16.BootNotification(charge_point_vendor="Py", charge_point_model="NoZero"))
        # 20 A shared by two connectors if both charge with no CSMS: 10 A each.
        await until(lambda: len(sets16(st)) >= 3, "the default on each connector")
        assert sets16(st)[:3] == [(0, 899999999, 10.0), (1, 899999998, 10.0), (2, 899999997, 10.0)]
        m = await until(lambda: learnt(server, "Py", "NoZero", "noEvseZero"), "noEvseZero learnt")
        assert [(e["quirk"], e["stationId"]) for e in m["learnt"]][:1] == [("noEvseZero", "CP1")]
        assert "EVSE 0" in m["learnt"][0]["detail"]
        m = await until(lambda: learnt(server, "Py", "NoZero", "noCompositeSchedule"), "noCompositeSchedule")
        assert "NotImplemented" in m["learnt"][-1]["detail"]
        assert not m["fixed"] and not m["forgetsProfiles"] and not m["ignoresProfiles"]
        # The next boot: straight to the connectors, and the station is not asked again.
        before, asks = len(sets16(st)), len(asked(st))
        await st.call(call16.BootNotification(charge_point_vendor="Py", charge_point_model="NoZero"))
        await until(lambda: len(sets16(st)) >= before + 2, "the defaults after the reboot")
        await asyncio.sleep(1.5)
        assert sets16(st)[before:] == [(1, 899999998, 10.0), (2, 899999997, 10.0)]
        assert len(asked(st)) == asks
        await st.close()

    asyncio.run(scenario())


class Holding201:
    """A 2.0.1 station that holds the TxDefaultProfiles it accepts and reports them in its
    composite schedule (its hardware maximum where it holds none)."""

    def __init__(self):
        self.held = {}

    def set(self, st, r):
        p = r["charging_profile"]
        if p["charging_profile_purpose"] == "TxDefaultProfile":
            self.held[r["evse_id"]] = p["charging_schedule"][0]["charging_schedule_period"][0]["limit"]
        return result201.SetChargingProfile(status="Accepted")

    def composite(self, st, r):
        evse = r["evse_id"]
        limit = self.held.get(evse, self.held.get(0, HARDWARE_A))
        return result201.GetCompositeSchedule(status="Accepted", schedule={
            "evse_id": evse, "duration": r["duration"], "schedule_start": now(), "charging_rate_unit": "A",
            "charging_schedule_period": [{"start_period": 0, "limit": limit}]})

    def answers(self):
        return {"SetChargingProfile": self.set, "GetCompositeSchedule": self.composite}


def test_a_station_that_forgets_its_profiles_when_it_reconnects_gets_them_again(server):
    """A 2.0.1 station holds its safe default, and its composite schedule shows it. It reconnects
    without booting, having lost it: its composite schedule now allows its hardware maximum.
    Arus sends the default again, finds it applied, and learns that the model forgets."""

    async def scenario():
        server.post("/api/v1/stations", {"id": "CS1", "maxCurrentA": HARDWARE_A})
        assert server.request("POST", "/api/v1/sites", site([("CS1", (1, 2))]))[0] == 201
        first = Holding201()
        st = await connect(server, scripted(ChargePoint201, first.answers()), "CS1", None, "ocpp2.0.1")
        boot = call201.BootNotification(charging_station={"vendor_name": "Py", "model": "Forgets"}, reason="PowerUp")
        assert (await st.call(boot)).status == "Accepted"
        await until(lambda: first.held.get(0) == 10.0, "the safe default held")
        # Verified: both EVSEs of the site are asked, and they match.
        await until(lambda: sorted(asked(st)) == [1, 2], "the composite schedules asked")
        await asyncio.sleep(1.0)
        assert model(server, "Py", "Forgets") is None, "nothing to learn from a station that holds its profiles"
        await st.close()

        again = Holding201()
        st = await connect(server, scripted(ChargePoint201, again.answers()), "CS1", None, "ocpp2.0.1")
        m = await until(lambda: learnt(server, "Py", "Forgets", "forgetsProfiles"), "forgetsProfiles learnt")
        assert again.held == {0: 10.0}, "the safe default sent again"
        assert [(e["quirk"], e["stationId"]) for e in m["learnt"]] == [("forgetsProfiles", "CS1")]
        assert not m["ignoresProfiles"]
        await st.close()

    asyncio.run(scenario())


def test_a_station_that_ignores_its_profiles_is_given_what_its_car_draws(server):
    """A 1.6 station accepts every profile and applies none: its composite schedule shows its
    hardware maximum even after the profiles are sent again. Its model is learnt to ignore
    profiles, and load management counts what its car draws as load it cannot steer: the car
    at the honest station beside it gets what is left of the 20 A."""
    ignoring = {
        "SetChargingProfile": lambda st, r: result16.SetChargingProfile(status="Accepted"),
        "GetCompositeSchedule": lambda st, r: result16.GetCompositeSchedule(
            status="Accepted", connector_id=r["connector_id"], schedule_start=now(),
            charging_schedule={"charging_rate_unit": "A", "charging_schedule_period": [
                {"start_period": 0, "limit": HARDWARE_A}]}),
    }
    honest = {
        "SetChargingProfile": lambda st, r: result16.SetChargingProfile(status="Accepted"),
        "GetCompositeSchedule": lambda st, r: OcppNotImplemented(description="not here"),
    }

    def drawing(amps):
        return [{"timestamp": now(), "sampledValue": [
            {"value": f"{amps:.1f}", "measurand": "Current.Import", "phase": p, "unit": "A"}
            for p in ("L1", "L2", "L3")]}]

    def allocation():
        got = server.get("/api/v1/sites/depot/allocation")["allocations"]
        return [(a["stationId"], a["currentA"]) for a in got]

    async def scenario():
        for sid in ("DEAF", "GOOD"):
            server.post("/api/v1/stations", {"id": sid, "maxCurrentA": HARDWARE_A})
        assert server.request("POST", "/api/v1/sites", site([("DEAF", (1,)), ("GOOD", (1,))]))[0] == 201
        deaf = await connect(server, scripted(ChargePoint16, ignoring), "DEAF", None, "ocpp1.6")
        await deaf.call(call16.BootNotification(charge_point_vendor="Py", charge_point_model="Deaf"))
        good = await connect(server, scripted(ChargePoint16, honest), "GOOD", None, "ocpp1.6")
        await good.call(call16.BootNotification(charge_point_vendor="Py", charge_point_model="Good"))
        m = await until(lambda: learnt(server, "Py", "Deaf", "ignoresProfiles"), "ignoresProfiles learnt")
        assert [(e["quirk"], e["stationId"]) for e in m["learnt"]] == [("ignoresProfiles", "DEAF")]
        assert "32" in m["learnt"][0]["detail"], m
        # It was sent its default twice: at boot, and again when found not to apply it.
        assert [s for s in sets16(deaf) if s[1] == 899999999] == [(0, 899999999, 10.0)] * 2
        # Both cars charge; the deaf station's draws 12 A on each phase whatever it is sent.
        d = await deaf.call(call16.StartTransaction(connector_id=1, id_tag="T", meter_start=0, timestamp=now()))
        g = await good.call(call16.StartTransaction(connector_id=1, id_tag="T", meter_start=0, timestamp=now()))
        await deaf.call(call16.MeterValues(connector_id=1, transaction_id=d.transaction_id, meter_value=drawing(12.0)))
        await good.call(call16.MeterValues(connector_id=1, transaction_id=g.transaction_id, meter_value=drawing(7.0)))
        got = await until(lambda: (a := allocation()) and a == [("DEAF", 12.5), ("GOOD", 7.5)] and a,
                          "the deaf station's car given what it draws")
        assert got == [("DEAF", 12.5), ("GOOD", 7.5)]
        why = server.get("/api/v1/sites/depot/allocation")["allocations"][0]["why"]
        assert "ignores charging profiles" in why, why
        await deaf.close()
        await good.close()

    asyncio.run(scenario())
