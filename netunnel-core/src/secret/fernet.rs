//! Fernet tokens (AES-128-CBC + HMAC-SHA256), as NETunnel 1.0.x writes them.
//! Layout: `0x80 | timestamp (8) | iv (16) | ciphertext | hmac (32)`, urlsafe base64.

use aes::cipher::block_padding::Pkcs7;
use aes::cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyIvInit};
use base64::engine::general_purpose::URL_SAFE;
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::{random_bytes, SecretError};

pub(super) const PREFIX: &str = "gAAAAA";
const VERSION: u8 = 0x80;
const HEADER: usize = 1 + 8 + 16;
const TAG: usize = 32;

fn mac(signing_key: &[u8]) -> Hmac<Sha256> {
    // HMAC accepts keys of any length; 16 bytes cannot fail.
    <Hmac<Sha256> as KeyInit>::new_from_slice(signing_key).unwrap_or_else(|_| unreachable!())
}

pub(super) fn encrypt(key: &[u8; 32], plaintext: &[u8]) -> Result<String, SecretError> {
    let (signing_key, encryption_key) = key.split_at(16);
    let iv: [u8; 16] = random_bytes()?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let encryptor = cbc::Encryptor::<aes::Aes128>::new_from_slices(encryption_key, &iv)
        .map_err(|_| SecretError::InvalidKey)?;
    let mut buffer = vec![0u8; plaintext.len() + 16];
    let ciphertext = encryptor
        .encrypt_padded_b2b::<Pkcs7>(plaintext, &mut buffer)
        .map_err(|_| SecretError::Malformed)?;
    let mut token = Vec::with_capacity(HEADER + ciphertext.len() + TAG);
    token.push(VERSION);
    token.extend_from_slice(&now.to_be_bytes());
    token.extend_from_slice(&iv);
    token.extend_from_slice(ciphertext);
    let mut mac = mac(signing_key);
    mac.update(&token);
    token.extend_from_slice(&mac.finalize().into_bytes());
    Ok(URL_SAFE.encode(token))
}

pub(super) fn decrypt(key: &[u8; 32], token: &str) -> Result<Vec<u8>, SecretError> {
    let (signing_key, encryption_key) = key.split_at(16);
    let raw = URL_SAFE.decode(token).map_err(|_| SecretError::Malformed)?;
    if raw.len() < HEADER + 16 + TAG
        || raw[0] != VERSION
        || !(raw.len() - HEADER - TAG).is_multiple_of(16)
    {
        return Err(SecretError::Malformed);
    }
    let (signed, tag) = raw.split_at(raw.len() - TAG);
    let mut mac = mac(signing_key);
    mac.update(signed);
    mac.verify_slice(tag)
        .map_err(|_| SecretError::WrongKeyOrTampered)?;
    let iv = &signed[9..HEADER];
    let decryptor = cbc::Decryptor::<aes::Aes128>::new_from_slices(encryption_key, iv)
        .map_err(|_| SecretError::Malformed)?;
    let mut buffer = signed[HEADER..].to_vec();
    let plaintext = decryptor
        .decrypt_padded::<Pkcs7>(&mut buffer)
        .map_err(|_| SecretError::WrongKeyOrTampered)?;
    Ok(plaintext.to_vec())
}
