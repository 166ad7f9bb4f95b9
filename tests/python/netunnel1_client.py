"""Runs NETunnel 1.0.13's command-line client, as `python -m netunnel.client`
does, with the heartbeat of its websockets taken from NETUNNEL1_HEARTBEAT
(seconds) instead of its built-in 20, so that tests can leave a tunnel idle past
that heartbeat in a second or two. Nothing else of 1.0.13 is changed."""

import asyncio
import os

import netunnel.client as client

client.CLIENT_CHANNEL_HEARTBEAT = float(os.environ["NETUNNEL1_HEARTBEAT"])

if __name__ == "__main__":
    asyncio.run(client.main())
