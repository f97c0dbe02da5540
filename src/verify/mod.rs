//! Stage 4: verify signatures exactly as the Cluster Version Operator will (FACTS.md section 1).
//!
//! A signature is accepted when its OpenPGP signature is good and made by a key in a keyring,
//! a v4 signature's own lifetime has not passed (key expiry is deliberately NOT checked), and its
//! JSON document is strict, typed, has an identity and names exactly the release digest. A
//! release is trusted when every keyring is satisfied by at least one accepted signature.

pub mod keyring;
pub mod message;
pub mod payload;

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use pgp::packet::{Signature, SignatureVersion};
use pgp::types::KeyDetails;

pub use keyring::Keyring;
pub use payload::{Payload, PayloadError};

use crate::release::Digest;

/// Where the keyrings in force came from; reported to the user.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TrustSource {
    /// `--keyring` files.
    KeyringFiles,
    /// The cluster's `release-verification` ConfigMap(s).
    Cluster(String),
    /// The Red Hat keyring built into this binary.
    Builtin,
}

impl fmt::Display for TrustSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrustSource::KeyringFiles => f.write_str("--keyring files"),
            TrustSource::Cluster(cm) => write!(f, "the cluster's ConfigMap {cm}"),
            TrustSource::Builtin => f.write_str("the built-in Red Hat keyring"),
        }
    }
}

/// The keyrings a release must satisfy, all of them.
#[derive(Debug, Clone)]
pub struct Trust {
    /// Every keyring; each must be satisfied.
    pub keyrings: Vec<Keyring>,
    /// Where they came from.
    pub source: TrustSource,
}

impl Trust {
    /// The built-in Red Hat keyring.
    pub fn builtin() -> Trust {
        Trust {
            keyrings: vec![Keyring::builtin_redhat()],
            source: TrustSource::Builtin,
        }
    }

    /// Names of the keyrings, as the cluster lists them in its error.
    pub fn keyring_names(&self) -> Vec<String> {
        self.keyrings.iter().map(|k| k.name.clone()).collect()
    }
}

/// A signature that passed every check.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AcceptedSignature {
    /// Keyrings this signature satisfies.
    pub keyrings: Vec<String>,
    /// Fingerprint of the signing key (upper-case hex).
    pub signer: String,
    /// `critical.identity.docker-reference`.
    pub identity: String,
    /// `optional.creator`, if any.
    pub creator: Option<String>,
    /// `optional.timestamp`, if any.
    pub timestamp: Option<i64>,
    /// OpenPGP signature packet version (3 or 4).
    pub packet_version: u8,
}

/// Why a signature was rejected, in words that say what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// Not a parseable signed OpenPGP message.
    Malformed(String),
    /// Signed by a key in none of the keyrings.
    UnknownSigner { key_ids: Vec<String> },
    /// A trusted key id, but the signature does not verify.
    BadSignature(String),
    /// The signature's own lifetime has passed.
    Expired { expired_at: u64 },
    /// The signed document is not acceptable.
    Payload(PayloadError),
}

impl Rejection {
    /// A message for this rejection; `digest` is the release digest.
    pub fn describe(&self, digest: &Digest) -> String {
        match self {
            Rejection::Malformed(why) => why.clone(),
            Rejection::UnknownSigner { key_ids } => format!(
                "signed by unknown key {}: no keyring in force holds it (add its public key with \
                 --keyring if you trust it)",
                key_ids.join(", ")
            ),
            Rejection::BadSignature(why) => format!("the signature does not verify: {why}"),
            Rejection::Expired { expired_at } => format!(
                "the signature expired at {} (unix time {expired_at})",
                format_unix(*expired_at)
            ),
            Rejection::Payload(PayloadError::UnknownField(f)) => {
                format!("the signed document has unknown field `{f}`, which the cluster rejects")
            }
            Rejection::Payload(PayloadError::Malformed(m)) => {
                format!("the signed document is not valid signature JSON: {m}")
            }
            Rejection::Payload(PayloadError::WrongType(t)) => format!(
                "the signed document has type `{t}`, not `{}`",
                payload::SIGNATURE_TYPE
            ),
            Rejection::Payload(PayloadError::EmptyIdentity) => {
                "the signed document has an empty docker-reference identity".into()
            }
            Rejection::Payload(PayloadError::DigestMismatch { signed }) => {
                format!("digest mismatch: the signature is for {signed}, the release is {digest}")
            }
        }
    }
}

/// Verifies one signature file for `digest` against every keyring in `trust`.
///
/// `now` decides signature expiry; pass `SystemTime::now()` outside tests.
pub fn verify_signature(
    bytes: &[u8],
    digest: &Digest,
    trust: &Trust,
    now: SystemTime,
) -> Result<AcceptedSignature, Rejection> {
    let message = message::parse(bytes).map_err(Rejection::Malformed)?;
    let mut satisfied = Vec::new();
    let mut signer = None;
    let mut packet_version = 0;
    let mut bad = None;
    for keyring in &trust.keyrings {
        for sig in &message.signatures {
            match verify_with_keyring(sig, keyring, &message.literal) {
                Ok(fpr) => {
                    check_lifetime(sig, now)?;
                    if !satisfied.contains(&keyring.name) {
                        satisfied.push(keyring.name.clone());
                    }
                    signer.get_or_insert(fpr);
                    packet_version = match sig.version() {
                        SignatureVersion::V3 => 3,
                        SignatureVersion::V4 => 4,
                        _ => 6,
                    };
                }
                Err(Some(why)) => bad = Some(why),
                Err(None) => {}
            }
        }
    }
    let Some(signer) = signer else {
        return Err(match bad {
            Some(why) => Rejection::BadSignature(why),
            None => Rejection::UnknownSigner {
                key_ids: message.signatures.iter().flat_map(issuer_ids).collect(),
            },
        });
    };
    let payload = payload::check(&message.literal, digest.as_str()).map_err(Rejection::Payload)?;
    let optional = payload.optional.unwrap_or_default();
    Ok(AcceptedSignature {
        keyrings: satisfied,
        signer,
        identity: payload.critical.identity.docker_reference,
        creator: optional.creator,
        timestamp: optional.timestamp,
        packet_version,
    })
}

/// The verdict on all signatures found for one release.
#[derive(Debug, Clone)]
pub struct ReleaseVerdict {
    /// Accepted signatures, with their position in the input.
    pub accepted: Vec<(usize, AcceptedSignature)>,
    /// Rejected signatures, with their position in the input.
    pub rejected: Vec<(usize, Rejection)>,
    /// Keyrings no accepted signature satisfies.
    pub unsatisfied: Vec<String>,
}

impl ReleaseVerdict {
    /// True when the cluster would accept the release: some signature is accepted and every
    /// keyring is satisfied.
    pub fn trusted(&self) -> bool {
        !self.accepted.is_empty() && self.unsatisfied.is_empty()
    }
}

/// Verifies every signature found for `digest` and decides, as the cluster does, whether the
/// release is trusted (every keyring satisfied by at least one accepted signature).
pub fn verify_release<B: AsRef<[u8]>>(
    signatures: &[B],
    digest: &Digest,
    trust: &Trust,
    now: SystemTime,
) -> ReleaseVerdict {
    let mut accepted = Vec::new();
    let mut rejected = Vec::new();
    for (i, sig) in signatures.iter().enumerate() {
        match verify_signature(sig.as_ref(), digest, trust, now) {
            Ok(a) => accepted.push((i, a)),
            Err(r) => rejected.push((i, r)),
        }
    }
    let unsatisfied = trust
        .keyrings
        .iter()
        .filter(|k| !accepted.iter().any(|(_, a)| a.keyrings.contains(&k.name)))
        .map(|k| k.name.clone())
        .collect();
    ReleaseVerdict {
        accepted,
        rejected,
        unsatisfied,
    }
}

/// Tries every key (primary and subkeys) of `keyring`. `Ok(fingerprint)` on success,
/// `Err(Some(why))` when a key with the issuer's id exists but the signature is bad,
/// `Err(None)` when no key matches.
fn verify_with_keyring(
    sig: &Signature,
    keyring: &Keyring,
    literal: &[u8],
) -> Result<String, Option<String>> {
    let issuers = issuer_ids(sig);
    let mut failure = None;
    for key in &keyring.keys {
        let primary_fpr = hex::encode_upper(key.fingerprint().as_bytes());
        let matches = |id: String| issuers.contains(&id);
        if matches(hex::encode_upper(key.legacy_key_id().as_ref())) {
            match sig.verify(&key.primary_key, literal) {
                Ok(()) => return Ok(primary_fpr),
                Err(e) => failure = Some(e.to_string()),
            }
        }
        for sub in &key.public_subkeys {
            if matches(hex::encode_upper(sub.legacy_key_id().as_ref())) {
                match sig.verify(&sub.key, literal) {
                    Ok(()) => return Ok(primary_fpr),
                    Err(e) => failure = Some(e.to_string()),
                }
            }
        }
    }
    Err(failure)
}

/// The issuer key ids (upper-case hex, 16 digits) named by a signature packet.
fn issuer_ids(sig: &Signature) -> Vec<String> {
    let mut ids: Vec<String> = sig
        .issuer_key_id()
        .into_iter()
        .map(|k| hex::encode_upper(k.as_ref()))
        .collect();
    for fpr in sig.issuer_fingerprint() {
        let bytes = fpr.as_bytes();
        if bytes.len() >= 8 {
            let id = hex::encode_upper(&bytes[bytes.len() - 8..]);
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
    }
    ids
}

/// Enforces a v4 signature's own expiration subpacket (a zero lifetime means none).
fn check_lifetime(sig: &Signature, now: SystemTime) -> Result<(), Rejection> {
    let (Some(created), Some(lifetime)) = (sig.created(), sig.signature_expiration_time()) else {
        return Ok(());
    };
    if lifetime.as_secs() == 0 {
        return Ok(());
    }
    let expires = u64::from(created.as_secs()) + u64::from(lifetime.as_secs());
    let now = now
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs();
    if now > expires {
        return Err(Rejection::Expired {
            expired_at: expires,
        });
    }
    Ok(())
}

/// `YYYY-MM-DD HH:MM:SS UTC` for a unix time, without a date crate.
fn format_unix(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// The identity inside a signature, without verifying it (for listings only).
pub fn peek_identity(bytes: &[u8]) -> Option<String> {
    let message = message::parse(bytes).ok()?;
    let v: serde_json::Value = serde_json::from_slice(&message.literal).ok()?;
    v["critical"]["identity"]["docker-reference"]
        .as_str()
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_unix_times() {
        assert_eq!(format_unix(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(format_unix(1_577_923_200), "2020-01-02 00:00:00 UTC");
    }
}
