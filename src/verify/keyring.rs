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
    /// Parses a keyring file: binary, or armored with any number of armor blocks (text around
    /// them is ignored), as `gpg --import` reads it.
    pub fn parse(name: &str, bytes: &[u8]) -> Result<Keyring> {
        let blocks = armor_blocks(bytes);
        if blocks.len() <= 1 {
            return Keyring::parse_single(name, bytes);
        }
        let mut keys = Vec::new();
        for block in blocks {
            keys.extend(Keyring::parse_single(name, block)?.keys);
        }
        Ok(Keyring {
            name: name.to_string(),
            keys,
        })
    }

    /// Parses a keyring the way the cluster does (Go's `ReadArmoredKeyRing`): of an armored
    /// keyring only the first armor block counts. Used for the cluster's own ConfigMaps so our
    /// verdict is the cluster's.
    pub fn parse_as_cluster(name: &str, bytes: &[u8]) -> Result<Keyring> {
        match armor_blocks(bytes).first() {
            Some(first) => Keyring::parse_single(name, first),
            None => Keyring::parse_single(name, bytes),
        }
    }

    /// Parses one armor block (text before its header is skipped) or binary key data.
    fn parse_single(name: &str, bytes: &[u8]) -> Result<Keyring> {
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

/// The armored public key blocks in `bytes`, each from its BEGIN line to its END line.
fn armor_blocks(bytes: &[u8]) -> Vec<&[u8]> {
    const BEGIN: &[u8] = b"-----BEGIN PGP PUBLIC KEY BLOCK-----";
    const END: &[u8] = b"-----END PGP PUBLIC KEY BLOCK-----";
    let mut blocks = Vec::new();
    let mut rest = bytes;
    let mut offset = 0;
    while let Some(start) = find(rest, BEGIN) {
        let Some(end) = find(&rest[start..], END) else {
            break;
        };
        let stop = start + end + END.len();
        blocks.push(&bytes[offset + start..offset + stop]);
        rest = &rest[stop..];
        offset += stop;
    }
    blocks
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
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
    fn several_armor_blocks_in_one_file() {
        let both = format!("{REDHAT_RELEASE_KEY}\n{REDHAT_BETA_KEY}");
        let ring = Keyring::parse("both.asc", both.as_bytes()).unwrap();
        assert_eq!(ring.keys.len(), 2);
        // The cluster reads only the first block of an armored keyring.
        let cluster = Keyring::parse_as_cluster("both", both.as_bytes()).unwrap();
        assert_eq!(
            cluster.fingerprints(),
            ["567E347AD0044ADE55BA8A5F199E2F91FD431D51"]
        );
    }

    #[test]
    fn garbage_is_a_clear_error() {
        let err = Keyring::parse("junk.asc", b"hello").unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("junk.asc"), "{err}");
    }
}
