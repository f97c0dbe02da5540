//! Connections per host (issue 5): a run of many releases opens one connection to each host
//! and multiplexes its requests over HTTP/2 where the server offers it, so it pays one TLS
//! handshake per host. The Python store and test API server speak only HTTP/1.1, so here they
//! sit behind Debian's nginx as an HTTP/2 front (`tests/peers/h2front.sh`), as a real API
//! server and a CDN-served store speak HTTP/2 themselves; the registry (Debian's
//! docker-registry, HTTP/2 over TLS) sits behind a TCP proxy that counts connections.
//!
//! The registry proxy adds 50 ms per round trip, as a registry across a network has: the store
//! connection is opened while the registry resolves digests, and on loopback with no delay the
//! registry could finish before that connection is up. Nothing here asserts a time.

mod common;

use base64::Engine as _;
use common::apiserver::{ApiServer, ADMIN_TOKEN};
use common::fronts::{H2Front, TcpProxy};
use common::peers::{binary, Peers};

const RELEASES: [&str; 6] = ["4.11.0", "4.11.1", "4.11.2", "4.11.3", "4.11.4", "4.11.5"];

#[test]
fn many_releases_use_one_connection_per_host() {
    let peers = Peers::get();
    let server = ApiServer::start(&peers);
    let fronts = H2Front::start(&peers, &[&peers.var("STORE_URL"), &server.url]);
    // TCP proxies before the fronts count connections, including any opened and never used
    // (nginx logs only connections that carried a request).
    let host_port = |url: &str| url.trim_start_matches("https://").to_string();
    let store_tcp = TcpProxy::start(&host_port(&fronts.urls[0]), 0);
    let api_tcp = TcpProxy::start(&host_port(&fronts.urls[1]), 0);
    let (store_url, api_url) = (
        &format!("https://{}", store_tcp.addr),
        &format!("https://{}", api_tcp.addr),
    );
    let registry = TcpProxy::start(&peers.var("REGISTRY"), 50);

    let home = tempfile::tempdir().unwrap();
    let auth = home.path().join("auth.json");
    let basic = base64::engine::general_purpose::STANDARD.encode(format!(
        "{}:{}",
        peers.var("REGISTRY_USER"),
        peers.var("REGISTRY_PASSWORD")
    ));
    std::fs::write(
        &auth,
        format!(
            r#"{{"auths":{{"{}":{{"auth":"{basic}"}}}}}}"#,
            registry.addr
        ),
    )
    .unwrap();

    binary(home.path())
        .arg("apply")
        .args(RELEASES)
        .arg("--kubeconfig")
        .arg(server.kubeconfig_at(api_url, ADMIN_TOKEN))
        .args(["--release-repo", &format!("{}/ocp/release", registry.addr)])
        .arg("--registry-config")
        .arg(&auth)
        .arg("--ca-file")
        .arg(peers.path("CA_FILE"))
        .args(["--signature-store", store_url])
        .arg("--keyring")
        .arg(peers.path("TRUSTED_KEYRING"))
        .assert()
        .success();

    // Everything was really written, through the front.
    let written = server.list_configmaps(
        "openshift-config-managed",
        Some("release.openshift.io/verification-signatures"),
    );
    assert_eq!(written.len(), RELEASES.len(), "{written:#?}");

    let store = fronts.requests_to(&fronts.urls[0]);
    let signature_gets = store
        .iter()
        .filter(|r| r.method == "GET" && r.uri.contains("/signature-"))
        .count();
    assert!(signature_gets >= RELEASES.len(), "{store:#?}");
    assert!(store.iter().all(|r| r.protocol == "HTTP/2.0"), "{store:#?}");
    assert_eq!(store_tcp.connections_opened(), 1, "store: {store:#?}");

    let api = fronts.requests_to(&fronts.urls[1]);
    let applies = api.iter().filter(|r| r.method == "PATCH").count();
    assert_eq!(applies, RELEASES.len(), "{api:#?}");
    assert!(api.iter().all(|r| r.protocol == "HTTP/2.0"), "{api:#?}");
    assert_eq!(api_tcp.connections_opened(), 1, "API server: {api:?}");

    assert_eq!(registry.connections_opened(), 1, "registry connections");
}

/// Every store is asked at once: a first store that has nothing (404) and is slow to answer
/// does not hold back the second, whose requests are answered before the first store's are,
/// while the signatures still come from the first store in order that has any.
#[test]
fn every_store_is_asked_at_once() {
    let peers = Peers::get();
    let store = peers.var("STORE_URL");
    // Two fronts to the same store; nginx logs each request when its answer has gone out.
    let fronts = H2Front::start(&peers, &[&store, &store]);
    let (slow_front, fast_front) = (&fronts.urls[0], &fronts.urls[1]);
    // 300 ms on the way to the first one; under a path where the store has nothing.
    let slow = TcpProxy::start(slow_front.trim_start_matches("https://"), 300);
    let empty_store = format!("https://{}/nothing-here", slow.addr);
    let digest = peers.digest("4.11.7", "x86_64");

    let home = tempfile::tempdir().unwrap();
    let out = binary(home.path())
        .args(["fetch", "--digest", &digest, "-o", "json"])
        .args(["--signature-store", &empty_store])
        .args(["--signature-store", fast_front])
        .arg("--ca-file")
        .arg(peers.path("CA_FILE"))
        .arg("--keyring")
        .arg(peers.path("TRUSTED_KEYRING"))
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert_all_signatures_from(&out, fast_front);

    let log = fronts.requests();
    let first_signature_request = |front: &str| {
        let port: u16 = front.rsplit(':').next().unwrap().parse().unwrap();
        log.iter()
            .position(|r| r.port == port && r.uri.contains("/signature-1"))
            .unwrap_or_else(|| panic!("no signature-1 request through {front}: {log:#?}"))
    };
    assert!(
        first_signature_request(fast_front) < first_signature_request(slow_front),
        "the second store was asked only after the first answered: {log:#?}"
    );
    assert!(
        log.iter()
            .filter(|r| r.uri.starts_with("/nothing-here/"))
            .all(|r| r.status == 404),
        "{log:#?}"
    );
}

/// A first store that stays silent (here: 10 s on the way to it) is given up on a short grace
/// after a later store served the signatures, instead of holding the run for its timeouts; the
/// run says which store it did not wait for.
#[test]
fn a_silent_first_store_is_given_up_on_once_a_later_one_served_the_signatures() {
    let peers = Peers::get();
    let store = peers.var("STORE_URL");
    let silent = TcpProxy::start(store.trim_start_matches("https://"), 10_000);
    let silent_store = format!("https://{}", silent.addr);
    let home = tempfile::tempdir().unwrap();
    let assert = binary(home.path())
        .args([
            "fetch",
            "--digest",
            &peers.digest("4.11.8", "x86_64"),
            "-o",
            "json",
        ])
        .args(["--signature-store", &silent_store])
        .args(["--signature-store", &store])
        .arg("--ca-file")
        .arg(peers.path("CA_FILE"))
        .arg("--keyring")
        .arg(peers.path("TRUSTED_KEYRING"))
        .assert()
        .success();
    let output = assert.get_output();
    // The silent store would serve them too, had it been waited for.
    assert_all_signatures_from(&output.stdout, &store);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("{silent_store}: no answer")) && stderr.contains("not waited for"),
        "{stderr}"
    );
}

/// Asserts that the first release of a `fetch -o json` report has signatures, all from `store`.
fn assert_all_signatures_from(json_stdout: &[u8], store: &str) {
    let report: serde_json::Value = serde_json::from_slice(json_stdout).unwrap();
    let sources: Vec<&str> = report["releases"][0]["signatures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["source"].as_str().unwrap())
        .collect();
    assert!(
        !sources.is_empty() && sources.iter().all(|s| s.starts_with(store)),
        "{report:#}"
    );
}
