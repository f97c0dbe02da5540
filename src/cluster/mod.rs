//! Stage 6 (cluster): talk to the API server through kube-rs: read trust and signatures,
//! server-side apply signature ConfigMaps, read ClusterVersion.
//!
//! Requests are built with kube's typed request builders and sent raw, so the status, the
//! `Status` body and `Retry-After` are all at hand for retries and for messages.

mod client;
pub mod errors;
pub mod trust;

use std::path::PathBuf;
use std::time::Duration;

use backon::Retryable;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::List;
use kube::api::{ListParams, Patch, PatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::Request;
use kube::Resource;

use crate::configmap::NAMESPACE;
use crate::error::{Error, Result};
use crate::http;

pub use errors::Operation;

/// How to reach the cluster, with `oc`'s flags.
#[derive(Debug, Clone, Default)]
pub struct ClusterOptions {
    /// `--kubeconfig`; else `$KUBECONFIG`, else `~/.kube/config`.
    pub kubeconfig: Option<PathBuf>,
    /// `--context`; else the current context.
    pub context: Option<String>,
}

/// How to give the API server's CA.
const KUBECONFIG_CA_ADVICE: &str = "check the cluster's certificate-authority(-data) in your \
     kubeconfig, or log in again with `oc login --certificate-authority=FILE`";

/// A connection to one API server.
pub struct Cluster {
    client: kube::Client,
    /// The API server URL, for messages.
    pub server: String,
}

/// How to apply.
#[derive(Debug, Clone)]
pub struct ApplyOptions {
    /// The field manager (`--field-manager`).
    pub field_manager: String,
    /// Take ownership of conflicting fields (`--force-conflicts`).
    pub force: bool,
    /// `--dry-run=server`.
    pub server_dry_run: bool,
}

impl Cluster {
    /// Loads the kubeconfig as `oc` does (exec and OIDC auth included) and builds a client.
    pub async fn connect(opts: &ClusterOptions) -> Result<Cluster> {
        let kc_opts = KubeConfigOptions {
            context: opts.context.clone(),
            ..KubeConfigOptions::default()
        };
        let config = match &opts.kubeconfig {
            Some(path) => {
                let kc = Kubeconfig::read_from(path).map_err(|e| {
                    Error::usage(format!("cannot read --kubeconfig {}: {e}", path.display()))
                })?;
                kube::Config::from_custom_kubeconfig(kc, &kc_opts).await
            }
            None => kube::Config::from_kubeconfig(&kc_opts).await,
        };
        let mut config = config.map_err(|e| {
            Error::usage(format!(
                "cannot load the kubeconfig: {e}: log in with `oc login`, or pass --kubeconfig FILE \
                 and --context NAME"
            ))
        })?;
        // Retries are ours (backon), so 5xx and 429 are handled alike and bounded.
        config.default_retry = false;
        config.read_timeout = Some(http::READ_TIMEOUT);
        config.connect_timeout = Some(http::CONNECT_TIMEOUT);
        let server = config
            .cluster_url
            .to_string()
            .trim_end_matches('/')
            .to_string();
        let client = client::build(config, &server)?;
        Ok(Cluster { client, server })
    }

    /// Sends a request with retries on connection errors, 5xx and 429 (honouring Retry-After);
    /// a non-2xx answer becomes an [`Error`] that tells the user what to do.
    async fn send(
        &self,
        build: impl Fn() -> Result<http_req::Request<Vec<u8>>>,
        op: &Operation,
    ) -> Result<Vec<u8>> {
        let attempt = || async {
            let req = build().map_err(Attempt::Final)?;
            let req = req.map(kube::client::Body::from);
            let resp =
                self.client
                    .send(req)
                    .await
                    .map_err(|e| match http::certificate_problem(&e) {
                        Some(problem) => Attempt::Final(Error::failure(format!(
                            "the API server at {} presented a TLS certificate that is {}",
                            self.server,
                            http::describe_certificate(&problem, KUBECONFIG_CA_ADVICE)
                        ))),
                        None => Attempt::Network(crate::resolve::error_chain(&e)),
                    })?;
            let status = resp.status().as_u16();
            let retry_after = resp
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(|s| Duration::from_secs(s.min(10)));
            let body = resp
                .into_body()
                .collect_bytes()
                .await
                .map_err(|e| Attempt::Network(e.to_string()))?
                .to_vec();
            if (200..300).contains(&status) {
                return Ok(body);
            }
            if http::retryable_status(status) {
                return Err(Attempt::Retryable(status, retry_after, body));
            }
            Err(Attempt::Final(errors::explain(
                status,
                &body,
                op,
                &self.server,
            )))
        };
        let result = attempt
            .retry(http::backoff())
            .sleep(tokio::time::sleep)
            .when(|e| matches!(e, Attempt::Network(_) | Attempt::Retryable(..)))
            .adjust(|e, d| match e {
                Attempt::Retryable(_, Some(after), _) => Some(*after),
                _ => d,
            })
            .notify(|e, d| tracing::warn!("API server: {}; retrying in {d:?}", e.short()))
            .await;
        result.map_err(|e| match e {
            Attempt::Final(err) => err,
            Attempt::Retryable(status, _, body) => errors::explain(status, &body, op, &self.server),
            Attempt::Network(why) => Error::failure(format!(
                "cannot reach the API server at {}: {why}: check --context/--kubeconfig, the VPN or \
                 proxy, and that the cluster is up",
                self.server
            )),
        })
    }

    /// Asks the API server for `/version`. When nothing else needs reading before the applies
    /// (trust from `--keyring`), this opens the connection the applies then share (one TLS
    /// handshake per run) and shows early that the credentials are accepted: an expired
    /// token answers 401 here, while the registry and stores are still being asked.
    pub async fn check_credentials(&self) -> Result<()> {
        let op = Operation::new("get", "version", None).cluster_scoped();
        let body = self
            .send(
                || {
                    http_req::Request::get("/version")
                        .body(Vec::new())
                        .map_err(|e| Error::failure(format!("cannot build the API request: {e}")))
                },
                &op,
            )
            .await?;
        let version = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v.get("gitVersion")?.as_str().map(str::to_string))
            .unwrap_or_else(|| "an unknown version".into());
        tracing::info!("API server {} runs Kubernetes {version}", self.server);
        Ok(())
    }

    /// Every ConfigMap in `openshift-config-managed` (the trust ConfigMap is found by annotation).
    pub async fn all_configmaps(&self) -> Result<Vec<ConfigMap>> {
        self.list_configmaps(
            &ListParams::default(),
            Operation::new("list", "configmaps", None),
        )
        .await
    }

    async fn list_configmaps(&self, lp: &ListParams, op: Operation) -> Result<Vec<ConfigMap>> {
        let body = self
            .send(|| configmaps().list(lp).map_err(build_error), &op)
            .await?;
        let list: List<ConfigMap> = serde_json::from_slice(&body).map_err(|e| {
            Error::failure(format!(
                "the API server sent an unreadable ConfigMap list: {e}"
            ))
        })?;
        Ok(list.items)
    }

    /// Server-side applies `cm` and returns the object as the server stored it (or would).
    pub async fn apply(&self, cm: &ConfigMap, opts: &ApplyOptions) -> Result<ConfigMap> {
        let name = cm.metadata.name.clone().unwrap_or_default();
        let mut pp = PatchParams::apply(&opts.field_manager);
        pp.force = opts.force;
        pp.dry_run = opts.server_dry_run;
        let mut object = crate::configmap::to_json(cm);
        if let Some(meta) = object.get_mut("metadata").and_then(|m| m.as_object_mut()) {
            meta.remove("namespace");
            meta.insert("namespace".into(), NAMESPACE.into());
        }
        let patch = Patch::Apply(object);
        let op = Operation::new("patch", "configmaps", Some(name.clone()));
        tracing::info!("server-side applying configmap/{name} to {}", self.server);
        let body = self
            .send(
                || configmaps().patch(&name, &pp, &patch).map_err(build_error),
                &op,
            )
            .await?;
        serde_json::from_slice(&body).map_err(|e| {
            Error::failure(format!("the API server sent an unreadable ConfigMap: {e}"))
        })
    }

    /// The ClusterVersion `version` object, as JSON.
    pub async fn cluster_version(&self) -> Result<serde_json::Value> {
        let op = Operation::new(
            "get",
            "clusterversions.config.openshift.io",
            Some("version".into()),
        )
        .cluster_scoped();
        let body = self
            .send(
                || {
                    Request::new("/apis/config.openshift.io/v1/clusterversions")
                        .get("version", &Default::default())
                        .map_err(build_error)
                },
                &op,
            )
            .await?;
        serde_json::from_slice(&body).map_err(|e| {
            Error::failure(format!(
                "the API server sent an unreadable ClusterVersion: {e}"
            ))
        })
    }
}

use ::http as http_req;

fn configmaps() -> Request {
    Request::new(ConfigMap::url_path(&(), Some(NAMESPACE)))
}

fn build_error(e: kube::core::request::Error) -> Error {
    Error::failure(format!("cannot build the API request: {e}"))
}

enum Attempt {
    Network(String),
    Retryable(u16, Option<Duration>, Vec<u8>),
    Final(Error),
}

impl Attempt {
    fn short(&self) -> String {
        match self {
            Attempt::Network(why) => format!("unreachable: {why}"),
            Attempt::Retryable(status, ..) => format!("HTTP {status}"),
            Attempt::Final(e) => e.to_string(),
        }
    }
}
