//! Registry edge cases the real docker-registry peer cannot produce, through the real binary:
//! the bearer-token flow (401 challenge, `/token` with Basic credentials, manifest with Bearer),
//! a lying Docker-Content-Digest header, and a 403 DENIED envelope. They run against
//! `tests/peers/fake_registry.py`, one instance per test, serving the real peers' manifest for
//! 4.10.1-x86_64 (whose signature is in the real store) with the peers' TLS certificate.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::peers::{binary, Peers};
use predicates::prelude::*;
use predicates::str::contains;

const USER: &str = "tester";
const PASSWORD: &str = "s3cret";
const TOKEN: &str = "tok-123";

/// One `fake_registry.py` process, killed when dropped.
struct FakeRegistry {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl FakeRegistry {
    /// Starts the fake in `mode` (`token` or `bad-digest`), keeping its files under `dir`.
    fn start(peers: &Peers, dir: &Path, mode: &str) -> FakeRegistry {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/fake_registry.py");
        let ready = dir.join(format!("fake-{mode}.port"));
        let log = dir.join(format!("fake-{mode}.log"));
        let stderr = std::fs::File::create(dir.join(format!("fake-{mode}.stderr"))).unwrap();
        let manifest = peers.path("MANIFESTS_DIR").join("4.10.1-x86_64.json");
        let child = Command::new("python3")
            .arg(&script)
            .args(["--port", "0", "--mode", mode])
            .arg("--ready-file")
            .arg(&ready)
            .arg("--cert")
            .arg(peers.path("TLS_CERT"))
            .arg("--key")
            .arg(peers.path("TLS_KEY"))
            .arg("--manifest")
            .arg(&manifest)
            .arg("--log")
            .arg(&log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("python3 runs tests/peers/fake_registry.py");
        let mut fake = FakeRegistry {
            child,
            port: 0,
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(port) = std::fs::read_to_string(&ready)
                .ok()
                .and_then(|s| s.trim().parse().ok())
            {
                fake.port = port;
                return fake;
            }
            if let Ok(Some(status)) = fake.child.try_wait() {
                panic!(
                    "fake_registry.py exited ({status}): {}",
                    std::fs::read_to_string(dir.join(format!("fake-{mode}.stderr")))
                        .unwrap_or_default()
                );
            }
            assert!(
                Instant::now() < deadline,
                "fake_registry.py did not write {}",
                ready.display()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn repo(&self) -> String {
        format!("{}/ocp/release", self.host())
    }

    /// The access log: `METHOD PATH STATUS AUTH-SCHEME` lines.
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for FakeRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A pull secret for `host` with `user:password`.
fn auth_file(dir: &Path, host: &str, password: &str) -> PathBuf {
    let path = dir.join("pull-secret.json");
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{password}"));
    std::fs::write(
        &path,
        format!(r#"{{"auths":{{"{host}":{{"auth":"{auth}"}}}}}}"#),
    )
    .unwrap();
    path
}

/// `fetch RELEASE... --release-repo <fake> [--registry-config F] --ca-file --signature-store
/// --keyring -o json` with an isolated HOME.
fn fetch(
    peers: &Peers,
    home: &Path,
    fake: &FakeRegistry,
    config: Option<&Path>,
    extra: &[&str],
) -> assert_cmd::Command {
    let mut cmd = binary(home);
    cmd.args(["fetch", "--release-repo", &fake.repo()]);
    if let Some(config) = config {
        cmd.arg("--registry-config").arg(config);
    }
    cmd.args(["--ca-file", &peers.var("CA_FILE")])
        .args(["--signature-store", &peers.var("STORE_URL")])
        .args(["--keyring", &peers.var("TRUSTED_KEYRING")])
        .args(["-o", "json"])
        .args(extra)
        .timeout(Duration::from_secs(120));
    cmd
}

#[test]
fn bearer_token_flow_exchanges_basic_credentials_for_a_token() {
    let peers = Peers::get();
    let tmp = tempfile::tempdir().unwrap();
    let fake = FakeRegistry::start(&peers, tmp.path(), "token");
    let config = auth_file(tmp.path(), &fake.host(), PASSWORD);
    fetch(&peers, tmp.path(), &fake, Some(&config), &["4.10.1"])
        .assert()
        .success()
        .stdout(contains(peers.digest("4.10.1", "x86_64")).and(contains("\"trusted\": true")));
    let log = fake.log();
    assert!(
        log.lines().any(|l| l == "GET /token 200 Basic"),
        "no successful /token call with Basic credentials:\n{log}"
    );
    assert!(
        log.lines()
            .any(|l| l == "GET /v2/ocp/release/manifests/4.10.1-x86_64 200 Bearer"),
        "manifest not fetched with the bearer token:\n{log}"
    );
}

#[test]
fn bearer_token_with_wrong_password_is_a_401_naming_the_auth_file() {
    let peers = Peers::get();
    let tmp = tempfile::tempdir().unwrap();
    let fake = FakeRegistry::start(&peers, tmp.path(), "token");
    let config = auth_file(tmp.path(), &fake.host(), "wrong-password");
    fetch(&peers, tmp.path(), &fake, Some(&config), &["4.10.1"])
        .assert()
        .code(1)
        .stderr(contains("401").and(contains(config.to_str().unwrap())));
    let log = fake.log();
    assert!(
        log.lines().any(|l| l == "GET /token 401 Basic"),
        "the token service was not asked:\n{log}"
    );
    assert!(
        !log.lines()
            .any(|l| l.contains("/manifests/") && l.contains(" 200 ")),
        "a manifest was served without a valid token:\n{log}"
    );
}

#[test]
fn lying_docker_content_digest_header_is_refused() {
    let peers = Peers::get();
    let tmp = tempfile::tempdir().unwrap();
    let fake = FakeRegistry::start(&peers, tmp.path(), "bad-digest");
    let assert = fetch(&peers, tmp.path(), &fake, None, &["4.10.1"])
        .assert()
        .code(1)
        .stderr(
            contains("Docker-Content-Digest header that disagrees").or(contains("digest header")),
        );
    // Nothing may be reported as verified for a manifest whose digest is in doubt.
    let stdout = String::from_utf8_lossy(&assert.get_output().stdout).to_string();
    assert!(!stdout.contains("\"trusted\": true"), "{stdout}");
    let log = fake.log();
    assert!(
        log.lines()
            .any(|l| l.starts_with("GET /v2/ocp/release/manifests/4.10.1-x86_64 200")),
        "the fake was not asked for the manifest:\n{log}"
    );
}

#[test]
fn denied_tag_is_a_403_and_unknown_tag_a_404() {
    let peers = Peers::get();
    let tmp = tempfile::tempdir().unwrap();
    let fake = FakeRegistry::start(&peers, tmp.path(), "token");
    let config = auth_file(tmp.path(), &fake.host(), PASSWORD);
    let denied = format!("{}:denied-x86_64", fake.repo());
    fetch(&peers, tmp.path(), &fake, Some(&config), &[&denied])
        .assert()
        .code(1)
        .stderr(
            contains("403")
                .and(contains("denied-x86_64"))
                .and(contains("valid but may not pull")),
        );
    let unknown = format!("{}:latest", fake.repo());
    fetch(&peers, tmp.path(), &fake, Some(&config), &[&unknown])
        .assert()
        .code(1)
        .stderr(contains("404").and(contains("not found")));
    let log = fake.log();
    assert!(
        log.lines()
            .any(|l| l == "GET /v2/ocp/release/manifests/denied-x86_64 403 Bearer"),
        "{log}"
    );
}

#[test]
fn secrets_never_appear_in_output_even_with_vv() {
    let peers = Peers::get();
    let tmp = tempfile::tempdir().unwrap();
    let fake = FakeRegistry::start(&peers, tmp.path(), "token");
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
    let secrets = [PASSWORD, TOKEN, basic.as_str()];
    let check = |what: &str, out: &std::process::Output| {
        for stream in [&out.stdout, &out.stderr] {
            let text = String::from_utf8_lossy(stream);
            for secret in secrets {
                assert!(
                    !text.contains(secret),
                    "{what}: `{secret}` printed with -vv:\n{text}"
                );
            }
        }
    };

    let config = auth_file(tmp.path(), &fake.host(), PASSWORD);
    let ok = fetch(&peers, tmp.path(), &fake, Some(&config), &["4.10.1", "-vv"])
        .assert()
        .success()
        .get_output()
        .clone();
    // -vv must actually be verbose, or this test proves nothing.
    assert!(!ok.stderr.is_empty(), "-vv printed nothing on stderr");
    check("good credentials", &ok);

    // A refused password: the wrong one must not be echoed either.
    let wrong = "wr0ng-pa55";
    let config = auth_file(tmp.path(), &fake.host(), wrong);
    let refused = fetch(&peers, tmp.path(), &fake, Some(&config), &["4.10.1", "-vv"])
        .assert()
        .code(1)
        .get_output()
        .clone();
    check("wrong password", &refused);
    for stream in [&refused.stdout, &refused.stderr] {
        assert!(!String::from_utf8_lossy(stream).contains(wrong));
    }
}

/// Many releases from a token registry cost one `/v2/` challenge and one token, not one each:
/// the dependent chain stays challenge -> token -> manifests, whatever the number of releases.
#[test]
fn many_releases_share_one_challenge_and_one_token() {
    let peers = Peers::get();
    let tmp = tempfile::tempdir().unwrap();
    let fake = FakeRegistry::start(&peers, tmp.path(), "token");
    let config = auth_file(tmp.path(), &fake.host(), PASSWORD);
    // The fake serves 4.10.1's manifest for every tag, so only the requests matter here.
    let _ = fetch(
        &peers,
        tmp.path(),
        &fake,
        Some(&config),
        &["4.10.1", "4.10.2", "4.10.3", "4.10.4"],
    )
    .output()
    .unwrap();
    let log = fake.log();
    let count = |prefix: &str| log.lines().filter(|l| l.starts_with(prefix)).count();
    assert_eq!(count("GET /v2/ "), 1, "{log}");
    assert_eq!(count("GET /token 200"), 1, "{log}");
    for v in ["4.10.1", "4.10.2", "4.10.3", "4.10.4"] {
        let line = format!("GET /v2/ocp/release/manifests/{v}-x86_64 200 Bearer");
        assert_eq!(count(&line), 1, "{log}");
    }
    assert_eq!(log.lines().count(), 6, "{log}");
}
