//! Offline unlock: a PIN (or passphrase) checked against an Argon2id verifier kept in the
//! keychain together with the cached identity and the wrong-attempt counter.
//!
//! The verifier, identity and counter are one keychain item, so the counter cannot be reset
//! without also losing the verifier (deleting the item disables offline unlock instead of
//! unlocking it), and an item that does not parse counts as locked. After [`MAX_FAILURES`]
//! wrong PINs the item is marked locked; only an online login clears it.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use zeroize::Zeroize;

use crate::error::{AccountError, Result};
use crate::oidc::Identity;

/// Wrong PINs allowed before offline unlock is locked.
pub const MAX_FAILURES: u32 = 5;
/// Shortest accepted PIN.
pub const MIN_PIN_LEN: usize = 6;

/// Argon2id with 64 MiB, 3 passes, 1 lane: about a third of a second per check on the 2-core
/// development machine (see the `argon2_cost` test), so guessing a 6-digit PIN from a stolen
/// verifier costs days of CPU, while unlocking stays quick. Above OWASP's minimum (19 MiB, t=2).
pub fn argon2() -> Argon2<'static> {
    let params = Params::new(64 * 1024, 3, 1, None).expect("constant Argon2 parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// The keychain item's content.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct OfflineRecord {
    /// PHC string (`$argon2id$v=19$m=65536,t=3,p=1$salt$hash`).
    pub verifier: String,
    pub identity: Identity,
    pub failures: u32,
    pub locked: bool,
}

impl OfflineRecord {
    /// Hashes `pin` into a new record (blocking: run off the async threads).
    pub fn new(pin: &SecretString, identity: Identity) -> Result<Self> {
        if pin.expose_secret().chars().count() < MIN_PIN_LEN {
            return Err(AccountError::WeakPin(MIN_PIN_LEN));
        }
        let mut salt = [0u8; 16];
        rand::fill(&mut salt);
        let salt =
            SaltString::encode_b64(&salt).map_err(|e| AccountError::Invalid(e.to_string()))?;
        let verifier = argon2()
            .hash_password(pin.expose_secret().as_bytes(), &salt)
            .map_err(|e| AccountError::Invalid(format!("argon2: {e}")))?
            .to_string();
        Ok(OfflineRecord {
            verifier,
            identity,
            failures: 0,
            locked: false,
        })
    }

    /// Checks `pin`, updating the counter. Returns whether it matched; the caller stores the
    /// record back in every case, before telling the user anything.
    pub fn check(&mut self, pin: &SecretString) -> Result<bool> {
        if self.locked || self.failures >= MAX_FAILURES {
            self.locked = true;
            return Err(AccountError::OfflineLocked);
        }
        let hash = PasswordHash::new(&self.verifier).map_err(|_| AccountError::OfflineLocked)?;
        let ok = argon2()
            .verify_password(pin.expose_secret().as_bytes(), &hash)
            .is_ok();
        if ok {
            self.failures = 0;
        } else {
            self.failures += 1;
            self.locked = self.failures >= MAX_FAILURES;
        }
        Ok(ok)
    }

    pub fn to_secret(&self) -> Result<SecretString> {
        let json = serde_json::to_string(self).map_err(|e| AccountError::Invalid(e.to_string()))?;
        Ok(SecretString::from(json))
    }

    /// A record that does not parse is treated as locked (tampered or damaged).
    pub fn from_secret(s: &SecretString) -> Result<Self> {
        serde_json::from_str(s.expose_secret()).map_err(|_| AccountError::OfflineLocked)
    }
}

impl Drop for OfflineRecord {
    fn drop(&mut self) {
        self.verifier.zeroize();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id() -> Identity {
        Identity {
            sub: "alice".into(),
            name: None,
            email: None,
            issuer: "https://idp.example".into(),
        }
    }

    #[test]
    fn five_wrong_pins_lock_and_the_right_pin_resets_before_that() {
        let pin = SecretString::from("246810".to_string());
        let wrong = SecretString::from("111111".to_string());
        assert!(matches!(
            OfflineRecord::new(&SecretString::from("12345".to_string()), id()),
            Err(AccountError::WeakPin(6))
        ));
        let mut rec = OfflineRecord::new(&pin, id()).unwrap();
        assert!(
            rec.verifier.starts_with("$argon2id$v=19$m=65536,t=3,p=1$"),
            "{}",
            rec.verifier
        );
        assert!(!rec.check(&wrong).unwrap());
        assert!(rec.check(&pin).unwrap());
        assert_eq!(rec.failures, 0, "a right PIN resets the counter");
        for n in 1..=5 {
            assert!(!rec.check(&wrong).unwrap());
            assert_eq!(rec.failures, n);
        }
        assert!(rec.locked);
        assert!(matches!(rec.check(&pin), Err(AccountError::OfflineLocked)));
        // The state survives serialisation (it lives in the keychain between runs).
        let back = OfflineRecord::from_secret(&rec.to_secret().unwrap()).unwrap();
        assert!(back.locked);
        assert!(matches!(
            OfflineRecord::from_secret(&SecretString::from("{\"verifier\":1}".to_string())),
            Err(AccountError::OfflineLocked)
        ));
    }

    /// Measures one verification with the chosen parameters (`--nocapture` prints it).
    #[test]
    fn argon2_cost() {
        let pin = SecretString::from("246810".to_string());
        let mut rec = OfflineRecord::new(&pin, id()).unwrap();
        let t = std::time::Instant::now();
        assert!(rec.check(&pin).unwrap());
        let ms = t.elapsed().as_millis();
        println!("argon2id m=64MiB t=3 p=1: one PIN check took {ms} ms");
        assert!(ms < 10_000, "{ms} ms");
    }
}
