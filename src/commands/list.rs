//! `list`: every signature the cluster holds, a row per digest, checked against the cluster's
//! own trust.

use std::collections::BTreeMap;

use clap::Args;
use serde_json::json;

use super::cluster_args::{read_cluster, KubeArgs};
use crate::configmap;
use crate::error::Result;
use crate::release::Digest;
use crate::verify::{self, verify_release};

/// `-o` for list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ListOutput {
    /// A table (default).
    Wide,
    /// A JSON report (schema in docs/json-output.md).
    Json,
}

/// `list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub kube: KubeArgs,

    /// Check against these keyrings instead of the cluster's trust; repeatable.
    #[arg(long = "keyring", value_name = "FILE")]
    pub keyrings: Vec<std::path::PathBuf>,

    /// Output: wide (table) or json.
    #[arg(short, long, value_name = "FORMAT")]
    pub output: Option<ListOutput>,
}

struct Row {
    digest: Digest,
    configmaps: Vec<String>,
    keys: Vec<String>,
    identities: Vec<String>,
    verified: bool,
}

/// Runs `list`.
pub async fn run(args: ListArgs) -> Result<()> {
    let keyring_trust = super::keyring_trust_from(&args.keyrings)?;
    let cluster = args.kube.connect().await?;
    let super::cluster_args::ClusterState {
        signatures: cms,
        trust,
        ..
    } = read_cluster(&cluster, keyring_trust).await?;
    let mut by_digest: BTreeMap<Digest, Row> = BTreeMap::new();
    for cm in &cms {
        let name = cm.metadata.name.clone().unwrap_or_default();
        for held in configmap::held_signatures(cm) {
            let row = by_digest.entry(held.digest.clone()).or_insert_with(|| Row {
                digest: held.digest.clone(),
                configmaps: Vec::new(),
                keys: Vec::new(),
                identities: Vec::new(),
                verified: false,
            });
            if !row.configmaps.contains(&name) {
                row.configmaps.push(name.clone());
            }
            row.keys.push(held.key.clone());
            if let Some(id) = verify::peek_identity(&held.bytes) {
                if !row.identities.contains(&id) {
                    row.identities.push(id);
                }
            }
        }
    }
    let now = std::time::SystemTime::now();
    for row in by_digest.values_mut() {
        let sigs: Vec<Vec<u8>> = configmap::signatures_for(&cms, &row.digest)
            .into_iter()
            .map(|(_, b)| b)
            .collect();
        row.verified = verify_release(&sigs, &row.digest, &trust, now).trusted();
    }
    match args.output {
        Some(ListOutput::Json) => {
            let rows: Vec<_> = by_digest
                .values()
                .map(|r| {
                    json!({
                        "digest": r.digest.as_str(),
                        "configMaps": r.configmaps,
                        "keys": r.keys,
                        "identities": r.identities,
                        "versions": r.identities.iter().map(|i| version_of(i)).collect::<Vec<_>>(),
                        "verified": r.verified,
                    })
                })
                .collect();
            crate::report::print_document("ReleaseSignatureList", &trust, "items", rows);
        }
        _ => {
            println!(
                "{:<22} {:<6} {:<12} {:<9} {:<30} IDENTITY",
                "DIGEST", "KEYS", "VERSION", "VERIFIED", "CONFIGMAP"
            );
            for r in by_digest.values() {
                let identity = r.identities.first().cloned().unwrap_or_else(|| "-".into());
                let version = r
                    .identities
                    .first()
                    .map(|i| version_of(i))
                    .unwrap_or_else(|| "-".into());
                println!(
                    "{:<22} {:<6} {:<12} {:<9} {:<30} {}",
                    format!("sha256:{}", &r.digest.hex()[..12]),
                    r.keys.len(),
                    version,
                    if r.verified { "yes" } else { "no" },
                    r.configmaps.join(","),
                    identity
                );
            }
            if by_digest.is_empty() {
                eprintln!(
                    "No signature ConfigMaps in {} (label {}).",
                    configmap::NAMESPACE,
                    configmap::SIGNATURE_LABEL
                );
            }
        }
    }
    Ok(())
}

/// The release version named by an identity's tag: `repo:4.4.0-x86_64` -> `4.4.0`.
pub fn version_of(identity: &str) -> String {
    let last = identity.rsplit('/').next().unwrap_or(identity);
    let Some((_, tag)) = last.split_once(':') else {
        return "-".into();
    };
    if identity.contains('@') {
        return "-".into();
    }
    let tag = crate::release::Arch::ALL
        .iter()
        .find_map(|a| tag.strip_suffix(&format!("-{a}")))
        .unwrap_or(tag);
    tag.to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn versions_from_identities() {
        assert_eq!(
            super::version_of("quay.io/openshift-release-dev/ocp-release:4.4.0-x86_64"),
            "4.4.0"
        );
        assert_eq!(
            super::version_of("127.0.0.1:5000/ocp/release:4.14.0-rc.1-multi"),
            "4.14.0-rc.1"
        );
        assert_eq!(super::version_of("quay.io/a/b@sha256:00"), "-");
    }
}
