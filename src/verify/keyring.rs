//! Keyrings: named sets of OpenPGP public keys, each of which the cluster requires to be
//! satisfied by at least one signature (FACTS.md section 1).

use std::path::Path;

use pgp::composed::{Deserializable, SignedPublicKey};
use pgp::types::KeyDetails;

use crate::error::{Error, Result};

/// Red Hat release key 2 and beta key 2, copied from openshift/cluster-update-keys `keys/`.
const REDHAT_RELEASE_KEY: &str = include_str!("../../keys/verifier-public-key-redhat-release");
const REDHAT_BETA_KEY: &str = include_str!("../../keys/verifier-public-key-redhat-beta-2");

/// Name of the built-in keyring, as the cluster's `release-verification` ConfigMap calls it.
pub const BUILTIN_KEYRING_NAME: &str = "verifier-public-key-redhat";

/// One keyring: any key inside it may satisfy it.
#[derive(Debug, Clone)]
pub struct Keyring {
    /// Where it came from (a file path or a ConfigMap key), for messages.
    pub name: String,
    /// The public keys, primary keys with their subkeys.
    pub keys: Vec<SignedPublicKey>,
}

impl Keyring {
    /// Parses an armored (text before the armor header is skipped) or binary keyring.
    pub fn parse(name: &str, bytes: &[u8]) -> Result<Keyring> {
        let bad = |why: String| {
            Error::usage(format!(
                "keyring {name} cannot be read ({why}): give an OpenPGP public key file, armored \
                 (`gpg --armor --export KEYID`) or binary (`gpg --export KEYID`)"
            ))
        };
        let start = find_armor_start(bytes).unwrap_or(0);
        let input = &bytes[start..];
        let (iter, _) = SignedPublicKey::from_reader_many(input).map_err(|e| bad(e.to_string()))?;
        let mut keys = Vec::new();
        for key in iter {
            keys.push(key.map_err(|e| bad(e.to_string()))?);
        }
        if keys.is_empty() {
            return Err(bad("it holds no public key".into()));
        }
        Ok(Keyring {
            name: name.to_string(),
            keys,
        })
    }

    /// Reads and parses a keyring file given with `--keyring`.
    pub fn from_file(path: &Path) -> Result<Keyring> {
        let bytes = std::fs::read(path).map_err(|e| {
            Error::usage(format!(
                "cannot read keyring {}: {e}: check the --keyring path",
                path.display()
            ))
        })?;
        Keyring::parse(&path.display().to_string(), &bytes)
    }

    /// The built-in Red Hat keyring: release key 2 and beta key 2 as ONE keyring, exactly like
    /// the payload's `verifier-public-key-redhat`.
    pub fn builtin_redhat() -> Keyring {
        let mut keys = Vec::new();
        for text in [REDHAT_RELEASE_KEY, REDHAT_BETA_KEY] {
            let ring = Keyring::parse(BUILTIN_KEYRING_NAME, text.as_bytes())
                .expect("the embedded Red Hat keys parse");
            keys.extend(ring.keys);
        }
        Keyring {
            name: BUILTIN_KEYRING_NAME.to_string(),
            keys,
        }
    }

    /// Upper-case hex fingerprints of the primary keys, for messages.
    pub fn fingerprints(&self) -> Vec<String> {
        self.keys
            .iter()
            .map(|k| hex::encode_upper(k.fingerprint().as_bytes()))
            .collect()
    }
}

/// Offset of `-----BEGIN PGP`, so descriptive text before the armor is ignored.
fn find_armor_start(bytes: &[u8]) -> Option<usize> {
    let needle = b"-----BEGIN PGP";
    bytes.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_keyring_holds_release_and_beta_key() {
        let ring = Keyring::builtin_redhat();
        assert_eq!(
            ring.fingerprints(),
            [
                "567E347AD0044ADE55BA8A5F199E2F91FD431D51",
                "B08B659EE86AF623BC90E8DB938A80CAF21541EB"
            ]
        );
    }

    #[test]
    fn garbage_is_a_clear_error() {
        let err = Keyring::parse("junk.asc", b"hello").unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("junk.asc"), "{err}");
    }
}
