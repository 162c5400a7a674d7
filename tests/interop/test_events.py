"""The event stream and webhooks, with a Python `ocpp` station making things happen: the SSE
stream carries the station's events, filtered, and resumes after Last-Event-ID; webhook
deliveries are HMAC-signed, retried with the same body when the receiver fails, kept as dead
after the last attempt, and survive a restart of the server; targets on internal networks are
refused unless allowed, and redirects are not followed."""

import asyncio
import hashlib
import hmac
import json
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from ocpp.v16 import ChargePoint as ChargePoint16
from ocpp.v16 import call as call16

from conftest import TOKEN, Server, free_port
from test_interop import connect, now

# The receivers here listen on loopback, which webhooks may reach only when allowed.
ALLOW_LOOPBACK = ["--webhook-allow-networks", "127.0.0.0/8"]
ARGS = ["--webhook-retry-ms", "200", "--webhook-attempts", "4", *ALLOW_LOOPBACK]
# How old a signature a receiver accepts (arus_webhooks::SIGNATURE_TOLERANCE).
TOLERANCE_S = 300
SECRET = "webhook-secret-0123456789"


class Receiver:
    """An HTTP endpoint that fails the first `failures` attempts of each delivery."""

    def __init__(self, failures=0, port=None):
        self.failures = failures
        self.requests = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"])).decode()
                with receiver.lock:
                    receiver.requests.append((dict(self.headers.items()), body))
                    seen = sum(1 for h, _ in receiver.requests if h["arus-delivery-id"] == self.headers["arus-delivery-id"])
                self.send_response(500 if seen <= receiver.failures else 204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.port = port or free_port()
        self.http = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.http.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.port}/hook"

    def delivered(self):
        """Bodies of the deliveries answered 2xx, by delivery id."""
        with self.lock:
            by_id = {}
            for h, body in self.requests:
                by_id.setdefault(h["arus-delivery-id"], []).append((h, body))
            return {d: tries for d, tries in by_id.items() if len(tries) > self.failures}

    def stop(self):
        self.http.shutdown()
        self.http.server_close()


def verify(headers, body, secret=SECRET, now=None):
    """What a receiver checks: the HMAC of "{t}.{body}", and that t is recent (a delivery
    recorded on the way and replayed later is refused)."""
    parts = dict(p.split("=", 1) for p in headers["arus-signature"].split(","))
    if abs((time.time() if now is None else now) - int(parts["t"])) > TOLERANCE_S:
        return False
    expected = hmac.new(secret.encode(), f"{parts['t']}.{body}".encode(), hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts["v1"])


def wait_for(check, seconds=15):
    deadline = time.time() + seconds
    while time.time() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("timed out")


def read_sse(server, query, headers=None, count=1, seconds=8):
    """Reads `count` SSE events (id, type, data) from the stream."""
    req = urllib.request.Request(server.url + "/api/v1/events" + query)
    req.add_header("Authorization", f"Bearer {TOKEN}")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    events, current = [], {}
    with urllib.request.urlopen(req, timeout=seconds) as r:
        assert r.headers["Content-Type"].startswith("text/event-stream")
        for raw in r:
            line = raw.decode().rstrip("\n")
            if not line:
                if "data" in current:
                    events.append((current.get("id"), current.get("event"), json.loads(current["data"])))
                    if len(events) >= count:
                        return events
                current = {}
            elif not line.startswith(":"):
                k, _, v = line.partition(":")
                current[k] = v.lstrip(" ")
    return events


def read_sse_meanwhile(server, query, count):
    """Starts reading `count` SSE events in a thread and gives the stream half a second to open;
    calling the answer waits for the thread and gives the events."""
    got = {}
    reader = threading.Thread(target=lambda: got.update(events=read_sse(server, query, count=count)))
    reader.start()
    time.sleep(0.5)

    def events():
        reader.join(10)
        return got["events"]

    return events


async def station_activity(server, station_id):
    server.post("/api/v1/stations", {"id": station_id, "password": "events-secret-password"})
    st = await connect(server, ChargePoint16, station_id, "events-secret-password", "ocpp1.6")
    await st.call(call16.BootNotification(charge_point_vendor="Py", charge_point_model="Events"))
    for c, status in [(1, "Preparing"), (1, "Available"), (2, "Faulted")]:
        await st.call(call16.StatusNotification(connector_id=c, error_code="NoError", status=status, timestamp=now()))
    await st.close()


def test_the_event_stream_filters_and_resumes(database):
    server = Server(database, ARGS)
    try:
        reading = read_sse_meanwhile(server, "?stationId=EV1&type=boot,statusChanged", count=4)
        asyncio.run(station_activity(server, "EV1"))
        asyncio.run(station_activity(server, "OTHER"))
        events = reading()
        assert [(e[1], e[2].get("status")) for e in events] == [
            ("boot", "Accepted"),
            ("statusChanged", "Preparing"),
            ("statusChanged", "Available"),
            ("statusChanged", "Faulted"),
        ]
        assert all(e[2]["stationId"] == "EV1" for e in events)
        ids = [int(e[0]) for e in events]
        assert ids == sorted(ids) and all(int(e[0]) == e[2]["id"] for e in events)
        # Resuming after the first event gives exactly the ones after it.
        again = read_sse(server, "?stationId=EV1&type=boot,statusChanged", {"Last-Event-ID": events[0][0]}, count=3)
        assert [e[0] for e in again] == [e[0] for e in events[1:]]
        # An unknown type is a problem, not an empty stream.
        status, problem = server.request("GET", "/api/v1/events?type=nonsense")
        assert status == 400 and "unknown event type" in problem["detail"]
    finally:
        server.stop()


def test_webhooks_are_signed_retried_and_dead_lettered(database):
    server = Server(database, ARGS)
    flaky = Receiver(failures=2)
    broken = Receiver(failures=1000)
    try:
        hook = server.post("/api/v1/webhooks", {"url": flaky.url, "secret": SECRET, "types": ["boot", "statusChanged"],
                                                "stationIds": ["WH1"]})
        assert hook["secret"] == SECRET
        dead = server.post("/api/v1/webhooks", {"url": broken.url, "types": ["boot"]})
        assert len(dead["secret"]) >= 16, "a secret is generated when none is given"
        listed = server.get("/api/v1/webhooks")["items"]
        assert all("secret" not in w for w in listed), "secrets are shown only once"
        asyncio.run(station_activity(server, "WH1"))
        delivered = wait_for(lambda: (d := flaky.delivered()) and len(d) == 4 and d)
        for tries in delivered.values():
            assert len(tries) == 3, "two failures, then success"
            bodies = {body for _, body in tries}
            assert len(bodies) == 1, "a retry sends the same body"
            for headers, body in tries:
                assert verify(headers, body), "every attempt is signed"
                assert not verify(headers, body, now=time.time() + TOLERANCE_S + 5), "a replay is refused"
        kinds = sorted(json.loads(tries[0][1])["type"] for tries in delivered.values())
        assert kinds == ["boot", "statusChanged", "statusChanged", "statusChanged"]
        # The always-failing receiver: 4 attempts, then a dead letter.
        dead_items = wait_for(
            lambda: server.get(f"/api/v1/webhooks/{dead['id']}/deliveries?status=dead")["items"])
        assert dead_items[0]["attempts"] == 4 and dead_items[0]["lastStatus"] == 500
        assert len([h for h, _ in broken.requests if h["arus-delivery-id"] == dead_items[0]["id"]]) == 4
        retried = server.post(f"/api/v1/webhooks/{dead['id']}/deliveries/{dead_items[0]['id']}/retry", None)
        assert retried["status"] == "pending" and retried["attempts"] == 0
        wait_for(lambda: len([h for h, _ in broken.requests if h["arus-delivery-id"] == dead_items[0]["id"]]) >= 5)
        # A deleted subscription gets nothing more.
        status, _ = server.request("DELETE", f"/api/v1/webhooks/{hook['id']}")
        assert status == 200
    finally:
        server.stop()
        flaky.stop()
        broken.stop()


def test_no_delivery_is_lost_across_a_restart(database):
    port = free_port()
    # Retries slow enough that the deliveries are still pending at the restart.
    args = ["--webhook-retry-ms", "500", "--webhook-attempts", "10", *ALLOW_LOOPBACK]
    server = Server(database, args)
    receiver = None
    try:
        hook = server.post("/api/v1/webhooks", {"url": f"http://127.0.0.1:{port}/hook", "secret": SECRET,
                                                "stationIds": ["RS1"]})
        asyncio.run(station_activity(server, "RS1"))
        # Nothing listens yet: the deliveries wait, recorded.
        pending = wait_for(lambda: (p := server.get(f"/api/v1/webhooks/{hook['id']}/deliveries")["items"])
                           and len(p) >= 6 and p)
        expected = {d["id"] for d in pending}
        assert all(d["status"] == "pending" for d in pending)
        server.stop()
        server = Server(database, args)
        receiver = Receiver(port=port)
        delivered = wait_for(lambda: (d := receiver.delivered()) and expected <= set(d) and d, seconds=30)
        for tries in delivered.values():
            assert verify(tries[-1][0], tries[-1][1])
        states = {d["id"]: d["status"] for d in server.get(f"/api/v1/webhooks/{hook['id']}/deliveries")["items"]}
        assert all(states[i] == "delivered" for i in expected)
    finally:
        server.stop()
        if receiver:
            receiver.stop()


def test_security_and_firmware_events_have_their_own_types(database):
    server = Server(database, ARGS)
    try:
        reading = read_sse_meanwhile(server, "?type=securityEvent,firmwareStatus,logStatus", count=3)

        async def station():
            server.post("/api/v1/stations", {"id": "SEC1", "password": "events-secret-password"})
            st = await connect(server, ChargePoint16, "SEC1", "events-secret-password", "ocpp1.6")
            await st.call(call16.BootNotification(charge_point_vendor="Py", charge_point_model="Events"))
            await st.call(call16.SecurityEventNotification(type="FirmwareUpdated", timestamp=now(), tech_info=None))
            await st.call(call16.FirmwareStatusNotification(status="Installed"))
            await st.call(call16.LogStatusNotification(status="Uploaded", request_id=4))
            await st.close()

        asyncio.run(station())
        events = [(e[1], e[2]) for e in reading()]
        assert events[0][0] == "securityEvent" and events[0][1]["eventType"] == "FirmwareUpdated"
        assert events[1][0] == "firmwareStatus" and events[1][1]["status"] == "Installed"
        assert events[2][0] == "logStatus" and events[2][1]["requestId"] == 4
        assert all(e[1]["stationId"] == "SEC1" for e in events)
    finally:
        server.stop()


def test_webhook_targets_on_internal_networks_are_refused(database):
    """Issue 10, fault 11: a subscription cannot point Arus at its own network (loopback,
    private, link-local such as a cloud metadata address) unless the operator allowed that
    network; and a receiver cannot redirect a delivery elsewhere."""
    server = Server(database, ["--webhook-retry-ms", "200", "--webhook-attempts", "2"])
    try:
        for url in ["http://127.0.0.1:9/hook", "http://localhost:9/hook", "http://169.254.169.254/latest",
                    "http://10.0.0.1/hook", "http://[::1]:9/hook", "http://[::ffff:127.0.0.1]:9/hook"]:
            status, body = server.request("POST", "/api/v1/webhooks", {"url": url})
            assert status == 400, (url, body)
            assert "internal address" in body["detail"], body
        assert server.get("/api/v1/webhooks")["items"] == []
    finally:
        server.stop()
    server = Server(database, ["--webhook-retry-ms", "200", "--webhook-attempts", "2", *ALLOW_LOOPBACK])
    target = Receiver()

    class Redirecting(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(307)
            self.send_header("Location", target.url)
            self.end_headers()

        def log_message(self, *args):
            pass

    redirector = ThreadingHTTPServer(("127.0.0.1", free_port()), Redirecting)
    threading.Thread(target=redirector.serve_forever, daemon=True).start()
    try:
        # Allowed: loopback only, not the rest of the private ranges.
        status, _ = server.request("POST", "/api/v1/webhooks", {"url": "http://10.0.0.1/hook"})
        assert status == 400
        hook = server.post("/api/v1/webhooks", {"url": f"http://127.0.0.1:{redirector.server_port}/", "types": ["boot"]})
        asyncio.run(station_activity(server, "RD1"))
        dead = wait_for(lambda: server.get(f"/api/v1/webhooks/{hook['id']}/deliveries?status=dead")["items"])
        assert dead[0]["lastStatus"] == 307
        assert target.requests == [], "the redirect was not followed"
    finally:
        server.stop()
        redirector.shutdown()
        redirector.server_close()
        target.stop()
