//! `--heartbeat-interval`: how long a websocket may stay silent before a ping.

use std::time::Duration;

use clap::Args;
use netunnel_core::Heartbeat;

/// The heartbeat flag shared by `server` and `client`.
#[derive(Debug, Args)]
pub struct HeartbeatArgs {
    /// Seconds of silence after which a websocket is pinged (fractions allowed);
    /// it is dropped when nothing arrives within half that time after the ping.
    /// The client pings every websocket it opens, the server its control
    /// channels. NETunnel 1.0.x uses 20.
    #[arg(
        long,
        value_name = "SECONDS",
        env = "NETUNNEL_HEARTBEAT_INTERVAL",
        default_value = "20",
        value_parser = parse_interval
    )]
    heartbeat_interval: Duration,
}

impl HeartbeatArgs {
    /// The heartbeat these flags ask for.
    pub fn heartbeat(&self) -> Heartbeat {
        Heartbeat::every(self.heartbeat_interval)
    }
}

/// Seconds given on the command line, fractions allowed, 0.01 to 86400.
pub fn parse_interval(text: &str) -> Result<Duration, String> {
    let seconds: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a number of seconds"))?;
    if !(0.01..=86_400.0).contains(&seconds) {
        return Err(format!(
            "{seconds} s is out of range: give between 0.01 and 86400 seconds"
        ));
    }
    Ok(Duration::from_secs_f64(seconds))
}

#[cfg(test)]
mod tests {
    use super::parse_interval;
    use std::time::Duration;

    #[test]
    fn intervals_are_seconds_with_fractions_in_a_sane_range() {
        assert_eq!(parse_interval("20"), Ok(Duration::from_secs(20)));
        assert_eq!(parse_interval("0.5"), Ok(Duration::from_millis(500)));
        for bad in ["", "soon", "0", "-1", "NaN", "inf", "86401"] {
            assert!(parse_interval(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
