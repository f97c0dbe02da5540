//! Human warnings and the JSON report shared by the commands (schema: docs/json-output.md).

use serde_json::{json, Value};

use crate::error::Error;
use crate::output::WrittenRelease;
use crate::pipeline::VerifiedRelease;
use crate::release::ReleaseRequest;
use crate::verify::Trust;

/// `4.4.0 x86_64, 1 signature` (or just `2 signatures` when the release was named by digest,
/// which the line already shows).
pub fn release_summary(release: &VerifiedRelease, with_digest: bool) -> String {
    let n = release.signatures.len();
    let count = format!("{n} signature{}", if n == 1 { "" } else { "s" });
    let label = release.request.label();
    if label == release.digest.as_str() {
        count
    } else if with_digest {
        format!("{label}, {}, {count}", release.digest)
    } else {
        format!("{label}, {count}")
    }
}

/// Prints one warning per signature that was found but refused.
pub fn warn_rejected(release: &VerifiedRelease, quiet: bool) {
    if quiet {
        return;
    }
    for r in &release.rejected {
        crate::ui::warning(format!(
            "{}: skipped {}: {}",
            release.request.label(),
            r.source,
            r.reason
        ));
    }
}

/// Prints a JSON document `{kind, apiVersion, trust, <items_key>: items}` on stdout.
pub fn print_document(kind: &str, trust: &Trust, items_key: &str, items: Vec<Value>) {
    let mut out = json!({
        "kind": kind,
        "apiVersion": "oc-release-signature/v1",
        "trust": trust_json(trust),
    });
    out[items_key] = Value::Array(items);
    println!(
        "{}",
        serde_json::to_string_pretty(&out).expect("JSON serializes")
    );
}

/// The trust in force, as JSON.
pub fn trust_json(trust: &Trust) -> Value {
    json!({
        "source": trust.source.to_string(),
        "keyrings": trust.keyrings.iter().map(|k| json!({
            "name": k.name,
            "fingerprints": k.fingerprints(),
        })).collect::<Vec<_>>(),
    })
}

/// A verified release, as JSON.
pub fn release_json(release: &VerifiedRelease, written: Option<&WrittenRelease>) -> Value {
    json!({
        "input": release.request.input,
        "version": release.request.version,
        "arch": release.request.arch,
        "digest": release.digest.as_str(),
        "trusted": true,
        "configMap": release.digest.dashed(),
        "file": written.map(|w| w.configmap_file.display().to_string()),
        "signatures": release.signatures.iter().enumerate().map(|(i, s)| json!({
            "key": format!("{}-{}", release.digest.dashed(), i + 1),
            "source": s.source,
            "signer": s.details.signer,
            "identity": s.details.identity,
            "creator": s.details.creator,
            "timestamp": s.details.timestamp,
            "packetVersion": s.details.packet_version,
            "keyrings": s.details.keyrings,
        })).collect::<Vec<_>>(),
        "rejected": release.rejected.iter().map(|r| json!({
            "source": r.source,
            "reason": r.reason,
        })).collect::<Vec<_>>(),
        "error": null,
    })
}

/// A release that failed, as JSON.
pub fn failed_json(request: &ReleaseRequest, error: &Error) -> Value {
    json!({
        "input": request.input,
        "version": request.version,
        "arch": request.arch,
        "digest": null,
        "trusted": false,
        "configMap": null,
        "file": null,
        "signatures": [],
        "rejected": [],
        "error": {"exitCode": error.exit_code(), "message": error.to_string()},
    })
}
