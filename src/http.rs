//! The HTTP client shared by every signature store request: one connection pool per host,
//! the user's extra CA, timeouts, and retries with backoff.

use std::path::Path;
use std::time::Duration;

use crate::error::{Error, Result};

/// Connect timeout for every outbound connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Read timeout (time without progress) for every response.
pub const READ_TIMEOUT: Duration = Duration::from_secs(30);
/// User-Agent sent to registries and stores.
pub const USER_AGENT: &str = concat!("oc-release-signature/", env!("CARGO_PKG_VERSION"));

/// Installs ring as rustls' process-wide crypto provider; call once at start-up.
pub fn install_crypto_provider() {
    // An error only means a provider is already installed.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Reads the PEM certificates of `--ca-file`.
pub fn read_ca_file(path: &Path) -> Result<Vec<u8>> {
    let pem = std::fs::read(path).map_err(|e| {
        Error::usage(format!(
            "cannot read --ca-file {}: {e}: give a PEM file with the CA that signed the registry's \
             and store's certificates",
            path.display()
        ))
    })?;
    if !String::from_utf8_lossy(&pem).contains("-----BEGIN CERTIFICATE-----") {
        return Err(Error::usage(format!(
            "--ca-file {} holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
            path.display()
        )));
    }
    Ok(pem)
}

/// Builds the shared client, trusting the system roots plus `extra_ca_pem`.
pub fn build_client(extra_ca_pem: Option<&[u8]>) -> Result<reqwest::Client> {
    let mut builder = reqwest::Client::builder()
        .user_agent(USER_AGENT)
        .connect_timeout(CONNECT_TIMEOUT)
        .read_timeout(READ_TIMEOUT)
        .pool_idle_timeout(Duration::from_secs(30));
    if let Some(pem) = extra_ca_pem {
        let certs = reqwest::Certificate::from_pem_bundle(pem)
            .map_err(|e| Error::usage(format!("--ca-file is not valid PEM: {e}")))?;
        builder = builder.tls_certs_merge(certs);
    }
    builder
        .build()
        .map_err(|e| Error::failure(format!("cannot set up HTTPS: {e}")))
}

/// The retry policy for idempotent GETs: a few attempts with jittered exponential backoff.
pub fn backoff() -> backon::ExponentialBuilder {
    backon::ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(200))
        .with_max_delay(Duration::from_secs(5))
        .with_max_times(3)
        .with_jitter()
}

/// Whether an HTTP status is worth retrying: 5xx and 429, never other 4xx.
pub fn retryable_status(status: u16) -> bool {
    status == 429 || (500..600).contains(&status)
}

/// A `Retry-After` header in seconds, capped so a hostile server cannot stall us.
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let secs: u64 = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(secs.min(10)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_5xx_and_429_are_retried() {
        for s in [429, 500, 502, 503, 504] {
            assert!(retryable_status(s), "{s}");
        }
        for s in [200, 301, 400, 401, 403, 404, 409, 422] {
            assert!(!retryable_status(s), "{s}");
        }
    }

    #[test]
    fn retry_after_is_read_and_capped() {
        let mut h = reqwest::header::HeaderMap::new();
        assert_eq!(retry_after(&h), None);
        h.insert(reqwest::header::RETRY_AFTER, "2".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(2)));
        h.insert(reqwest::header::RETRY_AFTER, "3600".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(10)));
    }
}
