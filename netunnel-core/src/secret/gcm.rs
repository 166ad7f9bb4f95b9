//! Our format: `ntv1:` + urlsafe base64 (no padding) of `nonce (12) | ciphertext | tag (16)`,
//! AES-256-GCM under a key derived from the secret key.

use aes_gcm::aead::{Aead, Key, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::{random_bytes, SecretError};

pub(super) const PREFIX: &str = "ntv1:";
const LABEL: &[u8] = b"netunnel config encryption v1 (AES-256-GCM)";
const NONCE: usize = 12;
const TAG: usize = 16;

fn cipher(secret: &[u8; 32]) -> Aes256Gcm {
    let mut mac = <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(LABEL);
    let derived = mac.finalize().into_bytes();
    let key = Key::<Aes256Gcm>::try_from(&derived[..]).unwrap_or_else(|_| unreachable!("32 bytes"));
    Aes256Gcm::new(&key)
}

pub(super) fn encrypt(secret: &[u8; 32], plaintext: &[u8]) -> Result<String, SecretError> {
    let nonce_bytes: [u8; NONCE] = random_bytes()?;
    let nonce = Nonce::from(nonce_bytes);
    let ciphertext = cipher(secret)
        .encrypt(&nonce, plaintext)
        .map_err(|_| SecretError::Malformed)?;
    let mut out = Vec::with_capacity(NONCE + ciphertext.len());
    out.extend_from_slice(&nonce_bytes);
    out.extend_from_slice(&ciphertext);
    Ok(format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(out)))
}

pub(super) fn decrypt(secret: &[u8; 32], body: &str) -> Result<Vec<u8>, SecretError> {
    let raw = URL_SAFE_NO_PAD
        .decode(body)
        .map_err(|_| SecretError::Malformed)?;
    if raw.len() < NONCE + TAG {
        return Err(SecretError::Malformed);
    }
    let (nonce, ciphertext) = raw.split_at(NONCE);
    let nonce = Nonce::try_from(nonce).map_err(|_| SecretError::Malformed)?;
    cipher(secret)
        .decrypt(&nonce, ciphertext)
        .map_err(|_| SecretError::WrongKeyOrTampered)
}
