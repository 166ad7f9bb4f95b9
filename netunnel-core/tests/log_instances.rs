//! Every record the library logs has a stable `netunnel::` target and the
//! `instance` of the server or client it is about: two servers in one process
//! are told apart.
#![allow(clippy::unwrap_used)] // Tests panic on unexpected failures by design.

use std::sync::{Arc, Mutex};

use log::kv::{Key, VisitSource};
use netunnel_core::client::{Client, ClientSettings};
use netunnel_core::{AsyncStdRuntime, HttpTransport, Server, ServerOptions};

#[derive(Debug, Clone)]
struct Seen {
    target: String,
    instance: Option<String>,
    message: String,
}

struct Capture(Mutex<Vec<Seen>>);

struct Instance<'a>(&'a mut Option<String>);

impl<'kvs> VisitSource<'kvs> for Instance<'_> {
    fn visit_pair(
        &mut self,
        key: Key<'kvs>,
        value: log::kv::Value<'kvs>,
    ) -> Result<(), log::kv::Error> {
        if key.as_str() == "instance" {
            *self.0 = Some(value.to_string());
        }
        Ok(())
    }
}

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        let mut instance = None;
        let _ = record.key_values().visit(&mut Instance(&mut instance));
        self.0.lock().unwrap().push(Seen {
            target: record.target().to_string(),
            instance,
            message: record.args().to_string(),
        });
    }

    fn flush(&self) {}
}

#[async_std::test]
async fn records_carry_a_stable_target_and_their_instance() {
    let capture: &'static Capture = Box::leak(Box::new(Capture(Mutex::new(Vec::new()))));
    log::set_logger(capture).unwrap();
    log::set_max_level(log::LevelFilter::Trace);

    let echo = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let echo_port = echo.local_addr().unwrap().port();
    let mut pairs = Vec::new();
    for _ in 0..2 {
        let server = Server::start(ServerOptions::new().port(0).environment(false))
            .await
            .unwrap();
        let rt = AsyncStdRuntime::shared();
        let transport = Arc::new(HttpTransport::new(rt.clone(), &server.url()).unwrap());
        let client = Client::connected(rt, transport, ClientSettings::default())
            .await
            .unwrap();
        client
            .open_tunnel_to_server("127.0.0.1", None, "127.0.0.1", echo_port)
            .await
            .unwrap();
        pairs.push((server, client));
    }
    for (server, client) in &pairs {
        client.close().await;
        server.stop().await;
    }
    let seen = capture.0.lock().unwrap().clone();
    let ours: Vec<&Seen> = seen
        .iter()
        .filter(|record| record.target.starts_with("netunnel"))
        .collect();
    assert!(
        ours.iter()
            .all(|record| record.target.starts_with("netunnel::")),
        "a record with a module-path target: {ours:#?}"
    );
    // Everything here ran as a server's or a client's work.
    let anonymous: Vec<&&Seen> = ours
        .iter()
        .filter(|record| record.instance.as_deref().unwrap_or_default().is_empty())
        .collect();
    assert!(
        anonymous.is_empty(),
        "records without an instance: {anonymous:#?}"
    );
    assert!(
        !seen
            .iter()
            .any(|record| record.target.starts_with("netunnel_core")),
        "records still under netunnel_core:: targets: {seen:#?}"
    );
    for (server, client) in &pairs {
        let server_id = server.instance().to_string();
        let client_id = client.instance().to_string();
        let of = |id: &str| -> Vec<&Seen> {
            ours.iter()
                .copied()
                .filter(|record| record.instance.as_deref() == Some(id))
                .collect()
        };
        let server_records = of(&server_id);
        let started = format!("Starting server on {}", server.local_addr());
        assert!(
            server_records
                .iter()
                .any(|record| record.target == "netunnel::server" && record.message == started),
            "{server_id}: {server_records:#?}"
        );
        assert!(
            server_records
                .iter()
                .any(|record| record.message.contains("tunnel 1 to 127.0.0.1")),
            "{server_id}'s tunnel record: {server_records:#?}"
        );
        let client_records = of(&client_id);
        assert!(
            client_records
                .iter()
                .any(|record| record.target == "netunnel::client"
                    && record.message.starts_with("connected to")),
            "{client_id}: {client_records:#?}"
        );
    }
    let (a, b) = (&pairs[0].0, &pairs[1].0);
    assert_ne!(a.instance(), b.instance());
}
