//! A server and a client on an executor the embedder owns (`SmolRuntime`),
//! not async-std's process-global one: they serve, and shutting the runtime
//! down stops its threads.
#![allow(clippy::unwrap_used)] // Tests panic on unexpected failures by design.

mod support;

use std::sync::Arc;

use netunnel_core::client::{Client, ClientSettings};
use netunnel_core::runtime::SmolRuntime;
use netunnel_core::{HttpTransport, RuntimeRef, Server, ServerOptions};

#[test]
fn a_server_and_a_client_run_on_a_runtime_of_their_own() {
    let echo = support::echo_server();
    let smol = SmolRuntime::new(2).unwrap();
    let rt: RuntimeRef = smol.clone();
    let (server, client, entrance) = smol::block_on(async {
        let options = ServerOptions::new()
            .port(0)
            .environment(false)
            .runtime(rt.clone());
        let server = Server::start(options).await.unwrap();
        let transport = HttpTransport::new(rt.clone(), &server.url()).unwrap();
        let client = Client::connected(rt.clone(), Arc::new(transport), ClientSettings::default())
            .await
            .unwrap();
        let tunnel = client
            .open_tunnel_to_server("127.0.0.1", None, "127.0.0.1", echo)
            .await
            .unwrap();
        let entrance = tunnel.info().entrance.1;
        (server, client, entrance)
    });
    support::echo_roundtrip(entrance, 1 << 20, 7);
    let threads = || {
        std::fs::read_dir("/proc/self/task")
            .unwrap()
            .filter_map(|task| {
                let comm = task.ok()?.path().join("comm");
                std::fs::read_to_string(comm).ok()
            })
            .filter(|name| name.trim().starts_with("netunnel-"))
            .count()
    };
    assert_eq!(threads(), 2, "the runtime's own threads");
    smol::block_on(async {
        client.close().await;
        server.stop().await;
    });
    smol.shutdown();
    assert_eq!(threads(), 0, "threads left after shutdown");
}

#[test]
fn shutting_the_runtime_down_drops_what_still_runs_on_it() {
    let smol = SmolRuntime::new(1).unwrap();
    let rt: RuntimeRef = smol.clone();
    let server = smol::block_on(async {
        let options = ServerOptions::new()
            .port(0)
            .environment(false)
            .runtime(rt.clone());
        Server::start(options).await.unwrap()
    });
    let port = server.local_addr().port();
    assert!(support::is_listening(port));
    // No stop: the runtime's shutdown drops the accept loop, and its listener.
    smol.shutdown();
    assert!(
        !support::is_listening(port),
        "the listener outlived its runtime"
    );
    // Work spawned afterwards is dropped, not queued forever.
    let (sender, receiver) = std::sync::mpsc::channel::<()>();
    rt.spawn(Box::pin(async move {
        let _keep = sender;
        futures::future::pending::<()>().await;
    }));
    assert!(
        receiver.recv().is_err(),
        "a future spawned after shutdown was kept"
    );
    drop(server);
}
