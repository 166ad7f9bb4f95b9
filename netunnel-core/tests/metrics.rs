//! Metrics: `GET /metrics` on the server (`--metrics`), the client's port
//! (`--metrics-port`), and the library's `metrics()`. The text is read back
//! with a real Prometheus parser (prometheus_client's, from the interop
//! venv): those tests are ignored by default, as the interop ones are.
#![allow(clippy::unwrap_used)] // Tests panic on unexpected failures by design.

mod support;

use std::collections::HashMap;
use std::io::Write;
use std::process::{Command, Stdio};

use netunnel_core::metrics::{Failure, Refusal};
use netunnel_core::transport::{Method, Transport};
use netunnel_core::{AsyncStdRuntime, HttpTransport, Server, ServerOptions};
use serde_json::{json, Value};
use support::library::*;
use support::*;

/// Reads Prometheus text from stdin with prometheus_client's parser and
/// prints every family's type and every sample as JSON.
const PARSE: &str = r#"
import json, sys
from prometheus_client.parser import text_string_to_metric_families
out = {"types": {}, "samples": []}
for family in text_string_to_metric_families(sys.stdin.read()):
    out["types"][family.name] = family.type
    for sample in family.samples:
        out["samples"].append([sample.name, sample.labels, sample.value])
print(json.dumps(out))
"#;

/// What the parser read.
struct Scrape {
    types: HashMap<String, String>,
    samples: Vec<(String, HashMap<String, String>, f64)>,
}

impl Scrape {
    /// Parses `text` with prometheus_client; panics on what it refuses.
    fn parse(text: &str) -> Scrape {
        let mut parser = Command::new(netunnel1::python())
            .arg("-c")
            .arg(PARSE)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        parser
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        let output = parser.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "prometheus_client refused the text: {}\n{text}",
            String::from_utf8_lossy(&output.stderr)
        );
        let parsed: Value = serde_json::from_slice(&output.stdout).unwrap();
        let types = parsed["types"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(name, kind)| (name.clone(), kind.as_str().unwrap().to_string()))
            .collect();
        let samples = parsed["samples"]
            .as_array()
            .unwrap()
            .iter()
            .map(|sample| {
                let labels = sample[1]
                    .as_object()
                    .unwrap()
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                    .collect();
                (
                    sample[0].as_str().unwrap().to_string(),
                    labels,
                    sample[2].as_f64().unwrap(),
                )
            })
            .collect::<Vec<(String, HashMap<String, String>, f64)>>();
        // The parser does not refuse a series given twice: check it here.
        let mut seen = std::collections::HashSet::new();
        for (name, labels, _) in &samples {
            let mut key: Vec<_> = labels.iter().collect();
            key.sort();
            assert!(
                seen.insert(format!("{name}{key:?}")),
                "{name} {key:?} is given twice"
            );
        }
        Scrape { types, samples }
    }

    /// The one sample `name` whose labels include `labels`.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let found: Vec<f64> = self
            .samples
            .iter()
            .filter(|(n, l, _)| {
                n == name
                    && labels
                        .iter()
                        .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|(_, _, value)| *value)
            .collect();
        assert_eq!(
            found.len(),
            1,
            "{name} {labels:?}: {} samples, not one",
            found.len()
        );
        found[0]
    }

    /// The type the parser gave the family of `sample` (a counter's family
    /// is named without `_total`).
    fn kind(&self, sample: &str) -> &str {
        self.types
            .get(sample)
            .or_else(|| self.types.get(sample.trim_end_matches("_total")))
            .map(String::as_str)
            .unwrap_or_else(|| panic!("no family for {sample}"))
    }
}

/// The metrics text at `port`'s `/metrics`.
fn scrape(port: u16) -> String {
    let (status, body) = http(port, "GET", "/metrics", None);
    assert_eq!(status, 200, "{body}");
    body
}

/// The port of `Metrics: http://127.0.0.1:PORT/metrics`.
fn metrics_port(line: &str) -> u16 {
    port_of(line.trim().trim_end_matches("/metrics"))
}

/// Waits until `port`'s text says no connection is open any more.
fn wait_quiet(port: u16) {
    wait_until("the connections to end", || {
        scrape(port).contains("\nnetunnel_connections_open 0\n")
    });
}

#[test]
#[ignore = "needs prometheus_client from the interop venv: run scripts/test"]
fn both_ends_of_a_forward_tunnel_count_each_connection_and_byte() {
    let echo = echo_server();
    let (_server, server_port) = start_server(&["--metrics"]);
    let (mut client, entrance) = start_client(
        server_port,
        &["--remote-port", &echo.to_string(), "--metrics-port", "0"],
    );
    let client_port = metrics_port(&client.wait_line("Metrics: http://"));
    let sizes = [1_000, 20_000, 300_000];
    for (seed, size) in sizes.iter().enumerate() {
        echo_roundtrip(entrance, *size, seed as u64);
    }
    let sent: usize = sizes.iter().sum();
    wait_quiet(server_port);
    wait_quiet(client_port);
    let exit = format!("127.0.0.1:{echo}");
    let entrance = format!("127.0.0.1:{entrance}");
    for (side, port, entrance_label) in [
        ("server", server_port, ""),
        ("client", client_port, entrance.as_str()),
    ] {
        let scrape = Scrape::parse(&scrape(port));
        let tunnel = [
            ("kind", "forward"),
            ("tunnel", "1"),
            ("exit", exit.as_str()),
            ("entrance", entrance_label),
        ];
        assert_eq!(scrape.value("netunnel_channels", &[]), 1.0, "{side}");
        assert_eq!(
            scrape.value("netunnel_tunnels", &[("kind", "forward")]),
            1.0
        );
        assert_eq!(
            scrape.value("netunnel_tunnels", &[("kind", "reverse")]),
            0.0
        );
        assert_eq!(
            scrape.value("netunnel_connections_total", &[]),
            3.0,
            "{side}"
        );
        assert_eq!(
            scrape.value("netunnel_connections_open", &[]),
            0.0,
            "{side}"
        );
        for direction in ["to_exit", "to_entrance"] {
            let way = [("direction", direction)];
            assert_eq!(
                scrape.value("netunnel_bytes_total", &way),
                sent as f64,
                "{side} {direction}"
            );
            let mut labels = tunnel.to_vec();
            labels.push(("direction", direction));
            assert_eq!(
                scrape.value("netunnel_tunnel_bytes_total", &labels),
                sent as f64
            );
        }
        assert_eq!(
            scrape.value("netunnel_tunnel_connections_total", &tunnel),
            3.0
        );
        assert_eq!(
            scrape.value("netunnel_refused_total", &[("reason", "tunnel_limit")]),
            0.0
        );
        assert_eq!(scrape.kind("netunnel_bytes_total"), "counter");
        assert_eq!(scrape.kind("netunnel_tunnel_connections_open"), "gauge");
        assert_eq!(scrape.kind("netunnel_connections_open"), "gauge");
    }
}

#[test]
#[ignore = "needs prometheus_client from the interop venv: run scripts/test"]
fn refusals_and_failures_are_counted_by_reason_and_reverse_tunnels_by_entrance() {
    let echo = echo_server();
    let (_server, server_port) = start_server(&["--metrics"]);
    // Not in the default allow list (127.0.0.1 only): refused.
    let mut refused = Proc::spawn(
        bin(),
        &[
            "client",
            "-s",
            &format!("http://127.0.0.1:{server_port}"),
            "--remote-address",
            "10.1.2.3",
        ],
    );
    let (code, output) = refused.wait_exit();
    assert_eq!(code, Some(1), "{output:?}");
    // Allowed, but nothing listens there: each connection fails at the exit.
    let nothing = free_port().to_string();
    let (_dead, dead_entrance) = start_client(server_port, &["--remote-port", &nothing]);
    assert_closed_without_data(dead_entrance);
    let (_reverse, reverse_entrance) =
        start_client(server_port, &["-r", "--local-port", &echo.to_string()]);
    echo_roundtrip(reverse_entrance, 5_000, 7);
    wait_until("the failed connect to be counted", || {
        !scrape(server_port).contains("netunnel_errors_total{reason=\"connect_failed\"} 0\n")
    });
    wait_quiet(server_port);
    let scrape = Scrape::parse(&scrape(server_port));
    let reason = |r: &str| [("reason", r.to_string())];
    let by = |name: &str, r: &str| {
        let labels = reason(r);
        scrape.value(name, &[(labels[0].0, labels[0].1.as_str())])
    };
    assert_eq!(by("netunnel_refused_total", "destination_not_allowed"), 1.0);
    assert_eq!(by("netunnel_refused_total", "unauthorized"), 0.0);
    assert_eq!(by("netunnel_errors_total", "connect_failed"), 1.0);
    let dead_exit = format!("127.0.0.1:{nothing}");
    assert_eq!(
        scrape.value(
            "netunnel_tunnel_errors_total",
            &[("exit", dead_exit.as_str()), ("reason", "connect_failed")]
        ),
        1.0
    );
    let entrance = format!("127.0.0.1:{reverse_entrance}");
    let reverse = [("kind", "reverse"), ("entrance", entrance.as_str())];
    assert_eq!(
        scrape.value("netunnel_tunnel_connections_total", &reverse),
        1.0
    );
    let mut to_exit = reverse.to_vec();
    to_exit.push(("direction", "to_exit"));
    assert_eq!(
        scrape.value("netunnel_tunnel_bytes_total", &to_exit),
        5_000.0
    );
    assert_eq!(
        scrape.value("netunnel_tunnels", &[("kind", "reverse")]),
        1.0
    );
    assert_eq!(
        scrape.value("netunnel_tunnels", &[("kind", "forward")]),
        1.0
    );
    assert_eq!(scrape.value("netunnel_channels", &[]), 2.0);
    // Three channels were connected: the refused client's too.
    assert_eq!(scrape.value("netunnel_channels_opened_total", &[]), 3.0);
}

#[async_std::test]
async fn metrics_are_off_unless_enabled() {
    let server = Server::start(ServerOptions::new().port(0)).await.unwrap();
    let reply = transport_to(&server)
        .request(Method::Get, "/metrics".into(), None)
        .await
        .unwrap();
    assert_eq!(reply.status, 404);
    assert!(String::from_utf8_lossy(&reply.body).contains("--metrics"));
    server.stop().await;
}

#[async_std::test]
async fn metrics_sit_behind_the_auth_plugin_which_counts_what_it_refuses() {
    let data = json!({"secret": "a-long-enough-secret-for-this-test"});
    let auth = netunnel_core::auth::server_plugin("secret", &data).unwrap();
    let options = ServerOptions::new().port(0).metrics(true).auth(auth);
    let server = Server::start(options).await.unwrap();
    let port = server.local_addr().port();
    let (status, _) =
        async_std::task::spawn_blocking(move || http(port, "GET", "/metrics", None)).await;
    assert_eq!(status, 403);
    // The plugin refusing a proof is a refusal too.
    let proof = Some(r#"{"proof": "x"}"#);
    let (status, _) =
        async_std::task::spawn_blocking(move || http(port, "POST", "/authenticate", proof)).await;
    assert_eq!(status, 403);
    let transport_options = netunnel_core::TransportOptions {
        auth: Some(netunnel_core::auth::client_plugin("secret", &data).unwrap()),
        ..Default::default()
    };
    let transport =
        HttpTransport::with_options(AsyncStdRuntime::shared(), &server.url(), transport_options)
            .unwrap();
    let reply = transport
        .request(Method::Get, "/metrics".into(), None)
        .await
        .unwrap();
    assert_eq!(reply.status, 200);
    let text = String::from_utf8(reply.body).unwrap();
    assert!(
        text.contains("\nnetunnel_refused_total{reason=\"unauthorized\"} 2\n"),
        "{text}"
    );
    server.stop().await;
}

#[async_std::test]
async fn tunnels_past_the_limit_are_counted_but_not_listed() {
    let echo = echo_server();
    let options = ServerOptions::new().port(0).metrics_tunnel_limit(1);
    let server = Server::start(options).await.unwrap();
    let client = client_of(&server).await;
    let mut tunnels = Vec::new();
    for _ in 0..3 {
        let opening = client.open_tunnel_to_server("127.0.0.1", None, "127.0.0.1", echo);
        tunnels.push(deadline(opening).await.unwrap());
    }
    let metrics = server.core().metrics();
    assert_eq!(metrics.forward_tunnels, 3);
    assert_eq!(metrics.unlisted_tunnels, 2);
    let listed: Vec<u64> = metrics.tunnels.iter().map(|t| t.tunnel).collect();
    assert_eq!(listed, [1]);
    assert_eq!(metrics.tunnels_opened, 3);
    // The client lists its own, up to the default limit.
    assert_eq!(client.metrics().tunnels.len(), 3);
    let text = metrics.to_prometheus();
    assert!(text.contains("\nnetunnel_tunnels_unlisted 2\n"), "{text}");
    assert_eq!(
        text.matches("netunnel_tunnel_connections_total{").count(),
        1,
        "{text}"
    );
    client.close().await;
    server.stop().await;
}

#[async_std::test]
async fn a_tunnel_at_its_cap_counts_refusals_and_the_totals_outlive_it() {
    let echo = echo_server();
    let dir = tempfile::tempdir().unwrap();
    let server = server_with_config(dir.path(), json!({"max_connections_per_tunnel": 1})).await;
    let client = client_of(&server).await;
    let tunnel = deadline(client.open_tunnel_to_server("127.0.0.1", None, "127.0.0.1", echo))
        .await
        .unwrap();
    let port = tunnel.info().entrance.1;
    let held = async_std::task::spawn_blocking(move || {
        let held = echoing(port);
        assert_closed_without_data(port);
        held
    })
    .await;
    let metrics = server.core().metrics();
    assert_eq!(metrics.totals.refused(Refusal::ConnectionLimit), 1);
    assert_eq!(
        metrics.tunnels[0].counts.refused(Refusal::ConnectionLimit),
        1
    );
    assert_eq!(metrics.tunnels[0].counts.connections_open, 1);
    assert_eq!(metrics.totals.failed(Failure::ConnectFailed), 0);
    // The client took both connections: its entrance has no cap.
    wait_for("the client to count both", || {
        client.metrics().totals.connections_total == 2
    })
    .await;
    drop(held);
    deadline(tunnel.close()).await.unwrap();
    let metrics = client.metrics();
    assert!(metrics.tunnels.is_empty());
    assert_eq!(metrics.totals.connections_total, 2);
    // The echo came back; whether the refused connection's `hello` was read
    // before the server closed its websocket is a race, so it is not asserted.
    assert_eq!(metrics.totals.bytes_to_entrance, 4);
    wait_for("the server to see the tunnel go", || {
        server.core().metrics().tunnels.is_empty()
    })
    .await;
    let totals = server.core().metrics().totals;
    assert_eq!((totals.bytes_to_exit, totals.bytes_to_entrance), (4, 4));
    client.close().await;
    assert_eq!(client.metrics().channels, 0);
    assert_eq!(client.metrics().channels_opened, 1);
    server.stop().await;
}

#[async_std::test]
async fn each_refusal_counts_under_its_reason_and_a_refused_tunnel_is_not_opened() {
    let echo = echo_server();
    let dir = tempfile::tempdir().unwrap();
    let config = json!({
        "max_channels": 1,
        "max_tunnels_per_channel": 1,
        "allowed_tunnel_entrances": {"127.0.0.2": "*"},
    });
    let server = server_with_config(dir.path(), config).await;
    let client = client_of(&server).await;
    // Not an allowed entrance (the list names 127.0.0.2 only).
    let refused =
        deadline(client.open_tunnel_to_client("127.0.0.1", echo, "127.0.0.1", None)).await;
    assert!(refused.is_err());
    let _open = deadline(client.open_tunnel_to_server("127.0.0.1", None, "127.0.0.1", echo))
        .await
        .unwrap();
    // The channel has its one tunnel.
    let refused =
        deadline(client.open_tunnel_to_server("127.0.0.1", None, "127.0.0.1", echo)).await;
    assert!(refused.is_err());
    // The server has its one channel.
    let second = netunnel_core::client::Client::new(
        AsyncStdRuntime::shared(),
        transport_to(&server),
        netunnel_core::client::ClientSettings::default(),
    );
    assert!(deadline(second.connect()).await.is_err());
    let metrics = server.core().metrics();
    for (reason, count) in [
        (Refusal::EntranceNotAllowed, 1),
        (Refusal::TunnelLimit, 1),
        (Refusal::ChannelLimit, 1),
        (Refusal::DestinationNotAllowed, 0),
        (Refusal::Unauthorized, 0),
    ] {
        assert_eq!(metrics.totals.refused(reason), count, "{reason:?}");
    }
    assert_eq!(metrics.tunnels_opened, 1);
    assert_eq!(metrics.channels_opened, 1);
    assert_eq!(client.metrics().tunnels_opened, 1);
    client.close().await;
    server.stop().await;
}

#[async_std::test]
async fn a_servers_static_tunnels_are_listed_with_their_peer_and_what_they_carried() {
    let echo = echo_server();
    let peer = Server::start(ServerOptions::new().port(0).environment(false))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = json!({
        "static_tunnel_local_ports": static_port_range(),
        "static_tunnel_retry_interval": 0.2,
    });
    let server = server_with_config(dir.path(), config).await;
    let admin = client_of(&server).await;
    let registered = deadline(admin.register_peer("far", &peer.url(), Default::default()))
        .await
        .unwrap();
    let tunnel = deadline(admin.create_peer_static_tunnel("far", echo, "127.0.0.1"))
        .await
        .unwrap();
    let local = tunnel.tunnel_local_port;
    async_std::task::spawn_blocking(move || echo_roundtrip(local, 70_000, 3)).await;
    wait_for("the static tunnel's connection to end", || {
        let metrics = server.core().metrics();
        metrics.static_tunnels.len() == 1
            && metrics.static_tunnels[0].counts.connections_open == 0
            && metrics.static_tunnels[0].counts.bytes_to_entrance == 70_000
    })
    .await;
    let metrics = server.core().metrics();
    let listed = &metrics.static_tunnels[0];
    assert_eq!((listed.peer.as_str(), listed.id), ("far", 1));
    assert!(listed.online);
    assert_eq!(listed.exit, format!("127.0.0.1:{echo}"));
    assert_eq!(listed.counts.connections_total, 1);
    assert_eq!(listed.counts.bytes_to_exit, 70_000);
    // Counted there only: the server's own channels carried none of it.
    assert_eq!(metrics.totals.bytes_to_exit, 0);

    // The peer drops the tunnel's channel: the tunnel reconnects, and what it
    // carries next adds to what it carried before.
    let online = |server: &Server| server.core().metrics().static_tunnels[0].online;
    peer.core().close_all();
    wait_for("the static tunnel to notice", || !online(&server)).await;
    wait_for("the static tunnel to reconnect", || online(&server)).await;
    async_std::task::spawn_blocking(move || echo_roundtrip(local, 30_000, 4)).await;
    wait_for("the second connection to end", || {
        let counts = &server.core().metrics().static_tunnels[0].counts;
        counts.connections_open == 0 && counts.bytes_to_entrance == 100_000
    })
    .await;
    // A rename restarts nothing; the metrics follow it.
    deadline(admin.update_peer(registered.id, Some("near"), None, None))
        .await
        .unwrap();
    let metrics = server.core().metrics();
    assert_eq!(metrics.static_tunnels[0].counts.connections_total, 2);
    let text = metrics.to_prometheus();
    let labels = format!(
        r#"peer="near",static_tunnel="1",entrance="127.0.0.1:{local}",exit="127.0.0.1:{echo}""#
    );
    for line in [
        format!("netunnel_static_tunnel_online{{{labels}}} 1"),
        format!("netunnel_static_tunnel_bytes_total{{{labels},direction=\"to_exit\"}} 100000"),
    ] {
        assert!(text.lines().any(|l| l == line), "no {line} in\n{text}");
    }
    admin.close().await;
    server.stop().await;
    peer.stop().await;
}
