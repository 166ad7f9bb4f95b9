"""Metrics from Python: ``NETunnelServer(metrics=True)`` answers ``GET
/metrics``, ``metrics()`` on the server and the client gives the same text,
and ``python -m netunnel.server --metrics`` turns it on; every text is read
with prometheus_client's parser."""

import asyncio
import urllib.error
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from netunnel.client import NETunnelClient
from netunnel.server.server import NETunnelServer

from conftest import (client_command, echo_through, free_port, interrupt, run, server_command,
                      this_python)


def samples(text):
    """Every sample of `text` as {(name, sorted labels): value}; a series
    given twice (which the parser lets through) fails."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            key = (sample.name, tuple(sorted(sample.labels.items())))
            assert key not in found, f"{key} is given twice"
            found[key] = sample.value
    return found


def value(text, name, **labels):
    """The one sample `name` whose labels include `labels`."""
    matching = [v for (n, have), v in samples(text).items()
                if n == name and set(labels.items()) <= set(have)]
    assert len(matching) == 1, (name, labels, matching)
    return matching[0]


def get(url):
    """Status and body of a GET."""
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


async def wait_quiet(read):
    """Waits until `read()`'s text says no connection is open any more."""
    for _ in range(500):
        if value(read(), "netunnel_connections_open") == 0:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("connections stayed open")


def test_both_sides_count_a_tunnels_bytes_and_the_server_serves_them(echo_port):
    async def main():
        server = NETunnelServer(port=0, metrics=True)
        await server.start()
        url = f"http://127.0.0.1:{server._port}"
        async with NETunnelClient(url) as client:
            tunnel = await client.open_tunnel_to_server("127.0.0.1", echo_port)
            sizes = [10_000, 200_000]
            for size in sizes:
                await echo_through(tunnel.get_entrance_socket(), size)
            await wait_quiet(server.metrics)
            await wait_quiet(client.metrics)
            status, scraped = await asyncio.to_thread(get, f"{url}/metrics")
            assert status == 200, scraped
            entrance = "%s:%s" % tunnel.get_entrance_socket()
            for text in (scraped, server.metrics(), client.metrics()):
                assert value(text, "netunnel_connections_total") == len(sizes)
                for direction in ("to_exit", "to_entrance"):
                    assert value(text, "netunnel_bytes_total",
                                 direction=direction) == sum(sizes)
                assert value(text, "netunnel_tunnels", kind="forward") == 1
            assert value(client.metrics(), "netunnel_tunnel_connections_total",
                         entrance=entrance, exit=f"127.0.0.1:{echo_port}") == len(sizes)
        await server.stop()
    run(main())


def test_the_server_command_serves_metrics_only_with_the_flag():
    for flag, expected in (([], 404), (["--metrics"], 200)):
        port = free_port()
        with server_command(this_python(), port, *flag):
            status, body = get(f"http://127.0.0.1:{port}/metrics")
        assert status == expected, body
        if expected == 200:
            assert value(body, "netunnel_channels") == 0
            assert value(body, "netunnel_refused_total", reason="unauthorized") == 0


def test_the_client_command_serves_its_tunnels_metrics_on_a_local_port(echo_port):
    async def main():
        server = NETunnelServer(port=0)
        await server.start()
        client, entrance = await client_command(
            this_python(), "-s", f"http://127.0.0.1:{server._port}",
            "--remote-port", str(echo_port), "--metrics-port", "0")
        line = (await client.stdout.readline()).decode()
        if line.startswith("Tunnel exit socket:"):
            line = (await client.stdout.readline()).decode()
        assert line.startswith("Metrics: http://127.0.0.1:"), line
        url = line.split(" ", 1)[1].strip()
        await echo_through(entrance, 50_000)
        for _ in range(500):
            status, body = await asyncio.to_thread(get, url)
            assert status == 200, body
            if value(body, "netunnel_connections_open") == 0:
                break
            await asyncio.sleep(0.01)
        assert value(body, "netunnel_bytes_total", direction="to_exit") == 50_000
        assert value(body, "netunnel_tunnel_connections_total",
                     entrance="%s:%s" % entrance) == 1
        status, _ = await asyncio.to_thread(get, url.replace("/metrics", "/other"))
        assert status == 404
        assert await interrupt(client) == 0
        await server.stop()
    run(main())
