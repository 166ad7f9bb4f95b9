//! NETunnel 1.0.13, the Python package, run from the venv that
//! `scripts/interop-venv` makes (`NETUNNEL_INTEROP_PYTHON`).

use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use super::{free_port, is_listening, port_of, Proc, WAIT};

/// The interpreter of the venv that has NETunnel 1.0.13.
pub fn python() -> String {
    let python = std::env::var("NETUNNEL_INTEROP_PYTHON").unwrap_or_else(|_| {
        panic!(
            "NETUNNEL_INTEROP_PYTHON is not set: these tests need NETunnel 1.0.13. \
             Run `NETUNNEL_INTEROP_PYTHON=$(scripts/interop-venv | tail -1) cargo test \
             -p netunnel-core --test interop -- --include-ignored` (or scripts/test)"
        )
    });
    assert!(
        std::path::Path::new(&python).exists(),
        "NETUNNEL_INTEROP_PYTHON={python} does not exist: run scripts/interop-venv"
    );
    python
}

/// Runs `python -m module args...` from the interop venv, unbuffered so that
/// its output lines arrive as they are printed.
pub fn spawn_python(module: &str, args: &[&str]) -> Proc {
    Proc::spawn_with(
        Command::new(python())
            .env("PYTHONUNBUFFERED", "1")
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .arg("-m")
            .arg(module)
            .args(args),
    )
}

/// Starts `python -m netunnel.server -p PORT` (1.0.13 cannot listen on port 0,
/// so the port is picked here) and waits until it accepts connections. Tries
/// another port if the process exits first (the port was taken meanwhile).
pub fn start_python_server() -> (Proc, u16) {
    start_python_server_with(&[])
}

/// [`start_python_server`] with extra arguments.
pub fn start_python_server_with(extra: &[&str]) -> (Proc, u16) {
    for _ in 0..3 {
        let port = free_port();
        let port_arg = port.to_string();
        let mut args = vec!["-p", port_arg.as_str()];
        args.extend_from_slice(extra);
        let mut server = spawn_python("netunnel.server", &args);
        let deadline = Instant::now() + WAIT;
        loop {
            if is_listening(port) {
                return (server, port);
            }
            if server.child.try_wait().expect("try_wait").is_some() {
                let (code, lines) = server.wait_exit();
                eprintln!(
                    "netunnel 1.0.13 server on port {port} exited ({code:?}); retrying:\n{}",
                    lines.join("\n")
                );
                break;
            }
            assert!(
                Instant::now() < deadline,
                "netunnel 1.0.13 server does not listen on port {port}"
            );
            thread::sleep(Duration::from_millis(20));
        }
    }
    panic!("could not start the netunnel 1.0.13 server");
}

/// Starts `python -m netunnel.client -s http://127.0.0.1:PORT args...` and
/// waits until it reports the tunnel; returns it and the entrance port.
pub fn start_python_client(server_port: u16, args: &[&str]) -> (Proc, u16) {
    let url = format!("http://127.0.0.1:{server_port}");
    let mut all = vec!["-s", url.as_str()];
    all.extend_from_slice(args);
    let mut client = spawn_python("netunnel.client", &all);
    let line = client.wait_line("Tunnel entrance socket:");
    client.wait_line("Tunnel exit socket:");
    (client, port_of(&line))
}

/// Where the tests' Python helpers are.
fn python_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/python")
}

/// Starts 1.0.13's client (as `python -m netunnel.client` would) with its
/// websocket heartbeat, a constant of 20 s there, set to `heartbeat` seconds;
/// waits until it reports the tunnel and returns it and the entrance port.
pub fn start_python_client_with_heartbeat(
    server_port: u16,
    heartbeat: &str,
    args: &[&str],
) -> (Proc, u16) {
    let url = format!("http://127.0.0.1:{server_port}");
    let script = python_dir().join("netunnel1_client.py");
    let mut client = Proc::spawn_with(
        Command::new(python())
            .env("PYTHONUNBUFFERED", "1")
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env("NETUNNEL1_HEARTBEAT", heartbeat)
            .arg(script)
            .args(["-s", url.as_str()])
            .args(args),
    );
    let line = client.wait_line("Tunnel entrance socket:");
    client.wait_line("Tunnel exit socket:");
    (client, port_of(&line))
}
