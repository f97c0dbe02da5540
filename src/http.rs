//! The HTTP client shared by every signature store request: one connection pool per host,
//! the user's extra CA, timeouts, and retries with backoff.

use std::path::Path;
use std::time::Duration;

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::CertificateDer;

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

/// The certificate roots every HTTPS client of a run trusts: the system's plus `--ca-file`.
///
/// Why one value for all clients: on Linux the platform verifier that reqwest uses by default
/// reads the system store (a bundle and a directory of ~150 files) again for every client it
/// builds, and a run builds one for the stores and one inside oci-client for the registry:
/// most of the start-up time of a run. On Linux that verifier is exactly "the system store
/// as OpenSSL finds it, checked with webpki", so loading that store once and handing it to
/// every client changes nothing but the cost. Elsewhere (macOS, Windows) the OS verifier does
/// more than read roots, so it is kept and only `--ca-file` is added to it.
#[derive(Clone, Debug, Default)]
pub struct TrustRoots {
    /// The system store, when it is read here (Linux); `None` leaves it to the OS verifier.
    system: Option<Vec<CertificateDer<'static>>>,
    /// The certificates of `--ca-file`.
    extra: Vec<CertificateDer<'static>>,
}

impl TrustRoots {
    /// The system roots (read once, on Linux) plus the PEM certificates of `ca_file`
    /// (`--ca-file`), which must hold at least one well-formed certificate.
    pub fn load(ca_file: Option<&Path>) -> Result<TrustRoots> {
        let extra = match ca_file {
            Some(path) => read_ca_file(path)?,
            None => Vec::new(),
        };
        Ok(TrustRoots {
            system: cfg!(target_os = "linux").then(load_system_roots),
            extra,
        })
    }

    /// Every root as DER: the system's (when read here) and then `--ca-file`'s.
    pub fn der(&self) -> impl Iterator<Item = &[u8]> {
        self.system
            .iter()
            .flatten()
            .chain(&self.extra)
            .map(|c| c.as_ref())
    }

    /// Whether the system store was read here, so a client should use these roots only
    /// (`tls_certs_only`) instead of its own verifier plus the extra ones.
    pub fn replaces_system_verifier(&self) -> bool {
        self.system.as_ref().is_some_and(|s| !s.is_empty())
    }

    fn reqwest_certificates(&self) -> Result<Vec<reqwest::Certificate>> {
        self.der()
            .map(|der| {
                reqwest::Certificate::from_der(der)
                    .map_err(|e| Error::failure(format!("cannot use a CA certificate: {e}")))
            })
            .collect()
    }
}

/// The system store as OpenSSL would find it (`SSL_CERT_FILE`/`SSL_CERT_DIR` honoured).
/// Unreadable entries are logged and skipped, as the platform verifier does.
fn load_system_roots() -> Vec<CertificateDer<'static>> {
    let found = rustls_native_certs::load_native_certs();
    for e in &found.errors {
        tracing::debug!("system CA store: {e}");
    }
    tracing::debug!("system CA store: {} certificates", found.certs.len());
    found.certs
}

/// The certificates of `--ca-file`, a PEM bundle; a malformed certificate, or none, is an error.
fn read_ca_file(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let pem = std::fs::read(path).map_err(|e| {
        Error::usage(format!(
            "cannot read --ca-file {}: {e}: give a PEM file with the CA that signed the registry's \
             and store's certificates",
            path.display()
        ))
    })?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| {
            Error::usage(format!(
                "--ca-file {} is not valid PEM ({e}): give the CA certificate(s), each between \
                 -----BEGIN CERTIFICATE----- and -----END CERTIFICATE-----",
                path.display()
            ))
        })?;
    if certs.is_empty() {
        return Err(Error::usage(format!(
            "--ca-file {} holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
            path.display()
        )));
    }
    Ok(certs)
}

/// Builds the shared store client, trusting `roots`.
pub fn build_client(roots: &TrustRoots) -> Result<reqwest::Client> {
    let builder = reqwest::Client::builder()
        .user_agent(USER_AGENT)
        .connect_timeout(CONNECT_TIMEOUT)
        .read_timeout(READ_TIMEOUT)
        .pool_idle_timeout(Duration::from_secs(30));
    let certs = roots.reqwest_certificates()?;
    let builder = if roots.replaces_system_verifier() {
        builder.tls_certs_only(certs)
    } else {
        builder.tls_certs_merge(certs)
    };
    builder
        .build()
        .map_err(|e| Error::failure(format!("cannot set up HTTPS: {e}")))
}

/// The certificate problem behind a connection error (`UnknownIssuer`, `Expired`,
/// `NotValidForName`, ...), if that is what it is. Such an error is final: no retry can fix a
/// certificate, so callers stop at once and say what to do (see [`describe_certificate`]).
pub fn certificate_problem(
    error: &(dyn std::error::Error + 'static),
) -> Option<rustls::CertificateError> {
    if let Some(rustls::Error::InvalidCertificate(why)) = error.downcast_ref() {
        return Some(why.clone());
    }
    // `io::Error::source` skips the error it wraps (often another io::Error), so look inside.
    if let Some(inner) = error
        .downcast_ref::<std::io::Error>()
        .and_then(|io| io.get_ref())
    {
        if let Some(why) = certificate_problem(inner) {
            return Some(why);
        }
    }
    certificate_problem(error.source()?)
}

/// Completes "presented a TLS certificate that is ...": what is wrong and what to do.
/// `ca_advice` says how to give the CA for this kind of server (`--ca-file`, the kubeconfig).
pub fn describe_certificate(problem: &rustls::CertificateError, ca_advice: &str) -> String {
    use rustls::CertificateError as C;
    match problem {
        C::UnknownIssuer | C::BadSignature => {
            format!("not trusted ({problem:?}): {ca_advice}")
        }
        C::Expired | C::ExpiredContext { .. } => format!(
            "expired ({problem:?}): the server's certificate must be renewed (or this machine's \
             clock is wrong)"
        ),
        C::NotValidYet | C::NotValidYetContext { .. } => {
            format!("not valid yet ({problem:?}): check this machine's clock")
        }
        C::NotValidForName | C::NotValidForNameContext { .. } => format!(
            "not valid for this host name ({problem:?}): use the host name the certificate was \
             issued for"
        ),
        other => format!("refused ({other:?}): {ca_advice}"),
    }
}

/// How to give the CA of a registry or signature store.
pub const CA_FILE_ADVICE: &str =
    "if it is signed by a private CA, pass that CA (PEM) with --ca-file FILE";

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
    fn a_ca_file_must_hold_well_formed_certificates() {
        let dir = tempfile::tempdir().unwrap();
        let load = |text: &[u8]| {
            let path = dir.path().join("ca.pem");
            std::fs::write(&path, text).unwrap();
            TrustRoots::load(Some(&path)).unwrap_err()
        };
        let e =
            load(b"-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n");
        assert_eq!(e.exit_code(), 2, "{e}");
        assert!(e.to_string().contains("ca.pem is not valid PEM"), "{e}");

        let e = load(b"just text");
        assert_eq!(e.exit_code(), 2, "{e}");
        assert!(
            e.to_string().contains("ca.pem holds no PEM certificate"),
            "{e}"
        );

        let e = TrustRoots::load(Some(&dir.path().join("missing.pem"))).unwrap_err();
        assert_eq!(e.exit_code(), 2, "{e}");
        assert!(e.to_string().contains("cannot read --ca-file"), "{e}");
    }

    #[test]
    fn the_system_store_is_read_once_on_linux_and_replaces_the_verifier() {
        let roots = TrustRoots::load(None).unwrap();
        // The machines this runs on have a CA bundle; elsewhere the OS verifier is kept.
        assert_eq!(roots.replaces_system_verifier(), cfg!(target_os = "linux"));
        assert_eq!(roots.der().count() > 0, cfg!(target_os = "linux"));
        install_crypto_provider();
        build_client(&roots).unwrap();
    }

    #[test]
    fn certificate_problems_are_found_inside_io_errors() {
        let rustls_error =
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        // As hyper-rustls reports it: an io::Error inside an io::Error.
        let inner = std::io::Error::new(std::io::ErrorKind::InvalidData, rustls_error);
        let io = std::io::Error::other(inner);
        assert_eq!(
            certificate_problem(&io),
            Some(rustls::CertificateError::UnknownIssuer)
        );
        let other = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        assert_eq!(certificate_problem(&other), None);
    }

    #[test]
    fn certificate_problems_say_what_to_do() {
        use rustls::CertificateError as C;
        let say = |c: C| describe_certificate(&c, CA_FILE_ADVICE);
        assert_eq!(
            say(C::UnknownIssuer),
            format!("not trusted (UnknownIssuer): {CA_FILE_ADVICE}")
        );
        assert!(say(C::Expired).contains("must be renewed"));
        assert!(say(C::NotValidYet).contains("clock"));
        assert!(say(C::NotValidForName).contains("host name"));
        assert!(say(C::InvalidPurpose).ends_with(CA_FILE_ADVICE));
    }

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
