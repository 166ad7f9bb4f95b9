//! What a client may write as a tunnel's destination or entrance address, in
//! one canonical reading: an IP address, or a host name to resolve once.
//!
//! Resolvers disagree on numeric forms (`127.1`, `0177.0.0.1`, `0x7f.0.0.1`,
//! `2130706433`, `127.0.0.01`): those are refused rather than guessed, so no
//! spelling reaches an address the rules did not allow.

use std::net::IpAddr;

use crate::error::{Error, Result};

/// A requested address, read once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requested {
    /// An IP address: dotted-decimal IPv4, or IPv6 (brackets optional). An
    /// IPv4-mapped IPv6 address (`::ffff:127.0.0.1`) is its IPv4 address.
    Ip(IpAddr),
    /// A host name (letters, digits, `-`, `.`), resolved by the server.
    Name(String),
}

/// The longest host name DNS allows.
const MAX_NAME: usize = 253;
/// The longest label of a host name.
const MAX_LABEL: usize = 63;

/// Reads `text` as an address, or says why it is not one.
pub fn parse(text: &str) -> Result<Requested> {
    let unbracketed = text
        .strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'));
    if let Some(inner) = unbracketed {
        return match inner.parse::<std::net::Ipv6Addr>() {
            Ok(v6) => Ok(Requested::Ip(canonical(IpAddr::V6(v6)))),
            Err(_) => Err(Error::BadRequest(format!(
                "`{text}` is not an IPv6 address in brackets"
            ))),
        };
    }
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Ok(Requested::Ip(canonical(ip)));
    }
    check_name(text)?;
    Ok(Requested::Name(text.to_string()))
}

/// An IPv4-mapped IPv6 address as its IPv4 address; any other as is.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => ip,
        },
        v4 => v4,
    }
}

/// Whether `ip` names one host: not unspecified (`0.0.0.0`, `::`, which
/// reach this host), not broadcast, not multicast.
pub fn is_host(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => !(v4.is_unspecified() || v4.is_broadcast() || v4.is_multicast()),
        IpAddr::V6(v6) => !(v6.is_unspecified() || v6.is_multicast()),
    }
}

/// Whether `v6` carries an IPv4 address that a translator may reach:
/// IPv4-compatible (`::a.b.c.d`), SIIT (`::ffff:0:a.b.c.d`), NAT64
/// (`64:ff9b::/96`, `64:ff9b:1::/48`) or 6to4 (`2002::/16`). Ranges never
/// match these (only a key written as that very text does), so an IPv6
/// spelling cannot reach an IPv4 host the IPv4 rules refuse.
pub fn embeds_ipv4(v6: std::net::Ipv6Addr) -> bool {
    let s = v6.segments();
    let compatible = s[..6] == [0; 6] && !(v6.is_unspecified() || v6.is_loopback());
    let siit = s[..4] == [0; 4] && s[4] == 0xffff && s[5] == 0;
    let nat64 = s[..6] == [0x64, 0xff9b, 0, 0, 0, 0];
    let nat64_local = s[0] == 0x64 && s[1] == 0xff9b && s[2] == 1;
    let six_to_four = s[0] == 0x2002;
    compatible || siit || nat64 || nat64_local || six_to_four
}

fn check_name(text: &str) -> Result<()> {
    let bad = |why: &str| {
        Err(Error::BadRequest(format!(
            "`{text}` is not an address: {why}"
        )))
    };
    if text.is_empty() {
        return bad("it is empty");
    }
    if text.len() > MAX_NAME {
        return bad("a host name has at most 253 characters");
    }
    // `_` is not in DNS host names, but in container names (`app_db_1`).
    if !text
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_')
    {
        return bad(
            "a host name has letters, digits, `-`, `_` and `.` only (IPv6 goes in brackets)",
        );
    }
    let name = text.strip_suffix('.').unwrap_or(text);
    let labels: Vec<&str> = name.split('.').collect();
    if labels
        .iter()
        .any(|label| label.is_empty() || label.len() > MAX_LABEL)
    {
        return bad("a host name's labels have 1 to 63 characters");
    }
    if labels.last().is_some_and(|last| is_numeric(last)) {
        return bad("write an IPv4 address as four decimal numbers (0-255) without leading zeros");
    }
    Ok(())
}

/// Whether a label reads as a number to some resolver: decimal, octal or hex.
fn is_numeric(label: &str) -> bool {
    let hex = label
        .strip_prefix("0x")
        .or_else(|| label.strip_prefix("0X"));
    match hex {
        Some(digits) => digits.bytes().all(|b| b.is_ascii_hexdigit()),
        None => label.bytes().all(|b| b.is_ascii_digit()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> Requested {
        Requested::Ip(text.parse().unwrap())
    }

    #[test]
    fn addresses_have_one_reading() {
        assert_eq!(parse("127.0.0.1").unwrap(), ip("127.0.0.1"));
        assert_eq!(parse("::1").unwrap(), ip("::1"));
        assert_eq!(parse("[::1]").unwrap(), ip("::1"));
        assert_eq!(parse("::ffff:127.0.0.1").unwrap(), ip("127.0.0.1"));
        assert_eq!(parse("[::ffff:10.1.2.3]").unwrap(), ip("10.1.2.3"));
        assert_eq!(parse("0.0.0.0").unwrap(), ip("0.0.0.0"));
        assert_eq!(
            parse("db.internal").unwrap(),
            Requested::Name("db.internal".into())
        );
        assert_eq!(
            parse("localhost.").unwrap(),
            Requested::Name("localhost.".into())
        );
        assert_eq!(parse("a-1.b2").unwrap(), Requested::Name("a-1.b2".into()));
        assert_eq!(
            parse("app_db_1").unwrap(),
            Requested::Name("app_db_1".into())
        );
    }

    #[test]
    fn numeric_forms_resolvers_disagree_on_are_refused() {
        for text in [
            "127.1",
            "0177.0.0.1",
            "0x7f.0.0.1",
            "0x7f000001",
            "2130706433",
            "127.000.0.1",
            "127.0.0.01",
            "127.0.0.1.",
            "1.2.3.4.5",
            "host.0x1f",
        ] {
            let err = parse(text).unwrap_err();
            assert_eq!(err.kind(), crate::ErrorKind::BadRequest, "{text}: {err}");
        }
    }

    #[test]
    fn malformed_names_are_refused() {
        let long_label = "a".repeat(64);
        let long_name = format!("{}.com", "a.".repeat(130));
        for text in [
            "",
            "[127.0.0.1]",
            "[::1",
            "::1]",
            "exa mple.com",
            "a..b",
            ".a",
            "a/b",
            "a%2eb",
            "a:22",
            long_label.as_str(),
            long_name.as_str(),
        ] {
            assert!(parse(text).is_err(), "{text:?} was accepted");
        }
    }

    #[test]
    fn ipv6_forms_that_carry_ipv4_are_known() {
        for text in [
            "::127.0.0.1",
            "::ffff:0:127.0.0.1",
            "64:ff9b::7f00:1",
            "64:ff9b:1::7f00:1",
            "2002:7f00:1::1",
        ] {
            assert!(embeds_ipv4(text.parse().unwrap()), "{text}");
        }
        for text in ["::1", "::", "fd00::1", "2001:db8::1"] {
            assert!(!embeds_ipv4(text.parse().unwrap()), "{text}");
        }
    }

    #[test]
    fn only_single_hosts_are_hosts() {
        for text in ["0.0.0.0", "::", "255.255.255.255", "224.0.0.1", "ff02::1"] {
            assert!(!is_host(text.parse().unwrap()), "{text}");
        }
        for text in ["127.0.0.1", "::1", "10.0.0.1", "fd00::1"] {
            assert!(is_host(text.parse().unwrap()), "{text}");
        }
    }
}
