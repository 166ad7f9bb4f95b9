//! Where a tunnel may go, decided once when it is opened: the requested
//! address is read in one way, a name is resolved once, every address it
//! resolved to is checked, and the tunnel then connects (or listens) on
//! exactly those addresses, never resolving the name again.

use std::net::{IpAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::config::address::{self, Requested};
use crate::config::AllowList;
use crate::error::{Error, Result};
use crate::instance::{record, TARGET_SERVER};
use crate::runtime::Runtime;

/// How long resolving a requested name may take before the request is
/// answered (the system resolver's thread may go on a little longer).
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(10);
/// Name lookups in progress at once, in the process: past this, a request
/// that needs one is refused at once instead of tying up another thread.
const MAX_LOOKUPS: usize = 32;

static LOOKUPS: AtomicUsize = AtomicUsize::new(0);

/// The addresses `text:port` may use as a tunnel `what` (`destination` or
/// `entrance`) under `rules` (`None`: no rules, any address goes), in the
/// order to try them.
///
/// A key written exactly as `text` allows it, as in NETunnel 1.0.x: an
/// address as is, a name resolved here once. Otherwise `text` must read as
/// an address or host name (see [`address::parse`]) and each of its
/// addresses must be covered by a range key: for a name, every address it
/// resolves to. A name is only looked up when some range key could allow it.
pub(crate) async fn permitted(
    rt: &dyn Runtime,
    rules: Option<&AllowList>,
    text: &str,
    port: u16,
    what: &str,
) -> Result<Vec<IpAddr>> {
    let Some(rules) = rules else {
        return match address::parse(text)? {
            Requested::Ip(ip) => Ok(vec![ip]),
            Requested::Name(name) => named(rt, &name, port).await,
        };
    };
    if rules.allows_text(text, port) {
        let unbracketed = text.trim_start_matches('[').trim_end_matches(']');
        return match unbracketed.parse::<IpAddr>() {
            Ok(ip) => Ok(vec![address::canonical(ip)]),
            Err(_) => named(rt, text, port).await,
        };
    }
    let refused = || rules.refusal(text, port, what);
    match address::parse(text)? {
        Requested::Ip(ip) if rules.allows_ip(ip, port) => Ok(vec![ip]),
        Requested::Ip(_) => Err(refused()),
        Requested::Name(_) if !rules.has_range_for(port) => Err(refused()),
        Requested::Name(name) => {
            // The client learns "not allowed", nothing of the server's DNS.
            let addresses = named(rt, &name, port).await.map_err(|err| {
                record!(info, TARGET_SERVER, "tunnel {what} {name} refused: {err}");
                refused()
            })?;
            if let Some(ip) = addresses.iter().find(|ip| !rules.allows_ip(**ip, port)) {
                record!(
                    info,
                    TARGET_SERVER,
                    "tunnel {what} {name}:{port} refused: it resolves to {ip}, which no rule allows"
                );
                return Err(refused());
            }
            Ok(addresses)
        }
    }
}

/// The addresses of `name`, resolved once; a name never stands for
/// `0.0.0.0`, `::`, broadcast or multicast.
async fn named(rt: &dyn Runtime, name: &str, port: u16) -> Result<Vec<IpAddr>> {
    let addresses = resolve(rt, name, port).await?;
    if let Some(ip) = addresses.iter().find(|ip| !address::is_host(**ip)) {
        return Err(Error::NotAllowed(format!(
            "{name} resolves to {ip}, which is not a single host"
        )));
    }
    Ok(addresses)
}

/// Releases a lookup slot when dropped.
struct Slot;

impl Drop for Slot {
    fn drop(&mut self) {
        LOOKUPS.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The addresses of `name` from the system's resolver, once: IPv4-mapped
/// IPv6 ones as IPv4, duplicates dropped, the resolver's order kept.
async fn resolve(rt: &dyn Runtime, name: &str, port: u16) -> Result<Vec<IpAddr>> {
    if LOOKUPS.fetch_add(1, Ordering::AcqRel) >= MAX_LOOKUPS {
        LOOKUPS.fetch_sub(1, Ordering::AcqRel);
        return Err(Error::Busy(format!(
            "too many name lookups in progress (at most {MAX_LOOKUPS}); try again"
        )));
    }
    let slot = Slot;
    let lookup = (name.to_string(), port);
    let looking = crate::runtime::unblock(rt, move || {
        // The slot is held until the resolver's thread is done, even when
        // the request stopped waiting for it.
        let _slot = slot;
        lookup.to_socket_addrs().map(|found| {
            found
                .map(|addr| address::canonical(addr.ip()))
                .collect::<Vec<_>>()
        })
    });
    let found = match crate::runtime::timeout(rt, RESOLVE_TIMEOUT, looking).await {
        Some(Some(Ok(found))) => found,
        Some(Some(Err(err))) => {
            return Err(Error::BadRequest(format!("cannot resolve {name}: {err}")))
        }
        Some(None) => return Err(Error::BadRequest(format!("cannot resolve {name}"))),
        None => {
            return Err(Error::Timeout(format!(
                "resolving {name} took over {} s",
                RESOLVE_TIMEOUT.as_secs()
            )))
        }
    };
    let mut addresses: Vec<IpAddr> = Vec::new();
    for ip in found {
        if !addresses.contains(&ip) {
            addresses.push(ip);
        }
    }
    if addresses.is_empty() {
        return Err(Error::BadRequest(format!("{name} has no address")));
    }
    Ok(addresses)
}
