//! TCP services with the habits that break tunnels: speaking first, closing
//! first, waiting for a request that never comes. Each counts its connections
//! and the EOFs it saw, so a test can tell one destination connection per
//! application connection from a tunnel that connects on its own.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;

use super::{checksum, pattern, WAIT};

/// A running service on 127.0.0.1.
#[derive(Clone)]
pub struct Service {
    /// Its port.
    pub port: u16,
    connections: Arc<AtomicUsize>,
    eofs: Arc<AtomicUsize>,
}

impl Service {
    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// Connections whose reading side saw EOF from the other end.
    pub fn eofs(&self) -> usize {
        self.eofs.load(Ordering::SeqCst)
    }

    fn start(handler: fn(TcpStream, usize, &AtomicUsize)) -> Service {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind service");
        let service = Service {
            port: listener.local_addr().expect("addr").port(),
            connections: Arc::default(),
            eofs: Arc::default(),
        };
        let counters = service.clone();
        thread::spawn(move || {
            for stream in listener.incoming().map_while(Result::ok) {
                let number = counters.connections.fetch_add(1, Ordering::SeqCst) + 1;
                let eofs = Arc::clone(&counters.eofs);
                thread::spawn(move || {
                    let _ = stream.set_read_timeout(Some(WAIT));
                    handler(stream, number, &eofs);
                });
            }
        });
        service
    }
}

/// The greeting [`greeter`] sends on its `number`th connection.
pub fn greeting(number: usize) -> String {
    format!("220 netunnel-test ready, connection {number}\r\n")
}

/// Speaks first, like SMTP: sends [`greeting`] at once, then echoes until EOF.
pub fn greeter() -> Service {
    Service::start(|mut stream, number, eofs| {
        if stream.write_all(greeting(number).as_bytes()).is_err() {
            return;
        }
        echo_until_eof(stream, eofs);
    })
}

/// Sends `bye N` and closes at once, before the application says anything.
pub fn greet_and_close() -> Service {
    Service::start(|mut stream, number, _| {
        let _ = stream.write_all(format!("bye {number}\r\n").as_bytes());
    })
}

/// A plain echo service.
pub fn echo() -> Service {
    Service::start(|stream, _, eofs| echo_until_eof(stream, eofs))
}

fn echo_until_eof(mut stream: TcpStream, eofs: &AtomicUsize) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => {
                eofs.fetch_add(1, Ordering::SeqCst);
                return;
            }
            Ok(n) => {
                if stream.write_all(&buf[..n]).is_err() {
                    return;
                }
            }
            Err(_) => return,
        }
    }
}

/// A request to [`scripted`]: one command byte, a length and a seed.
pub fn request(command: u8, len: u64, seed: u64) -> [u8; 17] {
    let mut head = [0u8; 17];
    head[0] = command;
    head[1..9].copy_from_slice(&len.to_be_bytes());
    head[9..].copy_from_slice(&seed.to_be_bytes());
    head
}

/// Echo everything until EOF.
pub const ECHO: u8 = b'E';
/// Send `len` bytes of `pattern(len, seed)`, then close.
pub const DOWNLOAD: u8 = b'D';
/// Read `len` bytes, answer their 8-byte checksum, then close.
pub const UPLOAD: u8 = b'U';

/// Waits for a [`request`] and serves it; a connection that ends before its
/// request is complete counts as an EOF.
pub fn scripted() -> Service {
    Service::start(|mut stream, _, eofs| {
        let mut head = [0u8; 17];
        if let Err(err) = stream.read_exact(&mut head) {
            if err.kind() == std::io::ErrorKind::UnexpectedEof {
                eofs.fetch_add(1, Ordering::SeqCst);
            }
            return;
        }
        let len = u64::from_be_bytes(head[1..9].try_into().expect("8 bytes"));
        let seed = u64::from_be_bytes(head[9..].try_into().expect("8 bytes"));
        match head[0] {
            ECHO => echo_until_eof(stream, eofs),
            DOWNLOAD => {
                let _ = stream.write_all(&pattern(len as usize, seed));
            }
            UPLOAD => {
                let mut data = vec![0u8; len as usize];
                if stream.read_exact(&mut data).is_ok() {
                    let _ = stream.write_all(&checksum(&data).to_be_bytes());
                }
            }
            other => panic!("unknown command {other}"),
        }
    })
}
