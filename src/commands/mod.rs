//! One module per subcommand; this one turns shared flags into pipeline parts.

pub mod apply;
pub mod cluster_args;
pub mod docs;
pub mod fetch;
pub mod list;
pub mod verify;

use crate::cli::ReleaseArgs;
use crate::error::{Error, Result};
use crate::http;
use crate::pipeline::Pipeline;
use crate::release::{self, ParseOptions, ReleaseRequest};
use crate::resolve::{AuthFile, Resolver};
use crate::store::{SignatureFetcher, SignatureStore};
use crate::verify::{Keyring, Trust, TrustSource};

/// Requests in flight at once across all stores.
pub const HTTP_PARALLELISM: usize = 64;

/// Parses every release argument and `--digest`, failing on the first bad one (exit 2) before
/// any network call.
pub fn parse_requests(args: &ReleaseArgs) -> Result<Vec<ReleaseRequest>> {
    release::validate_repository(&args.release_repo).map_err(|e| e.context("--release-repo"))?;
    let opts = ParseOptions {
        arch: args.arch,
        release_repo: args.release_repo.clone(),
    };
    let mut requests: Vec<ReleaseRequest> = Vec::new();
    let parsed = args
        .releases
        .iter()
        .map(|r| release::parse_release(r, &opts))
        .chain(args.digest.iter().map(|d| release::parse_digest_flag(d)));
    for request in parsed {
        let request = request?;
        // `4.4.0 4.4.0-x86_64` name one release: do its work (and its write) once.
        if !requests.iter().any(|r| r.locator == request.locator) {
            requests.push(request);
        }
    }
    if requests.is_empty() {
        return Err(Error::usage(
            "no release given: name one or more (e.g. 4.14.8 or 4.14.8-aarch64), give --digest sha256:HEX, or for apply --from-dir DIR",
        ));
    }
    Ok(requests)
}

/// The stores from `--signature-store`, else the official ones.
pub fn parse_stores(args: &ReleaseArgs) -> Result<Vec<SignatureStore>> {
    if args.signature_stores.is_empty() {
        return Ok(SignatureStore::defaults());
    }
    args.signature_stores.iter().map(|s| s.parse()).collect()
}

/// The `--keyring` files, if any were given.
pub fn keyring_trust(args: &ReleaseArgs) -> Result<Option<Trust>> {
    keyring_trust_from(&args.keyrings)
}

/// Trust from keyring files, if any.
pub fn keyring_trust_from(files: &[std::path::PathBuf]) -> Result<Option<Trust>> {
    if files.is_empty() {
        return Ok(None);
    }
    let keyrings = files
        .iter()
        .map(|p| Keyring::from_file(p))
        .collect::<Result<Vec<_>>>()?;
    Ok(Some(Trust {
        keyrings,
        source: TrustSource::KeyringFiles,
    }))
}

/// Everything but trust, checked before any network call.
pub struct Prepared {
    /// The parsed releases.
    pub requests: Vec<ReleaseRequest>,
    /// The stores.
    pub stores: Vec<SignatureStore>,
    /// Registry access.
    pub resolver: Resolver,
    /// Store access.
    pub fetcher: SignatureFetcher,
}

/// Validates all input, then builds the network clients.
pub fn prepare(args: &ReleaseArgs) -> Result<Prepared> {
    let requests = parse_requests(args)?;
    let stores = parse_stores(args)?;
    let auth = AuthFile::load(args.registry_config.as_deref())?;
    let roots = http::TrustRoots::load(args.ca_file.as_deref())?;
    let resolver = Resolver::new(auth, &roots);
    let fetcher = SignatureFetcher::new(http::build_client(&roots)?, HTTP_PARALLELISM);
    Ok(Prepared {
        requests,
        stores,
        resolver,
        fetcher,
    })
}

impl Prepared {
    /// The requests and the pipeline that serves them.
    pub fn into_pipeline(self, quiet: bool) -> (Vec<ReleaseRequest>, Pipeline) {
        (
            self.requests,
            Pipeline {
                resolver: self.resolver,
                fetcher: self.fetcher,
                stores: self.stores,
                quiet,
            },
        )
    }
}

/// The worst exit class among failed releases: a trust failure outranks an operational one.
pub fn worst(errors: Vec<Error>) -> Result<()> {
    let mut errors = errors.into_iter();
    let Some(first) = errors.next() else {
        return Ok(());
    };
    let mut count = 1;
    let mut worst_kind = first.kind();
    for e in errors {
        count += 1;
        if e.kind() == crate::error::ErrorKind::Untrusted {
            worst_kind = e.kind();
        }
    }
    let message = if count == 1 {
        "1 release failed (see above)".to_string()
    } else {
        format!("{count} releases failed (see above)")
    };
    Err(match worst_kind {
        crate::error::ErrorKind::Untrusted => Error::untrusted(message),
        crate::error::ErrorKind::Usage => Error::usage(message),
        crate::error::ErrorKind::Failure => Error::failure(message),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn the_same_release_named_twice_is_done_once() {
        let cli = crate::cli::Cli::parse_from([
            "oc-release-signature",
            "fetch",
            "4.4.0",
            "4.4.0-x86_64",
            "4.4.0-aarch64",
        ]);
        let crate::cli::Command::Fetch(args) = cli.command else {
            panic!("fetch")
        };
        let requests = parse_requests(&args.release).unwrap();
        assert_eq!(requests.len(), 2);
        assert_eq!(requests[0].input, "4.4.0");
    }
}
