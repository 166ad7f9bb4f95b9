"""``NETunnelServer``: NETunnel 1.0.x's server API on the Rust engine."""

import logging

from .. import _native

# What the server answers in place of a secret (the proxy's credentials).
SECRET_STRING = "******"


class NETunnelServer:
    """A NETunnel server: ``await start()`` listens on ``host:port`` (with
    ``config_path``, settings, peers and static tunnels persist there), ``await
    stop()`` closes everything. Beyond 1.0.x: with ``tls_cert`` and
    ``tls_key`` (PEM files) it serves HTTPS itself; with ``metrics=True``
    ``GET /metrics`` answers in the Prometheus text format (behind
    ``auth_server``), and ``metrics()`` gives the same text."""

    def __init__(self, config_path=None, host="127.0.0.1", port=4040, logger=None,
                 auth_server=None, secret_key=None, *, tls_cert=None, tls_key=None,
                 metrics=False):
        if (tls_cert is None) != (tls_key is None):
            raise ValueError("tls_cert and tls_key go together")
        self._tls = (tls_cert, tls_key)
        self._metrics = bool(metrics)
        self._auth_server = auth_server
        self._config_path = config_path
        self._host = host
        self._port = port
        self._secret_key = secret_key
        self._logger = logger or logging.getLogger(__name__)
        # Given a logger, the engine's records of this server go to it.
        self._user_logger = logger
        self._native = None

    async def start(self):
        self._native = await _native.Server.start(self._host, self._port, self._config_path,
                                                  self._secret_key, True, self._auth_server,
                                                  self._user_logger, *self._tls,
                                                  self._metrics)
        # As 1.0.x's fixtures read it: the port actually listened on.
        self._port = self._native.port
        self._logger.info("Starting server on %s:%s", self._host, self._port)

    def metrics(self) -> str:
        """What the server carries and has carried, in the Prometheus text
        format (whether or not ``GET /metrics`` answers)."""
        if self._native is None:
            raise RuntimeError("the server is not started")
        return self._native.metrics()

    async def stop(self):
        if self._native is not None:
            await self._native.stop()


def main(argv=None):
    """``python -m netunnel.server``: NETunnel 1.0.x's command line."""
    import argparse
    import asyncio

    parser = argparse.ArgumentParser(description="Run a netunnel server")
    parser.add_argument("-c", "--config-path",
                        help="Configuration file path to use or generate if missing. "
                             "Defaults to stateless mode")
    parser.add_argument("-d", "--debug", help="increase log verbosity to debug mode",
                        dest="loglevel", action="store_const", const=logging.DEBUG,
                        default=logging.INFO)
    parser.add_argument("-p", "--port", type=int, help="Port number to listen on", default=4040)
    parser.add_argument("-s", "--secret-key",
                        help="A passphrase used for encryption which will not be stored in "
                             "the configuration file")
    parser.add_argument("--hostname", help="IP address to listen on", default="127.0.0.1")
    parser.add_argument("--auth-plugin", help="Plugin to use for authentication")
    parser.add_argument("--auth-data", default="{}",
                        help="A json dump string of the data required by the plugin")
    parser.add_argument("--tls-cert", help="Serve HTTPS with this certificate chain (PEM); "
                                           "needs --tls-key")
    parser.add_argument("--tls-key", help="The private key (PEM) of --tls-cert")
    parser.add_argument("--metrics", action="store_true",
                        help="Answer GET /metrics in the Prometheus text format "
                             "(behind the auth plugin)")
    args = parser.parse_args(argv)
    if (args.tls_cert is None) != (args.tls_key is None):
        parser.error("--tls-cert and --tls-key go together")
    logging.basicConfig(level=args.loglevel, format="%(asctime)s %(levelname)s %(message)s")
    logger = logging.getLogger("netunnel_server")
    auth_server = None
    if args.auth_plugin:
        import importlib
        import json
        if "." not in args.auth_plugin:
            # A name without a dot: a plugin built into the engine ("secret").
            auth_server = _native.BuiltinServerAuth(args.auth_plugin, args.auth_data)
        else:
            module, class_name = args.auth_plugin.rsplit(".", maxsplit=1)
            auth_server = getattr(importlib.import_module(module), class_name)(
                **json.loads(args.auth_data))
    if args.config_path is None:
        print("The server is running in stateless mode. Use --config-path to generate a "
              "config file", flush=True)
    server = NETunnelServer(config_path=args.config_path, host=args.hostname, port=args.port,
                            logger=logger, auth_server=auth_server, secret_key=args.secret_key,
                            tls_cert=args.tls_cert, tls_key=args.tls_key,
                            metrics=args.metrics)

    async def serve():
        await server.start()
        try:
            await asyncio.Event().wait()
        finally:
            await server.stop()

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
