//! Secrets in the OS keychain (Secret Service, Credential Manager, Keychain) via `keyring`.
//!
//! There is deliberately no fallback: when the keychain is absent the caller gets
//! [`AccountError::NoKeychain`] and nothing is stored anywhere. Calls block (D-Bus round trips),
//! so async callers go through [`Keychain::set`]/[`get`](Keychain::get)/[`delete`](Keychain::delete),
//! which run them on tokio's blocking pool.

use secrecy::{ExposeSecret, SecretString};

use crate::error::{AccountError, Result};

/// The keychain entries of one service name (`visio-desktop` in the app).
#[derive(Debug, Clone)]
pub struct Keychain {
    service: String,
}

/// Default service name of the app's keychain items.
pub const SERVICE: &str = "visio-desktop";

impl Default for Keychain {
    fn default() -> Self {
        Keychain::new(SERVICE)
    }
}

impl Keychain {
    pub fn new(service: &str) -> Self {
        Keychain {
            service: service.to_string(),
        }
    }

    /// Stores `secret` under `account` (replacing any previous value).
    pub async fn set(&self, account: &str, secret: &SecretString) -> Result<()> {
        let (service, account) = (self.service.clone(), account.to_string());
        let secret = secret.clone();
        blocking(move || {
            let entry = keyring::Entry::new(&service, &account).map_err(map_err)?;
            entry.set_password(secret.expose_secret()).map_err(map_err)
        })
        .await
    }

    /// Reads `account`; `None` when there is no such item.
    pub async fn get(&self, account: &str) -> Result<Option<SecretString>> {
        let (service, account) = (self.service.clone(), account.to_string());
        blocking(move || {
            let entry = keyring::Entry::new(&service, &account).map_err(map_err)?;
            match entry.get_password() {
                Ok(s) => Ok(Some(SecretString::from(s))),
                Err(keyring::Error::NoEntry) => Ok(None),
                Err(e) => Err(map_err(e)),
            }
        })
        .await
    }

    /// Checks that secrets can be stored now, before a flow whose result must be kept: on
    /// Linux the Secret Service must answer and its default collection be unlocked (a locked
    /// one is offered to the desktop's unlock prompt first). `keyring` alone cannot tell a
    /// locked collection from a missing service when it creates an item, hence this probe.
    pub async fn ensure_usable(&self) -> Result<()> {
        blocking(probe).await
    }

    /// Removes `account`; removing a missing item is not an error.
    pub async fn delete(&self, account: &str) -> Result<()> {
        let (service, account) = (self.service.clone(), account.to_string());
        blocking(move || {
            let entry = keyring::Entry::new(&service, &account).map_err(map_err)?;
            match entry.delete_credential() {
                Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
                Err(e) => Err(map_err(e)),
            }
        })
        .await
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| AccountError::Keychain(format!("keychain task failed: {e}")))?
}

#[cfg(target_os = "linux")]
fn probe() -> Result<()> {
    use dbus_secret_service::{EncryptionType, SecretService};
    let ss = SecretService::connect(EncryptionType::Plain)
        .map_err(|e| AccountError::NoKeychain(e.to_string()))?;
    let collection = ss.get_default_collection().map_err(|e| {
        AccountError::NoKeychain(format!(
            "the Secret Service has no default keyring ({e}); create one in the desktop's \
             password manager"
        ))
    })?;
    let locked = collection
        .is_locked()
        .map_err(|e| AccountError::Keychain(e.to_string()))?;
    if locked {
        // Like keyring itself: ask the desktop to prompt for the keyring password.
        let unlocked = collection.unlock().is_ok() && collection.is_locked().ok() == Some(false);
        if !unlocked {
            let label = collection.get_label().unwrap_or_else(|_| "default".into());
            return Err(AccountError::KeychainLocked(format!(
                "the keyring {label:?} is locked and was not unlocked"
            )));
        }
    }
    Ok(())
}

/// Credential Manager and macOS Keychain have no separate lock state the app must handle:
/// their errors surface on the first real read or write.
#[cfg(not(target_os = "linux"))]
fn probe() -> Result<()> {
    Ok(())
}

/// `PlatformFailure` is what `keyring` reports when there is no D-Bus session or no Secret
/// Service on it (and the equivalent on other systems); `NoStorageAccess` is a locked keychain
/// whose unlock prompt failed or was dismissed.
fn map_err(e: keyring::Error) -> AccountError {
    match e {
        // keyring reports an item creation refused by a locked collection as a platform
        // failure (`org.freedesktop.Secret.Error.IsLocked`).
        keyring::Error::PlatformFailure(inner) if inner.to_string().contains("locked") => {
            AccountError::KeychainLocked(inner.to_string())
        }
        keyring::Error::PlatformFailure(inner) => AccountError::NoKeychain(inner.to_string()),
        keyring::Error::NoStorageAccess(inner) => AccountError::KeychainLocked(inner.to_string()),
        other => AccountError::Keychain(other.to_string()),
    }
}
