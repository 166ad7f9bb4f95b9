//! `allowed_tunnel_destinations`: which `address:port` a forward tunnel may reach.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Maps an address to a comma-separated list of ports, or `*` for every port.
/// Addresses are compared as strings with what the client asks for, as NETunnel
/// 1.0.x does; an empty list allows nothing.
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
    /// [`Error::NotAllowed`] saying why.
    pub fn check(&self, address: &str, port: u16) -> Result<()> {
        self.check_as(address, port, "destination")
    }

    /// Like [`AllowList::check`], for `what` (`destination` or `entrance`);
    /// port 0 ("any free port") is allowed only by `*`.
    pub fn check_as(&self, address: &str, port: u16, what: &str) -> Result<()> {
        let Some(ports) = self.0.get(address) else {
            return Err(Error::NotAllowed(format!(
                "Address {address} is not allowed as a tunnel {what}"
            )));
        };
        let port_text = port.to_string();
        let allowed = ports
            .split(',')
            .map(str::trim)
            .any(|entry| entry == "*" || entry == port_text);
        if allowed {
            Ok(())
        } else {
            Err(Error::NotAllowed(format!(
                "Port {address}:{port} is not allowed as a tunnel {what}"
            )))
        }
    }
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
    fn refusal_says_not_allowed() {
        let err = list("127.0.0.1", "22").check("127.0.0.1", 80).unwrap_err();
        assert!(err.to_string().contains("not allowed"), "{err}");
    }
}
