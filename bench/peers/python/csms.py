"""A central system built on the `ocpp` Python package, for benchmarks: it answers what the
simulator sends (both OCPP 1.6 and 2.0.1), with the package's schema validation on. It keeps
nothing: it measures the RPC framework, not storage.

Usage: python csms.py PORT
"""

import asyncio
import logging
import sys
from datetime import datetime, timezone

import websockets
from ocpp.routing import on
from ocpp.v16 import ChargePoint as ChargePoint16
from ocpp.v16 import call_result as result16
from ocpp.v201 import ChargePoint as ChargePoint201
from ocpp.v201 import call_result as result201

logging.getLogger("ocpp").setLevel(logging.ERROR)


def now():
    return datetime.now(timezone.utc).isoformat()


class Station16(ChargePoint16):
    @on("BootNotification")
    def boot(self, **_):
        return result16.BootNotification(current_time=now(), interval=300, status="Accepted")

    @on("Heartbeat")
    def heartbeat(self, **_):
        return result16.Heartbeat(current_time=now())

    @on("StatusNotification")
    def status(self, **_):
        return result16.StatusNotification()

    @on("MeterValues")
    def meter_values(self, **_):
        return result16.MeterValues()

    @on("Authorize")
    def authorize(self, **_):
        return result16.Authorize(id_tag_info={"status": "Accepted"})

    @on("StartTransaction")
    def start(self, **_):
        return result16.StartTransaction(transaction_id=1, id_tag_info={"status": "Accepted"})

    @on("StopTransaction")
    def stop(self, **_):
        return result16.StopTransaction()


class Station201(ChargePoint201):
    @on("BootNotification")
    def boot(self, **_):
        return result201.BootNotification(current_time=now(), interval=300, status="Accepted")

    @on("Heartbeat")
    def heartbeat(self, **_):
        return result201.Heartbeat(current_time=now())

    @on("StatusNotification")
    def status(self, **_):
        return result201.StatusNotification()

    @on("MeterValues")
    def meter_values(self, **_):
        return result201.MeterValues()

    @on("Authorize")
    def authorize(self, **_):
        return result201.Authorize(id_token_info={"status": "Accepted"})

    @on("TransactionEvent")
    def transaction_event(self, **_):
        return result201.TransactionEvent()


async def handler(ws):
    station = ws.request.path.rstrip("/").rsplit("/", 1)[-1]
    cls = Station201 if ws.subprotocol == "ocpp2.0.1" else Station16
    try:
        await cls(station, ws).start()
    except websockets.exceptions.ConnectionClosed:
        pass


async def main(port):
    async with websockets.serve(
        handler, "127.0.0.1", port, subprotocols=["ocpp2.0.1", "ocpp1.6"],
        ping_interval=None, max_queue=None, backlog=4096,
    ):
        await asyncio.Future()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
