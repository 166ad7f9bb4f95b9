//! The C library as a C programmer meets it: installed into a prefix by
//! `scripts/install-c`, the header on its own, the examples and the C tests
//! compiled with `-Wall -Wextra -Werror` through pkg-config (shared and
//! static), run against our Rust server and client and against NETunnel
//! 1.0.13, under AddressSanitizer/LeakSanitizer and ThreadSanitizer.
#![allow(clippy::unwrap_used)] // Tests panic on unexpected failures by design.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use netunnel_core::client::{Client, ClientSettings};
use netunnel_core::{AsyncStdRuntime, HttpTransport, Server, ServerOptions};
use support::{echo_roundtrip, echo_server, root, run, Program};

/// How a C program is built.
#[derive(Clone, Copy)]
enum Build {
    Shared,
    Static,
    Address,
    Thread,
}

/// Compiles `source` (relative to the repository) into a program.
fn compile(source: &str, build: Build) -> PathBuf {
    let prefix = support::prefix();
    let package = match build {
        Build::Shared | Build::Thread => "netunnel",
        Build::Static | Build::Address => "netunnel-static",
    };
    let flags = Command::new("pkg-config")
        .env("PKG_CONFIG_PATH", prefix.join("lib/pkgconfig"))
        .args(["--cflags", "--libs", package])
        .output()
        .expect("pkg-config runs");
    assert!(flags.status.success(), "pkg-config {package} failed");
    let flags = String::from_utf8(flags.stdout).unwrap();
    let stem = Path::new(source).file_stem().unwrap().to_string_lossy();
    let suffix = match build {
        Build::Shared => "shared",
        Build::Static => "static",
        Build::Address => "asan",
        Build::Thread => "tsan",
    };
    // One file per compilation: tests run at once, and a program being
    // rewritten while another test starts it fails with "text file busy".
    static BUILT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = BUILT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let out = prefix
        .join("bin")
        .join(format!("{stem}-{suffix}-{}-{n}", std::process::id()));
    std::fs::create_dir_all(out.parent().unwrap()).unwrap();
    let mut cc = Command::new("cc");
    cc.args([
        "-std=c99",
        "-D_POSIX_C_SOURCE=200809L",
        "-Wall",
        "-Wextra",
        "-Werror",
        "-pedantic",
        "-g",
    ]);
    match build {
        Build::Address => cc.arg("-fsanitize=address"),
        Build::Thread => cc.arg("-fsanitize=thread"),
        _ => &mut cc,
    };
    cc.arg(root().join(source)).arg("-o").arg(&out);
    cc.args(flags.split_whitespace()).arg("-lpthread");
    let built = cc.output().expect("cc runs");
    assert!(
        built.status.success(),
        "compiling {source} failed:\n{}",
        String::from_utf8_lossy(&built.stderr)
    );
    out
}

async fn rust_server() -> Server {
    Server::start(ServerOptions::new().port(0).environment(false))
        .await
        .unwrap()
}

#[test]
fn the_header_compiles_on_its_own_as_c99_and_as_cpp() {
    let header = support::prefix().join("include/netunnel.h");
    for (language, standard) in [("c", "-std=c99"), ("c++", "-std=c++11")] {
        let checked = Command::new("cc")
            .args([
                "-x",
                language,
                standard,
                "-Wall",
                "-Wextra",
                "-Werror",
                "-pedantic",
            ])
            .args(["-fsyntax-only"])
            .arg(&header)
            .output()
            .unwrap();
        assert!(
            checked.status.success(),
            "netunnel.h as {language}:\n{}",
            String::from_utf8_lossy(&checked.stderr)
        );
    }
}

#[test]
fn the_forward_example_compiles_shared_and_static() {
    // scripts/bench runs it; here it is only built, with every warning an error.
    compile("examples/c/forward.c", Build::Shared);
    compile("examples/c/forward.c", Build::Static);
}

#[async_std::test]
async fn a_c_server_carries_our_rust_clients_tunnel() {
    c_server_for_our_client(Build::Shared).await;
}

#[async_std::test]
async fn the_c_server_runs_clean_under_address_and_leak_sanitizers() {
    c_server_for_our_client(Build::Address).await;
}

/// Runs the C server example, built as `build`, for our Rust client.
async fn c_server_for_our_client(build: Build) {
    let echo = echo_server();
    let program = compile("examples/c/server.c", build);
    let mut server = Program::start(&program, &["0"]);
    let line = server.wait_line("listening on");
    let url = line.split_whitespace().nth(2).unwrap().to_string();
    let rt = AsyncStdRuntime::shared();
    let transport = Arc::new(HttpTransport::new(rt.clone(), &url).unwrap());
    let client = Client::connected(rt, transport, ClientSettings::default())
        .await
        .unwrap();
    let tunnel = client
        .open_tunnel_to_server("127.0.0.1", None, "127.0.0.1", echo)
        .await
        .unwrap();
    let entrance = tunnel.info().entrance.1;
    async_std::task::spawn_blocking(move || echo_roundtrip(entrance, 1_000_000)).await;
    client.close().await;
    let (code, out) = server.finish();
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("stopped"), "{out}");
}

/// Runs the C client example against our Rust server, built as `build`.
async fn c_client_against_our_server(build: Build) {
    let echo = echo_server();
    let server = rust_server().await;
    let program = compile("examples/c/client.c", build);
    let (url, port) = (server.url(), echo.to_string());
    let (code, out) =
        async_std::task::spawn_blocking(move || run(&program, &[&url, &port, "2000000"])).await;
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("ok: 2000000 bytes"), "{out}");
    let counted = "metrics: netunnel_bytes_total{direction=\"to_exit\"} 2000000";
    assert!(out.lines().any(|line| line.trim() == counted), "{out}");
    // The server sees the client's channel close a moment after it exits.
    support::until("the C client's channel to close", || {
        server.channels().is_empty()
    })
    .await;
    server.stop().await;
}

#[async_std::test]
async fn a_c_client_pushes_data_through_our_rust_server_shared_and_static() {
    c_client_against_our_server(Build::Shared).await;
    c_client_against_our_server(Build::Static).await;
}

#[async_std::test]
async fn the_c_client_runs_clean_under_address_and_leak_sanitizers() {
    c_client_against_our_server(Build::Address).await;
}

#[test]
fn every_error_path_returns_its_code_and_a_message() {
    for build in [Build::Shared, Build::Address] {
        let program = compile("netunnel-ffi/tests/c/errors.c", build);
        let dir = tempfile::tempdir().unwrap();
        let (code, out) = run(&program, &[dir.path().to_str().unwrap()]);
        assert_eq!(code, Some(0), "{out}");
        assert!(out.contains("all error paths behaved"), "{out}");
    }
}

#[test]
fn auth_plugins_written_in_c_work_on_both_sides() {
    let echo = echo_server().to_string();
    for build in [Build::Shared, Build::Address] {
        let program = compile("netunnel-ffi/tests/c/auth.c", build);
        let (code, out) = run(&program, &[&echo]);
        assert_eq!(code, Some(0), "{out}");
        assert!(out.contains("plugins on both sides behaved"), "{out}");
    }
}

#[async_std::test]
async fn eight_threads_share_a_client_under_thread_sanitizer() {
    let echo = echo_server();
    let server = rust_server().await;
    let program = compile("netunnel-ffi/tests/c/threads.c", Build::Thread);
    let (url, port) = (server.url(), echo.to_string());
    let (code, out) = async_std::task::spawn_blocking(move || run(&program, &[&url, &port])).await;
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("all echoed"), "{out}");
    server.stop().await;
}

#[test]
#[ignore = "needs NETunnel 1.0.13 (NETUNNEL_INTEROP_PYTHON); scripts/test runs it"]
fn a_c_client_works_with_a_netunnel_1_0_13_server() {
    let echo = echo_server();
    let (mut server, port) = support::start_python_server();
    let program = compile("examples/c/client.c", Build::Shared);
    let url = format!("http://127.0.0.1:{port}");
    let (code, out) = run(&program, &[&url, &echo.to_string(), "1000000"]);
    server.kill();
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("ok: 1000000 bytes"), "{out}");
}
