//! Helpers shared by the integration tests: run the real `netunnel` binary, local
//! TCP services, and checked transfers. Blocking std I/O keeps them independent
//! of the runtime under test.
#![allow(dead_code, clippy::unwrap_used)]

pub mod library;
pub mod netunnel1;
pub mod raw_ws;
pub mod services;
pub mod sshd;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// Generous bound for anything a test waits on.
pub const WAIT: Duration = Duration::from_secs(30);

/// Path of the `netunnel` binary built for this test run.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_netunnel")
}

/// A child process whose stdout and stderr lines are collected as they come.
pub struct Proc {
    pub child: Child,
    lines: mpsc::Receiver<(bool, String)>,
    pub seen: Vec<String>,
}

impl Proc {
    /// Spawns `program args...` with piped output.
    pub fn spawn(program: &str, args: &[&str]) -> Proc {
        Self::spawn_with(Command::new(program).args(args))
    }

    /// Spawns a prepared command with piped output.
    pub fn spawn_with(command: &mut Command) -> Proc {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn process");
        let (tx, rx) = mpsc::channel();
        let out = child.stdout.take().expect("stdout");
        let err = child.stderr.take().expect("stderr");
        for (is_err, pipe) in [
            (false, Box::new(out) as Box<dyn Read + Send>),
            (true, Box::new(err)),
        ] {
            let tx = tx.clone();
            thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    if tx.send((is_err, line)).is_err() {
                        break;
                    }
                }
            });
        }
        Proc {
            child,
            lines: rx,
            seen: Vec::new(),
        }
    }

    /// Collects the lines printed so far without waiting.
    pub fn drain(&mut self) -> &[String] {
        while let Ok((_, line)) = self.lines.try_recv() {
            self.seen.push(line);
        }
        &self.seen
    }

    /// Waits for a line containing `needle` and returns it; panics with
    /// everything seen so far after `WAIT`.
    pub fn wait_line(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + WAIT;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok((_, line)) => {
                    self.seen.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => break,
            }
        }
        panic!(
            "no line with {needle:?}; output so far:\n{}",
            self.seen.join("\n")
        );
    }

    /// Waits for the process to exit (panics after `WAIT`); returns its code and
    /// every line it printed.
    pub fn wait_exit(&mut self) -> (Option<i32>, Vec<String>) {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                // Collect what is left in the pipes.
                while let Ok((_, line)) = self.lines.recv_timeout(Duration::from_millis(200)) {
                    self.seen.push(line);
                }
                return (status.code(), self.seen.clone());
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("process did not exit; output:\n{}", self.seen.join("\n"));
            }
            while let Ok((_, line)) = self.lines.try_recv() {
                self.seen.push(line);
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends a signal (e.g. `libc`-free: via the `kill` command).
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    }
}

impl Proc {
    /// Its resident memory in bytes, from `/proc`.
    pub fn rss(&self) -> u64 {
        let path = format!("/proc/{}/status", self.child.id());
        let status = std::fs::read_to_string(path).expect("read the status");
        let line = status
            .lines()
            .find(|line| line.starts_with("VmRSS:"))
            .expect("VmRSS");
        let kib: u64 = line
            .split_whitespace()
            .nth(1)
            .and_then(|kib| kib.parse().ok())
            .expect("a number of KiB");
        kib << 10
    }

    /// How many files it holds open, from `/proc`.
    pub fn open_files(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.child.id()))
            .expect("read its fds")
            .count()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The port at the end of a line such as `... 127.0.0.1:4040`.
pub fn port_of(line: &str) -> u16 {
    line.trim()
        .rsplit(':')
        .next()
        .and_then(|port| port.trim().parse().ok())
        .unwrap_or_else(|| panic!("no port in {line:?}"))
}

/// Starts `netunnel server -p 0` with extra `args`; returns it and its port.
pub fn start_server(args: &[&str]) -> (Proc, u16) {
    let mut all = vec!["server", "-p", "0"];
    all.extend_from_slice(args);
    let mut server = Proc::spawn(bin(), &all);
    let line = server.wait_line("Starting server on");
    let port = port_of(&line);
    (server, port)
}

/// Starts `netunnel client -s http://127.0.0.1:PORT args...`; returns it and the
/// tunnel's entrance port.
pub fn start_client(server_port: u16, args: &[&str]) -> (Proc, u16) {
    let (client, entrance) = start_client_at(&format!("http://127.0.0.1:{server_port}"), args);
    (client, port_of(&entrance))
}

/// Starts `netunnel client -s URL args...`; returns it and the line that
/// names the tunnel's entrance.
pub fn start_client_at(url: &str, args: &[&str]) -> (Proc, String) {
    let mut all = vec!["client", "-s", url];
    all.extend_from_slice(args);
    let mut client = Proc::spawn(bin(), &all);
    let entrance = client.wait_line("Tunnel entrance socket:");
    client.wait_line("Tunnel exit socket:");
    (client, entrance)
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A `static_tunnel_local_ports` range (`"A-B"`, 40 ports) for one server of a
/// test. It lies below Linux's ephemeral ports (32768 and up, where `free_port`
/// and every outgoing connection take theirs), and each call gets a range no
/// other test process holds at the same time (a lock file per range, held
/// until the process exits), so servers of tests running at once, in one
/// process or in many, never pick the same port.
pub fn static_port_range() -> String {
    use std::sync::Mutex;
    const FIRST: u16 = 20_000;
    const WIDTH: u16 = 40;
    const SLOTS: u16 = (32_768 - FIRST) / WIDTH;
    static HELD: Mutex<Vec<std::fs::File>> = Mutex::new(Vec::new());
    let folder = std::env::temp_dir().join("netunnel-test-port-ranges");
    std::fs::create_dir_all(&folder).expect("lock folder");
    // Start where this process's id points, so processes rarely contend.
    let start = (std::process::id() % u32::from(SLOTS)) as u16;
    for offset in 0..SLOTS {
        let slot = (start + offset) % SLOTS;
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(folder.join(format!("slot-{slot}")))
            .expect("lock file");
        if lock.try_lock().is_ok() {
            HELD.lock().unwrap_or_else(|e| e.into_inner()).push(lock);
            let first = FIRST + slot * WIDTH;
            return format!("{first}-{}", first + WIDTH - 1);
        }
    }
    panic!("every static port range is held by a running test");
}

/// A TCP echo service on 127.0.0.1, one thread per connection.
pub fn echo_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind echo");
    let port = listener.local_addr().expect("addr").port();
    echo_on(listener);
    port
}

/// Deterministic pseudo-random bytes.
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) as u8
        })
        .collect()
}

/// FNV-1a, to compare large transfers without keeping both copies around.
pub fn checksum(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf29ce484222325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x100000001b3)
    })
}

/// Connects to 127.0.0.1:`port` with read/write timeouts.
pub fn connect(port: u16) -> TcpStream {
    connect_to("127.0.0.1", port)
}

/// Connects to `host`:`port` (an IP address) with read/write timeouts.
pub fn connect_to(host: &str, port: u16) -> TcpStream {
    let stream = TcpStream::connect((host, port)).expect("connect");
    stream.set_read_timeout(Some(WAIT)).expect("timeout");
    stream.set_write_timeout(Some(WAIT)).expect("timeout");
    stream
}

/// Sends `size` bytes through an echo service reached at `port` while reading
/// them back; asserts the bytes come back unchanged.
pub fn echo_roundtrip(port: u16, size: usize, seed: u64) {
    echo_roundtrip_to("127.0.0.1", port, size, seed);
}

/// [`echo_roundtrip`] through `host`:`port`.
pub fn echo_roundtrip_to(host: &str, port: u16, size: usize, seed: u64) {
    let data = pattern(size, seed);
    let expected = checksum(&data);
    let stream = connect_to(host, port);
    let mut writer = stream.try_clone().expect("clone");
    let sender = thread::spawn(move || writer.write_all(&data));
    let mut back = vec![0u8; size];
    let mut reader = stream;
    reader.read_exact(&mut back).expect("read echoed bytes");
    sender.join().expect("sender").expect("write");
    assert_eq!(checksum(&back), expected, "bytes changed in the tunnel");
    let _ = reader.shutdown(Shutdown::Both);
}

/// Asserts that a connection to `port` is closed by the other side without data
/// (EOF or reset) within `WAIT`.
pub fn assert_closed_without_data(port: u16) {
    let mut stream = connect(port);
    let _ = stream.write_all(b"hello");
    let mut buf = [0u8; 16];
    match stream.read(&mut buf) {
        Ok(0) => {}
        Ok(n) => panic!("expected EOF, got {n} bytes"),
        Err(err) => assert!(
            matches!(
                err.kind(),
                std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe
            ),
            "expected EOF, got {err}"
        ),
    }
}

/// Whether something accepts TCP connections on 127.0.0.1:`port`.
pub fn is_listening(port: u16) -> bool {
    TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_secs(1)).is_ok()
}

/// Polls `condition` every 20 ms until it holds; panics after `WAIT`.
pub fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(20));
    }
}

/// Runs an echo service on an already bound listener.
pub fn echo_on(listener: TcpListener) {
    thread::spawn(move || {
        for stream in listener.incoming().map_while(Result::ok) {
            thread::spawn(move || {
                let mut reader = stream.try_clone().expect("clone");
                let mut writer = stream;
                let _ = std::io::copy(&mut reader, &mut writer);
            });
        }
    });
}

/// One HTTP/1.1 request with `Connection: close`; returns status and body.
pub fn http(port: u16, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
    let mut stream = connect(port);
    let body = body.unwrap_or("");
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).expect("send request");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("read answer");
    parse_answer(&answer)
}

/// The status and body of a whole HTTP answer.
pub fn parse_answer(answer: &str) -> (u16, String) {
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("bad HTTP answer {answer:?}"));
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// A connection through `port` to an echo service, checked with one echo.
pub fn echoing(port: u16) -> TcpStream {
    let mut stream = connect(port);
    stream.write_all(b"ping").expect("send");
    let mut back = [0u8; 4];
    stream.read_exact(&mut back).expect("the echo");
    assert_eq!(&back, b"ping");
    stream
}

/// A real HTTP proxy (tinyproxy from Debian) on 127.0.0.1, with Basic auth when
/// `credentials` are given. Returns the process, its port and its log file.
pub fn start_tinyproxy(
    dir: &std::path::Path,
    credentials: Option<(&str, &str)>,
) -> (Proc, u16, std::path::PathBuf) {
    let port = free_port();
    let log = dir.join(format!("tinyproxy-{port}.log"));
    let conf = dir.join(format!("tinyproxy-{port}.conf"));
    let mut text = format!(
        "Port {port}\nListen 127.0.0.1\nTimeout 60\nMaxClients 200\nAllow 127.0.0.1\nLogFile \"{}\"\nLogLevel Info\n",
        log.display()
    );
    if let Some((user, pass)) = credentials {
        text.push_str(&format!("BasicAuth {user} {pass}\n"));
    }
    std::fs::write(&conf, text).expect("write tinyproxy config");
    let proxy = Proc::spawn(
        "tinyproxy",
        &["-d", "-c", conf.to_str().expect("utf-8 path")],
    );
    wait_until("tinyproxy to listen", || is_listening(port));
    (proxy, port, log)
}

/// Files of a test PKI: a CA, and a certificate for `localhost` / 127.0.0.1
/// signed by it. Generated at test time; nothing is committed.
pub struct TestPki {
    pub ca: std::path::PathBuf,
    pub cert: std::path::PathBuf,
    pub key: std::path::PathBuf,
}

/// Generates a [`TestPki`] into `dir`.
pub fn make_pki(dir: &std::path::Path) -> TestPki {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().expect("CA key");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "netunnel test CA");
    let ca_cert = ca_params.self_signed(&ca_key).expect("CA cert");
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().expect("server key");
    let params = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
        .expect("params");
    let cert = params.signed_by(&key, &issuer).expect("server cert");
    let pki = TestPki {
        ca: dir.join("ca.pem"),
        cert: dir.join("cert.pem"),
        key: dir.join("key.pem"),
    };
    std::fs::write(&pki.ca, ca_cert.pem()).expect("write CA");
    std::fs::write(&pki.cert, cert.pem()).expect("write cert");
    std::fs::write(&pki.key, key.serialize_pem()).expect("write key");
    pki
}

/// nginx (Debian's nginx-light) terminating TLS on a free port and passing
/// `/netunnel/...` to `http://127.0.0.1:upstream/...`, websockets included.
pub fn start_nginx(dir: &std::path::Path, upstream: u16, pki: &TestPki) -> (Proc, u16) {
    let port = free_port();
    let root = dir.join(format!("nginx-{port}"));
    std::fs::create_dir_all(&root).expect("nginx dir");
    let d = root.display();
    let conf = format!(
        r#"user root;
worker_processes 1;
daemon off;
master_process off;
pid {d}/nginx.pid;
error_log {d}/error.log info;
events {{ worker_connections 4096; }}
http {{
    access_log {d}/access.log;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    server {{
        listen 127.0.0.1:{port} ssl;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        location /netunnel/ {{
            proxy_pass http://127.0.0.1:{upstream}/;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection "upgrade";
            proxy_set_header Host $host;
            proxy_read_timeout 3600s;
            proxy_buffering off;
        }}
    }}
}}
"#,
        cert = pki.cert.display(),
        key = pki.key.display(),
    );
    let path = root.join("nginx.conf");
    std::fs::write(&path, conf).expect("write nginx.conf");
    let nginx = Proc::spawn(
        "nginx",
        &[
            "-c",
            path.to_str().expect("utf-8"),
            "-p",
            root.to_str().expect("utf-8"),
        ],
    );
    wait_until("nginx to listen", || is_listening(port));
    (nginx, port)
}

/// The one line of `output` that starts with `error:` (stdout and stderr lines
/// may interleave in any order, so tests do not rely on the last line).
pub fn error_line(output: &[String]) -> String {
    let errors: Vec<&String> = output.iter().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(
        errors.len(),
        1,
        "expected exactly one error line: {output:?}"
    );
    errors[0].clone()
}
