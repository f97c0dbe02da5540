//! The cluster's own trust: the `release-verification` ConfigMap (FACTS.md section 1).

use k8s_openapi::api::core::v1::ConfigMap;

use crate::configmap::VERIFICATION_CONFIG_ANNOTATION;
use crate::error::{Error, Result};
use crate::verify::{Keyring, Trust, TrustSource};

/// Prefix of the data keys that hold keyrings.
pub const VERIFIER_KEY_PREFIX: &str = "verifier-public-key-";
/// Prefix of the data keys that hold store URLs.
pub const STORE_KEY_PREFIX: &str = "store-";

/// The trust the cluster uses, from the ConfigMaps of `openshift-config-managed`: the first
/// (by name, as listed) with the verification annotation. `None` when there is none.
pub fn from_configmaps(cms: &[ConfigMap]) -> Option<Result<Trust>> {
    let mut candidates: Vec<&ConfigMap> = cms
        .iter()
        .filter(|cm| {
            cm.metadata
                .annotations
                .as_ref()
                .is_some_and(|a| a.contains_key(VERIFICATION_CONFIG_ANNOTATION))
        })
        .collect();
    candidates.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    let cm = candidates.first()?;
    Some(trust_of(cm))
}

fn trust_of(cm: &ConfigMap) -> Result<Trust> {
    let name = cm.metadata.name.clone().unwrap_or_default();
    let mut keyrings = Vec::new();
    let text = cm
        .data
        .iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.as_bytes().to_vec()));
    let binary = cm
        .binary_data
        .iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.0.clone()));
    for (key, bytes) in text.chain(binary) {
        if key.starts_with(VERIFIER_KEY_PREFIX) {
            keyrings.push(
                Keyring::parse_as_cluster(&key, &bytes)
                    .map_err(|e| Error::failure(format!("the cluster's ConfigMap {name}: {e}")))?,
            );
        } else if !key.starts_with(STORE_KEY_PREFIX) {
            tracing::warn!(
                "the cluster's ConfigMap {name} has key {key}, which the cluster ignores"
            );
        }
    }
    if keyrings.is_empty() {
        return Err(Error::failure(format!(
            "the cluster's ConfigMap {name} has no {VERIFIER_KEY_PREFIX}* key, so the cluster cannot \
             verify any release; fix that ConfigMap, or pass --keyring to choose trust explicitly"
        )));
    }
    Ok(Trust {
        keyrings,
        source: TrustSource::Cluster(format!("{}/{name}", crate::configmap::NAMESPACE)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(rel: &str) -> String {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../shared/fixtures/peer-testdata")
            .join(rel);
        std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }

    /// The payload's YAML repeats `namespace:`; parse leniently by dropping repeated keys.
    fn lenient_cm(yaml: &str) -> ConfigMap {
        let mut seen_ns = false;
        let cleaned: String = yaml
            .lines()
            .filter(|l| {
                if l.trim_start().starts_with("namespace:")
                    && l.starts_with("  ")
                    && !l.starts_with("    ")
                {
                    let dup = seen_ns;
                    seen_ns = true;
                    return !dup;
                }
                true
            })
            .map(|l| format!("{l}\n"))
            .collect();
        serde_saphyr::from_str(&cleaned).unwrap()
    }

    #[test]
    fn the_official_payload_configmap_gives_the_red_hat_keyring() {
        let cm = lenient_cm(&fixture(
            "cluster-update-keys/manifests.rhel/0000_90_cluster-update-keys_configmap.yaml",
        ));
        let trust = from_configmaps(std::slice::from_ref(&cm)).unwrap().unwrap();
        assert!(
            cm.data
                .as_ref()
                .unwrap()
                .keys()
                .filter(|k| k.starts_with(STORE_KEY_PREFIX))
                .count()
                == 2
        );
        assert_eq!(trust.keyring_names(), ["verifier-public-key-redhat"]);
        assert_eq!(trust.keyrings[0].keys.len(), 2);
    }

    #[test]
    fn library_go_manifests() {
        let valid: ConfigMap = serde_saphyr::from_str(&fixture(
            "library-go/pkg/verify/testdata/manifests/loads-valid.yaml",
        ))
        .unwrap();
        assert!(from_configmaps(&[valid]).unwrap().is_ok());
        let no_verifiers: ConfigMap = serde_saphyr::from_str(&fixture(
            "library-go/pkg/verify/testdata/manifests/requires-verifiers.yaml",
        ))
        .unwrap();
        let err = from_configmaps(&[no_verifiers]).unwrap().unwrap_err();
        assert!(err.to_string().contains("verifier-public-key-"), "{err}");
        assert!(from_configmaps(&[]).is_none());
    }
}
