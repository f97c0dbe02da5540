//! Flags shared by the commands that talk to the cluster.

use std::path::PathBuf;

use clap::Args;
use k8s_openapi::api::core::v1::ConfigMap;

use crate::cluster::{Cluster, ClusterOptions};
use crate::error::Result;
use crate::verify::{Trust, TrustSource};

/// `--kubeconfig` and `--context`, as in `oc`.
#[derive(Debug, Args, Clone)]
pub struct KubeArgs {
    /// Path to the kubeconfig file. [default: $KUBECONFIG, else ~/.kube/config]
    #[arg(long, value_name = "FILE", global = false)]
    pub kubeconfig: Option<PathBuf>,

    /// The kubeconfig context to use. [default: the current context]
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,
}

impl KubeArgs {
    /// Connects to the cluster.
    pub async fn connect(&self) -> Result<Cluster> {
        Cluster::connect(&ClusterOptions {
            kubeconfig: self.kubeconfig.clone(),
            context: self.context.clone(),
        })
        .await
    }
}

/// Trust in the documented order: `--keyring` files, else the cluster's release-verification
/// ConfigMap, else the built-in Red Hat keyring. With `--keyring` and a cluster, the cluster
/// is still asked once (its credentials checked, its connection opened for the applies).
pub async fn choose_trust(
    keyring_trust: Option<Trust>,
    cluster: Option<&Cluster>,
) -> Result<Trust> {
    if let Some(t) = keyring_trust {
        if let Some(cluster) = cluster {
            cluster.check_credentials().await?;
        }
        return Ok(t);
    }
    match cluster {
        Some(cluster) => trust_from(None, &cluster.all_configmaps().await?),
        None => Ok(Trust::builtin()),
    }
}

/// The same order, from the ConfigMaps of `openshift-config-managed` already read.
pub fn trust_from(keyring_trust: Option<Trust>, configmaps: &[ConfigMap]) -> Result<Trust> {
    if let Some(t) = keyring_trust {
        return Ok(t);
    }
    crate::cluster::trust::from_configmaps(configmaps).unwrap_or_else(|| Ok(Trust::builtin()))
}

/// What `openshift-config-managed` holds, read once.
pub struct ClusterState {
    /// The signature ConfigMaps (every shape the cluster reads).
    pub signatures: Vec<ConfigMap>,
    /// The trust in force (`--keyring`, else the cluster's, else the built-in one).
    pub trust: Trust,
    /// The signature stores of the cluster's trust ConfigMap, `(key, URL)`.
    pub stores: Vec<(String, String)>,
}

/// Reads `openshift-config-managed` once: the signature ConfigMaps, the trust in force and
/// the cluster's signature stores.
pub async fn read_cluster(cluster: &Cluster, keyring_trust: Option<Trust>) -> Result<ClusterState> {
    let all = cluster.all_configmaps().await?;
    let trust = trust_from(keyring_trust, &all)?;
    let stores = crate::cluster::trust::signature_stores(&all);
    let signatures = all
        .into_iter()
        .filter(crate::configmap::is_signature_configmap)
        .collect();
    Ok(ClusterState {
        signatures,
        trust,
        stores,
    })
}

/// One line saying which trust is in force.
pub fn trust_line(trust: &Trust) -> String {
    let names = trust.keyring_names().join(", ");
    match &trust.source {
        TrustSource::Builtin => format!("Using trust from the built-in Red Hat keyring ({names})"),
        other => format!("Using trust from {other} ({names})"),
    }
}
