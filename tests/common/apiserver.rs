//! Test fixture for `tests/apiserver/apiserver.py`: a strict, in-memory stand-in for the small
//! part of the kube-apiserver API the plugin uses (it is not a cluster). Each `ApiServer` is its
//! own process on a free port, serving HTTPS with the peers' certificate (`TLS_CERT`/`TLS_KEY`,
//! trusted through `CA_FILE`), and is killed on drop.
//!
//! Tokens: `admin-token` (everything) and `readonly-token` (get/list only).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::peers::Peers;

/// Full access.
pub const ADMIN_TOKEN: &str = "admin-token";
/// get/list/watch only; writes answer 403 Forbidden.
pub const READONLY_TOKEN: &str = "readonly-token";

/// Options for [`ApiServer::start_with`].
#[derive(Debug, Clone)]
pub struct ApiServerOptions {
    /// Namespaces that exist.
    pub namespaces: Vec<String>,
    /// The ClusterVersion `version` object to serve (404 when `None`).
    pub cluster_version: Option<Value>,
    /// Delay added to every API request, in milliseconds.
    pub delay_ms: u64,
    /// More bearer tokens to accept, as (token, user); user `admin` or `readonly`.
    pub extra_tokens: Vec<(String, String)>,
}

impl Default for ApiServerOptions {
    fn default() -> Self {
        ApiServerOptions {
            namespaces: ["default", "openshift-config-managed", "openshift-config"]
                .iter()
                .map(|s| s.to_string())
                .collect(),
            cluster_version: None,
            delay_ms: 0,
            extra_tokens: Vec::new(),
        }
    }
}

/// A running test API server.
pub struct ApiServer {
    /// `https://127.0.0.1:PORT`
    pub url: String,
    pub port: u16,
    /// The CA that signed the server certificate.
    pub ca_file: PathBuf,
    child: Child,
    dir: tempfile::TempDir,
}

impl ApiServer {
    /// Starts a server with the default namespaces and no ClusterVersion.
    pub fn start(peers: &Peers) -> ApiServer {
        ApiServer::start_with(peers, ApiServerOptions::default())
    }

    /// Starts a server with `opts`; panics (with the server's stderr) if it is not ready in 10 s.
    pub fn start_with(peers: &Peers, opts: ApiServerOptions) -> ApiServer {
        let dir = tempfile::Builder::new()
            .prefix("apiserver-")
            .tempdir()
            .expect("tempdir");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/apiserver/apiserver.py");
        let ready = dir.path().join("port");
        let stderr_path = dir.path().join("stderr.log");
        let stderr = std::fs::File::create(&stderr_path).expect("create stderr log");
        let mut cmd = Command::new("python3");
        cmd.arg(&script)
            .arg("--cert")
            .arg(peers.path("TLS_CERT"))
            .arg("--key")
            .arg(peers.path("TLS_KEY"))
            .args(["--port", "0"])
            .arg("--ready-file")
            .arg(&ready)
            .arg("--namespaces")
            .arg(opts.namespaces.join(","))
            .arg("--delay-ms")
            .arg(opts.delay_ms.to_string())
            .arg("--log")
            .arg(dir.path().join("requests.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr);
        for (token, user) in &opts.extra_tokens {
            cmd.arg("--token").arg(format!("{token}={user}"));
        }
        if let Some(cv) = &opts.cluster_version {
            let cv_path = dir.path().join("clusterversion.json");
            std::fs::write(&cv_path, serde_json::to_vec(cv).unwrap())
                .expect("write clusterversion");
            cmd.arg("--cluster-version").arg(cv_path);
        }
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start python3 {}: {e}", script.display()));
        let deadline = Instant::now() + Duration::from_secs(10);
        let port: u16 = loop {
            if let Ok(text) = std::fs::read_to_string(&ready) {
                if let Ok(port) = text.trim().parse() {
                    break port;
                }
            }
            let exited = child.try_wait().expect("try_wait");
            if exited.is_some() || Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                let err = std::fs::read_to_string(&stderr_path).unwrap_or_default();
                panic!(
                    "test apiserver did not become ready ({}): stderr:\n{err}",
                    match exited {
                        Some(status) => format!("exited with {status}"),
                        None => "timeout after 10 s".to_string(),
                    }
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        ApiServer {
            url: format!("https://127.0.0.1:{port}"),
            port,
            ca_file: peers.path("CA_FILE"),
            child,
            dir,
        }
    }

    /// The server's temp dir (kubeconfigs, request log, stderr).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a kubeconfig for `token` (context "test", CA = the peers' CA_FILE) and returns its path.
    pub fn kubeconfig(&self, token: &str) -> PathBuf {
        self.kubeconfig_at(&self.url, token)
    }

    /// Like [`ApiServer::kubeconfig`], with `url` as the server (a front or proxy before it).
    pub fn kubeconfig_at(&self, url: &str, token: &str) -> PathBuf {
        let name = format!("{url}-{token}").replace(|c: char| !c.is_ascii_alphanumeric(), "_");
        let path = self.dir.path().join(format!("kubeconfig-{name}"));
        let text = format!(
            "apiVersion: v1\n\
             kind: Config\n\
             clusters:\n\
             - name: test\n  \
               cluster:\n    \
                 server: {url}\n    \
                 certificate-authority: {ca}\n\
             users:\n\
             - name: test\n  \
               user:\n    \
                 token: {token}\n\
             contexts:\n\
             - name: test\n  \
               context:\n    \
                 cluster: test\n    \
                 user: test\n\
             current-context: test\n",
            url = url,
            ca = json_str(&self.ca_file.display().to_string()),
            token = json_str(token),
        );
        std::fs::write(&path, text).expect("write kubeconfig");
        path
    }

    /// `curl` against this server with the CA configured; `token` adds a bearer header.
    pub fn curl(&self, token: Option<&str>) -> Command {
        let mut cmd = Command::new("curl");
        cmd.args(["-sS", "--max-time", "30", "--cacert"])
            .arg(&self.ca_file);
        if let Some(t) = token {
            cmd.arg("-H").arg(format!("Authorization: Bearer {t}"));
        }
        cmd
    }

    /// Sends a request with curl; returns (HTTP status, body as JSON, or `Value::String` if not JSON).
    pub fn request(
        &self,
        token: Option<&str>,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: Option<&[u8]>,
    ) -> (u16, Value) {
        let mut cmd = self.curl(token);
        cmd.args(["-X", method, "-w", "\n%{http_code}"]);
        if let Some(ct) = content_type {
            cmd.arg("-H").arg(format!("Content-Type: {ct}"));
        }
        let body_file = body.map(|b| {
            let f = self.dir.path().join(format!("body-{}", rand_suffix()));
            std::fs::write(&f, b).expect("write request body");
            f
        });
        if let Some(f) = &body_file {
            cmd.arg("--data-binary").arg(format!("@{}", f.display()));
        }
        cmd.arg(format!("{}{}", self.url, path));
        let out = cmd.output().expect("run curl");
        if let Some(f) = body_file {
            let _ = std::fs::remove_file(f);
        }
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, code) = text.rsplit_once('\n').unwrap_or_else(|| {
            panic!(
                "curl {method} {path} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
        let code: u16 = code.trim().parse().unwrap_or_else(|_| {
            panic!(
                "curl {method} {path} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
        let value = serde_json::from_str(body).unwrap_or_else(|_| Value::String(body.to_string()));
        (code, value)
    }

    /// The request log (`[{method, path, query, status, user}]`), oldest first.
    pub fn requests(&self) -> Vec<Value> {
        let (code, v) = self.request(None, "GET", "/_test/requests", None, None);
        assert_eq!(code, 200, "GET /_test/requests: {v}");
        v.as_array().cloned().expect("request log is a JSON list")
    }

    /// Clears the request log.
    pub fn reset_log(&self) {
        let (code, v) = self.request(None, "POST", "/_test/reset-log", None, Some(b""));
        assert_eq!(code, 200, "POST /_test/reset-log: {v}");
    }

    /// The next `count` API requests answer `status` (with `Retry-After` when given).
    pub fn fail_next(&self, status: u16, count: u32, retry_after: Option<u32>) {
        self.fail_next_matching(status, count, retry_after, "");
    }

    /// Like [`fail_next`](Self::fail_next), only for requests whose `path?query` contains `path_substring`.
    pub fn fail_next_matching(
        &self,
        status: u16,
        count: u32,
        retry_after: Option<u32>,
        path_substring: &str,
    ) {
        let spec = serde_json::json!({
            "status": status, "count": count, "retryAfter": retry_after, "path": path_substring,
        });
        let (code, v) = self.request(
            None,
            "POST",
            "/_test/fail-next",
            Some("application/json"),
            Some(spec.to_string().as_bytes()),
        );
        assert_eq!(code, 200, "POST /_test/fail-next: {v}");
    }

    /// GET a ConfigMap as admin; `None` on 404.
    pub fn get_configmap(&self, ns: &str, name: &str) -> Option<Value> {
        let (code, v) = self.request(
            Some(ADMIN_TOKEN),
            "GET",
            &format!("/api/v1/namespaces/{ns}/configmaps/{name}"),
            None,
            None,
        );
        match code {
            200 => Some(v),
            404 => None,
            _ => panic!("GET configmap {ns}/{name}: {code} {v}"),
        }
    }

    /// All ConfigMaps of `ns` as admin, optionally filtered by a label selector.
    pub fn list_configmaps(&self, ns: &str, label_selector: Option<&str>) -> Vec<Value> {
        let mut path = format!("/api/v1/namespaces/{ns}/configmaps");
        if let Some(sel) = label_selector {
            path.push_str("?labelSelector=");
            path.push_str(&url_encode(sel));
        }
        let (code, v) = self.request(Some(ADMIN_TOKEN), "GET", &path, None, None);
        assert_eq!(code, 200, "LIST configmaps in {ns}: {v}");
        v["items"].as_array().cloned().unwrap_or_default()
    }

    /// Creates `obj` (a ConfigMap) in `ns` as admin; panics on a non-2xx answer.
    pub fn create(&self, ns: &str, obj: &Value) {
        let (code, v) = self.request(
            Some(ADMIN_TOKEN),
            "POST",
            &format!("/api/v1/namespaces/{ns}/configmaps?fieldManager=test-fixture"),
            Some("application/json"),
            Some(obj.to_string().as_bytes()),
        );
        assert!(
            (200..300).contains(&code),
            "create configmap in {ns}: {code} {v}"
        );
    }

    /// The server's stderr so far (for diagnostics).
    pub fn stderr(&self) -> String {
        let mut s = String::new();
        if let Ok(mut f) = std::fs::File::open(self.dir.path().join("stderr.log")) {
            let _ = f.read_to_string(&mut s);
        }
        s
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn json_str(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}

fn rand_suffix() -> u128 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed) as u128
}

/// Percent-encodes a query value.
pub fn url_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}
