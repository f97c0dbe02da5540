//! `fetch` through the real binary against the real peers: Debian's docker-registry over TLS
//! with basic auth, an HTTPS signature store, and signatures made by gpg and skopeo.

mod common;

use std::net::TcpListener;
use std::path::Path;

use common::peers::{binary, json_stdout, Peers};
use common::tripwire::Tripwire;
use predicates::prelude::*;
use predicates::str::contains;

fn fetch(peers: &Peers, home: &Path, extra: &[&str]) -> assert_cmd::Command {
    let mut cmd = binary(home);
    cmd.arg("fetch").args(peers.source_args()).args(extra);
    cmd
}

fn yaml_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().to_string())
                .filter(|n| n.ends_with(".yaml"))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn good_release_is_written_as_configmap_and_store_layout() {
    let peers = Peers::get();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let digest = peers.digest("4.10.1", "x86_64");
    let hex = &digest["sha256:".len()..];
    fetch(
        &peers,
        tmp.path(),
        &["4.10.1", "--to-dir", out.to_str().unwrap()],
    )
    .assert()
    .success()
    .stdout(contains(format!("signature-sha256-{}.yaml", &hex[..16])))
    .stdout(contains("4.10.1 x86_64").and(contains("1 signature")));
    let yaml =
        std::fs::read_to_string(out.join(format!("signature-sha256-{}.yaml", &hex[..16]))).unwrap();
    assert!(yaml.contains(&format!("name: sha256-{hex}")), "{yaml}");
    assert!(
        yaml.contains("namespace: openshift-config-managed"),
        "{yaml}"
    );
    assert!(
        yaml.contains("release.openshift.io/verification-signatures: ''")
            || yaml.contains("release.openshift.io/verification-signatures: \"\""),
        "{yaml}"
    );
    assert!(yaml.contains(&format!("sha256-{hex}-1:")), "{yaml}");
    let written = out.join(format!("signatures/sha256={hex}/signature-1"));
    let original = peers
        .path("STORE_DIR")
        .join(format!("sha256={hex}/signature-1"));
    assert_eq!(
        std::fs::read(&written).unwrap(),
        std::fs::read(&original).unwrap()
    );

    // Second opinion: skopeo accepts exactly what we wrote.
    let manifest = peers.path("MANIFESTS_DIR").join("4.10.1-x86_64.json");
    let status = std::process::Command::new("skopeo")
        .env("GNUPGHOME", peers.var("GNUPGHOME"))
        .args(["standalone-verify"])
        .arg(&manifest)
        .arg("quay.io/openshift-release-dev/ocp-release:4.10.1-x86_64")
        .arg(peers.var("TRUSTED_FPR"))
        .arg(&written)
        .status()
        .expect("skopeo runs");
    assert!(
        status.success(),
        "skopeo standalone-verify refused what we wrote"
    );

    // The written layout works as a file:// store, with no registry: by digest.
    let store = format!("file://{}", out.join("signatures").display());
    binary(tmp.path())
        .args([
            "fetch",
            "--digest",
            &digest,
            "--signature-store",
            &store,
            "--keyring",
        ])
        .arg(peers.var("TRUSTED_KEYRING"))
        .args(["-o", "json"])
        .assert()
        .success()
        .stdout(contains(format!("\"digest\": \"{digest}\"")).and(contains("\"trusted\": true")));
}

#[test]
fn rogue_signer_is_refused_with_its_key_id_and_nothing_is_written() {
    let peers = Peers::get();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    fetch(
        &peers,
        tmp.path(),
        &["4.10.2", "--to-dir", out.to_str().unwrap()],
    )
    .assert()
    .code(3)
    .stderr(contains("unknown key").and(contains(peers.key_id("ROGUE_FPR"))))
    .stderr(contains("The update cannot be verified"));
    assert!(yaml_files(&out).is_empty());
    assert!(!out
        .join("signatures")
        .join(format!("sha256={}", &peers.digest("4.10.2", "x86_64")[7..]))
        .exists());
}

#[test]
fn digest_mismatch_names_both_digests() {
    let peers = Peers::get();
    let tmp = tempfile::tempdir().unwrap();
    fetch(&peers, tmp.path(), &["4.10.3"])
        .assert()
        .code(3)
        .stderr(contains("digest mismatch"))
        .stderr(
            contains(peers.digest("4.10.3", "x86_64"))
                .and(contains(peers.digest("4.10.1", "x86_64"))),
        );
}

#[test]
fn unknown_json_field_is_named() {
    let peers = Peers::get();
    let tmp = tempfile::tempdir().unwrap();
    fetch(&peers, tmp.path(), &["4.10.4"])
        .assert()
        .code(3)
        .stderr(contains("unknown field `surprise`"));
}

#[test]
fn expired_v4_signature_is_refused() {
    let peers = Peers::get();
    let tmp = tempfile::tempdir().unwrap();
    fetch(&peers, tmp.path(), &["4.10.5"])
        .assert()
        .code(3)
        .stderr(contains("expired at 2020-01-02"));
}

#[test]
fn bad_signature_1_then_good_signature_2_keeps_only_the_good_one() {
    let peers = Peers::get();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let hex = peers.digest("4.10.6", "x86_64")[7..].to_string();
    fetch(
        &peers,
        tmp.path(),
        &["4.10.6", "--to-dir", out.to_str().unwrap()],
    )
    .assert()
    .success()
    .stderr(
        contains("warning")
            .and(contains("signature-1"))
            .and(contains("unknown key")),
    );
    let sigs = out.join(format!("signatures/sha256={hex}"));
    let good = peers
        .path("STORE_DIR")
        .join(format!("sha256={hex}/signature-2"));
    assert_eq!(
        std::fs::read(sigs.join("signature-1")).unwrap(),
        std::fs::read(good).unwrap()
    );
    assert!(!sigs.join("signature-2").exists());
    let yaml =
        std::fs::read_to_string(out.join(format!("signature-sha256-{}.yaml", &hex[..16]))).unwrap();
    assert!(
        yaml.contains(&format!("sha256-{hex}-1:")) && !yaml.contains(&format!("sha256-{hex}-2:")),
        "{yaml}"
    );
}

#[test]
fn no_signature_lists_each_store_and_its_answer() {
    let peers = Peers::get();
    let tmp = tempfile::tempdir().unwrap();
    let missing = format!("file://{}", tmp.path().join("empty-store").display());
    fetch(
        &peers,
        tmp.path(),
        &["4.10.7", "--signature-store", &missing],
    )
    .assert()
    .code(3)
    .stderr(contains("no signature found"))
    .stderr(contains(peers.var("STORE_URL")).and(contains("404")))
    .stderr(contains("empty-store"));
}

#[test]
fn store_answering_503_once_is_retried() {
    let peers = Peers::get();
    let tmp = tempfile::tempdir().unwrap();
    let hex = peers.digest("4.10.8", "x86_64")[7..].to_string();
    let path = format!("/sha256={hex}/signature-1");
    // Arm the store: the next request for this path answers 503 (the store then forgets it).
    std::fs::write(peers.path("STORE_FLAKY_FILE"), format!("{path}\n")).unwrap();
    let log_start = std::fs::read_to_string(peers.path("STORE_LOG"))
        .unwrap_or_default()
        .len();
    fetch(&peers, tmp.path(), &["4.10.8", "-v"])
        .assert()
        .success()
        .stderr(contains("retrying"));
    let log = std::fs::read_to_string(peers.path("STORE_LOG")).unwrap()[log_start..].to_string();
    let lines: Vec<&str> = log.lines().filter(|l| l.contains(&path)).collect();
    assert!(lines.iter().any(|l| l.ends_with(" 503")), "{lines:?}");
    assert!(lines.iter().any(|l| l.ends_with(" 200")), "{lines:?}");
}

#[test]
fn missing_registry_credentials_say_how_to_log_in() {
    let peers = Peers::get();
    let tmp = tempfile::tempdir().unwrap();
    binary(tmp.path())
        .args([
            "fetch",
            "4.10.1",
            "--release-repo",
            &peers.var("RELEASE_REPO"),
            "--ca-file",
            &peers.var("CA_FILE"),
        ])
        .args(["--signature-store", &peers.var("STORE_URL")])
        .assert()
        .code(1)
        .stderr(contains("401").and(contains("--registry-config")));
}

#[test]
fn anonymous_registry_needs_no_credentials() {
    let peers = Peers::get();
    let tmp = tempfile::tempdir().unwrap();
    binary(tmp.path())
        .args([
            "fetch",
            "4.10.1",
            "--release-repo",
            &peers.var("RELEASE_REPO_ANON"),
            "--ca-file",
            &peers.var("CA_FILE"),
        ])
        .args([
            "--signature-store",
            &peers.var("STORE_URL"),
            "--keyring",
            &peers.var("TRUSTED_KEYRING"),
            "-o",
            "json",
        ])
        .assert()
        .success()
        .stdout(contains(peers.digest("4.10.1", "x86_64")));
}

#[test]
fn wrong_arch_names_the_tag_and_hints_at_arch() {
    let peers = Peers::get();
    let tmp = tempfile::tempdir().unwrap();
    fetch(&peers, tmp.path(), &["4.10.1", "--arch", "s390x"])
        .assert()
        .code(1)
        .stderr(
            contains("4.10.1-s390x")
                .and(contains("not found"))
                .and(contains("--arch")),
        );
}

#[test]
fn multi_resolves_to_the_index_digest_and_aarch64_to_its_own() {
    let peers = Peers::get();
    let tmp = tempfile::tempdir().unwrap();
    fetch(
        &peers,
        tmp.path(),
        &["4.10.9-multi", "4.10.1-aarch64", "-o", "json"],
    )
    .assert()
    .success()
    .stdout(contains(peers.digest("4.10.9", "multi")))
    .stdout(contains(peers.digest("4.10.1", "aarch64")));
}

#[test]
fn every_keyring_must_be_satisfied() {
    let peers = Peers::get();
    let tmp = tempfile::tempdir().unwrap();
    let second = peers.var("SECOND_KEYRING");
    fetch(
        &peers,
        tmp.path(),
        &["4.10.10", "--keyring", &second, "-o", "json"],
    )
    .assert()
    .success()
    .stdout(contains(format!(
        "sha256-{}-2",
        &peers.digest("4.10.10", "x86_64")[7..]
    )));
    fetch(&peers, tmp.path(), &["4.10.1", "--keyring", &second])
        .assert()
        .code(3)
        .stderr(contains("no signature satisfies keyring").and(contains(second.as_str())));
}

#[test]
fn many_releases_in_one_run_and_partial_failure_exits_3() {
    let peers = Peers::get();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let mut args: Vec<String> = (0..6).map(|i| format!("4.11.{i}")).collect();
    args.push("4.10.2".into());
    args.extend(["--to-dir".into(), out.display().to_string()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    fetch(&peers, tmp.path(), &args).assert().code(3);
    assert_eq!(yaml_files(&out).len(), 6);
}

#[test]
fn json_report_schema() {
    let peers = Peers::get();
    let tmp = tempfile::tempdir().unwrap();
    let out = fetch(&peers, tmp.path(), &["4.10.6", "4.10.7", "-o", "json"])
        .assert()
        .code(3)
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["kind"], "ReleaseSignatureReport");
    let mut top: Vec<&String> = v.as_object().unwrap().keys().collect();
    top.sort();
    assert_eq!(top, ["apiVersion", "kind", "releases", "trust"]);
    let mut fields: Vec<&String> = v["releases"][0].as_object().unwrap().keys().collect();
    fields.sort();
    assert_eq!(
        fields,
        [
            "arch",
            "configMap",
            "digest",
            "error",
            "file",
            "input",
            "rejected",
            "signatures",
            "trusted",
            "version"
        ]
    );
    assert_eq!(v["trust"]["source"], "--keyring files");
    let good = &v["releases"][0];
    assert_eq!(good["version"], "4.10.6");
    assert_eq!(good["arch"], "x86_64");
    assert_eq!(good["trusted"], true);
    assert_eq!(
        good["signatures"][0]["signer"],
        peers.var("TRUSTED_FPR").to_uppercase()
    );
    assert_eq!(
        good["signatures"][0]["identity"],
        "quay.io/openshift-release-dev/ocp-release:4.10.6-x86_64"
    );
    assert_eq!(good["rejected"].as_array().unwrap().len(), 1);
    let bad = &v["releases"][1];
    assert_eq!(bad["trusted"], false);
    assert_eq!(bad["error"]["exitCode"], 3);
}

#[test]
fn bad_input_exits_2_before_any_request() {
    let registry = Tripwire::new();
    let store = Tripwire::new();
    let tmp = tempfile::tempdir().unwrap();
    let repo = format!("{}/ocp/release", registry.addr());
    let store_url = format!("https://{}", store.addr());
    let cases: &[(&[&str], &str, &str)] = &[
        (&["4.4"], "4.4", "4.4.0"),
        (&["foo"], "foo", "4.4.0"),
        (&["../x"], "../x", "4.4.0"),
        (&["4.4.0", "--arch", "sparc"], "sparc", "aarch64"),
        (
            &["--digest", "sha256:1234"],
            "sha256:1234",
            "sha256:96cb606d",
        ),
        (
            &["4.4.0", "--signature-store", "ftp://x"],
            "ftp://x",
            "https://",
        ),
        (&["4.4.0", "4.4"], "4.4", "4.4.0"),
    ];
    for (args, named, example) in cases {
        binary(tmp.path())
            .args([
                "fetch",
                "--release-repo",
                &repo,
                "--signature-store",
                &store_url,
            ])
            .args(*args)
            .assert()
            .code(2)
            .stderr(contains(*named).and(contains(*example)));
    }
    assert!(!registry.touched(), "a bad input reached the registry");
    assert!(!store.touched(), "a bad input reached the store");
}

#[test]
fn oversized_signature_over_https_is_refused() {
    let peers = Peers::get();
    let tmp = tempfile::tempdir().unwrap();
    // A digest of its own, so no other test sees this file.
    let hex = "0b".repeat(32);
    let dir = peers.path("STORE_DIR").join(format!("sha256={hex}"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("signature-1"), vec![b'x'; 70 * 1024]).unwrap();
    binary(tmp.path())
        .args([
            "fetch",
            "--digest",
            &format!("sha256:{hex}"),
            "--ca-file",
            &peers.var("CA_FILE"),
        ])
        .args([
            "--signature-store",
            &peers.var("STORE_URL"),
            "--keyring",
            &peers.var("TRUSTED_KEYRING"),
        ])
        .assert()
        .code(1)
        .stderr(contains("larger than 65536 bytes"));
}

#[test]
fn the_next_store_is_used_when_one_is_unreachable() {
    let peers = Peers::get();
    let tmp = tempfile::tempdir().unwrap();
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let dead = format!("https://{closed}/signatures");
    let v = json_stdout(
        binary(tmp.path())
            .args(["fetch", "4.10.1", "--signature-store", &dead])
            .args(peers.source_args())
            .args(["-o", "json"]),
    );
    let source = v["releases"][0]["signatures"][0]["source"]
        .as_str()
        .unwrap();
    assert!(source.starts_with(&peers.var("STORE_URL")), "{source}");
}
