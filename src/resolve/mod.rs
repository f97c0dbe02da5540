//! Stage 2: resolve a release tag to the digest the signatures sign: the sha256 of the manifest
//! (or, for `multi`, of the manifest list) exactly as the registry serves it.

pub mod auth;

use std::time::Duration;

use backon::Retryable;
use oci_client::client::{Certificate, CertificateEncoding, ClientConfig, ClientProtocol};
use oci_client::errors::OciDistributionError;
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference, RegistryOperation};

use crate::error::{Error, Result};
use crate::http::{self, TrustRoots};
use crate::release::{Arch, Digest, ImageLocator, ReleaseRequest};

pub use auth::{AuthFile, Credentials};

/// The Accept list: without Docker schema2 quay converts to schema1 and the digest is wrong.
pub const MANIFEST_MEDIA_TYPES: [&str; 4] = [
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
];

/// Resolves release tags to digests through one registry client (one pool, cached tokens).
pub struct Resolver {
    client: Client,
    auth: AuthFile,
}

impl Resolver {
    /// A resolver trusting `roots`, with credentials from `auth`.
    pub fn new(auth: AuthFile, roots: &TrustRoots) -> Resolver {
        let certificates: Vec<Certificate> = roots
            .der()
            .map(|der| Certificate {
                encoding: CertificateEncoding::Der,
                data: der.to_vec(),
            })
            .collect();
        // Only these roots when they include the system's (read once for the run), else the
        // OS verifier plus these.
        let (tls_certs_only, extra_root_certificates) = if roots.replaces_system_verifier() {
            (certificates, Vec::new())
        } else {
            (Vec::new(), certificates)
        };
        let config = ClientConfig {
            protocol: ClientProtocol::Https,
            // A `-multi` tag must resolve to the list itself, never to one platform.
            platform_resolver: None,
            tls_certs_only,
            extra_root_certificates,
            connect_timeout: Some(http::CONNECT_TIMEOUT),
            read_timeout: Some(http::READ_TIMEOUT),
            user_agent: http::USER_AGENT,
            ..ClientConfig::default()
        };
        Resolver {
            client: Client::new(config),
            auth,
        }
    }

    /// Authenticates once per repository before the concurrent pulls, so they all reuse one
    /// cached token and (over HTTP/2) one connection instead of each pinging `/v2/` on a
    /// connection of its own. Errors are left for the pulls to report, with their messages.
    pub async fn authenticate(&self, requests: &[ReleaseRequest]) {
        let mut repositories: Vec<&str> = requests
            .iter()
            .filter_map(|r| match &r.locator {
                ImageLocator::Tag { repository, .. } => Some(repository.as_str()),
                ImageLocator::Digest(_) => None,
            })
            .collect();
        repositories.sort_unstable();
        repositories.dedup();
        let logins = repositories.into_iter().map(|repository| async move {
            let reference = reference_for(repository, "latest");
            let auth = self.registry_auth(repository);
            if let Err(e) = self
                .client
                .auth(&reference, &auth, RegistryOperation::Pull)
                .await
            {
                tracing::debug!("authenticating to {repository} failed: {e}");
            }
        });
        futures::future::join_all(logins).await;
    }

    fn registry_auth(&self, repository: &str) -> RegistryAuth {
        match self.auth.lookup(repository) {
            Some(Credentials::Basic { username, password }) => {
                RegistryAuth::Basic(username.clone(), password.clone())
            }
            Some(Credentials::Bearer(t)) => RegistryAuth::Bearer(t.clone()),
            None => RegistryAuth::Anonymous,
        }
    }

    /// The digest of `request`: taken from the input when it names one, else from the registry.
    pub async fn resolve(&self, request: &ReleaseRequest) -> Result<Digest> {
        let (repository, tag) = match &request.locator {
            ImageLocator::Digest(d) => return Ok(d.clone()),
            ImageLocator::Tag { repository, tag } => (repository, tag),
        };
        let pullspec = format!("{repository}:{tag}");
        // Built from parts (validated by `release`): parsing a string would compile
        // oci-spec's large reference regex, the biggest CPU cost of a run.
        let reference = reference_for(repository, tag);
        let creds = self.auth.lookup(repository);
        let registry_auth = self.registry_auth(repository);
        tracing::debug!(%pullspec, auth = ?creds.map(|_| "from auth file"), "resolving digest");
        let pull = || async {
            self.client
                .pull_manifest_raw(&reference, &registry_auth, &MANIFEST_MEDIA_TYPES)
                .await
        };
        let (body, digest) = pull
            .retry(http::backoff())
            .sleep(tokio::time::sleep)
            .when(retryable)
            .notify(|e, d: Duration| tracing::warn!("registry: {e}; retrying in {d:?}"))
            .await
            .map_err(|e| self.explain(e, &pullspec, request, creds.is_some()))?;
        // oci-client already checked the body against Docker-Content-Digest; check again
        // ourselves so the digest we sign-check is the sha256 of the bytes as served.
        let computed = Digest::of_bytes(&body);
        if computed.as_str() != digest {
            return Err(Error::failure(format!(
                "registry returned {pullspec} with digest header {digest} but the body hashes to \
                 {computed}: refusing a manifest whose digest cannot be confirmed"
            )));
        }
        tracing::info!("resolved {pullspec} to {computed}");
        Ok(computed)
    }

    /// Turns a registry error into a message that says what to do.
    fn explain(
        &self,
        e: OciDistributionError,
        pullspec: &str,
        request: &ReleaseRequest,
        had_creds: bool,
    ) -> Error {
        let host = auth::registry_host(pullspec);
        let login_hint = match (&self.auth.path, had_creds) {
            (Some(path), true) => format!(
                "the credentials for {host} in {} were refused: log in again (`podman login {host}`) \
                 or update the pull secret",
                path.display()
            ),
            _ => format!(
                "no credentials for {host} were found (looked in --registry-config, $REGISTRY_AUTH_FILE, \
                 $XDG_RUNTIME_DIR/containers/auth.json, ~/.docker/config.json): pass your pull secret \
                 with --registry-config FILE"
            ),
        };
        // A 403 with credentials means they were accepted but lack access: logging in again won't help.
        let forbidden = match (&self.auth.path, had_creds) {
            (Some(path), true) => format!(
                "registry {host} answered 403 Forbidden for {pullspec}: the credentials in {} are \
                 valid but may not pull this repository; use a pull secret that has access to it",
                path.display()
            ),
            _ => format!("registry {host} answered 403 Forbidden for {pullspec}: {login_hint}"),
        };
        let not_found = || {
            let arches: Vec<&str> = Arch::ALL.iter().map(|a| a.as_str()).collect();
            Error::failure(format!(
                "release image {pullspec} not found (404): check the version, and the architecture \
                 with --arch ({}){}",
                arches.join(", "),
                match request.arch {
                    Some(a) => format!("; this looked for the {a} tag"),
                    None => String::new(),
                }
            ))
        };
        match e {
            OciDistributionError::UnauthorizedError { .. } | OciDistributionError::AuthenticationFailure(_) => {
                Error::failure(format!("registry {host} answered 401 Unauthorized for {pullspec}: {login_hint}"))
            }
            OciDistributionError::RegistryError { envelope, .. } => {
                let codes: Vec<String> = envelope.errors.iter().map(|e| format!("{:?}", e.code)).collect();
                let joined = codes.join(",").to_uppercase();
                if joined.contains("UNKNOWN") {
                    not_found()
                } else if joined.contains("DENIED") {
                    Error::failure(forbidden)
                } else if joined.contains("UNAUTHORIZED") {
                    Error::failure(format!("registry {host} answered 401 Unauthorized for {pullspec}: {login_hint}"))
                } else {
                    Error::failure(format!("registry {host} refused {pullspec}: {envelope:?}"))
                }
            }
            OciDistributionError::ServerError { code: 404, .. } => not_found(),
            OciDistributionError::ServerError { code: 401, .. } => {
                Error::failure(format!("registry {host} answered 401 Unauthorized for {pullspec}: {login_hint}"))
            }
            OciDistributionError::ServerError { code: 403, .. } => Error::failure(forbidden),
            OciDistributionError::ServerError { code, message, .. } => Error::failure(format!(
                "registry {host} answered HTTP {code} for {pullspec}: {}",
                message.trim()
            )),
            OciDistributionError::DigestError(d) => Error::failure(format!(
                "registry {host} served {pullspec} with a Docker-Content-Digest header that disagrees \
                 with the body ({d}): refusing it"
            )),
            OciDistributionError::RequestError(r) => match http::certificate_problem(&r) {
                Some(problem) => Error::failure(format!(
                    "registry {host} presented a TLS certificate for {pullspec} that is {}",
                    http::describe_certificate(&problem, http::CA_FILE_ADVICE)
                )),
                None => Error::failure(format!(
                    "cannot reach registry {host} for {pullspec}: {}: check the host name, your \
                     network or proxy, and --ca-file if the registry uses a private CA",
                    error_chain(&r)
                )),
            },
            other => Error::failure(format!("cannot resolve {pullspec} at {host}: {other}")),
        }
    }
}

/// The reference for `repository:tag`, Docker Hub short names expanded as docker does.
fn reference_for(repository: &str, tag: &str) -> Reference {
    let host = auth::registry_host(repository);
    let path = match repository.strip_prefix(host) {
        Some(rest) if repository.starts_with(&format!("{host}/")) => rest.trim_start_matches('/'),
        _ => repository,
    };
    let path = if host == "docker.io" && !path.contains('/') {
        format!("library/{path}")
    } else {
        path.to_string()
    };
    Reference::with_tag(host.to_string(), path, tag.to_string())
}

/// Connection errors and 5xx/429 are retried; other answers are final.
fn retryable(e: &OciDistributionError) -> bool {
    match e {
        OciDistributionError::RequestError(r) => {
            http::certificate_problem(r).is_none()
                && (r.is_connect() || r.is_timeout() || r.is_request())
        }
        OciDistributionError::ServerError { code, .. } => http::retryable_status(*code),
        _ => false,
    }
}

/// An error with its sources, `a: b: c`, without duplicates.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_match_what_parsing_gives() {
        for (repo, tag) in [
            ("quay.io/openshift-release-dev/ocp-release", "4.4.0-x86_64"),
            ("127.0.0.1:5000/ocp/release", "4.10.1-multi"),
            ("registry.example/a/b/c", "v1"),
            ("library/busybox", "1"),
            ("busybox", "1"),
        ] {
            let parsed: Reference = format!("{repo}:{tag}").parse().unwrap();
            assert_eq!(reference_for(repo, tag), parsed, "{repo}:{tag}");
        }
    }
}
