//! Table-driven: our verifier on every signature in ../shared/fixtures/peer-testdata/, expecting
//! what the originating project's own tests expect (see SOURCES.md there).

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use oc_release_signature::release::Digest;
use oc_release_signature::verify::{
    verify_release, verify_signature, Keyring, Rejection, Trust, TrustSource,
};

fn fixtures() -> PathBuf {
    let local = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures/peer-testdata");
    match std::env::var_os("OCRS_FIXTURES") {
        Some(p) => PathBuf::from(p),
        None => local,
    }
}

fn keyring(rel: &str) -> Keyring {
    let path = fixtures().join(rel);
    Keyring::from_file(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn trust(rings: &[&str]) -> Trust {
    Trust {
        keyrings: rings.iter().map(|r| keyring(r)).collect(),
        source: TrustSource::KeyringFiles,
    }
}

fn read(rel: &str) -> Vec<u8> {
    std::fs::read(fixtures().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

const LG: &str = "library-go/pkg/verify/testdata";
const E3: &str = "sha256:e3f12513a4b22a2d7c0e7c9207f52128113758d9d68c7d06b11a0ac7672966f7";
const EDD: &str = "sha256:edd9824f0404f1a139688017e7001370e2f3fbc088b94da84506653b473fe140";
const NOO: &str = "sha256:50b9402635dd4b312a86bed05dcdbda8c00120d3789ec2e9b527045100b3bdb4";

/// (signature file, digest, keyrings, expected identity or None for "rejected", packet version)
struct Case {
    sig: &'static str,
    digest: &'static str,
    rings: Vec<&'static str>,
    expect: Expect,
}

enum Expect {
    Accept {
        identity: &'static str,
        packet_version: u8,
    },
    UnknownSigner,
    DigestMismatch,
}

#[test]
fn every_peer_signature_gets_the_peer_verdict() {
    let e3_sig = "library-go/pkg/verify/testdata/signatures/sha256=e3f12513a4b22a2d7c0e7c9207f52128113758d9d68c7d06b11a0ac7672966f7/signature-1";
    let edd_sig = "library-go/pkg/verify/testdata/signatures/sha256=edd9824f0404f1a139688017e7001370e2f3fbc088b94da84506653b473fe140/signature-1";
    let redhat = "library-go/pkg/verify/testdata/keyrings/redhat.txt";
    let simple = "library-go/pkg/verify/testdata/keyrings/simple.txt";
    let combined = "library-go/pkg/verify/testdata/keyrings/combined.txt";
    let ocm_custom = "oc-mirror/tests/unit/testdata/custom-ocp-sig-key.asc";
    let ocm_it = "oc-mirror/tests/integration/testdata/keys/release-pk.asc";
    let hongkliu = "cincinnati/cincinnati/src/plugins/internal/graph_builder/dkrv2_openshift_secondary_metadata_scraper/test_fixtures/public_keys/hongkliu.asc";
    let cases = vec![
        // library-go Test_ReleaseVerifier_Verify: v3 packet, ZIP-compressed, RH release key 2.
        Case { sig: e3_sig, digest: E3, rings: vec![redhat], expect: Expect::Accept { identity: "registry.access.redhat.com/rhel7:7.6", packet_version: 3 } },
        // Signed by the CI key that expired in 2021: key expiry is not enforced.
        Case { sig: edd_sig, digest: EDD, rings: vec![simple], expect: Expect::Accept { identity: "registry.svc.ci.openshift.org/ocp/release:4.0.0-0.ci-2019-04-19-181452", packet_version: 4 } },
        Case { sig: edd_sig, digest: EDD, rings: vec![combined], expect: Expect::Accept { identity: "registry.svc.ci.openshift.org/ocp/release:4.0.0-0.ci-2019-04-19-181452", packet_version: 4 } },
        Case { sig: e3_sig, digest: E3, rings: vec![combined], expect: Expect::Accept { identity: "registry.access.redhat.com/rhel7:7.6", packet_version: 3 } },
        // Wrong keyring, wrong digest: refused.
        Case { sig: e3_sig, digest: E3, rings: vec![simple], expect: Expect::UnknownSigner },
        Case { sig: edd_sig, digest: EDD, rings: vec![redhat], expect: Expect::UnknownSigner },
        Case { sig: e3_sig, digest: "sha256:0000000000000000000000000000000000000000000000000000000000000000", rings: vec![redhat], expect: Expect::DigestMismatch },
        // oc-mirror noo-bundle-image: four v3 RH release key 2 signatures of one digest.
        Case { sig: "oc-mirror/tests/unit/testdata/noo-bundle-image/signature-1", digest: NOO, rings: vec![ocm_custom], expect: Expect::Accept { identity: "registry.access.redhat.com/albo/aws-load-balancer-operator-bundle:0.0.1", packet_version: 3 } },
        Case { sig: "oc-mirror/tests/unit/testdata/noo-bundle-image/signature-2", digest: NOO, rings: vec![ocm_custom], expect: Expect::Accept { identity: "registry.access.redhat.com/albo/aws-load-balancer-operator-bundle:0.0.1-20", packet_version: 3 } },
        Case { sig: "oc-mirror/tests/unit/testdata/noo-bundle-image/signature-3", digest: NOO, rings: vec![ocm_custom], expect: Expect::Accept { identity: "registry.redhat.io/albo/aws-load-balancer-operator-bundle:0.0.1", packet_version: 3 } },
        Case { sig: "oc-mirror/tests/unit/testdata/noo-bundle-image/signature-4", digest: NOO, rings: vec![ocm_custom], expect: Expect::Accept { identity: "registry.redhat.io/albo/aws-load-balancer-operator-bundle:0.0.1-20", packet_version: 3 } },
        // oc-mirror integration: v4 SHA512 signatures over an OCI index and a single-arch manifest.
        Case { sig: "oc-mirror/tests/integration/testdata/keys/v0.0.1-sha256-2352c020dacb945a96cf665e553644f3a3c39341b636a4d9ef1653944fd9de1f", digest: "sha256:2352c020dacb945a96cf665e553644f3a3c39341b636a4d9ef1653944fd9de1f", rings: vec![ocm_it], expect: Expect::Accept { identity: "quay.io/oc-mirror/release/test-release-index-multi:v0.0.1", packet_version: 4 } },
        Case { sig: "oc-mirror/tests/integration/testdata/keys/v0.0.1-sha256-f81792339c8b5934191d18a53b18bc1d584e01a9f37d59c0aa6905b00200aa1b", digest: "sha256:f81792339c8b5934191d18a53b18bc1d584e01a9f37d59c0aa6905b00200aa1b", rings: vec![ocm_it], expect: Expect::Accept { identity: "quay.io/oc-mirror/release/test-release-index:v0.0.1", packet_version: 4 } },
        // cincinnati: v4, ZIP-compressed, verified by cincinnati's own Rust pgp code.
        Case { sig: "cincinnati/cincinnati/src/plugins/internal/graph_builder/dkrv2_openshift_secondary_metadata_scraper/test_fixtures/signatures/signature-3", digest: "sha256:d33abd703ea76813f8dbd9518ff46d3f95ac23f364f5b6417d9fa2593aa72a1a", rings: vec![hongkliu], expect: Expect::Accept { identity: "quay.io/openshift-ota/cincinnati-ci-public:cincinnati-graph-data_6420f7fb", packet_version: 4 } },
    ];
    let now = SystemTime::now();
    for (i, c) in cases.iter().enumerate() {
        let digest: Digest = c.digest.parse().unwrap();
        let result = verify_signature(&read(c.sig), &digest, &trust(&c.rings), now);
        let label = format!("case {i} ({} with {:?})", c.sig, c.rings);
        match (&c.expect, result) {
            (
                Expect::Accept {
                    identity,
                    packet_version,
                },
                Ok(a),
            ) => {
                assert!(
                    a.identity.starts_with(identity),
                    "{label}: identity {}",
                    a.identity
                );
                assert_eq!(a.packet_version, *packet_version, "{label}");
            }
            (Expect::UnknownSigner, Err(Rejection::UnknownSigner { key_ids })) => {
                assert!(!key_ids.is_empty(), "{label}: no key id reported");
            }
            (Expect::DigestMismatch, Err(r @ Rejection::Payload(_))) => {
                let msg = r.describe(&digest);
                assert!(
                    msg.contains("digest mismatch") && msg.contains(c.digest) && msg.contains(E3),
                    "{label}: {msg}"
                );
            }
            (_, other) => panic!("{label}: unexpected verdict {other:?}"),
        }
    }
}

#[test]
fn builtin_keyring_accepts_real_red_hat_signatures() {
    let digest: Digest = E3.parse().unwrap();
    let sig = read(&format!(
        "{LG}/signatures/sha256={}/signature-1",
        digest.hex()
    ));
    let a = verify_signature(&sig, &digest, &Trust::builtin(), SystemTime::now()).unwrap();
    assert_eq!(a.signer, "567E347AD0044ADE55BA8A5F199E2F91FD431D51");
    assert_eq!(a.keyrings, ["verifier-public-key-redhat"]);
    // The identity-less noo-bundle signatures are also Red Hat release key 2.
    let noo: Digest = NOO.parse().unwrap();
    for n in 1..=4 {
        let sig = read(&format!(
            "oc-mirror/tests/unit/testdata/noo-bundle-image/signature-{n}"
        ));
        verify_signature(&sig, &noo, &Trust::builtin(), SystemTime::now()).unwrap();
    }
}

#[test]
fn every_keyring_must_be_satisfied() {
    let digest: Digest = E3.parse().unwrap();
    let sig = read(&format!(
        "{LG}/signatures/sha256={}/signature-1",
        digest.hex()
    ));
    let two = trust(&[
        "library-go/pkg/verify/testdata/keyrings/redhat.txt",
        "library-go/pkg/verify/testdata/keyrings/simple.txt",
    ]);
    let verdict = verify_release(&[&sig], &digest, &two, SystemTime::now());
    assert_eq!(verdict.accepted.len(), 1);
    assert!(!verdict.trusted());
    assert_eq!(verdict.unsatisfied.len(), 1);
    assert!(verdict.unsatisfied[0].ends_with("simple.txt"));
    let one = trust(&["library-go/pkg/verify/testdata/keyrings/redhat.txt"]);
    assert!(verify_release(&[&sig], &digest, &one, SystemTime::now()).trusted());
}

#[test]
fn oc_mirror_corrupt_key_file_is_a_clear_error() {
    let path = fixtures().join("oc-mirror/tests/unit/testdata/buggy-ocp-sig-key.asc");
    let err = Keyring::from_file(&path).unwrap_err();
    let msg = err.to_string();
    assert_eq!(err.exit_code(), 2);
    assert!(
        msg.contains("buggy-ocp-sig-key.asc") && msg.contains("cannot be read"),
        "{msg}"
    );
}

#[test]
fn the_official_and_ci_key_files_all_parse() {
    for name in [
        "verifier-public-key-redhat-release",
        "verifier-public-key-redhat-beta-2",
        "verifier-public-key-openshift-ci",
        "verifier-public-key-openshift-ci-2",
        "verifier-public-key-openshift-ci-3",
        "verifier-public-key-openshift-ci-4",
    ] {
        let ring = keyring(&format!("cluster-update-keys/keys/{name}"));
        assert_eq!(ring.keys.len(), 1, "{name}");
    }
}
