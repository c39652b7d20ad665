//! The transcript key in the OS keychain (Secret Service, Windows Credential Manager, macOS
//! Keychain) through the `keyring` crate, behind the `keychain` feature.
//!
//! Here rather than over the accounts crate's async `Keychain`: a [`KeyProvider`] is
//! synchronous, and speech must not depend on the app's crates; a direct `keyring` entry is
//! the same store with the same service name (`visio-desktop`), so the app and the CLI share
//! the key. The key is created on first use (32 random bytes, kept hex-encoded as the item's
//! secret) and never written to a file: with no keychain, or a locked one, saving and reading
//! transcripts fails with a clear [`VaultError::Key`], never a fallback.

use std::sync::Mutex;

use chacha20poly1305::aead::{KeyInit, OsRng};
use chacha20poly1305::XChaCha20Poly1305;

use crate::vault::{KeyProvider, VaultError};

/// The keychain item's service (the app's, shared with the accounts crate) and account.
pub const SERVICE: &str = "visio-desktop";
pub const ACCOUNT: &str = "transcripts-key";

/// The vault key kept in the OS keychain; read once per process.
pub struct KeychainKey {
    service: String,
    account: String,
    cached: Mutex<Option<[u8; 32]>>,
}

impl Default for KeychainKey {
    fn default() -> Self {
        Self::new(SERVICE, ACCOUNT)
    }
}

fn keychain_error(e: keyring::Error) -> VaultError {
    let why = match &e {
        keyring::Error::PlatformFailure(inner) if inner.to_string().contains("locked") => {
            "the OS keychain is locked; unlock it"
        }
        keyring::Error::PlatformFailure(_) => "no OS keychain is available (on Linux: a Secret Service such as gnome-keyring in the session)",
        keyring::Error::NoStorageAccess(_) => "the OS keychain is locked; unlock it",
        _ => "the OS keychain refused the transcript key",
    };
    VaultError::Key(format!(
        "{why}: {e}. Transcripts are only kept encrypted with a key in the keychain"
    ))
}

fn parse_hex(s: &str) -> Option<[u8; 32]> {
    let s = s.trim();
    if s.len() != 64 {
        return None;
    }
    let mut key = [0u8; 32];
    for (i, b) in key.iter_mut().enumerate() {
        *b = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(key)
}

impl KeychainKey {
    pub fn new(service: &str, account: &str) -> Self {
        Self {
            service: service.to_owned(),
            account: account.to_owned(),
            cached: Mutex::new(None),
        }
    }

    fn fetch(&self) -> Result<[u8; 32], VaultError> {
        let entry = keyring::Entry::new(&self.service, &self.account).map_err(keychain_error)?;
        match entry.get_password() {
            Ok(s) => parse_hex(&s).ok_or_else(|| {
                VaultError::Key(format!(
                    "the keychain item {}/{} is not a transcript key",
                    self.service, self.account
                ))
            }),
            Err(keyring::Error::NoEntry) => {
                let key: [u8; 32] = XChaCha20Poly1305::generate_key(&mut OsRng).into();
                let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
                entry.set_password(&hex).map_err(keychain_error)?;
                Ok(key)
            }
            Err(e) => Err(keychain_error(e)),
        }
    }
}

impl KeyProvider for KeychainKey {
    fn key(&self) -> Result<[u8; 32], VaultError> {
        let mut cached = self
            .cached
            .lock()
            .map_err(|_| VaultError::Key("the key cache was poisoned".into()))?;
        if let Some(k) = *cached {
            return Ok(k);
        }
        let k = self.fetch()?;
        *cached = Some(k);
        Ok(k)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn hex_keys_round_trip_and_bad_ones_are_refused() {
        let key: [u8; 32] = std::array::from_fn(|i| (i * 7) as u8);
        let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(super::parse_hex(&hex), Some(key));
        assert_eq!(super::parse_hex(&hex[2..]), None);
        assert_eq!(super::parse_hex(&"zz".repeat(32)), None);
    }
}
