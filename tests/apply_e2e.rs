//! `apply`, `list` and `verify` through the real binary, with the real registry, store and
//! signatures, against the strict test API server under tests/apiserver (not a cluster).

mod common;

use std::net::TcpListener;
use std::path::PathBuf;

use base64::Engine as _;
use common::apiserver::{ApiServer, ApiServerOptions, ADMIN_TOKEN, READONLY_TOKEN};
use common::peers::{binary, json_stdout, Peers};
use common::tripwire::Tripwire;
use predicates::prelude::*;
use predicates::str::contains;
use serde_json::{json, Value};

const NS: &str = "openshift-config-managed";

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

struct Env {
    peers: Peers,
    server: ApiServer,
    home: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        Env::with(ApiServerOptions::default())
    }
    fn with(opts: ApiServerOptions) -> Env {
        let peers = Peers::get();
        let server = ApiServer::start_with(&peers, opts);
        Env {
            peers,
            server,
            home: tempfile::tempdir().unwrap(),
        }
    }
    fn kubeconfig(&self, token: &str) -> PathBuf {
        self.server.kubeconfig(token)
    }
    /// `apply` with the peers as sources, the trusted keyring, and the admin kubeconfig.
    fn apply(&self, extra: &[&str]) -> assert_cmd::Command {
        self.cmd_with_token("apply", ADMIN_TOKEN, true, extra)
    }
    fn cmd_with_token(
        &self,
        sub: &str,
        token: &str,
        keyring: bool,
        extra: &[&str],
    ) -> assert_cmd::Command {
        let mut cmd = binary(self.home.path());
        cmd.arg(sub).arg("--kubeconfig").arg(self.kubeconfig(token));
        let mut args = self.peers.source_args();
        if !keyring {
            let i = args.iter().position(|a| a == "--keyring").unwrap();
            args.drain(i..i + 2);
        }
        cmd.args(args).args(extra);
        cmd
    }
    /// `apply --from-dir PATH` with the trusted keyring and the admin kubeconfig.
    fn apply_from(&self, path: &std::path::Path) -> assert_cmd::Command {
        self.cmd_with_token(
            "apply",
            ADMIN_TOKEN,
            true,
            &["--from-dir", path.to_str().unwrap()],
        )
    }
    /// The ConfigMap `oc adm release mirror` would write for `version`, holding the store's
    /// `signature-N` as key `-1`.
    fn oc_style_cm(&self, version: &str, n: u32) -> Value {
        let h = self.digest_hex(version);
        signature_cm(
            format!("sha256-{h}"),
            &[(format!("sha256-{h}-1"), &self.store_sig(version, n))],
        )
    }
    fn digest_hex(&self, version: &str) -> String {
        self.peers.digest(version, "x86_64")["sha256:".len()..].to_string()
    }
    fn cm(&self, version: &str) -> Option<Value> {
        self.server
            .get_configmap(NS, &format!("sha256-{}", self.digest_hex(version)))
    }
    fn store_sig(&self, version: &str, n: u32) -> Vec<u8> {
        std::fs::read(
            self.peers
                .path("STORE_DIR")
                .join(format!("sha256={}/signature-{n}", self.digest_hex(version))),
        )
        .unwrap()
    }
    fn writes(&self) -> Vec<Value> {
        self.server
            .requests()
            .into_iter()
            .filter(|r| !matches!(r["method"].as_str(), Some("GET")))
            .collect()
    }
    /// The cluster's trust ConfigMap, holding the test's trusted key.
    fn install_cluster_trust(&self) {
        let key = std::fs::read_to_string(self.peers.path("TRUSTED_KEYRING")).unwrap();
        self.server.create(
            NS,
            &json!({
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "release-verification", "namespace": NS,
                    "annotations": {"release.openshift.io/verification-config-map": ""}},
                "data": {"verifier-public-key-test": key, "store-test": self.peers.var("STORE_URL")},
            }),
        );
    }
}

#[test]
fn apply_creates_the_configmap_and_a_second_run_changes_nothing() {
    let env = Env::new();
    let hex = env.digest_hex("4.10.1");
    env.apply(&["4.10.1"])
        .assert()
        .success()
        .stdout(contains(format!(
            "configmap/sha256-{hex} serverside-applied (4.10.1 x86_64, 1 signature)"
        )))
        .stderr(contains("Using trust from --keyring files"));
    let cm = env.cm("4.10.1").expect("created");
    assert_eq!(
        cm["metadata"]["labels"]["release.openshift.io/verification-signatures"],
        ""
    );
    assert_eq!(
        cm["binaryData"][format!("sha256-{hex}-1")],
        b64(&env.store_sig("4.10.1", 1))
    );
    assert_eq!(
        cm["metadata"]["managedFields"][0]["manager"],
        "oc-release-signature"
    );
    let rv = cm["metadata"]["resourceVersion"].clone();

    env.apply(&["4.10.1"]).assert().success();
    assert_eq!(
        env.cm("4.10.1").unwrap()["metadata"]["resourceVersion"],
        rv,
        "re-apply changed the object"
    );

    // Read back with the real kubectl.
    let out = std::process::Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(env.kubeconfig(ADMIN_TOKEN))
        .args([
            "get",
            "cm",
            "-n",
            NS,
            "-l",
            "release.openshift.io/verification-signatures",
            "-o",
            "json",
        ])
        .output()
        .expect("kubectl runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        list["items"][0]["metadata"]["name"],
        format!("sha256-{hex}")
    );
    assert_eq!(
        list["items"][0]["binaryData"][format!("sha256-{hex}-1")],
        b64(&env.store_sig("4.10.1", 1))
    );
}

#[test]
fn one_untrusted_release_means_nothing_is_applied() {
    let env = Env::new();
    env.apply(&["4.10.1", "4.10.2"])
        .assert()
        .code(3)
        .stderr(contains("nothing was applied").and(contains("unknown key")));
    assert!(env.writes().is_empty(), "{:?}", env.writes());
    assert!(env.cm("4.10.1").is_none());
}

#[test]
fn bad_and_good_signatures_apply_only_the_good_one() {
    let env = Env::new();
    let hex = env.digest_hex("4.10.6");
    env.apply(&["4.10.6"])
        .assert()
        .success()
        .stderr(contains("skipped"));
    let cm = env.cm("4.10.6").unwrap();
    let keys: Vec<&String> = cm["binaryData"].as_object().unwrap().keys().collect();
    assert_eq!(keys, [&format!("sha256-{hex}-1")]);
    assert_eq!(
        cm["binaryData"][format!("sha256-{hex}-1")],
        b64(&env.store_sig("4.10.6", 2))
    );
}

#[test]
fn dry_run_client_never_touches_the_cluster_and_server_stores_nothing() {
    let env = Env::new();
    let hex = env.digest_hex("4.10.1");
    env.server.reset_log();
    env.apply(&["4.10.1", "--dry-run=client", "-o", "yaml"])
        .assert()
        .success()
        .stdout(contains(format!("name: sha256-{hex}")).and(contains("kind: ConfigMap")));
    assert!(
        env.server.requests().is_empty(),
        "client dry run contacted the API server"
    );

    env.apply(&["4.10.1", "--dry-run=server", "-o", "json"])
        .assert()
        .success()
        .stdout(contains(format!("\"name\": \"sha256-{hex}\"")));
    let patches: Vec<Value> = env.writes();
    assert_eq!(patches.len(), 1);
    assert!(
        patches[0]["query"].as_str().unwrap().contains("dryRun=All"),
        "{patches:?}"
    );
    assert!(
        env.cm("4.10.1").is_none(),
        "server dry run stored the object"
    );
}

#[test]
fn from_dir_needs_no_registry_and_no_store() {
    let env = Env::new();
    let dir = env.home.path().join("carry");
    binary(env.home.path())
        .arg("fetch")
        .args(env.peers.source_args())
        .args(["4.10.1", "4.10.6", "--to-dir", dir.to_str().unwrap()])
        .assert()
        .success();
    let registry = Tripwire::new();
    let store = Tripwire::new();
    binary(env.home.path())
        .args(["apply", "--from-dir", dir.to_str().unwrap(), "--kubeconfig"])
        .arg(env.kubeconfig(ADMIN_TOKEN))
        .args(["--keyring", &env.peers.var("TRUSTED_KEYRING")])
        .args([
            "--release-repo",
            &format!("{}/ocp/release", registry.addr()),
        ])
        .args(["--signature-store", &format!("https://{}", store.addr())])
        .assert()
        .success()
        .stdout(contains("serverside-applied").count(2));
    assert!(!registry.touched() && !store.touched());
    assert!(env.cm("4.10.1").is_some() && env.cm("4.10.6").is_some());
}

#[test]
fn from_dir_reads_oc_and_oc_mirror_files_and_refuses_others() {
    let env = Env::new();
    let dir = env.home.path().join("mixed");
    std::fs::create_dir_all(&dir).unwrap();
    let h1 = env.digest_hex("4.10.1");
    // `oc adm release mirror`: one JSON ConfigMap per digest.
    let oc = env.oc_style_cm("4.10.1", 1);
    std::fs::write(
        dir.join(format!("signature-sha256-{}.json", &h1[..16])),
        oc.to_string(),
    )
    .unwrap();
    // oc-mirror v2: one ConfigMap for all releases, running counter, signature-1 only.
    let (h10, h11) = (env.digest_hex("4.11.0"), env.digest_hex("4.11.1"));
    let mirror = signature_cm(
        "mirrored-release-signatures",
        &[
            (format!("sha256-{h10}-1"), &env.store_sig("4.11.0", 1)),
            (format!("sha256-{h11}-2"), &env.store_sig("4.11.1", 1)),
        ],
    );
    std::fs::write(dir.join("signature-configmap.json"), mirror.to_string()).unwrap();
    env.apply_from(&dir)
        .assert()
        .success()
        .stdout(contains("serverside-applied").count(3));
    for v in ["4.10.1", "4.11.0", "4.11.1"] {
        assert!(env.cm(v).is_some(), "{v} not applied");
    }

    // A file that is not a signature ConfigMap: refused, nothing applied.
    let other = env.home.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(
        other.join("a.yaml"),
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: x\n",
    )
    .unwrap();
    std::fs::write(
        other.join(format!("signature-sha256-{}.json", &h1[..16])),
        oc.to_string(),
    )
    .unwrap();
    env.server.reset_log();
    env.apply_from(&other)
        .assert()
        .code(2)
        .stderr(contains("a.yaml").and(contains("not a signature ConfigMap")));
    assert!(env.writes().is_empty());
}

#[test]
fn from_dir_with_an_untrusted_signature_applies_nothing() {
    let env = Env::new();
    let dir = env.home.path().join("rogue");
    std::fs::create_dir_all(&dir).unwrap();
    let cm = env.oc_style_cm("4.10.2", 1);
    std::fs::write(dir.join("rogue.json"), cm.to_string()).unwrap();
    env.apply_from(&dir)
        .assert()
        .code(3)
        .stderr(contains("unknown key"));
    assert!(env.writes().is_empty());
}

#[test]
fn forbidden_says_which_permission_is_missing() {
    let env = Env::new();
    env.cmd_with_token("apply", READONLY_TOKEN, true, &["4.10.1"])
        .assert()
        .code(1)
        .stderr(
            contains("forbidden")
                .and(contains("patch"))
                .and(contains("configmaps"))
                .and(contains(NS))
                .and(contains("RBAC")),
        );
}

#[test]
fn conflict_needs_force_conflicts() {
    let env = Env::new();
    let hex = env.digest_hex("4.10.6");
    // Another manager owns key -1 with a different value (the rogue signature-1).
    let other = env.oc_style_cm("4.10.6", 1);
    let (code, v) = env.server.request(
        Some(ADMIN_TOKEN),
        "PATCH",
        &format!("/api/v1/namespaces/{NS}/configmaps/sha256-{hex}?fieldManager=gitops"),
        Some("application/apply-patch+yaml"),
        Some(other.to_string().as_bytes()),
    );
    assert_eq!(code, 201, "{v}");
    env.apply(&["4.10.6"]).assert().code(1).stderr(
        contains("conflict")
            .and(contains("gitops"))
            .and(contains("--force-conflicts")),
    );
    env.apply(&["4.10.6", "--force-conflicts"])
        .assert()
        .success();
    assert_eq!(
        env.cm("4.10.6").unwrap()["binaryData"][format!("sha256-{hex}-1")],
        b64(&env.store_sig("4.10.6", 2))
    );
}

#[test]
fn trust_comes_from_the_cluster_when_no_keyring_is_given() {
    let env = Env::new();
    // No cluster trust ConfigMap: the built-in Red Hat keyring refuses the test signature.
    env.cmd_with_token("apply", ADMIN_TOKEN, false, &["4.10.1"])
        .assert()
        .code(3)
        .stderr(contains("built-in Red Hat keyring"));
    env.install_cluster_trust();
    env.cmd_with_token("apply", ADMIN_TOKEN, false, &["4.10.1"])
        .assert()
        .success()
        .stderr(contains(
            "the cluster's ConfigMap openshift-config-managed/release-verification",
        ));
}

#[test]
fn verify_resolves_named_releases_and_reports_each_in_order() {
    let env = Env::new();
    env.install_cluster_trust();
    env.cmd_with_token("apply", ADMIN_TOKEN, false, &["4.10.1", "4.11.0"])
        .assert()
        .success();
    // 4.11.1 is resolved like the others but was never applied: the cluster would refuse it.
    let out = env
        .cmd_with_token(
            "verify",
            ADMIN_TOKEN,
            false,
            &["4.11.0", "4.11.1", "4.10.1"],
        )
        .assert()
        .code(3)
        .get_output()
        .stdout
        .clone();
    let out = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = out.lines().filter(|l| !l.starts_with("  ")).collect();
    let d = |v: &str| env.peers.digest(v, "x86_64");
    assert_eq!(lines.len(), 3, "{out}");
    assert!(
        lines[0].starts_with(&format!("4.11.0 x86_64 ({}): verified", d("4.11.0"))),
        "{out}"
    );
    assert!(
        lines[1].starts_with(&format!("4.11.1 x86_64 ({}): NOT verified", d("4.11.1"))),
        "{out}"
    );
    assert!(
        lines[2].starts_with(&format!("4.10.1 x86_64 ({}): verified", d("4.10.1"))),
        "{out}"
    );
    assert!(
        out.contains("run `oc release-signature apply 4.11.1`"),
        "{out}"
    );
    // The cluster's trust ConfigMap lists a store: the cluster may still verify from there.
    let hint = format!(
        "the cluster also asks its signature stores (store-test: {})",
        env.peers.var("STORE_URL")
    );
    assert_eq!(out.matches(&hint).count(), 1, "{out}");

    // Bad input is refused before the registry or the cluster is asked.
    env.cmd_with_token("verify", ADMIN_TOKEN, false, &["4.11.0", "four"])
        .assert()
        .code(2);
}

#[test]
fn list_and_verify_before_and_after_apply() {
    let cv = |peers: &Peers| {
        let repo = peers.var("RELEASE_REPO");
        json!({
            "apiVersion": "config.openshift.io/v1", "kind": "ClusterVersion",
            "metadata": {"name": "version"},
            "spec": {"channel": "stable-4.10"},
            "status": {
                "desired": {"version": "4.10.1", "image": format!("{repo}@{}", peers.digest("4.10.1", "x86_64"))},
                "availableUpdates": [{"version": "4.11.0", "image": format!("{repo}@{}", peers.digest("4.11.0", "x86_64"))}],
            },
        })
    };
    let peers = Peers::get();
    let env = Env::with(ApiServerOptions {
        cluster_version: Some(cv(&peers)),
        ..Default::default()
    });
    env.install_cluster_trust();
    let kc = env.kubeconfig(ADMIN_TOKEN);
    let run = |args: &[&str]| {
        let mut c = binary(env.home.path());
        c.args(args).arg("--kubeconfig").arg(&kc);
        c
    };
    let d1 = env.peers.digest("4.10.1", "x86_64");
    run(&["verify"])
        .assert()
        .code(3)
        .stdout(contains(format!("The update cannot be verified: unable to verify {d1} against keyrings: verifier-public-key-test")));
    run(&["list", "-o", "json"])
        .assert()
        .success()
        .stdout(contains("\"items\": []"));

    env.cmd_with_token("apply", ADMIN_TOKEN, false, &["4.10.1", "4.11.0"])
        .assert()
        .success();

    run(&["verify"]).assert().success().stdout(
        contains("4.10.1")
            .and(contains("4.11.0"))
            .and(contains("verified")),
    );
    let v = json_stdout(&mut run(&["verify", "--digest", &d1, "-o", "json"]));
    assert_keys(&v, &["kind", "apiVersion", "trust", "items"]);
    assert_eq!(v["kind"], "ReleaseVerification");
    assert_keys(
        &v["items"][0],
        &[
            "release",
            "digest",
            "verified",
            "signatures",
            "accepted",
            "rejected",
            "reason",
        ],
    );
    assert_eq!(v["items"][0]["verified"], true);
    assert_eq!(v["items"][0]["reason"], Value::Null);
    let v = json_stdout(&mut run(&["list", "-o", "json"]));
    assert_keys(&v, &["kind", "apiVersion", "trust", "items"]);
    assert_eq!(v["kind"], "ReleaseSignatureList");
    let items = v["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_keys(
        &items[0],
        &[
            "digest",
            "configMaps",
            "keys",
            "identities",
            "versions",
            "verified",
        ],
    );
    let first = items.iter().find(|i| i["digest"] == d1.as_str()).unwrap();
    assert_eq!(first["verified"], true);
    assert_eq!(first["versions"][0], "4.10.1");
    assert_eq!(
        first["identities"][0],
        "quay.io/openshift-release-dev/ocp-release:4.10.1-x86_64"
    );
    run(&["list"])
        .assert()
        .success()
        .stdout(contains("4.10.1").and(contains("yes")));
}

#[test]
fn server_errors_are_retried_and_tokens_never_printed() {
    let env = Env::new();
    env.server.fail_next(503, 1, Some(1));
    let out = env
        .apply(&["4.10.1", "-vv"])
        .assert()
        .success()
        .get_output()
        .clone();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(all.contains("retrying"), "{all}");
    assert!(!all.contains(ADMIN_TOKEN), "the token leaked: {all}");
    env.server.fail_next(429, 1, Some(1));
    env.apply(&["4.10.1"]).assert().success();
}

#[test]
fn missing_namespace_and_unreachable_server() {
    let env = Env::with(ApiServerOptions {
        namespaces: vec!["default".into()],
        ..Default::default()
    });
    env.apply(&["4.10.1"])
        .assert()
        .code(1)
        .stderr(contains("namespace openshift-config-managed not found"));
    // A kubeconfig whose server is a closed port.
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let kc = env.home.path().join("kc-closed");
    let text = std::fs::read_to_string(env.kubeconfig(ADMIN_TOKEN))
        .unwrap()
        .replace(&env.server.url, &format!("https://{closed}"));
    std::fs::write(&kc, text).unwrap();
    binary(env.home.path())
        .args(["list", "--kubeconfig"])
        .arg(&kc)
        .assert()
        .code(1)
        .stderr(contains("cannot reach the API server"));
}

#[test]
fn unauthorized_says_log_in_again() {
    let env = Env::new();
    env.cmd_with_token("apply", "expired-token", true, &["4.10.1"])
        .assert()
        .code(1)
        .stderr(contains("401").and(contains("oc login")));
}

#[test]
fn kubeconfig_as_oc_reads_it_env_context_and_exec_auth() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::new();
    // An exec credential plugin, as `oc login` with an external IdP would configure.
    let plugin = env.home.path().join("credential-plugin");
    std::fs::write(
        &plugin,
        format!(
            "#!/bin/sh\necho '{{\"apiVersion\":\"client.authentication.k8s.io/v1beta1\",\"kind\":\"ExecCredential\",\"status\":{{\"token\":\"{ADMIN_TOKEN}\"}}}}'\n"
        ),
    )
    .unwrap();
    std::fs::set_permissions(&plugin, std::fs::Permissions::from_mode(0o755)).unwrap();
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let ca = env.server.ca_file.display().to_string();
    let kubeconfig = format!(
        "apiVersion: v1\nkind: Config\n\
         clusters:\n\
         - name: test\n  cluster:\n    server: {url}\n    certificate-authority: {ca}\n\
         - name: gone\n  cluster:\n    server: https://{closed}\n    certificate-authority: {ca}\n\
         users:\n\
         - name: exec\n  user:\n    exec:\n      apiVersion: client.authentication.k8s.io/v1beta1\n      command: {plugin}\n      interactiveMode: Never\n\
         contexts:\n\
         - name: gone\n  context:\n    cluster: gone\n    user: exec\n\
         - name: exec\n  context:\n    cluster: test\n    user: exec\n\
         current-context: gone\n",
        url = env.server.url,
        plugin = plugin.display(),
    );
    let path = env.home.path().join("kubeconfig");
    std::fs::write(&path, kubeconfig).unwrap();
    // $KUBECONFIG is honoured; the current context points at a dead server.
    binary(env.home.path())
        .env("KUBECONFIG", &path)
        .args(["list"])
        .assert()
        .code(1)
        .stderr(contains("cannot reach the API server"));
    // --context picks the working one, authenticated by the exec plugin.
    binary(env.home.path())
        .env("KUBECONFIG", &path)
        .args(["list", "--context", "exec", "-o", "json"])
        .assert()
        .success()
        .stdout(contains("ReleaseSignatureList"));
    let users: Vec<String> = env
        .server
        .requests()
        .iter()
        .filter_map(|r| r["user"].as_str().map(String::from))
        .collect();
    assert!(users.iter().any(|u| u == "admin"), "{users:?}");
    // A context that does not exist is a usage error.
    binary(env.home.path())
        .env("KUBECONFIG", &path)
        .args(["list", "--context", "nope"])
        .assert()
        .code(2)
        .stderr(contains("nope"));
}

#[test]
fn from_dir_reads_multi_document_yaml_from_fetch() {
    let env = Env::new();
    let dir = env.home.path().join("gitops");
    std::fs::create_dir_all(&dir).unwrap();
    let out = binary(env.home.path())
        .arg("fetch")
        .args(env.peers.source_args())
        .args(["4.11.2", "4.11.3", "-o", "yaml"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    std::fs::write(dir.join("signatures.yaml"), out).unwrap();
    env.cmd_with_token(
        "apply",
        ADMIN_TOKEN,
        true,
        &["--from-dir", dir.to_str().unwrap(), "-o", "name"],
    )
    .assert()
    .success()
    .stdout(contains(format!(
        "configmap/sha256-{}",
        env.digest_hex("4.11.2")
    )))
    .stdout(contains(format!(
        "configmap/sha256-{}",
        env.digest_hex("4.11.3")
    )));
}

#[test]
fn oc_mirror_json_and_yaml_twins_apply_each_signature_once_and_a_file_path_works() {
    let env = Env::new();
    let dir = env.home.path().join("cluster-resources");
    std::fs::create_dir_all(&dir).unwrap();
    let h = env.digest_hex("4.11.6");
    let cm = signature_cm(
        "mirrored-release-signatures",
        &[(format!("sha256-{h}-1"), &env.store_sig("4.11.6", 1))],
    );
    std::fs::write(dir.join("signature-configmap.json"), cm.to_string()).unwrap();
    std::fs::write(dir.join("signature-configmap.yaml"), cm.to_string()).unwrap();
    env.apply_from(&dir)
        .assert()
        .success()
        .stdout(contains("(1 signature)"));
    let keys = env.cm("4.11.6").unwrap()["binaryData"]
        .as_object()
        .unwrap()
        .len();
    assert_eq!(keys, 1);
    // Other manifests beside it: name the signature file itself.
    std::fs::write(
        dir.join("idms-oc-mirror.yaml"),
        "apiVersion: config.openshift.io/v1\nkind: ImageDigestMirrorSet\nmetadata:\n  name: x\n",
    )
    .unwrap();
    env.apply_from(&dir)
        .assert()
        .code(2)
        .stderr(contains("idms-oc-mirror.yaml").and(contains("signature-configmap.json")));
    let file = dir.join("signature-configmap.json");
    env.apply_from(&file).assert().success();
}

#[test]
fn dry_run_without_a_value_means_client_like_kubectl() {
    let env = Env::new();
    env.server.reset_log();
    env.apply(&["--dry-run", "4.10.1", "-v"])
        .assert()
        .success()
        .stdout(contains("serverside-applied (dry run)"))
        .stderr(contains("resolved").and(contains(env.peers.digest("4.10.1", "x86_64"))));
    assert!(env.server.requests().is_empty());
}

/// The JSON object has exactly these keys: the documented schema (docs/json-output.md).
fn assert_keys(v: &Value, keys: &[&str]) {
    let mut got: Vec<&str> = v
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    let mut want = keys.to_vec();
    got.sort_unstable();
    want.sort_unstable();
    assert_eq!(got, want, "{v}");
}

#[test]
fn oidc_auth_provider_id_token_is_used() {
    let b64url = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3600;
    let id_token = format!(
        "{}.{}.c2ln",
        b64url(r#"{"alg":"RS256","typ":"JWT"}"#),
        b64url(&format!(
            r#"{{"iss":"https://idp.example","sub":"admin","exp":{exp}}}"#
        ))
    );
    let env = Env::with(ApiServerOptions {
        extra_tokens: vec![(id_token.clone(), "admin".into())],
        ..Default::default()
    });
    let kubeconfig = format!(
        "apiVersion: v1\nkind: Config\n\
         clusters:\n- name: test\n  cluster:\n    server: {url}\n    certificate-authority: {ca}\n\
         users:\n- name: oidc\n  user:\n    auth-provider:\n      name: oidc\n      config:\n        \
         client-id: oc-cli\n        client-secret: unused\n        idp-issuer-url: https://idp.example\n        \
         refresh-token: unused\n        id-token: {id_token}\n\
         contexts:\n- name: oidc\n  context:\n    cluster: test\n    user: oidc\n\
         current-context: oidc\n",
        url = env.server.url,
        ca = env.server.ca_file.display(),
    );
    let path = env.home.path().join("kubeconfig-oidc");
    std::fs::write(&path, kubeconfig).unwrap();
    let out = binary(env.home.path())
        .args(["list", "-vv", "--kubeconfig"])
        .arg(&path)
        .assert()
        .success()
        .get_output()
        .clone();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!all.contains(&id_token), "the id-token leaked: {all}");
    let users: Vec<String> = env
        .server
        .requests()
        .iter()
        .filter_map(|r| r["user"].as_str().map(String::from))
        .collect();
    assert!(
        !users.is_empty() && users.iter().all(|u| u == "admin"),
        "{users:?}"
    );
}

/// A signature ConfigMap as JSON: `name` holding `entries` (binaryData key, signature).
fn signature_cm(name: impl AsRef<str>, entries: &[(String, &Vec<u8>)]) -> Value {
    let binary: serde_json::Map<String, Value> = entries
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(b64(v))))
        .collect();
    json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name.as_ref(), "namespace": NS,
            "labels": {"release.openshift.io/verification-signatures": ""}},
        "binaryData": binary,
    })
}
