//! `allowed_tunnel_destinations`: which `address:port` a forward tunnel may reach.

use std::collections::BTreeMap;

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::address::{self, Requested};
use crate::error::{Error, Result};

/// Maps an address to a comma-separated list of ports, or `*` for every port;
/// an empty list allows nothing. A key allows the address written exactly as
/// it, as NETunnel 1.0.x's keys do (`"127.0.0.1"` allows `127.0.0.1`, not
/// `::ffff:127.0.0.1` nor `localhost`). A key that is a CIDR range
/// (`"10.0.0.0/8"`, `"::1/128"`) allows every host address it covers,
/// however the client wrote it (`"[::1]"`, `"::ffff:10.0.0.1"`), and a name
/// whose every address it covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AllowList(pub BTreeMap<String, String>);

impl Default for AllowList {
    /// `{"127.0.0.1": "*"}`.
    fn default() -> Self {
        let mut map = BTreeMap::new();
        map.insert("127.0.0.1".to_string(), "*".to_string());
        AllowList(map)
    }
}

impl AllowList {
    /// `Ok` when `address:port` is allowed as a destination, else
    /// [`Error::NotAllowed`] saying why. Names are not resolved here: see
    /// the server's destination check for that.
    pub fn check(&self, address: &str, port: u16) -> Result<()> {
        self.check_as(address, port, "destination")
    }

    /// Like [`AllowList::check`], for `what` (`destination` or `entrance`);
    /// port 0 ("any free port") is allowed only by `*`.
    pub fn check_as(&self, address: &str, port: u16, what: &str) -> Result<()> {
        if self.allows_text(address, port) {
            return Ok(());
        }
        if let Ok(Requested::Ip(ip)) = address::parse(address) {
            if self.allows_ip(ip, port) {
                return Ok(());
            }
        }
        Err(self.refusal(address, port, what))
    }

    /// The refusal of `address:port` as a tunnel `what`, in 1.0.x's words.
    pub fn refusal(&self, address: &str, port: u16, what: &str) -> Error {
        if self.0.contains_key(address) {
            Error::NotAllowed(format!(
                "Port {address}:{port} is not allowed as a tunnel {what}"
            ))
        } else {
            Error::NotAllowed(format!(
                "Address {address} is not allowed as a tunnel {what}"
            ))
        }
    }

    /// Whether the entry written exactly as `text` allows `port` (NETunnel
    /// 1.0.x's rule).
    pub fn allows_text(&self, text: &str, port: u16) -> bool {
        // A range key is a range, never the text of a destination: the
        // destination `10.0.0.0/8` is not an address (found by fuzzing).
        !text.contains('/')
            && self
                .0
                .get(text)
                .is_some_and(|ports| ports_allow(ports, port))
    }

    /// Whether a CIDR range entry covering `ip` allows `port`. Only host
    /// addresses match this way: `0.0.0.0`, `::`, broadcast and multicast
    /// only by an entry written as that very text.
    pub fn allows_ip(&self, ip: IpAddr, port: u16) -> bool {
        let ip = address::canonical(ip);
        let carries_ipv4 = matches!(ip, IpAddr::V6(v6) if address::embeds_ipv4(v6));
        address::is_host(ip)
            && !carries_ipv4
            && self.0.iter().any(|(key, ports)| {
                Range::parse(key).is_some_and(|range| range.contains(ip))
                    && ports_allow(ports, port)
            })
    }

    /// Whether some CIDR range entry allows `port` (else no name needs to be
    /// resolved to know it is refused).
    pub fn has_range_for(&self, port: u16) -> bool {
        self.0
            .iter()
            .any(|(key, ports)| Range::parse(key).is_some() && ports_allow(ports, port))
    }

    /// Checks every entry: a key with a `/` must be a CIDR range whose
    /// address has no bits set past its prefix (`10.0.0.0/8`, not
    /// `10.0.0.1/8`), and each port must be `*` or a number from 1 to 65535
    /// written plainly (no sign, no leading zero).
    pub fn validate(&self) -> std::result::Result<(), String> {
        for (key, ports) in &self.0 {
            if key.contains('/') {
                match Range::parse(key) {
                    None => {
                        return Err(format!(
                            "`{key}` is not a CIDR range (such as \"10.0.0.0/8\" or \"fd00::/8\")"
                        ))
                    }
                    Some(range) if !range.is_network() => {
                        return Err(format!(
                            "`{key}` has address bits set past its prefix length (write the network address)"
                        ))
                    }
                    Some(_) => {}
                }
            }
            for entry in ports.split(',').map(str::trim).filter(|e| !e.is_empty()) {
                let plain = entry.bytes().all(|b| b.is_ascii_digit()) && !entry.starts_with('0');
                if entry != "*" && !(plain && entry.parse::<u16>().is_ok()) {
                    return Err(format!(
                        "`{key}`: `{entry}` is not a port (a number from 1 to 65535, or * for any)"
                    ));
                }
            }
        }
        Ok(())
    }
}

fn ports_allow(ports: &str, port: u16) -> bool {
    let port_text = port.to_string();
    ports
        .split(',')
        .map(str::trim)
        .any(|entry| entry == "*" || entry == port_text)
}

/// An entry that is a CIDR range: `address/prefix`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Range {
    network: IpAddr,
    prefix: u8,
}

impl Range {
    /// `None` for a key that is not a CIDR range (an exact-text key).
    fn parse(key: &str) -> Option<Range> {
        let (address_text, prefix) = key.split_once('/')?;
        let network = match address::parse(address_text) {
            // The mapped form of an IPv4 range is an IPv4 range.
            Ok(Requested::Ip(network)) if address_text.parse::<IpAddr>().is_ok() => network,
            _ => return None,
        };
        let written_bits = if address_text.contains(':') { 128 } else { 32 };
        // Digits only: no sign, no spaces, no leading `+`.
        if prefix.is_empty() || !prefix.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let written = prefix.parse::<u8>().ok().filter(|p| *p <= written_bits)?;
        let prefix = match (written_bits, network) {
            // `::ffff:10.0.0.0/104` is `10.0.0.0/8`.
            (128, IpAddr::V4(_)) => written.checked_sub(96)?,
            _ => written,
        };
        Some(Range { network, prefix })
    }

    /// Whether no address bit is set past the prefix.
    fn is_network(&self) -> bool {
        match self.network {
            IpAddr::V4(net) => u32::from(net) & !mask_v4(self.prefix) == 0,
            IpAddr::V6(net) => u128::from(net) & !mask_v6(self.prefix) == 0,
        }
    }

    fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = mask_v4(self.prefix);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = mask_v6(self.prefix);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// The first `prefix` bits set (`prefix` at most 32).
fn mask_v4(prefix: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0)
}

/// The first `prefix` bits set (`prefix` at most 128).
fn mask_v6(prefix: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(address: &str, ports: &str) -> AllowList {
        AllowList([(address.to_string(), ports.to_string())].into())
    }

    #[test]
    fn netunnel_table() {
        assert!(list("127.0.0.1", "22").check("127.0.0.1", 22).is_ok());
        assert!(list("127.0.0.1", "22").check("127.0.0.1", 23).is_err());
        assert!(list("127.0.0.1", "").check("127.0.0.1", 22).is_err());
        assert!(list("127.0.0.1", "22, 23").check("127.0.0.1", 23).is_ok());
        assert!(list("127.0.0.1", "22, 23").check("127.0.0.1", 24).is_err());
        assert!(list("127.0.0.1", "*").check("127.0.0.1", 1).is_ok());
        assert!(list("127.0.0.1", "*").check("10.0.0.1", 22).is_err());
        assert!(AllowList(BTreeMap::new()).check("127.0.0.1", 22).is_err());
    }

    #[test]
    fn ranges_and_addresses_cover_what_they_should() {
        let rules = AllowList(
            [
                ("10.0.0.0/8".to_string(), "22".to_string()),
                ("::1/128".to_string(), "*".to_string()),
                ("192.168.1.1".to_string(), "*".to_string()),
                ("fd00::/16".to_string(), "443".to_string()),
                ("0.0.0.0/0".to_string(), "5".to_string()),
                ("::/0".to_string(), "7".to_string()),
            ]
            .into(),
        );
        assert!(rules.check("10.1.2.3", 22).is_ok());
        assert!(rules.check("10.1.2.3", 23).is_err());
        assert!(rules.check("::ffff:10.1.2.3", 22).is_ok());
        assert!(rules.check("11.0.0.1", 22).is_err());
        assert!(rules.check("[::1]", 80).is_ok());
        // An exact key stays exact text.
        assert!(rules.check("192.168.1.1", 80).is_ok());
        assert!(rules.check("::ffff:192.168.1.1", 80).is_err());
        assert!(rules.check("fd00:1::9", 443).is_ok());
        assert!(rules.check("fd01::9", 443).is_err());
        // Everything by range, but never "this host" or broadcast.
        assert!(rules.check("192.0.2.1", 5).is_ok());
        assert!(rules.check("0.0.0.0", 5).is_err());
        assert!(rules.check("255.255.255.255", 5).is_err());
        // IPv6 spellings that carry an IPv4 address match no range.
        assert!(rules.check("2001:db8::1", 7).is_ok());
        for text in [
            "::10.1.2.3",
            "64:ff9b::a01:203",
            "2002:a01:203::1",
            "::ffff:0:10.1.2.3",
        ] {
            assert!(rules.check(text, 7).is_err(), "{text}");
        }
        // Names are not resolved by the list.
        assert!(rules.check("localhost", 22).is_err());
        assert!(rules.validate().is_ok());
    }

    #[test]
    fn other_spellings_of_an_allowed_address_are_not_allowed() {
        let rules = list("127.0.0.1", "*");
        for text in [
            "127.1",
            "0177.0.0.1",
            "0x7f.0.0.1",
            "2130706433",
            "127.0.0.01",
            "127.0.0.1.",
            "localhost",
            "0.0.0.0",
            "::",
            "[::1]",
            "::ffff:127.0.0.1",
        ] {
            assert!(rules.check(text, 22).is_err(), "{text} was allowed");
        }
        let range = list("127.0.0.1/32", "*");
        assert!(
            range.check("::ffff:127.0.0.1", 22).is_ok(),
            "the same address"
        );
        assert!(range.check("127.1", 22).is_err());
    }

    #[test]
    fn malformed_entries_are_configuration_errors() {
        for (key, ports) in [
            ("10.0.0.0/33", "22"),
            ("10.0.0.0/-1", "22"),
            ("10.0.0.0/", "22"),
            ("10.0.0/8", "22"),
            ("[::1]/128", "22"),
            ("::ffff:10.0.0.0/95", "22"),
            ("db/8", "22"),
            ("10.0.0.0/8", "22-25"),
            ("10.0.0.1/8", "22"),
            ("127.0.0.1/0", "22"),
            ("127.0.0.1", "65536"),
            ("127.0.0.1", "ssh"),
            ("127.0.0.1", "022"),
            ("127.0.0.1", "+22"),
            ("127.0.0.1", "0"),
        ] {
            assert!(list(key, ports).validate().is_err(), "{key}: {ports}");
        }
        assert!(list("127.0.0.1", "").validate().is_ok());
        assert!(list("0.0.0.0/0", "*").validate().is_ok());
        assert!(list("127.0.0.1/32", "22").validate().is_ok());
        assert!(list("127.0.0.1", "22, 443").validate().is_ok());
    }

    #[test]
    fn refusal_says_not_allowed() {
        let err = list("127.0.0.1", "22").check("127.0.0.1", 80).unwrap_err();
        assert!(err.to_string().contains("not allowed"), "{err}");
    }
}
