//! Fidelity checks of the test API server (`tests/apiserver/apiserver.py`) against the real
//! `kubectl`: if kubectl accepts it and shows the same outcomes and messages as with a
//! kube-apiserver, the plugin's tests that use this server exercise realistic behaviour.
//! Each test starts its own server.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::apiserver::{ApiServer, ADMIN_TOKEN, READONLY_TOKEN};
use common::peers::Peers;
use serde_json::{json, Value};

const NS: &str = "openshift-config-managed";
const SIG_LABEL: &str = "release.openshift.io/verification-signatures";

fn kubectl_bin() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join("kubectl"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "kubectl is not on PATH: these fidelity tests need the real kubectl (1.30 or newer); \
                 install it (e.g. the `kubectl` package of google-cloud-cli) and re-run"
            )
        })
}

fn server() -> ApiServer {
    ApiServer::start(&Peers::get())
}

/// Runs kubectl against `srv` as `token`, with its own discovery cache.
fn kubectl(srv: &ApiServer, token: &str, args: &[&str]) -> Output {
    let out = Command::new(kubectl_bin())
        .arg("--kubeconfig")
        .arg(srv.kubeconfig(token))
        .arg("--cache-dir")
        .arg(srv.dir().join("kubectl-cache"))
        .args(args)
        .env_remove("KUBECONFIG")
        .output()
        .expect("run kubectl");
    eprintln!(
        "kubectl {}\n  exit: {}\n  stdout: {}\n  stderr: {}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stdout).trim(),
        String::from_utf8_lossy(&out.stderr).trim()
    );
    out
}

/// `kubectl apply --server-side --field-manager=MANAGER -f FILE` as `token`.
fn server_side_apply(srv: &ApiServer, token: &str, manager: &str, file: &str) -> Output {
    let manager = format!("--field-manager={manager}");
    kubectl(
        srv,
        token,
        &["apply", "--server-side", &manager, "-f", file],
    )
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "kubectl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn fails_with(out: &Output, needle: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "kubectl unexpectedly succeeded");
    assert!(
        err.contains(needle),
        "kubectl stderr lacks {needle:?}:\n{err}"
    );
}

fn write(dir: &Path, name: &str, v: &Value) -> String {
    let p = dir.join(name);
    std::fs::write(&p, serde_json::to_vec_pretty(v).unwrap()).unwrap();
    p.display().to_string()
}

fn sig_cm(name: &str, key: &str, value_b64: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": NS, "labels": {SIG_LABEL: ""}},
        "binaryData": {key: value_b64},
    })
}

fn rv(cm: &Value) -> String {
    cm["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn kubectl_version_talks_to_the_server() {
    let srv = server();
    let out = ok(&kubectl(&srv, ADMIN_TOKEN, &["version", "-o", "json"]));
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["serverVersion"]["major"], "1");
    assert_eq!(v["serverVersion"]["minor"], "33");
}

#[test]
fn server_side_apply_creates_then_is_a_no_op() {
    let srv = server();
    let f = write(
        srv.dir(),
        "cm.json",
        &sig_cm("sha256-abc", "sha256-abc-1", "aGVsbG8="),
    );
    let out = ok(&server_side_apply(&srv, ADMIN_TOKEN, "a", &f));
    assert!(
        out.contains("configmap/sha256-abc serverside-applied"),
        "{out}"
    );
    let first = srv.get_configmap(NS, "sha256-abc").expect("created");
    assert_eq!(first["binaryData"]["sha256-abc-1"], "aGVsbG8=");
    let mf = &first["metadata"]["managedFields"][0];
    assert_eq!(mf["manager"], "a");
    assert_eq!(mf["operation"], "Apply");
    assert_eq!(
        mf["fieldsV1"],
        json!({"f:binaryData": {"f:sha256-abc-1": {}},
               "f:metadata": {"f:labels": {"f:release.openshift.io/verification-signatures": {}}}})
    );

    let out = ok(&server_side_apply(&srv, ADMIN_TOKEN, "a", &f));
    assert!(
        out.contains("serverside-applied") || out.contains("unchanged"),
        "{out}"
    );
    let second = srv.get_configmap(NS, "sha256-abc").unwrap();
    assert_eq!(rv(&first), rv(&second), "identical re-apply must not write");
    let patches: Vec<_> = srv
        .requests()
        .into_iter()
        .filter(|r| r["method"] == "PATCH")
        .collect();
    assert_eq!(patches.len(), 2);
    assert!(patches[0]["query"]
        .as_str()
        .unwrap()
        .contains("fieldManager=a"));
}

#[test]
fn apply_conflict_names_the_other_manager_and_force_takes_over() {
    let srv = server();
    let a = write(
        srv.dir(),
        "a.json",
        &sig_cm("sha256-abc", "sha256-abc-1", "aGVsbG8="),
    );
    ok(&server_side_apply(&srv, ADMIN_TOKEN, "a", &a));
    let b = write(
        srv.dir(),
        "b.json",
        &sig_cm("sha256-abc", "sha256-abc-1", "d29ybGQ="),
    );
    let out = server_side_apply(&srv, ADMIN_TOKEN, "b", &b);
    fails_with(
        &out,
        r#"Apply failed with 1 conflict: conflict with "a" using v1: .binaryData.sha256-abc-1"#,
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("--force-conflicts"));
    assert_eq!(
        srv.get_configmap(NS, "sha256-abc").unwrap()["binaryData"]["sha256-abc-1"],
        "aGVsbG8="
    );

    ok(&kubectl(
        &srv,
        ADMIN_TOKEN,
        &[
            "apply",
            "--server-side",
            "--field-manager=b",
            "--force-conflicts",
            "-f",
            &b,
        ],
    ));
    let cm = srv.get_configmap(NS, "sha256-abc").unwrap();
    assert_eq!(cm["binaryData"]["sha256-abc-1"], "d29ybGQ=");
    let managers: Vec<(String, Value)> = cm["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["manager"].as_str().unwrap().to_string(),
                e["fieldsV1"].clone(),
            )
        })
        .collect();
    let a_fields = &managers
        .iter()
        .find(|(m, _)| m == "a")
        .expect("a keeps the shared label")
        .1;
    assert!(
        a_fields.get("f:binaryData").is_none(),
        "ownership moved to b: {a_fields}"
    );
    let b_fields = &managers.iter().find(|(m, _)| m == "b").unwrap().1;
    assert!(b_fields["f:binaryData"].get("f:sha256-abc-1").is_some());
}

#[test]
fn get_by_label_lists_exactly_the_labelled_configmaps() {
    let srv = server();
    srv.create(NS, &sig_cm("sha256-one", "sha256-one-1", "aGVsbG8="));
    srv.create(NS, &sig_cm("sha256-two", "sha256-two-1", "aGVsbG8="));
    srv.create(
        NS,
        &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "plain"},
                           "data": {"k": "v"}}),
    );
    srv.create(
        "default",
        &json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "elsewhere", "labels": {SIG_LABEL: ""}}, "data": {"k": "v"}}),
    );
    let out = ok(&kubectl(
        &srv,
        READONLY_TOKEN,
        &["get", "cm", "-n", NS, "-l", SIG_LABEL, "-o", "json"],
    ));
    let list: Value = serde_json::from_str(&out).unwrap();
    let mut names: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["metadata"]["name"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["sha256-one", "sha256-two"]);

    let out = ok(&kubectl(
        &srv,
        ADMIN_TOKEN,
        &[
            "get",
            "cm",
            "-n",
            NS,
            "-l",
            &format!("!{SIG_LABEL}"),
            "-o",
            "name",
        ],
    ));
    assert_eq!(out.trim(), "configmap/plain");

    // The default (table) output, rendered from the server's Table.
    let out = ok(&kubectl(&srv, ADMIN_TOKEN, &["get", "cm", "-n", NS]));
    let header = out.lines().next().unwrap();
    assert!(
        header.starts_with("NAME") && header.contains("DATA") && header.contains("AGE"),
        "{out}"
    );
}

#[test]
fn dry_run_server_apply_changes_nothing() {
    let srv = server();
    let f = write(
        srv.dir(),
        "cm.json",
        &sig_cm("sha256-abc", "sha256-abc-1", "aGVsbG8="),
    );
    let out = ok(&kubectl(
        &srv,
        ADMIN_TOKEN,
        &[
            "apply",
            "--server-side",
            "--field-manager=a",
            "--dry-run=server",
            "-f",
            &f,
        ],
    ));
    assert!(out.contains("serverside-applied (server dry run)"), "{out}");
    assert!(srv.get_configmap(NS, "sha256-abc").is_none());

    ok(&server_side_apply(&srv, ADMIN_TOKEN, "a", &f));
    let before = srv.get_configmap(NS, "sha256-abc").unwrap();
    let g = write(
        srv.dir(),
        "cm2.json",
        &sig_cm("sha256-abc", "sha256-abc-2", "d29ybGQ="),
    );
    ok(&kubectl(
        &srv,
        ADMIN_TOKEN,
        &[
            "apply",
            "--server-side",
            "--field-manager=a",
            "--dry-run=server",
            "-f",
            &g,
        ],
    ));
    assert_eq!(srv.get_configmap(NS, "sha256-abc").unwrap(), before);
    let dry: Vec<_> = srv
        .requests()
        .into_iter()
        .filter(|r| r["method"] == "PATCH")
        .map(|r| r["query"].as_str().unwrap().to_string())
        .collect();
    assert!(
        dry[0].contains("dryRun=All") && dry[2].contains("dryRun=All"),
        "{dry:?}"
    );
}

#[test]
fn readonly_token_is_forbidden_to_apply() {
    let srv = server();
    let f = write(
        srv.dir(),
        "cm.json",
        &sig_cm("sha256-abc", "sha256-abc-1", "aGVsbG8="),
    );
    let out = server_side_apply(&srv, READONLY_TOKEN, "a", &f);
    fails_with(
        &out,
        r#"Error from server (Forbidden): configmaps "sha256-abc" is forbidden: User "readonly" cannot patch resource "configmaps" in API group "" in the namespace "openshift-config-managed""#,
    );
    let out = kubectl(
        &srv,
        READONLY_TOKEN,
        &["create", "configmap", "x", "-n", "default"],
    );
    fails_with(
        &out,
        r#"User "readonly" cannot create resource "configmaps""#,
    );
    // No token that the server knows: 401.
    let out = kubectl(&srv, "wrong-token", &["get", "cm", "-n", NS]);
    fails_with(&out, "Unauthorized");
}

#[test]
fn validation_errors_are_the_servers_words() {
    let srv = server();
    let bad_name = write(srv.dir(), "n.json", &sig_cm("Bad_Name", "k", "aGVsbG8="));
    fails_with(
        &kubectl(
            &srv,
            ADMIN_TOKEN,
            &[
                "apply",
                "--server-side",
                "--field-manager=a",
                "-f",
                &bad_name,
            ],
        ),
        r#"The ConfigMap "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"#,
    );
    let bad_key = write(
        srv.dir(),
        "k.json",
        &json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "badkey", "namespace": NS}, "data": {"bad key": "v"}}),
    );
    fails_with(
        &kubectl(
            &srv,
            ADMIN_TOKEN,
            &[
                "apply",
                "--server-side",
                "--field-manager=a",
                "-f",
                &bad_key,
            ],
        ),
        r#"The ConfigMap "badkey" is invalid: data[bad key]: Invalid value: "bad key": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')"#,
    );
    // 1048578 bytes once decoded: one over the limit (plus one for base64 padding).
    let big = "A".repeat(1_398_104);
    let big = write(
        srv.dir(),
        "big.json",
        &json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "big", "namespace": NS}, "binaryData": {"blob": big}}),
    );
    fails_with(
        &server_side_apply(&srv, ADMIN_TOKEN, "a", &big),
        r#"The ConfigMap "big" is invalid: []: Too long: must have at most 1048576 bytes"#,
    );
    let nope = write(
        srv.dir(),
        "ns.json",
        &json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "x", "namespace": "nope"}, "data": {"k": "v"}}),
    );
    fails_with(
        &server_side_apply(&srv, ADMIN_TOKEN, "a", &nope),
        r#"Error from server (NotFound): namespaces "nope" not found"#,
    );
    for name in ["Bad_Name", "badkey", "big"] {
        assert!(
            srv.get_configmap(NS, name).is_none(),
            "{name} must not be stored"
        );
    }
}

#[test]
fn create_patch_and_delete_with_kubectl() {
    let srv = server();
    // kubectl's typed client sends this as protobuf.
    let out = ok(&kubectl(
        &srv,
        ADMIN_TOKEN,
        &[
            "create",
            "configmap",
            "foo",
            "-n",
            "default",
            "--from-literal=a=b",
        ],
    ));
    assert!(out.contains("configmap/foo created"), "{out}");
    let cm = srv.get_configmap("default", "foo").unwrap();
    assert_eq!(cm["data"], json!({"a": "b"}));
    assert_eq!(
        cm["metadata"]["managedFields"][0]["manager"],
        "kubectl-create"
    );
    assert_eq!(cm["metadata"]["managedFields"][0]["operation"], "Update");
    fails_with(
        &kubectl(
            &srv,
            ADMIN_TOKEN,
            &["create", "configmap", "foo", "-n", "default"],
        ),
        r#"configmaps "foo" already exists"#,
    );

    let out = ok(&kubectl(
        &srv,
        ADMIN_TOKEN,
        &[
            "patch",
            "cm",
            "foo",
            "-n",
            "default",
            "--type",
            "merge",
            "-p",
            r#"{"data":{"c":"d","a":null}}"#,
        ],
    ));
    assert!(out.contains("configmap/foo patched"), "{out}");
    let patched = srv.get_configmap("default", "foo").unwrap();
    assert_eq!(patched["data"], json!({"c": "d"}));
    assert_ne!(rv(&patched), rv(&cm));
    let out = ok(&kubectl(
        &srv,
        ADMIN_TOKEN,
        &[
            "patch",
            "cm",
            "foo",
            "-n",
            "default",
            "--type",
            "merge",
            "-p",
            r#"{"data":{"c":"d"}}"#,
        ],
    ));
    assert!(out.contains("patched (no change)"), "{out}");

    let out = ok(&kubectl(
        &srv,
        ADMIN_TOKEN,
        &["delete", "cm", "foo", "-n", "default"],
    ));
    assert!(out.contains(r#"configmap "foo" deleted"#), "{out}");
    assert!(srv.get_configmap("default", "foo").is_none());
    fails_with(
        &kubectl(&srv, ADMIN_TOKEN, &["delete", "cm", "foo", "-n", "default"]),
        r#"Error from server (NotFound): configmaps "foo" not found"#,
    );
}

#[test]
fn get_clusterversion_with_kubectl() {
    let cv = json!({"apiVersion": "config.openshift.io/v1", "kind": "ClusterVersion",
                    "metadata": {"name": "version"},
                    "status": {"desired": {"version": "4.10.8"}}});
    let srv = ApiServer::start_with(
        &Peers::get(),
        common::apiserver::ApiServerOptions {
            cluster_version: Some(cv),
            ..Default::default()
        },
    );
    let out = ok(&kubectl(
        &srv,
        READONLY_TOKEN,
        &["get", "clusterversion", "version", "-o", "json"],
    ));
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["status"]["desired"]["version"], "4.10.8");

    let bare = server();
    fails_with(
        &kubectl(&bare, ADMIN_TOKEN, &["get", "clusterversion", "version"]),
        r#"Error from server (NotFound): clusterversions.config.openshift.io "version" not found"#,
    );
}

// Raw HTTP for what kubectl never sends.

const APPLY: &str = "application/apply-patch+yaml";

fn status_message(v: &Value) -> &str {
    assert_eq!(v["kind"], "Status", "{v}");
    assert_eq!(v["status"], "Failure", "{v}");
    v["message"].as_str().unwrap()
}

#[test]
fn raw_apply_without_field_manager_is_400() {
    let srv = server();
    let body = sig_cm("x", "k", "aGVsbG8=").to_string();
    let (code, v) = srv.request(
        Some(ADMIN_TOKEN),
        "PATCH",
        &format!("/api/v1/namespaces/{NS}/configmaps/x"),
        Some(APPLY),
        Some(body.as_bytes()),
    );
    assert_eq!(code, 400);
    assert_eq!(v["reason"], "BadRequest");
    assert_eq!(
        status_message(&v),
        r#"PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch"#
    );
    // Name in the body must match the URL.
    let (code, v) = srv.request(
        Some(ADMIN_TOKEN),
        "PATCH",
        &format!("/api/v1/namespaces/{NS}/configmaps/y?fieldManager=m"),
        Some(APPLY),
        Some(body.as_bytes()),
    );
    assert_eq!(code, 400, "{v}");
    assert_eq!(
        status_message(&v),
        "the name of the object (x) does not match the name on the URL (y)"
    );
    // dryRun accepts only All.
    let (code, v) = srv.request(
        Some(ADMIN_TOKEN),
        "PATCH",
        &format!("/api/v1/namespaces/{NS}/configmaps/x?fieldManager=m&dryRun=Some"),
        Some(APPLY),
        Some(body.as_bytes()),
    );
    assert_eq!(code, 400, "{v}");
}

#[test]
fn raw_unknown_patch_content_type_is_415() {
    let srv = server();
    srv.create(NS, &sig_cm("x", "k", "aGVsbG8="));
    let (code, v) = srv.request(
        Some(ADMIN_TOKEN),
        "PATCH",
        &format!("/api/v1/namespaces/{NS}/configmaps/x?fieldManager=m"),
        Some("text/plain"),
        Some(b"{}"),
    );
    assert_eq!(code, 415);
    assert_eq!(v["reason"], "UnsupportedMediaType");
    assert_eq!(
        status_message(&v),
        "the body of the request was in an unknown format - accepted media types include: \
         application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, \
         application/strategic-merge-patch+json"
    );
}

#[test]
fn raw_unauthenticated_fault_injection_and_log() {
    let srv = server();
    let (code, v) = srv.request(
        None,
        "GET",
        "/api/v1/namespaces/default/configmaps",
        None,
        None,
    );
    assert_eq!(code, 401);
    assert_eq!(
        v,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
               "message": "Unauthorized", "reason": "Unauthorized", "code": 401})
    );
    srv.fail_next(429, 1, Some(2));
    let out = srv
        .curl(Some(ADMIN_TOKEN))
        .args([
            "-i",
            &format!("{}/api/v1/namespaces/default/configmaps", srv.url),
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_lowercase();
    assert!(text.starts_with("http/1.1 429"), "{text}");
    assert!(text.contains("retry-after: 2"), "{text}");
    assert!(text.contains(r#""reason": "toomanyrequests""#), "{text}");
    let (code, _) = srv.request(
        Some(ADMIN_TOKEN),
        "GET",
        "/api/v1/namespaces/default/configmaps",
        None,
        None,
    );
    assert_eq!(code, 200, "only one failure was asked for");
    let log = srv.requests();
    let statuses: Vec<u64> = log.iter().map(|r| r["status"].as_u64().unwrap()).collect();
    assert_eq!(statuses, [401, 429, 200]);
    assert_eq!(log[0]["user"], "-");
    assert_eq!(log[2]["user"], "admin");
    srv.reset_log();
    assert!(srv.requests().is_empty());
}
