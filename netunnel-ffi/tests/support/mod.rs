//! What the C-library tests share: the installed prefix, a test service,
//! running C programs, NETunnel 1.0.13.
#![allow(dead_code)] // Each test file uses its own part.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// How long a program may take before the test gives up on it.
pub const WAIT: Duration = Duration::from_secs(120);

/// Waits (within [`WAIT`]) until `condition` holds; panics saying `what`.
pub async fn until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        async_std::task::sleep(Duration::from_millis(10)).await;
    }
}

/// The repository.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A prefix with libnetunnel installed by `scripts/install-c`, as the README
/// tells C programmers (a debug build, the one these tests were built with).
/// One per test process: a runner that starts each test in a process of its
/// own (cargo-nextest) runs several installs at once.
pub fn prefix() -> PathBuf {
    static PREFIX: OnceLock<PathBuf> = OnceLock::new();
    PREFIX
        .get_or_init(|| {
            let prefix = root().join(format!("target/c-test-prefix/{}", std::process::id()));
            let installed = Command::new(root().join("scripts/install-c"))
                .arg(&prefix)
                .env("NETUNNEL_PROFILE", "debug")
                .output()
                .expect("scripts/install-c runs");
            assert!(
                installed.status.success(),
                "scripts/install-c failed:\n{}",
                String::from_utf8_lossy(&installed.stderr)
            );
            prefix
        })
        .clone()
}

/// Environment for sanitized programs (ignored by the others).
fn sanitizers(command: &mut Command) -> &mut Command {
    let suppressions = root().join("netunnel-ffi/tests/c/tsan.supp");
    command
        .env("ASAN_OPTIONS", "detect_leaks=1:exitcode=66")
        .env(
            "TSAN_OPTIONS",
            format!(
                "suppressions={} halt_on_error=1 exitcode=66",
                suppressions.display()
            ),
        )
}

/// A running C program whose output lines are read as they come.
pub struct Program {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Program {
    /// Starts `program args...` with a pipe on its standard input.
    pub fn start(program: &Path, args: &[&str]) -> Program {
        let mut command = Command::new(program);
        command.args(args);
        Program::start_command(command)
    }

    /// Starts `command` as [`Program::start`] does.
    pub fn start_command(mut command: Command) -> Program {
        let mut child = sanitizers(&mut command)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the program starts");
        let (sender, lines) = mpsc::channel();
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let sender = sender.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    let _ = sender.send(line);
                }
            });
        }
        Program {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits for a line containing `needle`.
    pub fn wait_line(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => panic!("no line with {needle:?}; got:\n{}", self.seen.join("\n")),
            }
        }
    }

    /// Closes its standard input and waits for it: exit code and output.
    pub fn finish(mut self) -> (Option<i32>, String) {
        drop(self.child.stdin.take());
        self.wait()
    }

    fn wait(mut self) -> (Option<i32>, String) {
        let deadline = Instant::now() + WAIT;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("the program did not exit:\n{}", self.seen.join("\n"));
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        // The readers end with the program's pipes.
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(5)) {
            self.seen.push(line);
        }
        (status.code(), self.seen.join("\n"))
    }

    /// Stops it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `program args...` to its end: exit code and output (both streams).
pub fn run(program: &Path, args: &[&str]) -> (Option<i32>, String) {
    Program::start(program, args).finish()
}

/// An echo service on a free port, for the life of the test process.
pub fn echo_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().map_while(Result::ok) {
            std::thread::spawn(move || {
                let mut reader = stream.try_clone().unwrap();
                let mut writer = stream;
                let _ = std::io::copy(&mut reader, &mut writer);
            });
        }
    });
    port
}

/// Sends `size` bytes through `port` and checks they all come back.
pub fn echo_roundtrip(port: u16, size: usize) {
    let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let data: Vec<u8> = (0..size).map(|i| (i * 13 + i / 257) as u8).collect();
    let mut writer = stream.try_clone().unwrap();
    let sent = data.clone();
    let writing = std::thread::spawn(move || writer.write_all(&sent).unwrap());
    let mut got = vec![0u8; size];
    (&stream).read_exact(&mut got).unwrap();
    writing.join().unwrap();
    assert!(got == data, "the echo differs");
}

/// A free port (for NETunnel 1.0.13, which cannot listen on port 0).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts NETunnel 1.0.13's server from the venv `scripts/interop-venv`
/// made (`NETUNNEL_INTEROP_PYTHON`) and waits until it listens.
pub fn start_python_server() -> (Program, u16) {
    let python = std::env::var("NETUNNEL_INTEROP_PYTHON").expect(
        "NETUNNEL_INTEROP_PYTHON is not set: run with \
         NETUNNEL_INTEROP_PYTHON=$(scripts/interop-venv | tail -1)",
    );
    for _ in 0..3 {
        let port = free_port();
        let mut command = Command::new(&python);
        command
            .env("PYTHONUNBUFFERED", "1")
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .args(["-m", "netunnel.server", "-p", &port.to_string()]);
        let mut server = Program::start_command(command);
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return (server, port);
            }
            if server.child.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        server.kill();
    }
    panic!("NETunnel 1.0.13's server did not start");
}
