//! The real peers started by `tests/peers/up.sh`: a TLS docker-registry with basic auth, an
//! anonymous one, an HTTPS signature store, and GnuPG keys. The script writes `KEY=VALUE` lines
//! to `<peers dir>/env`; this module reads them.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Values published by `tests/peers/up.sh`.
#[derive(Debug, Clone)]
pub struct Peers {
    vars: HashMap<String, String>,
}

/// Directory where `tests/peers/up.sh` keeps its state (`$OCRS_PEERS_DIR` or `target/peers`).
pub fn peers_dir() -> PathBuf {
    match std::env::var_os("OCRS_PEERS_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("target/peers"),
    }
}

impl Peers {
    /// Reads the env file, panicking with the command to run when the peers are not up.
    pub fn get() -> Peers {
        let path = peers_dir().join("env");
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "cannot read {} ({e}): the real peers are not running; \
                 start them with `bash tests/peers/up.sh` or run everything with `bash tests/run-all.sh`",
                path.display()
            )
        });
        let vars = text
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect();
        Peers { vars }
    }

    /// A published value; panics naming the key when it is missing.
    pub fn var(&self, key: &str) -> String {
        self.vars
            .get(key)
            .cloned()
            .unwrap_or_else(|| panic!("{key} missing from {}/env", peers_dir().display()))
    }

    /// A published path.
    pub fn path(&self, key: &str) -> PathBuf {
        PathBuf::from(self.var(key))
    }

    /// Digest of a release tag pushed by the script, e.g. `digest("4.10.1", "x86_64")`.
    pub fn digest(&self, version: &str, arch: &str) -> String {
        let key = format!(
            "DIGEST_{}_{}",
            version.replace(['.', '-'], "_"),
            arch.to_uppercase()
        );
        self.var(&key)
    }
}

/// The real binary with an isolated environment: a fresh HOME and no ambient registry
/// credentials, so only what a test passes is used.
pub fn binary(home: &Path) -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::cargo_bin("oc-release-signature").expect("binary built");
    cmd.env("HOME", home)
        .env_remove("REGISTRY_AUTH_FILE")
        .env_remove("XDG_RUNTIME_DIR")
        .env_remove("DOCKER_CONFIG")
        .env_remove("KUBECONFIG")
        .env("NO_COLOR", "1");
    cmd
}

impl Peers {
    /// `fetch`-style arguments pointing at the test registry (with credentials), CA, store and
    /// the trusted keyring.
    pub fn source_args(&self) -> Vec<String> {
        vec![
            "--release-repo".into(),
            self.var("RELEASE_REPO"),
            "--registry-config".into(),
            self.var("AUTH_FILE"),
            "--ca-file".into(),
            self.var("CA_FILE"),
            "--signature-store".into(),
            self.var("STORE_URL"),
            "--keyring".into(),
            self.var("TRUSTED_KEYRING"),
        ]
    }

    /// The last 16 hex digits of a published fingerprint: the key id messages show.
    pub fn key_id(&self, fpr_key: &str) -> String {
        let fpr = self.var(fpr_key);
        fpr[fpr.len() - 16..].to_uppercase()
    }
}

/// Runs `cmd`, requires success, and parses its stdout as JSON.
pub fn json_stdout(cmd: &mut assert_cmd::Command) -> serde_json::Value {
    let out = cmd.assert().success().get_output().stdout.clone();
    serde_json::from_slice(&out).expect("stdout is JSON")
}
