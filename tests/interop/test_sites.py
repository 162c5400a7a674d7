"""Sites and the division of their capacity, through the operator API: the allocation cases of
load management run through the preview endpoint (equal split, water-filling where maximums
bind, mixed phases and phase rotation, minimums that cannot all be met, priorities, a feeder,
load that is not charging), and the live allocation of sessions charging now, with a 1.6
station of the Python `ocpp` package."""

import asyncio

from ocpp.v16 import ChargePoint as ChargePoint16
from ocpp.v16 import call as call16

from test_interop import connect, now

# Raises of one EVSE's limit may follow each other within half a second (10 s by default), and
# raises wait 0.3 s after a decrease (5 s by default), so that what cars are seen to draw
# shows in the division at once.
SERVER_ARGS = ("--load-min-interval", "0.5", "--load-settle", "0.3")


def site(limit_a=100.0, evses=4, **more):
    body = {
        "id": "depot",
        "name": "Depot",
        "groups": [{"id": "grid", "phaseLimitsA": [limit_a] * 3}],
        "evses": [{"stationId": "CP1", "evseId": e, "group": "grid"} for e in range(1, evses + 1)],
    }
    body.update(more)
    return body


def preview(server, sessions):
    code, answer = server.request("POST", "/api/v1/sites/depot/allocation/preview", {"sessions": sessions})
    assert code == 200, answer
    return answer["allocations"]


def at(evse, **more):
    return {"stationId": "CP1", "evseId": evse, **more}


def currents(allocations):
    return [a["currentA"] for a in allocations]


def test_allocation_cases_through_the_preview(server):
    assert server.request("POST", "/api/v1/sites", site())[0] == 201
    # An equal split of 100 A among four three-phase cars.
    got = preview(server, [at(e) for e in range(1, 5)])
    assert currents(got) == [25.0] * 4
    assert all(a["binding"] == "groupLimit" and a["group"] == "grid" for a in got), got
    assert got[0]["sitePhases"] == ["L1", "L2", "L3"]
    # Water-filling: a car that takes 10 A leaves the rest to the others.
    got = preview(server, [at(1, maxCurrentA=10), at(2), at(3), at(4)])
    assert currents(got) == [10.0, 30.0, 30.0, 30.0]
    assert got[0]["binding"] == "evseOrCar"
    # Minimums that cannot all be met: at 16 A two cars charge, the third is paused.
    assert server.request("POST", "/api/v1/sites", site(limit_a=16.0))[0] == 200
    got = preview(server, [at(1), at(2), at(3)])
    assert currents(got) == [8.0, 8.0, 0.0]
    assert got[2]["paused"] and got[2]["binding"] == "paused" and "minimum" in got[2]["why"]
    # Priorities: served first; the others share what is left above their minimums.
    assert server.request("POST", "/api/v1/sites", site(limit_a=40.0))[0] == 200
    got = preview(server, [at(1), at(2, priority=1, maxCurrentA=20), at(3)])
    assert currents(got) == [10.0, 20.0, 10.0]


def test_phases_feeders_and_other_load(server):
    body = site(limit_a=32.0, evses=0)
    body["groups"].append({"id": "level-2", "parent": "grid", "phaseLimitsA": [20, 20, 20]})
    body["groups"][0]["otherLoadA"] = [0, 0, 8]
    body["evses"] = [
        {"stationId": "CP1", "evseId": 1, "group": "grid"},
        {"stationId": "CP1", "evseId": 2, "group": "grid", "l1OnPhase": 2},
        {"stationId": "CP1", "evseId": 3, "group": "grid", "l1OnPhase": 3},
        {"stationId": "CP1", "evseId": 4, "group": "level-2", "phases": 1},
    ]
    assert server.request("POST", "/api/v1/sites", body)[0] == 201
    # Single-phase cars land on the phase their connector's L1 is wired to: the car on L2 has
    # it to itself (32 A); the building takes 8 A of L3, so the car there gets 24; the
    # single-phase EVSE on level 2 is on L1 with the first car, and they share 32 A.
    got = preview(server, [at(1, phases=1), at(2, phases=1), at(3, phases=1), at(4)])
    assert [a["sitePhases"] for a in got] == [["L1"], ["L2"], ["L3"], ["L1"]]
    assert currents(got) == [16.0, 32.0, 24.0, 16.0], got
    # The feeder's limit binds when it is the tighter one.
    got = preview(server, [at(4, maxCurrentA=32)])
    assert currents(got) == [20.0] and got[0]["group"] == "level-2"


def test_sites_are_checked_and_each_evse_is_on_one_site(server):
    bad = [
        ({"id": "x", "groups": []}, "grid connection"),
        ({"id": "x", "groups": [{"id": "a"}, {"id": "b"}]}, "parent"),
        ({"id": "x", "groups": [{"id": "a"}, {"id": "b", "parent": "c"}]}, "not listed before"),
        ({"id": "x", "groups": [{"id": "a", "phaseLimitsA": [-1, 0, 0]}]}, "≥ 0"),
        ({"id": "x", "groups": [{"id": "a"}], "evses": [{"stationId": "S", "evseId": 1, "group": "b"}]}, "does not have"),
        ({"id": "x", "groups": [{"id": "a"}], "evses": [{"stationId": "S", "evseId": 1, "group": "a", "phases": 2}]},
         "1 or 3"),
    ]
    for body, words in bad:
        code, answer = server.request("POST", "/api/v1/sites", body)
        assert code == 400 and words in answer["detail"], (body, answer)
    assert server.request("POST", "/api/v1/sites", site())[0] == 201
    code, answer = server.request("POST", "/api/v1/sites", dict(site(), id="other"))
    assert code == 409 and "one site" in answer["detail"], answer
    code, answer = server.request("POST", "/api/v1/sites/depot/allocation/preview", {"sessions": [
        {"stationId": "ELSEWHERE", "evseId": 1}]})
    assert code == 400 and "not on site" in answer["detail"]
    assert [s["id"] for s in server.get("/api/v1/sites")["items"]] == ["depot"]
    assert server.request("DELETE", "/api/v1/sites/depot")[0] == 204
    assert server.request("GET", "/api/v1/sites/depot")[0] == 404
    # Once it is gone, its EVSEs may join another site.
    assert server.request("POST", "/api/v1/sites", dict(site(), id="other"))[0] == 201


def test_the_live_allocation_follows_the_transactions(server):
    async def scenario():
        server.post("/api/v1/stations", {"id": "CP1"})
        assert server.request("POST", "/api/v1/sites", site(limit_a=40.0))[0] == 201
        assert server.get("/api/v1/sites/depot/allocation")["allocations"] == []
        st = await connect(server, ChargePoint16, "CP1", None, "ocpp1.6")
        await st.call(call16.BootNotification(charge_point_vendor="Py", charge_point_model="Site"))
        ids = []
        for connector in (1, 3):
            r = await st.call(call16.StartTransaction(connector_id=connector, id_tag="T", meter_start=0, timestamp=now()))
            ids.append(r.transaction_id)
        got = server.get("/api/v1/sites/depot/allocation")["allocations"]
        assert [(a["evseId"], a["currentA"]) for a in got] == [(1, 20.0), (3, 20.0)]
        await st.call(call16.StopTransaction(transaction_id=ids[0], meter_stop=10, timestamp=now()))
        got = server.get("/api/v1/sites/depot/allocation")["allocations"]
        assert [(a["evseId"], a["currentA"], a["binding"]) for a in got] == [(3, 32.0, "evseOrCar")]
        await st.close()

    asyncio.run(scenario())


def test_equal_priorities_are_served_first_come_first_served(server):
    """10 A fits one 6 A minimum: of two sessions of equal priority, the one that started first
    charges and the other is paused, whatever the order of their EVSEs."""
    async def scenario():
        server.post("/api/v1/stations", {"id": "CP1"})
        assert server.request("POST", "/api/v1/sites", site(limit_a=10.0))[0] == 201
        st = await connect(server, ChargePoint16, "CP1", None, "ocpp1.6")
        await st.call(call16.BootNotification(charge_point_vendor="Py", charge_point_model="Site"))
        await st.call(call16.StartTransaction(connector_id=3, id_tag="T", meter_start=0, timestamp=now()))
        await asyncio.sleep(0.05)
        await st.call(call16.StartTransaction(connector_id=1, id_tag="T", meter_start=0, timestamp=now()))
        got = (await asyncio.to_thread(server.get, "/api/v1/sites/depot/allocation"))["allocations"]
        assert [(a["evseId"], a["currentA"], a["paused"]) for a in got] == [(1, 0.0, True), (3, 10.0, False)]
        await st.close()

    asyncio.run(scenario())


def test_load_management_sends_the_division_to_the_stations(server):
    """The live site: a 1.6 station of the Python `ocpp` package (which checks every profile
    against the schema) gets a safe TxDefaultProfile when it boots (40 A shared by four EVSEs:
    10 A each), and a TxProfile per session as transactions start and end; decreases go out
    before increases."""
    from ocpp.v16 import call_result as result16
    from test_commands import scripted

    answers = {"SetChargingProfile": lambda st, r: result16.SetChargingProfile(status="Accepted")}

    def profiles(st):
        return [(r["connector_id"], r["cs_charging_profiles"]["charging_profile_purpose"],
                 r["cs_charging_profiles"]["charging_schedule"]["charging_schedule_period"][0]["limit"])
                for a, r in st.cp.received if a == "SetChargingProfile"]

    async def wait_for(st, count):
        for _ in range(100):
            if len(profiles(st)) >= count:
                return profiles(st)
            await asyncio.sleep(0.05)
        raise AssertionError(f"expected {count} profiles, got {profiles(st)}: {[a for a, _ in st.cp.received]}")

    async def scenario():
        server.post("/api/v1/stations", {"id": "CP1"})
        assert server.request("POST", "/api/v1/sites", site(limit_a=40.0))[0] == 201
        st = await connect(server, scripted(ChargePoint16, answers), "CP1", None, "ocpp1.6")
        await st.call(call16.BootNotification(charge_point_vendor="Py", charge_point_model="Site"))
        assert await wait_for(st, 1) == [(0, "TxDefaultProfile", 10.0)]
        first = await st.call(call16.StartTransaction(connector_id=1, id_tag="T", meter_start=0, timestamp=now()))
        assert (await wait_for(st, 2))[1] == (1, "TxProfile", 32.0)
        await st.call(call16.StartTransaction(connector_id=3, id_tag="T", meter_start=0, timestamp=now()))
        # The running session comes down first, then the new one goes up.
        assert (await wait_for(st, 4))[2:] == [(1, "TxProfile", 20.0), (3, "TxProfile", 20.0)]
        sent = [r for a, r in st.cp.received if a == "SetChargingProfile"][1]["cs_charging_profiles"]
        assert sent["transaction_id"] == first.transaction_id and sent["stack_level"] == 1
        # It runs out unless renewed (15 minutes, started a minute early): without the CSMS the
        # station falls back to its safe default.
        assert sent["charging_schedule"]["duration"] == 960
        held = server.get("/api/v1/stations/CP1/charging-profiles")["items"]
        assert sorted((h["evseId"], h["chargingProfile"]["purpose"]) for h in held) == [
            (0, "TxDefaultProfile"), (1, "TxProfile"), (3, "TxProfile")]
        await st.close()

    asyncio.run(scenario())


def test_cars_that_draw_less_leave_their_share_to_the_others(server):
    """The meter values of a car show it draws 10 A on one phase of the 20 A it was given: it
    is capped just above that (10.5 A, on its one phase), and the capacity it leaves goes to the
    other car (29.5 A: the phase they share has 40). When it draws all of its cap, the cap is
    lifted and the two share again."""
    from ocpp.v16 import call_result as result16
    from test_commands import scripted

    answers = {"SetChargingProfile": lambda st, r: result16.SetChargingProfile(status="Accepted")}

    def profiles(st):
        return [(r["connector_id"], r["cs_charging_profiles"]["charging_schedule"]["charging_schedule_period"][0]["limit"])
                for a, r in st.cp.received if a == "SetChargingProfile"]

    async def wait_for(st, count):
        for _ in range(100):
            if len(profiles(st)) >= count:
                return profiles(st)
            await asyncio.sleep(0.05)
        raise AssertionError(f"expected {count} profiles, got {profiles(st)}: {[a for a, _ in st.cp.received]}")

    def drawing(l1, l2=0.0, l3=0.0):
        return [{"timestamp": now(), "sampledValue": [
            {"value": f"{a:.1f}", "measurand": "Current.Import", "phase": p, "unit": "A"}
            for p, a in (("L1", l1), ("L2", l2), ("L3", l3))]}]

    async def allocation():
        got = (await asyncio.to_thread(server.get, "/api/v1/sites/depot/allocation"))["allocations"]
        return [(a["evseId"], a["currentA"], a["binding"], a["sitePhases"]) for a in got]

    async def scenario():
        server.post("/api/v1/stations", {"id": "CP1"})
        assert server.request("POST", "/api/v1/sites", site(limit_a=40.0))[0] == 201
        st = await connect(server, scripted(ChargePoint16, answers), "CP1", None, "ocpp1.6")
        await st.call(call16.BootNotification(charge_point_vendor="Py", charge_point_model="Site"))
        small = await st.call(call16.StartTransaction(connector_id=1, id_tag="T", meter_start=0, timestamp=now()))
        await wait_for(st, 2)
        big = await st.call(call16.StartTransaction(connector_id=3, id_tag="T", meter_start=0, timestamp=now()))
        got = await wait_for(st, 4)
        assert got[2:] == [(1, 20.0), (3, 20.0)], got
        # A reading taken before the new limits settled teaches nothing.
        await st.call(call16.MeterValues(connector_id=1, transaction_id=small.transaction_id, meter_value=drawing(10.0)))
        await asyncio.sleep(2.5)
        assert len(profiles(st)) == 4
        await st.call(call16.MeterValues(connector_id=3, transaction_id=big.transaction_id,
                                         meter_value=drawing(19.9, 19.9, 19.9)))
        await st.call(call16.MeterValues(connector_id=1, transaction_id=small.transaction_id, meter_value=drawing(10.0)))
        # Down first, then up.
        assert (await wait_for(st, 6))[4:] == [(1, 10.5), (3, 29.5)]
        assert await allocation() == [(1, 10.5, "evseOrCar", ["L1"]), (3, 29.5, "groupLimit", ["L1", "L2", "L3"])]
        await asyncio.sleep(2.5)
        await st.call(call16.MeterValues(connector_id=1, transaction_id=small.transaction_id, meter_value=drawing(10.5)))
        assert (await wait_for(st, 8))[6:] == [(3, 20.0), (1, 20.0)]
        await st.close()

    asyncio.run(scenario())


def test_site_changes_reach_the_stations(server):
    """An operator raises the site's limit: its station gets its new safe default at once. The
    site is deleted: load management's profiles are cleared from the station."""
    from ocpp.v16 import call_result as result16
    from test_commands import scripted

    answers = {"SetChargingProfile": lambda st, r: result16.SetChargingProfile(status="Accepted"),
               "ClearChargingProfile": lambda st, r: result16.ClearChargingProfile(status="Accepted")}

    def sent(st):
        out = []
        for a, r in st.cp.received:
            if a == "SetChargingProfile":
                p = r["cs_charging_profiles"]
                out.append(("set", r["connector_id"], p["charging_profile_id"],
                            p["charging_schedule"]["charging_schedule_period"][0]["limit"]))
            elif a == "ClearChargingProfile":
                out.append(("clear", r.get("id")))
        return out

    async def wait_for(st, count):
        for _ in range(100):
            if len(sent(st)) >= count:
                return sent(st)
            await asyncio.sleep(0.05)
        raise AssertionError(f"expected {count} messages, got {sent(st)}")

    async def scenario():
        server.post("/api/v1/stations", {"id": "CP1"})
        assert server.request("POST", "/api/v1/sites", site(limit_a=40.0))[0] == 201
        st = await connect(server, scripted(ChargePoint16, answers), "CP1", None, "ocpp1.6")
        await st.call(call16.BootNotification(charge_point_vendor="Py", charge_point_model="Site"))
        assert await wait_for(st, 1) == [("set", 0, 899999999, 10.0)]
        code, _ = await asyncio.to_thread(server.request, "POST", "/api/v1/sites", site(limit_a=80.0))
        assert code == 200
        assert (await wait_for(st, 2))[1] == ("set", 0, 899999999, 20.0)
        code, _ = await asyncio.to_thread(server.request, "DELETE", "/api/v1/sites/depot")
        assert code == 204
        assert (await wait_for(st, 3))[2] == ("clear", 899999999)
        await asyncio.sleep(0.5)
        held = (await asyncio.to_thread(server.get, "/api/v1/stations/CP1/charging-profiles"))["items"]
        assert held == []
        await st.close()

    asyncio.run(scenario())


def test_model_quirks_are_respected(server):
    """A model recorded as forgetting its profiles at reboot and refusing EVSE 0 gets its safe
    default on each EVSE instead of 0, and what Arus installed sent again after each boot."""
    from ocpp.v16 import call_result as result16
    from test_commands import scripted

    answers = {"SetChargingProfile": lambda st, r: result16.SetChargingProfile(status="Accepted")}

    def profiles(st):
        return [(r["connector_id"], r["cs_charging_profiles"]["charging_profile_purpose"],
                 r["cs_charging_profiles"]["charging_profile_id"])
                for a, r in st.cp.received if a == "SetChargingProfile"]

    async def wait_for(st, count):
        for _ in range(100):
            if len(profiles(st)) >= count:
                return profiles(st)
            await asyncio.sleep(0.05)
        raise AssertionError(f"expected {count} profiles, got {profiles(st)}: {[a for a, _ in st.cp.received]}")

    async def scenario():
        server.post("/api/v1/stations", {"id": "CP1"})
        assert server.request("POST", "/api/v1/sites", site(limit_a=40.0))[0] == 201
        quirks = {"vendor": "Py", "model": "Forgetful", "forgetsProfiles": True, "noEvseZero": True,
                  "minRewriteIntervalS": 3600}
        assert server.request("POST", "/api/v1/station-models", quirks)[0] == 200
        recorded = dict(quirks, ignoresProfiles=False, noCompositeSchedule=False, fixed=False)
        assert server.get("/api/v1/station-models")["items"] == [recorded]
        st = await connect(server, scripted(ChargePoint16, answers), "CP1", None, "ocpp1.6")
        boot = call16.BootNotification(charge_point_vendor="Py", charge_point_model="Forgetful")
        await st.call(boot)
        got = await wait_for(st, 4)
        assert [(c, p) for c, p, _ in got] == [(e, "TxDefaultProfile") for e in (1, 2, 3, 4)]
        assert len({i for _, _, i in got}) == 4, "one id per EVSE"
        code, r = await asyncio.to_thread(server.request, "POST", "/api/v1/stations/CP1/commands/setChargingProfile", {
            "evseId": 0, "chargingProfile": {"id": 7, "purpose": "ChargingStationMaxProfile", "kind": "Absolute",
                                             "schedules": [{"rateUnit": "A", "periods": [{"startS": 0, "limit": 30}]}]}})
        assert code == 200 and r["outcome"]["status"] == "Accepted", r
        # Changed within the hour its flash allows: refused before it leaves.
        code, r = await asyncio.to_thread(server.request, "POST", "/api/v1/stations/CP1/commands/setChargingProfile", {
            "evseId": 0, "chargingProfile": {"id": 7, "purpose": "ChargingStationMaxProfile", "kind": "Absolute",
                                             "schedules": [{"rateUnit": "A", "periods": [{"startS": 0, "limit": 20}]}]}})
        assert code == 400 and "spare their flash" in r["detail"], r
        assert len(profiles(st)) == 5
        # It reboots: what Arus installed goes again (the same profile: no change), then the
        # safe defaults.
        await st.call(boot)
        got = await wait_for(st, 10)
        assert got[5] == (0, "ChargePointMaxProfile", 7), got
        assert [c for c, _, _ in got[6:]] == [1, 2, 3, 4]
        await st.close()

    asyncio.run(scenario())


def test_limits_that_change_over_time(server):
    """The evening peak: 40 A instead of 100 from 16:00 to 18:00. The division follows the
    time asked; the safe fallback is computed from the tightest limit."""
    from datetime import datetime, timedelta, timezone

    day = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    iso = lambda t: t.isoformat().replace("+00:00", "Z")
    body = site(limit_a=100.0)
    body["groups"][0]["limitSchedule"] = [
        {"from": iso(day + timedelta(hours=16)), "to": iso(day + timedelta(hours=18)), "phaseLimitsA": [40, 40, 40]}]
    assert server.request("POST", "/api/v1/sites", body)[0] == 201

    def at(hour):
        code, answer = server.request("POST", "/api/v1/sites/depot/allocation/preview", {
            "at": iso(day + timedelta(hours=hour)), "sessions": [{"stationId": "CP1", "evseId": 1},
                                                                  {"stationId": "CP1", "evseId": 2}]})
        assert code == 200, answer
        return currents(answer["allocations"])

    assert at(15) == [32.0, 32.0]
    assert at(17) == [20.0, 20.0]
    assert at(18) == [32.0, 32.0]
    # The same peak every day, from the first one on: a week later it still holds.
    body["groups"][0]["limitSchedule"] = [
        {"from": iso(day - timedelta(days=7) + timedelta(hours=16)),
         "to": iso(day - timedelta(days=7) + timedelta(hours=18)), "phaseLimitsA": [40, 40, 40], "repeat": "daily"}]
    assert server.request("POST", "/api/v1/sites", body)[0] == 200
    assert (at(15), at(17), at(18)) == ([32.0, 32.0], [20.0, 20.0], [32.0, 32.0])
    bad = site()
    bad["groups"][0]["limitSchedule"] = [{"from": iso(day), "to": iso(day), "phaseLimitsA": [1, 1, 1]}]
    code, answer = server.request("POST", "/api/v1/sites", bad)
    assert code == 400 and "end after it starts" in answer["detail"]


def test_prices_move_energy_into_cheap_hours(server):
    """A site with a time-of-use curve (dear until 22:00, cheap after, every day) and an
    external limit for the night: the plan puts what each car needs by its departure into the
    cheap hours within the limit then, the car leaving first first; what cannot be met before
    a departure is that car's shortfall."""
    from datetime import datetime, timedelta, timezone

    day = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    iso = lambda t: t.isoformat().replace("+00:00", "Z")
    body = site(limit_a=40.0)
    body["prices"] = [
        {"from": iso(day - timedelta(days=1) + timedelta(hours=22)),
         "to": iso(day + timedelta(hours=7)), "price": 0.10, "repeat": "daily"},
        {"from": iso(day + timedelta(hours=7)), "to": iso(day + timedelta(hours=22)), "price": 0.45, "repeat": "daily"}]
    body["groups"][0]["limitSchedule"] = [
        {"from": iso(day + timedelta(hours=23)), "to": iso(day + timedelta(hours=24)), "phaseLimitsA": [20, 20, 20]}]
    assert server.request("POST", "/api/v1/sites", body)[0] == 201
    start = day + timedelta(hours=20)

    def plan(cars):
        code, answer = server.request("POST", "/api/v1/sites/depot/plan/preview", {"at": iso(start), "cars": cars})
        assert code == 200, answer
        return answer

    # 16 A on three phases for an hour: 11,040 Wh. Leaving at 02:00, it charges from 22:00.
    one = plan([{"stationId": "CP1", "evseId": 1, "maxCurrentA": 16, "energyWh": 11040,
                 "departure": iso(day + timedelta(hours=26))}])
    slots = one["slots"]
    assert len(slots) == 24 and slots[0]["price"] == 0.45 and slots[8]["price"] == 0.10
    rates = one["plans"][0]["ratesA"]
    assert rates[:8] == [0] * 8 and rates[8:12] == [16.0] * 4 and sum(rates) == 64.0, rates
    assert one["plans"][0]["shortfallWh"] == 0
    # Two cars: the first to leave (23:30) takes 22:00-23:30; the night limit of 20 A from
    # 23:00 leaves the other 4 A then, 20 A once the first has gone, 32 A after midnight; the
    # rest of what it needs comes from the dear hours before, as it must leave at 00:30.
    two = plan([{"stationId": "CP1", "evseId": 2, "maxCurrentA": 32, "energyWh": 40000,
                 "departure": iso(day + timedelta(hours=24, minutes=30))},
                {"stationId": "CP1", "evseId": 1, "maxCurrentA": 16, "energyWh": 16560,
                 "departure": iso(day + timedelta(hours=23, minutes=30))}])
    early, late = two["plans"][1]["ratesA"], two["plans"][0]["ratesA"]
    assert early[8:14] == [16.0] * 6 and sum(early) == 96.0, early
    assert late[8:18] == [24.0] * 4 + [4.0] * 2 + [20.0] * 2 + [32.0] * 2, late
    assert abs(sum(late[:8]) * 172.5 - (40000 - 208 * 172.5)) < 0.01
    assert two["plans"][0]["shortfallWh"] == 0 and two["plans"][1]["shortfallWh"] == 0
    # More than the hours before its departure can give: the rest is said.
    short = plan([{"stationId": "CP1", "evseId": 1, "maxCurrentA": 16, "energyWh": 100000,
                   "departure": iso(day + timedelta(hours=21))}])["plans"][0]
    assert short["ratesA"][:4] == [16.0] * 4 and abs(short["shortfallWh"] - (100000 - 64 * 172.5)) < 0.01
    code, answer = server.request("POST", "/api/v1/sites/depot/plan/preview", {"cars": [
        {"stationId": "CP9", "evseId": 1, "energyWh": 1, "departure": iso(start)}]})
    assert code == 400 and "not on site" in answer["detail"]


def test_a_feeder_limits_the_plan_of_the_cars_under_it(server):
    """Two cars on a parking level whose feeder carries 20 A, on a 100 A grid connection:
    planned together they share the feeder's 20 A, so what each needs in the hour before it
    leaves (16 A's worth) cannot all be met, and the plan says how much is lacking."""
    from datetime import datetime, timedelta, timezone

    body = site(limit_a=100.0, evses=0)
    body["groups"].append({"id": "level-2", "parent": "grid", "phaseLimitsA": [20, 20, 20]})
    body["evses"] = [{"stationId": "CP1", "evseId": e, "group": "level-2"} for e in (1, 2)]
    body["evses"].append({"stationId": "CP1", "evseId": 3, "group": "grid"})
    assert server.request("POST", "/api/v1/sites", body)[0] == 201
    start = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    leave = (start + timedelta(hours=1)).isoformat()
    # 16 A on three phases at 230 V for an hour: 11,040 Wh.
    cars = [{"stationId": "CP1", "evseId": e, "maxCurrentA": 16, "energyWh": 11040, "departure": leave}
            for e in (1, 2, 3)]
    code, answer = server.request("POST", "/api/v1/sites/depot/plan/preview", {"at": start.isoformat(), "cars": cars})
    assert code == 200, answer
    p1, p2, p3 = answer["plans"]
    for slot in range(4):
        assert p1["ratesA"][slot] + p2["ratesA"][slot] <= 20.0 + 1e-9
    # The feeder gives the two 20 A for the hour (13,800 Wh of their 22,080); the car on the
    # grid connection gets all it needs.
    assert abs(p1["energyWh"] + p2["energyWh"] - 13_800) < 0.01, answer
    assert abs(p1["shortfallWh"] + p2["shortfallWh"] - 8_280) < 0.01
    assert p3["shortfallWh"] == 0 and p3["ratesA"][:4] == [16.0] * 4


def test_what_a_car_needs_said_by_the_operator_is_planned_and_survives_a_restart(server, database):
    """A car that is not ISO 15118 cannot say what it needs: the operator says it (a fleet
    knows when its vans leave). The car is served what it needs by its departure before the
    others share the rest; the site's plan says what it cannot get. A restart (the server
    killed) loses nothing of it."""
    from datetime import datetime, timedelta, timezone

    from conftest import Server

    def needs_path(tx):
        return f"/api/v1/stations/CP1/transactions/{tx}/charging-needs"

    def allocation(s):
        return [(a["evseId"], a["currentA"]) for a in s.get("/api/v1/sites/depot/allocation")["allocations"]]

    in_an_hour = (datetime.now(timezone.utc) + timedelta(hours=1)).isoformat()

    async def scenario():
        server.post("/api/v1/stations", {"id": "CP1"})
        assert server.request("POST", "/api/v1/sites", site(limit_a=40.0))[0] == 201
        st = await connect(server, ChargePoint16, "CP1", None, "ocpp1.6")
        await st.call(call16.BootNotification(charge_point_vendor="Py", charge_point_model="Site"))
        ids = []
        for connector in (1, 3):
            r = await st.call(call16.StartTransaction(connector_id=connector, id_tag="T", meter_start=0, timestamp=now()))
            ids.append(str(r.transaction_id))
        await st.close()
        return ids

    first, second = asyncio.run(scenario())
    assert allocation(server) == [(1, 20.0), (3, 20.0)]
    # What cannot be: refused with the reason, nothing recorded.
    for body, words in [
        ({"energyWh": 1000}, "go together"),
        ({"energyWh": -5, "departure": in_an_hour}, "≥ 0"),
        ({"energyWh": 1000, "departure": "2020-01-01T00:00:00Z"}, "future"),
        ({"energyWh": 1000, "departure": in_an_hour, "minCurrentA": 20, "maxCurrentA": 10}, "above"),
    ]:
        code, answer = server.request("PUT", needs_path(first), body)
        assert code == 400 and words in answer["detail"], (body, answer)
    assert server.request("PUT", "/api/v1/stations/CP1/transactions/999/charging-needs",
                          {"energyWh": 1000, "departure": in_an_hour})[0] == 404
    assert server.request("GET", needs_path(first))[0] == 404
    # 50 kWh in an hour: more than its 32 A on three phases can take (22.08 kWh), so it gets
    # all it takes, first, and the plan says what it will lack.
    code, told = server.request("PUT", needs_path(first), {"energyWh": 50_000, "departure": in_an_hour})
    assert code == 200, told
    assert (told["evseId"], told["transactionId"], told["energyWh"]) == (1, first, 50_000)
    assert told["saidBy"], told
    assert allocation(server) == [(1, 32.0), (3, 8.0)]
    plan = server.get("/api/v1/sites/depot/plan")
    assert [(p["evseId"], p["transactionId"]) for p in plan["plans"]] == [(1, first)]
    car = plan["plans"][0]
    assert abs(car["energyWh"] - 22_080) < 1 and abs(car["shortfallWh"] - 27_920) < 1, car
    assert all(rate <= 32.0 for rate in car["ratesA"])

    # Killed and started again on the same database: the needs are still in force.
    server.stop()
    again = Server(database, SERVER_ARGS)
    try:
        assert again.get(needs_path(first))["energyWh"] == 50_000
        assert allocation(again) == [(1, 32.0), (3, 8.0)]
        # Needs that can be met: the car is served what it needs (5 kWh in an hour on three
        # phases is 7.25 A) before the two share the rest equally.
        code, _ = again.request("PUT", needs_path(first), {"energyWh": 5_000, "departure": in_an_hour})
        assert code == 200
        car = again.get("/api/v1/sites/depot/plan")["plans"][0]
        assert car["shortfallWh"] == 0 and abs(car["energyWh"] - 5_000) < 1, car
        (_, a), (_, b) = allocation(again)
        assert abs((a - b) - 7.25) < 0.3 and 39.7 <= a + b <= 40.0, (a, b)
    finally:
        again.stop()
        # The fixture stops what it started: it is stopped already.
        server.proc = again.proc


def test_a_building_meter_pushes_the_load_that_is_not_charging(server):
    """The grid connection is configured with 30 A of building load; a meter pushes what the
    building draws now. The cars get what it leaves, at once, and the configured value comes
    back when the meter falls silent (not waited for here: two minutes)."""
    from datetime import datetime, timedelta, timezone

    from ocpp.v16 import call_result as result16
    from test_commands import scripted

    answers = {"SetChargingProfile": lambda st, r: result16.SetChargingProfile(status="Accepted")}
    path = "/api/v1/sites/depot/groups/grid/other-load"

    def last_limits(st):
        out = {}
        for a, r in st.cp.received:
            if a == "SetChargingProfile" and r["connector_id"] > 0:
                out[r["connector_id"]] = r["cs_charging_profiles"]["charging_schedule"]["charging_schedule_period"][0]["limit"]
        return out

    async def until_limits(st, want):
        for _ in range(100):
            if last_limits(st) == want:
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"{last_limits(st)} is not {want}")

    async def scenario():
        server.post("/api/v1/stations", {"id": "CP1"})
        body = site(limit_a=100.0, evses=2)
        body["groups"][0]["otherLoadA"] = [30, 30, 30]
        assert server.request("POST", "/api/v1/sites", body)[0] == 201
        assert server.get(path) == {"siteId": "depot", "groupId": "grid", "currentA": [30.0, 30.0, 30.0],
                                    "source": "configured"}
        st = await connect(server, scripted(ChargePoint16, answers), "CP1", None, "ocpp1.6")
        await st.call(call16.BootNotification(charge_point_vendor="Py", charge_point_model="Site"))
        for connector in (1, 2):
            await st.call(call16.StartTransaction(connector_id=connector, id_tag="T", meter_start=0, timestamp=now()))
        # 70 A left: 32 A each (their maximum).
        await until_limits(st, {1: 32.0, 2: 32.0})
        # The building draws 80 A on each phase now: 20 A left, 10 each, sent at once.
        code, got = await asyncio.to_thread(server.request, "PUT", path, {"currentA": [80, 80, 80]})
        assert code == 200 and got["source"] == "measured" and got["currentA"] == [80.0, 80.0, 80.0], got
        await until_limits(st, {1: 10.0, 2: 10.0})
        allocation = await asyncio.to_thread(server.get, "/api/v1/sites/depot/allocation")
        assert [a["currentA"] for a in allocation["allocations"]] == [10.0, 10.0]
        # Solar: the building gives 10 A back on L1 and draws nothing else.
        code, _ = await asyncio.to_thread(server.request, "PUT", path, {"currentA": [-10, 0, 0]})
        assert code == 200
        await until_limits(st, {1: 32.0, 2: 32.0})
        await st.close()

    asyncio.run(scenario())
    # What holds nothing: refused with the reason.
    stale = (datetime.now(timezone.utc) - timedelta(minutes=5)).isoformat()
    for body, code, words in [
        ({"currentA": [1e9, 0, 0]}, 400, "at most"),
        ({"currentA": [1, 2]}, 400, ""),
        ({"currentA": [1, 2, 3], "at": stale}, 400, "older than two minutes"),
    ]:
        got_code, answer = server.request("PUT", path, body)
        assert got_code == code and words in answer["detail"], (body, answer)
    assert server.request("PUT", "/api/v1/sites/depot/groups/roof/other-load", {"currentA": [1, 2, 3]})[0] == 404
