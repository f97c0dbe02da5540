//! Stage 5: the signature ConfigMap, in the shape `oc adm release mirror` writes (FACTS.md
//! section 5), and reading back all three shapes found in clusters.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::ByteString;

use crate::release::Digest;

/// Namespace the cluster reads signatures from.
pub const NAMESPACE: &str = "openshift-config-managed";
/// Label that marks signature ConfigMaps; only its presence matters.
pub const SIGNATURE_LABEL: &str = "release.openshift.io/verification-signatures";
/// Annotation that marks the cluster's trust ConfigMap (`release-verification`).
pub const VERIFICATION_CONFIG_ANNOTATION: &str = "release.openshift.io/verification-config-map";

/// The ConfigMap holding `signatures` (in order) for `digest`: name `sha256-HEX`, keys
/// `sha256-HEX-1`..`-n`, exactly as `oc adm release mirror` names them so the two never duplicate.
pub fn build(digest: &Digest, signatures: &[&[u8]]) -> ConfigMap {
    let prefix = digest.dashed();
    let binary_data: BTreeMap<String, ByteString> = signatures
        .iter()
        .enumerate()
        .map(|(i, s)| (format!("{prefix}-{}", i + 1), ByteString(s.to_vec())))
        .collect();
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(prefix),
            namespace: Some(NAMESPACE.to_string()),
            labels: Some(BTreeMap::from([(
                SIGNATURE_LABEL.to_string(),
                String::new(),
            )])),
            ..ObjectMeta::default()
        },
        binary_data: Some(binary_data),
        ..ConfigMap::default()
    }
}

/// The file name `oc adm release mirror` uses: `signature-sha256-<first 16 hex>.yaml`.
pub fn file_name(digest: &Digest) -> String {
    format!("signature-sha256-{}.yaml", &digest.hex()[..16])
}

/// A ConfigMap as YAML with `apiVersion` and `kind`, ready for `oc apply -f`.
pub fn to_yaml(cm: &ConfigMap) -> String {
    serde_saphyr::to_string(&with_type_meta(cm)).expect("a ConfigMap serializes")
}

/// A ConfigMap as JSON with `apiVersion` and `kind`.
pub fn to_json(cm: &ConfigMap) -> serde_json::Value {
    with_type_meta(cm)
}

fn with_type_meta(cm: &ConfigMap) -> serde_json::Value {
    // k8s-openapi adds apiVersion/kind when serializing a top-level resource.
    serde_json::to_value(cm).expect("a ConfigMap serializes")
}

/// One signature held by a ConfigMap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldSignature {
    /// The binaryData key.
    pub key: String,
    /// The digest the key names.
    pub digest: Digest,
    /// The raw signature.
    pub bytes: Vec<u8>,
}

/// Whether a ConfigMap carries the signature label.
pub fn is_signature_configmap(cm: &ConfigMap) -> bool {
    cm.metadata
        .labels
        .as_ref()
        .is_some_and(|l| l.contains_key(SIGNATURE_LABEL))
}

/// Every signature in a ConfigMap, in any of the shapes in use: ours and `oc adm release
/// mirror`'s (`sha256-HEX-N`), oc-mirror v2's (`sha256-HEX-<counter>`) and the manual
/// procedure's (`sha256-HEX`). As in the cluster, `data` entries are ignored.
pub fn held_signatures(cm: &ConfigMap) -> Vec<HeldSignature> {
    let Some(binary) = &cm.binary_data else {
        return Vec::new();
    };
    binary
        .iter()
        .filter_map(|(key, value)| {
            let digest = digest_of_key(key)?;
            Some(HeldSignature {
                key: key.clone(),
                digest,
                bytes: value.0.clone(),
            })
        })
        .collect()
}

/// `sha256-HEX` or `sha256-HEX-<suffix>` -> `sha256:HEX`.
fn digest_of_key(key: &str) -> Option<Digest> {
    let hex = key.strip_prefix("sha256-")?;
    let hex = hex.get(..64)?;
    let rest = &key["sha256-".len() + 64..];
    if !(rest.is_empty() || rest.starts_with('-')) {
        return None;
    }
    format!("sha256:{hex}").parse().ok()
}

/// The binaryData entries the cluster would try for `digest`: every key that starts with
/// `sha256-HEX`.
pub fn signatures_for<'a>(
    cms: impl IntoIterator<Item = &'a ConfigMap>,
    digest: &Digest,
) -> Vec<(String, Vec<u8>)> {
    let prefix = digest.dashed();
    cms.into_iter()
        .filter_map(|cm| {
            let name = cm.metadata.name.clone().unwrap_or_default();
            cm.binary_data.as_ref().map(|b| (name, b))
        })
        .flat_map(|(name, b)| {
            b.iter()
                .filter(|(k, _)| k.starts_with(&prefix))
                .map(move |(k, v)| (format!("{name}/{k}"), v.0.clone()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest() -> Digest {
        crate::release::EXAMPLE_DIGEST.parse().unwrap()
    }

    #[test]
    fn builds_what_oc_adm_release_mirror_writes() {
        let d = digest();
        let cm = build(&d, &[b"one", b"two"]);
        let yaml = to_yaml(&cm);
        assert!(yaml.contains("apiVersion: v1"), "{yaml}");
        assert!(yaml.contains("kind: ConfigMap"), "{yaml}");
        assert!(
            yaml.contains(&format!("name: sha256-{}", d.hex())),
            "{yaml}"
        );
        assert!(
            yaml.contains("namespace: openshift-config-managed"),
            "{yaml}"
        );
        assert!(
            yaml.contains(&format!("sha256-{}-2: dHdv", d.hex())),
            "{yaml}"
        );
        let back: ConfigMap = serde_saphyr::from_str(&yaml).unwrap();
        assert_eq!(back, cm);
        assert!(is_signature_configmap(&back));
        assert_eq!(file_name(&d), "signature-sha256-96cb606d04e94de1.yaml");
    }

    #[test]
    fn reads_all_three_shapes() {
        let d = digest();
        let hex = d.hex();
        let mut cm = build(&d, &[b"a"]);
        let bd = cm.binary_data.as_mut().unwrap();
        bd.insert(format!("sha256-{hex}"), ByteString(b"manual".to_vec()));
        bd.insert(
            format!("sha256-{hex}-17"),
            ByteString(b"oc-mirror".to_vec()),
        );
        bd.insert("unrelated".into(), ByteString(b"x".to_vec()));
        bd.insert(format!("sha256-{hex}x"), ByteString(b"x".to_vec()));
        let held = held_signatures(&cm);
        assert_eq!(held.len(), 3);
        assert!(held.iter().all(|h| h.digest == d));
        assert_eq!(
            signatures_for([&cm], &d).len(),
            4,
            "the cluster tries every key with the prefix"
        );
    }
}
