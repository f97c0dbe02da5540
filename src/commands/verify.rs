//! `verify`: would the cluster accept this release from the signatures and trust it holds now?

use clap::Args;
use serde_json::json;

use super::cluster_args::{read_cluster, KubeArgs};
use crate::cli::ReleaseArgs;
use crate::configmap;
use crate::error::{Error, Result};
use crate::release::Digest;
use crate::verify::{verify_release, TrustSource};

/// `-o` for verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum VerifyOutput {
    /// A JSON report (schema in docs/json-output.md).
    Json,
}

/// `verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub release: ReleaseArgs,

    #[command(flatten)]
    pub kube: KubeArgs,

    /// Output: json.
    #[arg(short, long, value_name = "FORMAT")]
    pub output: Option<VerifyOutput>,
}

/// Runs `verify`.
pub async fn run(args: VerifyArgs) -> Result<()> {
    let keyring_trust = super::keyring_trust(&args.release)?;
    let named = !(args.release.releases.is_empty() && args.release.digest.is_empty());
    // Input is checked (and the clients built) before any network call.
    let prepared = named.then(|| super::prepare(&args.release)).transpose()?;
    let cluster = args.kube.connect().await?;
    // Releases: the ones named (resolved concurrently, while the cluster is read), else the
    // cluster's desired release and available updates.
    let resolve_named = async {
        let Some(prepared) = prepared else {
            return from_cluster_version(&cluster.cluster_version().await?);
        };
        let (requests, pipeline) = prepared.into_pipeline(true);
        let digests = pipeline.resolve_all(&requests).await;
        requests
            .iter()
            .zip(digests)
            .map(|(r, d)| Ok((r.label(), r.input.clone(), d?)))
            .collect::<Result<Vec<_>>>()
    };
    let (targets, state) =
        futures::try_join!(resolve_named, read_cluster(&cluster, keyring_trust))?;
    let (cms, trust) = (state.signatures, state.trust);
    // Where the cluster looks when its ConfigMaps do not satisfy it (only when its own trust
    // is in force: with --keyring the question is about other keys than the cluster's).
    let stores = match trust.source {
        TrustSource::Cluster(_) => state.stores,
        _ => Vec::new(),
    };
    let now = std::time::SystemTime::now();
    let mut rows = Vec::new();
    let mut failures = 0;
    for (name, input, digest) in &targets {
        let sigs = configmap::signatures_for(&cms, digest);
        let bytes: Vec<&[u8]> = sigs.iter().map(|(_, b)| b.as_slice()).collect();
        let verdict = verify_release(&bytes, digest, &trust, now);
        let reason = if verdict.trusted() {
            None
        } else {
            failures += 1;
            Some(format!(
                "The update cannot be verified: unable to verify {digest} against keyrings: {}",
                verdict.unsatisfied.join(", ")
            ))
        };
        let details: Vec<String> = verdict
            .rejected
            .iter()
            .map(|(i, r)| format!("{}: {}", sigs[*i].0, r.describe(digest)))
            .collect();
        match args.output {
            Some(VerifyOutput::Json) => rows.push(json!({
                "release": name,
                "digest": digest.as_str(),
                "verified": reason.is_none(),
                "signatures": sigs.len(),
                "accepted": verdict.accepted.iter().map(|(i, _)| sigs[*i].0.clone()).collect::<Vec<_>>(),
                "rejected": details,
                "reason": reason,
            })),
            None => {
                match &reason {
                    None => println!("{name} ({digest}): verified: the cluster holds {} accepted signature(s)", verdict.accepted.len()),
                    Some(r) => {
                        println!("{name} ({digest}): NOT verified: {r}");
                        if sigs.is_empty() {
                            println!("  no signature for this digest in {}: run `oc release-signature apply {input}`", configmap::NAMESPACE);
                        }
                        if !stores.is_empty() {
                            let listed: Vec<String> = stores.iter().map(|(k, url)| format!("{k}: {url}")).collect();
                            println!(
                                "  the cluster also asks its signature stores ({}): where it can reach them it may still \
                                 accept this release; a signature ConfigMap makes it independent of them",
                                listed.join(", ")
                            );
                        }
                        for d in &details {
                            println!("  - {d}");
                        }
                    }
                }
            }
        }
    }
    if let Some(VerifyOutput::Json) = args.output {
        crate::report::print_document("ReleaseVerification", &trust, "items", rows);
    }
    if failures > 0 {
        return Err(Error::untrusted(format!(
            "{failures} of {} release(s) would not be accepted by the cluster",
            targets.len()
        )));
    }
    Ok(())
}

/// `status.desired` and each `status.availableUpdates[]` of a ClusterVersion.
fn from_cluster_version(cv: &serde_json::Value) -> Result<Vec<(String, String, Digest)>> {
    let status = &cv["status"];
    let entries = std::iter::once(&status["desired"])
        .chain(status["availableUpdates"].as_array().into_iter().flatten());
    let mut out = Vec::new();
    for e in entries {
        let Some(image) = e["image"].as_str() else {
            continue;
        };
        let version = e["version"].as_str().unwrap_or(image).to_string();
        let Some((_, d)) = image.split_once('@') else {
            continue;
        };
        let digest: Digest = d
            .parse()
            .map_err(|e: Error| e.context("ClusterVersion image"))?;
        out.push((version, image.to_string(), digest));
    }
    if out.is_empty() {
        return Err(Error::failure(
            "ClusterVersion version has no status.desired or availableUpdates image by digest: name a release to verify",
        ));
    }
    Ok(out)
}
