"""NETunnel 1.0.x's helper modules: the secret-key ``Encryptor`` (and its
tokens against 1.0.13's), the configuration module and its command, and the
utilities scripts import."""

import asyncio
import json
import subprocess

import pytest

from netunnel.client import NETunnelClient
from netunnel.common import utils
from netunnel.common.exceptions import NETunnelInvalidProxy, NETunnelResponseError
from netunnel.common.security import Encryptor, InvalidToken
from netunnel.server import config
from netunnel.server.server import NETunnelServer

from conftest import (echo_through, http_service, interop_python, run, this_python,
                      tinyproxy)


def security_command(python, *args):
    done = subprocess.run([python, "-m", "netunnel.common.security", *args],
                          capture_output=True, text=True, timeout=60)
    return done.returncode, done.stdout.strip(), done.stderr


def test_encrypted_values_read_both_ways_with_1_0_13():
    key = Encryptor.generate_key()
    ours = Encryptor(key)
    assert ours.decrypt(ours.encrypt(b"\x00\xffbytes")) == b"\x00\xffbytes"
    token = ours.encrypt_string("proxy password")
    assert token.startswith("gAAAAA"), "1.0.x reads Fernet tokens only"
    # 1.0.13's own Encryptor (cryptography's Fernet) reads ours, and we read its.
    code, theirs_read, _ = security_command(interop_python(), "decrypt", key.decode(), token)
    assert (code, theirs_read) == (0, "proxy password")
    code, theirs, _ = security_command(interop_python(), "encrypt", key.decode(), "from 1.0.13")
    assert code == 0
    assert ours.decrypt_string(theirs) == "from 1.0.13"
    with pytest.raises(InvalidToken):
        Encryptor(Encryptor.generate_key()).decrypt_string(theirs)
    with pytest.raises(InvalidToken):
        ours.decrypt_string(theirs[:-4])
    with pytest.raises(ValueError):
        Encryptor("not a key")
    with pytest.raises(TypeError):
        ours.encrypt(16)
    with pytest.raises(InvalidToken):
        ours.decrypt(b"\xff\xfe")
    # The engine's own tokens (what our server writes) read too.
    from netunnel import _native
    engine_token = _native.encrypt(key.decode(), b"written by the engine", False)
    assert engine_token.startswith("ntv1:")
    assert ours.decrypt(engine_token) == b"written by the engine"


def test_the_security_command_generates_encrypts_and_decrypts():
    code, key, _ = security_command(this_python(), "generate-key")
    assert code == 0 and len(key) == 44
    code, token, _ = security_command(this_python(), "encrypt", key, "s3cret")
    assert code == 0 and token.startswith("gAAAAA")
    assert security_command(this_python(), "decrypt", key, token)[:2] == (0, "s3cret")
    other = Encryptor.generate_key().decode()
    code, out, err = security_command(this_python(), "decrypt", other, token)
    assert code == 1 and out == "" and "does not match the secret key" in err
    assert "s3cret" not in err


def test_the_config_command_writes_a_file_the_server_runs_on(tmp_path, echo_port):
    path = tmp_path / "etc" / "netunnel.conf"
    changes = {"allowed_tunnel_destinations": {"127.0.0.1": str(echo_port)}}
    done = subprocess.run([this_python(), "-m", "netunnel.server.config", "create", str(path),
                           "--custom-changes", json.dumps(changes)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    written = json.loads(path.read_text())
    assert written == {**config.get_default_config(), **changes}
    assert oct(path.stat().st_mode & 0o777) == "0o600"

    async def main():
        server = NETunnelServer(config_path=str(path), port=0)
        await server.start()
        async with NETunnelClient(f"http://127.0.0.1:{server._port}") as client:
            with pytest.raises(NETunnelResponseError):
                await client.open_tunnel_to_server("127.0.0.1", echo_port + 1)
            tunnel = await client.open_tunnel_to_server("127.0.0.1", echo_port)
            await echo_through(tunnel.get_entrance_socket(), 10_000)
        await server.stop()
    run(main())


def test_the_configuration_object_loads_overrides_and_saves(tmp_path, monkeypatch):
    path = tmp_path / "netunnel.conf"
    path.write_text(json.dumps({"peers": [], "extra": 1}))
    monkeypatch.setenv(config.ENV_VARIABLES_PREFIX + "HTTP_PROXY_TEST_URL",
                       '"http://127.0.0.1:1/"')
    assert config.get_default_config()["http_proxy_test_url"] == "http://127.0.0.1:1/"
    assert config.get_default_config(use_env_vars=False)["http_proxy_test_url"] != \
        "http://127.0.0.1:1/"

    async def main():
        loaded = await config.NETunnelConfiguration.create(str(path))
        assert loaded["extra"] == 1 and "extra" in loaded
        assert loaded.get("http_proxy_test_url") == "http://127.0.0.1:1/"
        assert loaded.get("missing", "default") == "default"
        loaded["revision"] = 7
        await loaded.save()
        assert json.loads(path.read_text())["revision"] == 7
        await loaded.recreate()
        assert "extra" not in json.loads(path.read_text())
        in_memory = await config.NETunnelConfiguration.create()
        assert in_memory["peers"] == []
    run(main())
    monkeypatch.setenv(config.ENV_VARIABLES_PREFIX + "PEERS", "[not json")
    with pytest.raises(ValueError, match="NETUNNEL_PEERS"):
        config.get_default_config()


def test_verify_proxy_goes_through_a_real_proxy(tmp_path, monkeypatch):
    # Whatever the environment says, the check goes through the proxy.
    monkeypatch.setenv("no_proxy", "*")
    monkeypatch.setenv("NO_PROXY", "*")

    async def main():
        with http_service() as url:
            with tinyproxy(tmp_path) as proxy:
                await utils.verify_proxy(proxy, url)
            with tinyproxy(tmp_path, ("user", "s3cretpass")) as proxy:
                await utils.verify_proxy(proxy, url, "user", "s3cretpass")
                with pytest.raises(NETunnelInvalidProxy, match="407"):
                    await utils.verify_proxy(proxy, url)
                # An https test URL goes through CONNECT, refused without them.
                with pytest.raises(NETunnelInvalidProxy, match="407"):
                    await utils.verify_proxy(proxy, "https://127.0.0.1:1/")
            # The proxy is gone: refused, and the error shows no credentials.
            with pytest.raises(NETunnelInvalidProxy) as gone:
                await utils.verify_proxy(proxy, url, "user", "s3cretpass")
            assert "s3cretpass" not in str(gone.value)
            with pytest.raises(ValueError):
                await utils.verify_proxy(proxy, url, username="user")
    run(main())


def test_the_1_0_x_utilities_behave_as_they_did():
    target = {"a": {"b": 1, "c": 2}, "d": 1}
    utils.update_dict_recursively(target, {"a": {"b": 3}, "d": {"e": 4}})
    assert target == {"a": {"b": 3, "c": 2}, "d": {"e": 4}}
    items = []
    with utils.object_in_list("x", items):
        assert items == ["x"]
    assert items == []
    port = utils.get_unused_port(20000, 21000, exclude_ports=[20000])
    assert 20000 < port < 21000

    async def main():
        queue = utils.EventQueue()
        waiting = asyncio.ensure_future(queue.join_no_empty())
        await asyncio.sleep(0)
        assert not waiting.done()
        await queue.put(1)
        await asyncio.wait_for(waiting, 5)
        assert await queue.get() == 1
        event = utils.EventItem()
        event.set("item")
        assert await event.wait() == "item"
        tasks = []
        task = asyncio.ensure_future(asyncio.sleep(0))
        utils.task_in_list_until_done(task, tasks)
        assert tasks == [task]
        await task
        await asyncio.sleep(0)
        assert tasks == []
        assert await utils.run_blocking_func_in_executor(sum, [1, 2]) == 3
    run(main())
