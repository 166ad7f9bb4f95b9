//! Where a tunnel may go, decided once when it is opened: the requested
//! address is read in one canonical way, a name is resolved once, every
//! address it resolved to is checked, and the tunnel then connects (or
//! listens) on exactly those addresses, never resolving the name again.

use std::net::{IpAddr, ToSocketAddrs};
use std::time::Duration;

use crate::config::address::{self, Requested};
use crate::config::AllowList;
use crate::error::{Error, Result};
use crate::runtime::Runtime;

/// How long resolving a requested name may take.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(10);

/// The addresses `text:port` may use as a tunnel `what` (`destination` or
/// `entrance`) under `rules` (`None`: no rules, anything that is an address
/// goes), in the order to try them.
///
/// An entry written exactly as `text` allows it (NETunnel 1.0.x); a name so
/// allowed is still resolved here, once. Otherwise each address must be
/// allowed by an address or range entry: for a name, every address it
/// resolves to, or the name is refused.
pub(crate) async fn permitted(
    rt: &dyn Runtime,
    rules: Option<&AllowList>,
    text: &str,
    port: u16,
    what: &str,
) -> Result<Vec<IpAddr>> {
    let requested = address::parse(text)?;
    let by_text = rules.is_none_or(|rules| rules.allows_text(text, port));
    let is_name = matches!(requested, Requested::Name(_));
    let addresses = match requested {
        Requested::Ip(ip) => vec![ip],
        Requested::Name(name) => {
            // Refused before any lookup when no rule could allow it.
            if !by_text && rules.is_some_and(|rules| rules.0.is_empty()) {
                return Err(refusal(rules, text, port, what));
            }
            resolve(rt, &name, port).await?
        }
    };
    for ip in &addresses {
        if is_name && !address::is_host(*ip) {
            // Whatever the rules: a name never stands for "this host" (0.0.0.0).
            return Err(Error::NotAllowed(format!(
                "{text} resolves to {ip}, which is not a single host"
            )));
        }
        let allowed = by_text || rules.is_some_and(|rules| rules.allows_ip(*ip, port));
        if !allowed {
            return Err(match addresses.len() {
                1 if ip.to_string() == text => refusal(rules, text, port, what),
                _ => Error::NotAllowed(format!(
                    "{text} resolves to {ip}, which is not allowed as a tunnel {what} (port {port})"
                )),
            });
        }
    }
    Ok(addresses)
}

fn refusal(rules: Option<&AllowList>, text: &str, port: u16, what: &str) -> Error {
    match rules {
        Some(rules) => rules.refusal(text, port, what),
        None => Error::NotAllowed(format!("{text}:{port} is not allowed as a tunnel {what}")),
    }
}

/// The addresses of `name`, from the system's resolver, once; IPv4-mapped
/// IPv6 ones as IPv4, duplicates dropped, the resolver's order kept.
async fn resolve(rt: &dyn Runtime, name: &str, port: u16) -> Result<Vec<IpAddr>> {
    let lookup = (name.to_string(), port);
    let looking = crate::runtime::unblock(rt, move || {
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
