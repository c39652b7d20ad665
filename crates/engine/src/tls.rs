//! `wss://` trust: rustls with certificates always verified against Mozilla's roots
//! (`webpki-roots`), the operating system's store, and any extra certificate authorities the
//! caller gives (an administration's private CA in front of its LiveKit server). There is no
//! way to turn verification off.

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

use crate::EngineError;

/// The client configuration for `wss`; `extra_pem` holds PEM texts with one or more CA
/// certificates each.
pub(crate) fn client_config(
    extra_pem: &[String],
) -> Result<Arc<rustls::ClientConfig>, EngineError> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let native = rustls_native_certs::load_native_certs();
    for e in &native.errors {
        tracing::debug!("system certificate store: {e}");
    }
    let (added, ignored) = roots.add_parsable_certificates(native.certs);
    tracing::debug!(added, ignored, "system root certificates");
    for (i, pem) in extra_pem.iter().enumerate() {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem.as_bytes())
            .collect::<Result<_, _>>()
            .map_err(|e| EngineError::InvalidCertificate(format!("extra CA #{}: {e}", i + 1)))?;
        if certs.is_empty() {
            return Err(EngineError::InvalidCertificate(format!(
                "extra CA #{}: no PEM certificate in it",
                i + 1
            )));
        }
        for c in certs {
            roots.add(c).map_err(|e| {
                EngineError::InvalidCertificate(format!("extra CA #{}: {e}", i + 1))
            })?;
        }
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| EngineError::Tls {
            url: String::new(),
            reason: e.to_string(),
        })?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_ca_is_a_clear_error() {
        let e = client_config(&["not a certificate".into()]).unwrap_err();
        assert!(e.to_string().contains("extra CA #1"), "{e}");
        let e = client_config(&[
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".into(),
        ])
        .unwrap_err();
        assert!(matches!(e, EngineError::InvalidCertificate(_)), "{e}");
    }

    #[test]
    fn default_roots_load() {
        assert!(client_config(&[]).is_ok());
    }
}
