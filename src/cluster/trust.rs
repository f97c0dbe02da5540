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
    trust_configmap(cms).map(trust_of)
}

/// The signature stores the cluster's trust ConfigMap lists (`store-*` keys), as
/// `(key, URL)` sorted by key. The cluster tries them when no ConfigMap holds a signature it
/// accepts, so a release verify finds unsigned here may still pass where they are reachable.
pub fn signature_stores(cms: &[ConfigMap]) -> Vec<(String, String)> {
    let mut stores: Vec<(String, String)> = trust_configmap(cms)
        .and_then(|cm| cm.data.as_ref())
        .into_iter()
        .flatten()
        .filter(|(k, _)| k.starts_with(STORE_KEY_PREFIX))
        .map(|(k, v)| (k.clone(), v.trim().to_string()))
        .collect();
    stores.sort();
    stores
}

/// The ConfigMap the cluster takes its trust from: the first by name with the annotation.
fn trust_configmap(cms: &[ConfigMap]) -> Option<&ConfigMap> {
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
    candidates.first().copied()
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
        let stores = signature_stores(std::slice::from_ref(&cm));
        assert_eq!(stores.len(), 2, "{stores:?}");
        assert!(
            stores
                .iter()
                .all(|(k, url)| k.starts_with(STORE_KEY_PREFIX) && url.starts_with("https://")),
            "{stores:?}"
        );
        assert!(signature_stores(&[]).is_empty());
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
