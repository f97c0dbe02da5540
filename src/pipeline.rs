//! Runs resolve -> fetch -> verify for many releases at once, with bounded parallelism.

use std::time::SystemTime;

use futures::stream::{self, StreamExt};

use crate::error::{Error, Result};
use crate::release::{Digest, ReleaseRequest};
use crate::resolve::Resolver;
use crate::store::{FetchReport, SignatureFetcher, SignatureStore};
use crate::verify::{verify_release, AcceptedSignature, Rejection, Trust};

/// Releases processed at once (each runs its own requests concurrently too).
pub const RELEASE_PARALLELISM: usize = 32;

/// A signature that passed verification, with its bytes.
#[derive(Debug, Clone)]
pub struct TrustedSignature {
    /// Where it was read from.
    pub source: String,
    /// The raw signature.
    pub bytes: Vec<u8>,
    /// What verification found in it.
    pub details: AcceptedSignature,
}

/// A signature that failed verification and why.
#[derive(Debug, Clone)]
pub struct RejectedSignature {
    /// Where it was read from.
    pub source: String,
    /// The reason, in words.
    pub reason: String,
    /// The reason, typed.
    pub rejection: Rejection,
}

/// A release whose signatures the cluster would accept.
#[derive(Debug, Clone)]
pub struct VerifiedRelease {
    /// What the user asked for.
    pub request: ReleaseRequest,
    /// The release digest.
    pub digest: Digest,
    /// Accepted signatures, in store order.
    pub signatures: Vec<TrustedSignature>,
    /// Signatures found but refused (reported as warnings).
    pub rejected: Vec<RejectedSignature>,
}

impl VerifiedRelease {
    /// The accepted signatures' bytes, in order (the ConfigMap's `-1`..`-n`).
    pub fn signature_bytes(&self) -> Vec<&[u8]> {
        self.signatures.iter().map(|s| s.bytes.as_slice()).collect()
    }
}

/// Registry and store access, shared by all releases.
pub struct Pipeline {
    /// Registry access.
    pub resolver: Resolver,
    /// Store access.
    pub fetcher: SignatureFetcher,
    /// Stores, in order of preference.
    pub stores: Vec<SignatureStore>,
    /// No progress display.
    pub quiet: bool,
}

/// A release's digest and the signatures found for it, not yet judged.
#[derive(Debug, Clone)]
pub struct Gathered {
    /// The release digest.
    pub digest: Digest,
    /// What the stores served.
    pub report: FetchReport,
}

impl Pipeline {
    /// Resolves and fetches every request concurrently (no trust needed yet, so a caller can
    /// read the cluster's trust at the same time); results come back in request order.
    pub async fn gather(&self, requests: &[ReleaseRequest]) -> Vec<Result<Gathered>> {
        self.fetcher.preconnect(&self.stores);
        self.resolver.authenticate(requests).await;
        let progress = crate::ui::progress(requests.len(), self.quiet, "resolving and fetching");
        let results = stream::iter(requests)
            .map(|r| async {
                let result = self.gather_one(r).await;
                progress.inc(1);
                result
            })
            .buffered(RELEASE_PARALLELISM)
            .collect()
            .await;
        progress.finish_and_clear();
        results
    }

    /// Resolves every request's digest concurrently (one login per repository first), for
    /// callers that judge signatures from elsewhere (the cluster's own ConfigMaps); results
    /// come back in request order.
    pub async fn resolve_all(&self, requests: &[ReleaseRequest]) -> Vec<Result<Digest>> {
        self.resolver.authenticate(requests).await;
        stream::iter(requests)
            .map(|r| self.resolver.resolve(r))
            .buffered(RELEASE_PARALLELISM)
            .collect()
            .await
    }

    async fn gather_one(&self, request: &ReleaseRequest) -> Result<Gathered> {
        let digest = self.resolver.resolve(request).await?;
        let report = self.fetcher.fetch(&self.stores, &digest).await;
        Ok(Gathered { digest, report })
    }

    /// Gathers and judges every request against `trust`.
    pub async fn run(
        &self,
        requests: &[ReleaseRequest],
        trust: &Trust,
    ) -> Vec<Result<VerifiedRelease>> {
        judge_all(requests, self.gather(requests).await, trust)
    }
}

/// Judges gathered releases, keeping request order.
pub fn judge_all(
    requests: &[ReleaseRequest],
    gathered: Vec<Result<Gathered>>,
    trust: &Trust,
) -> Vec<Result<VerifiedRelease>> {
    let now = SystemTime::now();
    requests
        .iter()
        .zip(gathered)
        .map(|(req, g)| g.and_then(|g| judge(req, g.digest, g.report, trust, now)))
        .collect()
}

/// Decides from downloaded signatures whether the release is trusted (pure).
pub fn judge(
    request: &ReleaseRequest,
    digest: Digest,
    report: FetchReport,
    trust: &Trust,
    now: SystemTime,
) -> Result<VerifiedRelease> {
    let label = format!("{} ({digest})", request.label());
    if report.signatures.is_empty() {
        let all_failed = report
            .answers
            .iter()
            .all(|(_, a)| matches!(a, crate::store::StoreAnswer::Failed { .. }));
        let message = format!(
            "{label}: no signature found; the stores answered:\n{}{}",
            report.describe_answers(),
            if all_failed {
                "\ncheck your network or proxy, or pass a reachable --signature-store"
            } else {
                "\nthe release may be unsigned, or signed for another architecture (check --arch)"
            }
        );
        return Err(if all_failed {
            Error::failure(message)
        } else {
            Error::untrusted(message)
        });
    }
    let bytes: Vec<&[u8]> = report
        .signatures
        .iter()
        .map(|s| s.bytes.as_slice())
        .collect();
    let verdict = verify_release(&bytes, &digest, trust, now);
    let rejected: Vec<RejectedSignature> = verdict
        .rejected
        .iter()
        .map(|(i, r)| RejectedSignature {
            source: report.signatures[*i].source.clone(),
            reason: r.describe(&digest),
            rejection: r.clone(),
        })
        .collect();
    if !verdict.trusted() {
        let mut lines: Vec<String> = rejected
            .iter()
            .map(|r| format!("  - {}: {}", r.source, r.reason))
            .collect();
        for name in &verdict.unsatisfied {
            if !verdict.accepted.is_empty() {
                lines.push(format!("  - no signature satisfies keyring {name}"));
            }
        }
        return Err(Error::untrusted(format!(
            "{label}: no signature the cluster would accept (trust: {}). The cluster would say: \
             \"The update cannot be verified: unable to verify {digest} against keyrings: {}\"\n{}",
            trust.source,
            trust.keyring_names().join(", "),
            lines.join("\n")
        )));
    }
    let signatures = verdict
        .accepted
        .into_iter()
        .map(|(i, details)| TrustedSignature {
            source: report.signatures[i].source.clone(),
            bytes: report.signatures[i].bytes.clone(),
            details,
        })
        .collect();
    Ok(VerifiedRelease {
        request: request.clone(),
        digest,
        signatures,
        rejected,
    })
}
