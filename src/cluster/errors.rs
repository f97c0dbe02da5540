//! API server answers turned into messages that say what to do (pure, unit-tested).

use crate::configmap::NAMESPACE;
use crate::error::Error;

/// What we were doing, for messages: verb, resource, name, namespace.
#[derive(Debug, Clone)]
pub struct Operation {
    /// The RBAC verb.
    pub verb: &'static str,
    /// The resource (plural, with group for non-core).
    pub resource: &'static str,
    /// The object name, if any.
    pub name: Option<String>,
    /// The namespace, if namespaced.
    pub namespace: Option<&'static str>,
}

impl Operation {
    /// An operation in `openshift-config-managed`.
    pub fn new(verb: &'static str, resource: &'static str, name: Option<String>) -> Operation {
        Operation {
            verb,
            resource,
            name,
            namespace: Some(NAMESPACE),
        }
    }

    /// The same operation on a cluster-scoped resource.
    pub fn cluster_scoped(mut self) -> Operation {
        self.namespace = None;
        self
    }
}

#[derive(serde::Deserialize, Default)]
struct Status {
    #[serde(default)]
    message: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    details: Option<Details>,
}

#[derive(serde::Deserialize, Default)]
struct Details {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    causes: Vec<Cause>,
}

#[derive(serde::Deserialize, Default)]
struct Cause {
    #[serde(default)]
    message: String,
}

/// Explains a non-2xx answer. Never includes request headers, so tokens cannot leak.
pub fn explain(status: u16, body: &[u8], op: &Operation, server: &str) -> Error {
    let st: Status = serde_json::from_slice(body).unwrap_or_default();
    let message = if st.message.is_empty() {
        String::from_utf8_lossy(body).chars().take(300).collect()
    } else {
        st.message.clone()
    };
    let where_ = match op.namespace {
        Some(ns) => format!(" in namespace {ns}"),
        None => " (cluster-scoped)".to_string(),
    };
    match status {
        401 => Error::failure(format!(
            "the API server at {server} answered 401 Unauthorized: your credentials are missing or \
             expired; log in again with `oc login` (or check --kubeconfig/--context)"
        )),
        403 => Error::failure(format!(
            "forbidden (403): {message}. You need RBAC permission to {} {}{where_}; ask a cluster \
             administrator for a Role granting get, list, create and patch on configmaps in {NAMESPACE} \
             (cluster-admin has it), or run as such a user",
            op.verb, op.resource
        )),
        404 if st.details.as_ref().is_some_and(|d| d.kind == "namespaces") => Error::failure(format!(
            "namespace {NAMESPACE} not found ({message}): this does not look like an OpenShift \
             cluster; check --context"
        )),
        404 => Error::failure(format!(
            "not found (404): {message}: check --context; on clusters without {} this command \
             cannot work",
            op.resource
        )),
        409 if st.reason == "Conflict" || message.contains("conflict") => Error::failure(format!(
            "apply conflict (409): {message}. Another field manager owns these fields with other \
             values; rerun with --force-conflicts to take them over, or use that manager's \
             --field-manager"
        )),
        409 => Error::failure(format!("conflict (409): {message}: retry the command")),
        422 => {
            let causes: Vec<String> = st
                .details
                .map(|d| d.causes.into_iter().map(|c| c.message).collect())
                .unwrap_or_default();
            Error::failure(format!(
                "the API server refused the object as invalid (422): {message}{}",
                if causes.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", causes.join("; "))
                }
            ))
        }
        429 | 500..=599 => Error::failure(format!(
            "the API server at {server} kept answering HTTP {status} ({message}) after retries: try \
             again later"
        )),
        _ => Error::failure(format!("the API server answered HTTP {status}: {message}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op() -> Operation {
        Operation::new("patch", "configmaps", Some("sha256-x".into()))
    }

    #[test]
    fn forbidden_names_verb_resource_namespace_and_rbac() {
        let body = br#"{"kind":"Status","status":"Failure","message":"configmaps \"sha256-x\" is forbidden: User \"readonly\" cannot patch resource \"configmaps\"","reason":"Forbidden","code":403}"#;
        let msg = explain(403, body, &op(), "https://api").to_string();
        for want in [
            "forbidden",
            "patch",
            "configmaps",
            NAMESPACE,
            "RBAC",
            "readonly",
        ] {
            assert!(msg.contains(want), "{want}: {msg}");
        }
    }

    #[test]
    fn conflict_points_at_force_conflicts() {
        let body = br#"{"kind":"Status","message":"Apply failed with 1 conflict: conflict with \"gitops\" using v1: .binaryData.sha256-x-1","reason":"Conflict","code":409}"#;
        let msg = explain(409, body, &op(), "https://api").to_string();
        assert!(
            msg.contains("gitops") && msg.contains("--force-conflicts"),
            "{msg}"
        );
    }

    #[test]
    fn missing_namespace_unauthorized_invalid() {
        let body = br#"{"kind":"Status","message":"namespaces \"openshift-config-managed\" not found","reason":"NotFound","details":{"name":"openshift-config-managed","kind":"namespaces"},"code":404}"#;
        assert!(explain(404, body, &op(), "s")
            .to_string()
            .contains("namespace openshift-config-managed not found"));
        assert!(explain(401, b"{}", &op(), "https://api")
            .to_string()
            .contains("oc login"));
        let body = br#"{"message":"ConfigMap \"x\" is invalid","reason":"Invalid","details":{"causes":[{"message":"Too long"}]},"code":422}"#;
        let msg = explain(422, body, &op(), "s").to_string();
        assert!(msg.contains("invalid") && msg.contains("Too long"), "{msg}");
    }
}
