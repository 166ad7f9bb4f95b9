//! Encryption of configuration values with the server's secret key.
//!
//! The key is the urlsafe base64 of 32 bytes (NETunnel 1.0.x's Fernet key format).
//! What we write is AES-256-GCM in the text format `ntv1:<base64url(nonce | ciphertext | tag)>`,
//! with a 96-bit random nonce per value and a key derived from the secret key
//! (HMAC-SHA256 of a fixed label), so the same key never serves two algorithms.
//! What we read may also be a Fernet token (`gAAAAA...`) written by NETunnel 1.0.x.

mod fernet;
mod gcm;

use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine;

/// Why a secret could not be used. Messages never contain key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// The key is not the urlsafe base64 of 32 bytes.
    #[error("the secret key must be the urlsafe base64 encoding of 32 bytes (as `netunnel security generate-key` prints)")]
    InvalidKey,
    /// The value is not a token of a format we know.
    #[error("not an encrypted value (expected an `ntv1:` or Fernet token)")]
    UnknownFormat,
    /// The token is truncated or not valid base64.
    #[error("the encrypted value is malformed or truncated")]
    Malformed,
    /// Authentication failed: wrong key, or the token was altered.
    #[error(
        "the encrypted value does not match the secret key (wrong key, or the value was altered)"
    )]
    WrongKeyOrTampered,
    /// The decrypted bytes are not UTF-8 text.
    #[error("the decrypted value is not text")]
    NotText,
    /// The system random generator failed.
    #[error("no randomness available: {0}")]
    Random(String),
}

/// Token formats [`SecretKey::encrypt`] can write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TokenFormat {
    /// AES-256-GCM, `ntv1:` (ours; the default).
    #[default]
    Gcm,
    /// Fernet, readable by NETunnel 1.0.x (for rolling back).
    Fernet,
}

/// The server's secret key.
#[derive(Clone)]
pub struct SecretKey([u8; 32]);

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(******)")
    }
}

pub(crate) fn random_bytes<const N: usize>() -> Result<[u8; N], SecretError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|err| SecretError::Random(err.to_string()))?;
    Ok(bytes)
}

impl SecretKey {
    /// Parses a key in NETunnel's format (urlsafe base64, padding optional).
    pub fn parse(text: &str) -> Result<SecretKey, SecretError> {
        let text = text.trim();
        let bytes = URL_SAFE
            .decode(text)
            .or_else(|_| URL_SAFE_NO_PAD.decode(text))
            .map_err(|_| SecretError::InvalidKey)?;
        let bytes: [u8; 32] = bytes.try_into().map_err(|_| SecretError::InvalidKey)?;
        Ok(SecretKey(bytes))
    }

    /// A new random key.
    pub fn generate() -> Result<SecretKey, SecretError> {
        Ok(SecretKey(random_bytes()?))
    }

    /// The key in NETunnel's text format.
    pub fn encode(&self) -> String {
        URL_SAFE.encode(self.0)
    }

    /// Encrypts `plaintext` in `format`.
    pub fn encrypt(&self, plaintext: &str, format: TokenFormat) -> Result<String, SecretError> {
        self.encrypt_bytes(plaintext.as_bytes(), format)
    }

    /// Encrypts any bytes in `format` (NETunnel 1.0.x's `Encryptor.encrypt`
    /// takes bytes).
    pub fn encrypt_bytes(
        &self,
        plaintext: &[u8],
        format: TokenFormat,
    ) -> Result<String, SecretError> {
        match format {
            TokenFormat::Gcm => gcm::encrypt(&self.0, plaintext),
            TokenFormat::Fernet => fernet::encrypt(&self.0, plaintext),
        }
    }

    /// Decrypts a token of either format that holds text.
    pub fn decrypt(&self, token: &str) -> Result<String, SecretError> {
        let bytes = self.decrypt_bytes(token)?;
        String::from_utf8(bytes).map_err(|_| SecretError::NotText)
    }

    /// Decrypts a token of either format into the bytes it holds.
    pub fn decrypt_bytes(&self, token: &str) -> Result<Vec<u8>, SecretError> {
        let token = token.trim();
        if let Some(body) = token.strip_prefix(gcm::PREFIX) {
            gcm::decrypt(&self.0, body)
        } else if token.starts_with(fernet::PREFIX) {
            fernet::decrypt(&self.0, token)
        } else {
            Err(SecretError::UnknownFormat)
        }
    }

    /// Whether `value` looks like a token of a format we know.
    pub fn is_token(value: &str) -> bool {
        value.starts_with(gcm::PREFIX) || value.starts_with(fernet::PREFIX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_bytes_round_trip_in_both_formats() {
        let key = SecretKey::generate().unwrap();
        let bytes = [0u8, 159, 146, 150, 255, b'\n'];
        for format in [TokenFormat::Gcm, TokenFormat::Fernet] {
            let token = key.encrypt_bytes(&bytes, format).unwrap();
            assert_eq!(key.decrypt_bytes(&token).unwrap(), bytes);
            // Not UTF-8: the text call says so rather than mangling it.
            assert!(matches!(key.decrypt(&token), Err(SecretError::NotText)));
        }
    }

    fn vectors() -> serde_json::Value {
        serde_json::from_str(include_str!("../../tests/data/fernet.json")).unwrap()
    }

    #[test]
    fn fernet_vectors_decrypt() {
        let v = vectors();
        let key = SecretKey::parse(v["key"].as_str().unwrap()).unwrap();
        for item in v["items"].as_array().unwrap() {
            let token = item["token"].as_str().unwrap();
            assert_eq!(
                key.decrypt(token).unwrap(),
                item["plaintext"].as_str().unwrap()
            );
        }
    }

    #[test]
    fn fernet_vectors_refuse_wrong_key_and_any_altered_character() {
        let v = vectors();
        let key = SecretKey::parse(v["key"].as_str().unwrap()).unwrap();
        let wrong = SecretKey::parse(v["wrong_key"].as_str().unwrap()).unwrap();
        for item in v["items"].as_array().unwrap() {
            let token = item["token"].as_str().unwrap();
            assert_eq!(wrong.decrypt(token), Err(SecretError::WrongKeyOrTampered));
            for i in 0..token.len() {
                let mut altered: Vec<char> = token.chars().collect();
                altered[i] = if altered[i] == 'A' { 'B' } else { 'A' };
                let altered: String = altered.into_iter().collect();
                if altered == token {
                    continue;
                }
                assert!(key.decrypt(&altered).is_err(), "altered at {i} accepted");
            }
            assert!(key.decrypt(&token[..token.len() - 4]).is_err());
        }
    }

    #[test]
    fn gcm_roundtrip_and_rejections() {
        let key = SecretKey::generate().unwrap();
        let other = SecretKey::generate().unwrap();
        for text in ["", "proxyuser", "p@ss w0rd!", "unicode-שלום-é"] {
            let token = key.encrypt(text, TokenFormat::Gcm).unwrap();
            assert!(token.starts_with("ntv1:"));
            assert!(!token.contains(text) || text.is_empty());
            assert_eq!(key.decrypt(&token).unwrap(), text);
            assert_eq!(other.decrypt(&token), Err(SecretError::WrongKeyOrTampered));
            assert!(key.decrypt(&token[..token.len() - 1]).is_err());
            let mut altered = token.clone().into_bytes();
            let last = altered.len() - 2;
            altered[last] = if altered[last] == b'A' { b'B' } else { b'A' };
            assert!(key.decrypt(&String::from_utf8(altered).unwrap()).is_err());
        }
        // Two encryptions of one value differ (random nonce).
        assert_ne!(
            key.encrypt("x", TokenFormat::Gcm).unwrap(),
            key.encrypt("x", TokenFormat::Gcm).unwrap()
        );
    }

    #[test]
    fn fernet_roundtrip() {
        let key = SecretKey::generate().unwrap();
        let token = key.encrypt("p@ss w0rd!", TokenFormat::Fernet).unwrap();
        assert!(token.starts_with("gAAAAA"));
        assert_eq!(key.decrypt(&token).unwrap(), "p@ss w0rd!");
    }

    #[test]
    fn keys_parse_and_never_print() {
        let key = SecretKey::generate().unwrap();
        let text = key.encode();
        assert_eq!(text.len(), 44);
        assert_eq!(SecretKey::parse(&text).unwrap().encode(), text);
        assert_eq!(format!("{key:?}"), "SecretKey(******)");
        assert_eq!(
            SecretKey::parse("short").unwrap_err(),
            SecretError::InvalidKey
        );
        assert!(!SecretError::InvalidKey.to_string().contains(&text));
    }
}
