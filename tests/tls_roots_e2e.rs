//! Which certificate roots the registry and store clients trust: the system store, read once
//! per run as OpenSSL finds it (`SSL_CERT_FILE` / `SSL_CERT_DIR` honoured), plus `--ca-file`.
//! The peers' certificates are signed by a test CA that no system store holds. A certificate
//! the client does not trust is a final answer: it is not retried, and the error says which
//! CA to give.

mod common;

use common::apiserver::{ApiServer, ADMIN_TOKEN};
use common::peers::{binary, Peers};
use predicates::prelude::*;
use predicates::str::contains;

/// `fetch 4.10.1` against the TLS registry and store, with credentials and the trusted keyring
/// but no `--ca-file`.
fn fetch_without_ca_file(peers: &Peers, home: &std::path::Path) -> assert_cmd::Command {
    let mut cmd = binary(home);
    cmd.env_remove("SSL_CERT_FILE")
        .env_remove("SSL_CERT_DIR")
        .args(["fetch", "4.10.1", "-o", "json"])
        .args(["--release-repo", &peers.var("RELEASE_REPO")])
        .args(["--registry-config", &peers.var("AUTH_FILE")])
        .args(["--signature-store", &peers.var("STORE_URL")])
        .args(["--keyring", &peers.var("TRUSTED_KEYRING")]);
    cmd
}

#[test]
fn an_untrusted_registry_certificate_fails_at_once_and_names_ca_file() {
    let peers = Peers::get();
    let home = tempfile::tempdir().unwrap();
    fetch_without_ca_file(&peers, home.path())
        .assert()
        .code(1)
        .stderr(
            contains("registry")
                .and(contains("presented a TLS certificate for"))
                .and(contains("that is not trusted (UnknownIssuer)"))
                .and(contains("--ca-file"))
                .and(contains("retrying").not()),
        );
}

#[test]
fn an_untrusted_store_certificate_fails_at_once_and_names_ca_file() {
    let peers = Peers::get();
    let home = tempfile::tempdir().unwrap();
    binary(home.path())
        .env_remove("SSL_CERT_FILE")
        .env_remove("SSL_CERT_DIR")
        .args(["fetch", "--digest", &peers.digest("4.10.1", "x86_64")])
        .args(["--signature-store", &peers.var("STORE_URL")])
        .args(["--keyring", &peers.var("TRUSTED_KEYRING")])
        .assert()
        .code(1)
        .stderr(
            contains("TLS certificate is not trusted (UnknownIssuer)")
                .and(contains("--ca-file"))
                .and(contains("retrying").not()),
        );
}

#[test]
fn an_untrusted_api_server_certificate_fails_at_once_and_names_the_kubeconfig() {
    let peers = Peers::get();
    let server = ApiServer::start(&peers);
    let home = tempfile::tempdir().unwrap();
    // The kubeconfig names no CA for the cluster, so only the system store is asked.
    let kubeconfig = home.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: {}\n\
             users:\n- name: u\n  user:\n    token: {ADMIN_TOKEN}\n\
             contexts:\n- name: x\n  context:\n    cluster: c\n    user: u\ncurrent-context: x\n",
            server.url
        ),
    )
    .unwrap();
    binary(home.path())
        .env_remove("SSL_CERT_FILE")
        .env_remove("SSL_CERT_DIR")
        .arg("list")
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .assert()
        .code(1)
        .stderr(
            contains("API server")
                .and(contains(
                    "TLS certificate that is not trusted (UnknownIssuer)",
                ))
                .and(contains("certificate-authority"))
                .and(contains("retrying").not())
                .and(contains(ADMIN_TOKEN).not()),
        );
}

#[test]
fn the_system_store_serves_both_the_registry_and_the_store() {
    let peers = Peers::get();
    let home = tempfile::tempdir().unwrap();
    // The test CA as the whole system store: both clients must find it there.
    fetch_without_ca_file(&peers, home.path())
        .env("SSL_CERT_FILE", peers.path("CA_FILE"))
        .assert()
        .success()
        .stdout(contains(peers.digest("4.10.1", "x86_64")));
}

#[test]
fn a_ca_file_with_a_broken_certificate_is_a_usage_error() {
    let peers = Peers::get();
    let home = tempfile::tempdir().unwrap();
    let broken = home.path().join("ca.pem");
    std::fs::write(
        &broken,
        "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=!\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    fetch_without_ca_file(&peers, home.path())
        .arg("--ca-file")
        .arg(&broken)
        .assert()
        .code(2)
        .stderr(contains("is not valid PEM").and(contains("--ca-file")));
}
