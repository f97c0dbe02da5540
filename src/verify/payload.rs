//! The signed JSON document ("atomic container signature"), decoded as strictly as the cluster
//! does: unknown fields rejected, type and identity required, digest compared exactly.

use serde::Deserialize;

/// The only accepted `critical.type`.
pub const SIGNATURE_TYPE: &str = "atomic container signature";

/// The signed document.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Payload {
    pub critical: Critical,
    #[serde(default)]
    pub optional: Option<Optional>,
}

/// The `critical` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Critical {
    #[serde(rename = "type")]
    pub kind: String,
    pub image: Image,
    pub identity: Identity,
}

/// `critical.image`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Image {
    #[serde(rename = "docker-manifest-digest")]
    pub docker_manifest_digest: String,
}

/// `critical.identity`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Identity {
    #[serde(rename = "docker-reference")]
    pub docker_reference: String,
}

/// The `optional` section.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Optional {
    #[serde(default)]
    pub creator: Option<String>,
    #[serde(default)]
    pub timestamp: Option<i64>,
}

/// Why a payload was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayloadError {
    /// A field the cluster does not know.
    UnknownField(String),
    /// Not JSON of the expected shape.
    Malformed(String),
    /// `critical.type` is not [`SIGNATURE_TYPE`].
    WrongType(String),
    /// `critical.identity.docker-reference` is empty.
    EmptyIdentity,
    /// The signed digest is not the release digest.
    DigestMismatch { signed: String },
}

/// Decodes `bytes` and checks it signs `expected_digest`.
pub fn check(bytes: &[u8], expected_digest: &str) -> Result<Payload, PayloadError> {
    let payload: Payload = serde_json::from_slice(bytes).map_err(|e| {
        let msg = e.to_string();
        match msg.strip_prefix("unknown field `") {
            Some(rest) => {
                PayloadError::UnknownField(rest.split('`').next().unwrap_or(rest).to_string())
            }
            None => PayloadError::Malformed(msg),
        }
    })?;
    if payload.critical.kind != SIGNATURE_TYPE {
        return Err(PayloadError::WrongType(payload.critical.kind));
    }
    if payload.critical.identity.docker_reference.is_empty() {
        return Err(PayloadError::EmptyIdentity);
    }
    if payload.critical.image.docker_manifest_digest != expected_digest {
        return Err(PayloadError::DigestMismatch {
            signed: payload.critical.image.docker_manifest_digest,
        });
    }
    Ok(payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:96cb606d04e94de1954a50ddb965eb02b76e182478bef9225df0ad523cfa6b38";

    fn doc(extra_critical: &str, kind: &str, identity: &str, digest: &str) -> Vec<u8> {
        format!(
            r#"{{"critical":{{"type":"{kind}","image":{{"docker-manifest-digest":"{digest}"}},"identity":{{"docker-reference":"{identity}"}}{extra_critical}}},"optional":{{"creator":"x","timestamp":1}}}}"#
        )
        .into_bytes()
    }

    #[test]
    fn accepts_the_exact_shape() {
        let p = check(&doc("", SIGNATURE_TYPE, "quay.io/a:b", D), D).unwrap();
        assert_eq!(p.critical.identity.docker_reference, "quay.io/a:b");
        assert_eq!(p.optional.unwrap().timestamp, Some(1));
    }

    #[test]
    fn refuses_what_the_cluster_refuses() {
        assert_eq!(
            check(&doc(r#","surprise":1"#, SIGNATURE_TYPE, "a", D), D).unwrap_err(),
            PayloadError::UnknownField("surprise".into())
        );
        assert_eq!(
            check(&doc("", "other", "a", D), D).unwrap_err(),
            PayloadError::WrongType("other".into())
        );
        assert_eq!(
            check(&doc("", SIGNATURE_TYPE, "", D), D).unwrap_err(),
            PayloadError::EmptyIdentity
        );
        let other = "sha256:0000000000000000000000000000000000000000000000000000000000000000";
        assert_eq!(
            check(&doc("", SIGNATURE_TYPE, "a", other), D).unwrap_err(),
            PayloadError::DigestMismatch {
                signed: other.into()
            }
        );
        assert!(matches!(
            check(b"not json", D).unwrap_err(),
            PayloadError::Malformed(_)
        ));
    }
}
