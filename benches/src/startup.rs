//! Start-up time: from launching a server to its first accepted connection.
//!
//! Each run picks a free port, puts it in place of `{port}` in the command's
//! arguments, starts the command, and tries to connect to 127.0.0.1:port in a
//! tight loop; the time is taken on the monotonic clock from just before the
//! launch to the first successful connect. The server is then killed.

use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::{ports, report};

/// How long one launch may take to accept before it counts as failed.
const LIMIT: Duration = Duration::from_secs(20);

/// Launches `command` `runs` times and prints the `startup` line (median).
pub fn run(runs: u32, command: &[String]) -> Result<()> {
    let Some((program, args)) = command.split_first() else {
        bail!("no command to start");
    };
    if !args.iter().any(|arg| arg.contains("{port}")) {
        bail!("no argument of the command contains {{port}}");
    }
    let mut times = Vec::new();
    for _ in 0..runs.max(1) {
        times.push(once(program, args)?);
    }
    times.sort_unstable();
    let show = |d: &Duration| format!("{:.1}", d.as_secs_f64() * 1e3);
    let all: Vec<String> = times.iter().map(show).collect();
    report::line(
        "startup",
        &[
            ("runs", times.len().to_string()),
            ("median_ms", show(&times[times.len() / 2])),
            ("all_ms", all.join(",")),
        ],
    );
    Ok(())
}

/// One launch; returns the time to the first accepted connection.
fn once(program: &str, args: &[String]) -> Result<Duration> {
    let port = ports::free_port()?;
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    let args: Vec<String> = args
        .iter()
        .map(|arg| arg.replace("{port}", &port.to_string()))
        .collect();
    let mut command = Command::new(program);
    command
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let start = Instant::now();
    let child = command
        .spawn()
        .with_context(|| format!("cannot start {program}"))?;
    let mut child = KillOnDrop(child);
    loop {
        if TcpStream::connect(address).is_ok() {
            return Ok(start.elapsed());
        }
        if let Some(status) = child.0.try_wait()? {
            bail!("{program} exited ({status}) before accepting on port {port}");
        }
        if start.elapsed() > LIMIT {
            bail!("{program} did not accept on port {port} within {LIMIT:?}");
        }
    }
}

/// The launched server, killed and reaped however [`once`] ends.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        // Already gone is fine: there is nothing else to do about a failure here.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
