//! A real OpenSSH server (Debian's `openssh-server`) on a free loopback port,
//! with a throwaway host key and client key, and the `ssh` client to reach it.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use super::{free_port, is_listening, Proc, WAIT};

/// Where Debian puts the daemon.
const SSHD: &str = "/usr/sbin/sshd";

/// A running `sshd` and the keys to log in to it.
pub struct Sshd {
    _dir: tempfile::TempDir,
    /// How to log in.
    pub login: Login,
    /// The port it listens on.
    pub port: u16,
    _proc: Proc,
}

/// The client key and user that log in to an [`Sshd`].
#[derive(Debug, Clone)]
pub struct Login {
    key: PathBuf,
    user: String,
}

fn keygen(path: &Path) {
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(path)
        .stdin(Stdio::null())
        .status()
        .expect("run ssh-keygen (Debian's openssh-client)");
    assert!(status.success(), "ssh-keygen failed");
}

fn current_user() -> String {
    let out = Command::new("id").arg("-un").output().expect("run id -un");
    assert!(out.status.success(), "id -un failed");
    String::from_utf8(out.stdout)
        .expect("utf-8 user name")
        .trim()
        .to_string()
}

impl Sshd {
    /// Starts `sshd -D` for the current user, with public-key login only.
    pub fn start() -> Sshd {
        assert!(
            Path::new(SSHD).exists(),
            "{SSHD} is missing: install Debian's openssh-server (scripts/test does)"
        );
        // sshd refuses to start without its privilege separation directory,
        // which only the package's service unit creates.
        if !Path::new("/run/sshd").exists() {
            std::fs::create_dir_all("/run/sshd").expect("create /run/sshd (needs root)");
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let host_key = dir.path().join("host_key");
        let key = dir.path().join("id");
        keygen(&host_key);
        keygen(&key);
        let authorized = dir.path().join("authorized_keys");
        std::fs::copy(key.with_extension("pub"), &authorized).expect("authorized_keys");
        for _ in 0..3 {
            let port = free_port();
            let config = dir.path().join("sshd_config");
            std::fs::write(
                &config,
                format!(
                    "Port {port}\nListenAddress 127.0.0.1\nHostKey {host}\nPidFile none\n\
                     AuthorizedKeysFile {auth}\nPubkeyAuthentication yes\n\
                     PasswordAuthentication no\nKbdInteractiveAuthentication no\n\
                     UsePAM no\nStrictModes no\nPermitRootLogin prohibit-password\n\
                     MaxStartups 200\nMaxSessions 50\nLogLevel ERROR\n",
                    host = host_key.display(),
                    auth = authorized.display(),
                ),
            )
            .expect("write sshd_config");
            let mut proc =
                Proc::spawn_with(Command::new(SSHD).args(["-D", "-e", "-f"]).arg(&config));
            let deadline = Instant::now() + WAIT;
            loop {
                if is_listening(port) {
                    return Sshd {
                        _dir: dir,
                        login: Login {
                            key,
                            user: current_user(),
                        },
                        port,
                        _proc: proc,
                    };
                }
                if proc.child.try_wait().expect("try_wait").is_some() {
                    let (_, lines) = proc.wait_exit();
                    eprintln!(
                        "sshd on port {port} exited; retrying:\n{}",
                        lines.join("\n")
                    );
                    break;
                }
                assert!(Instant::now() < deadline, "sshd does not listen on {port}");
                thread::sleep(Duration::from_millis(20));
            }
        }
        panic!("could not start sshd");
    }
}

impl Login {
    /// `ssh` to this server through `port` (a tunnel entrance), running `command`.
    pub fn ssh(&self, port: u16, command: &str) -> Command {
        let mut ssh = Command::new("ssh");
        ssh.args(["-F", "/dev/null", "-T", "-p", &port.to_string(), "-i"])
            .arg(&self.key)
            .args([
                "-o",
                "BatchMode=yes",
                "-o",
                "IdentitiesOnly=yes",
                "-o",
                "StrictHostKeyChecking=no",
                "-o",
                "UserKnownHostsFile=/dev/null",
                "-o",
                "LogLevel=ERROR",
                "-o",
                "ConnectTimeout=30",
            ])
            .arg(format!("{}@127.0.0.1", self.user))
            .arg(command);
        ssh
    }

    /// Runs `ssh ... command` through `port`; panics unless it exits 0, with
    /// what ssh said. Returns its standard output.
    pub fn run(&self, port: u16, command: &str) -> String {
        let out = self
            .ssh(port, command)
            .stdin(Stdio::null())
            .output()
            .expect("run ssh");
        assert!(
            out.status.success(),
            "ssh through port {port} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// An ssh session through `port` running `command`, whose standard input
    /// and output the test drives line by line.
    pub fn session(&self, port: u16, command: &str) -> Session {
        let mut child = self
            .ssh(port, command)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn ssh");
        let stdin = child.stdin.take().expect("stdin");
        let (tx, lines) = mpsc::channel();
        let stdout = child.stdout.take().expect("stdout");
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Session {
            child,
            stdin: Some(stdin),
            lines,
        }
    }
}

/// An interactive ssh session.
pub struct Session {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
}

impl Session {
    /// The next line the remote command printed.
    pub fn line(&mut self) -> String {
        match self.lines.recv_timeout(WAIT) {
            Ok(line) => line,
            Err(_) => panic!(
                "the ssh session printed nothing more; stderr: {}",
                stderr_of(&mut self.child)
            ),
        }
    }

    /// Sends one line to the remote command.
    pub fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin still open");
        writeln!(stdin, "{line}").expect("write to ssh");
        stdin.flush().expect("flush ssh");
    }

    /// Closes standard input and waits for ssh to exit 0.
    pub fn finish(mut self) {
        drop(self.stdin.take());
        let status = self.child.wait().expect("wait for ssh");
        assert!(status.success(), "ssh session ended with {status}");
    }
}

/// Kills `child` and returns what it wrote on standard error.
fn stderr_of(child: &mut Child) -> String {
    let _ = child.kill();
    let mut text = String::new();
    if let Some(mut err) = child.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut err, &mut text);
    }
    let _ = child.wait();
    text
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
