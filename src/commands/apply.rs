//! `apply`: verify, then server-side apply the signature ConfigMaps; also `--from-dir`.

use std::path::Path;

use clap::{Args, ValueEnum};
use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;

use super::cluster_args::{choose_trust, trust_line, KubeArgs};
use crate::cli::ReleaseArgs;
use crate::cluster::ApplyOptions;
use crate::configmap;
use crate::error::{Error, Result};
use crate::pipeline::{judge_all, VerifiedRelease};
use crate::report;
use crate::verify::Trust;

/// `--dry-run`, as in kubectl.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum DryRun {
    /// Apply for real.
    #[default]
    None,
    /// Print what would be applied; never contact the cluster.
    Client,
    /// Let the API server validate and compute the result, storing nothing.
    Server,
}

/// `-o` for apply, as in kubectl.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ApplyOutput {
    /// The applied objects as YAML.
    Yaml,
    /// The applied objects as JSON (a List when several).
    Json,
    /// `configmap/NAME` per object.
    Name,
}

/// `apply`.
#[derive(Debug, Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub release: ReleaseArgs,

    #[command(flatten)]
    pub kube: KubeArgs,

    /// Apply the signature ConfigMaps in DIR, or in one file (written by `fetch --to-dir`, `oc
    /// adm release mirror` or oc-mirror), re-verified; needs no registry and no store.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["releases", "digest"])]
    pub from_dir: Option<std::path::PathBuf>,

    /// Field manager for server-side apply.
    #[arg(long, value_name = "NAME", default_value = "oc-release-signature")]
    pub field_manager: String,

    /// Take over fields another field manager owns.
    #[arg(long)]
    pub force_conflicts: bool,

    /// none, client (print only, never contact the cluster) or server (validated by the API
    /// server, nothing stored).
    #[arg(
        long,
        value_name = "MODE",
        default_value = "none",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "client"
    )]
    pub dry_run: DryRun,

    /// Output: yaml, json or name.
    #[arg(short, long, value_name = "FORMAT")]
    pub output: Option<ApplyOutput>,
}

/// Runs `apply`.
pub async fn run(args: ApplyArgs, quiet: bool) -> Result<()> {
    let keyring_trust = super::keyring_trust(&args.release)?;
    let offline = args.dry_run == DryRun::Client;
    let (ok, cluster) = match &args.from_dir {
        Some(dir) => {
            let files = read_dir_configmaps(dir)?;
            let cluster = if offline {
                None
            } else {
                Some(args.kube.connect().await?)
            };
            let trust = choose_trust(keyring_trust, cluster.as_ref()).await?;
            if !quiet {
                eprintln!("{}", trust_line(&trust));
            }
            (verify_dir(files, &trust)?, cluster)
        }
        None => {
            let prepared = super::prepare(&args.release)?;
            let (requests, pipeline) = prepared.into_pipeline(quiet);
            let cluster = if offline {
                None
            } else {
                Some(args.kube.connect().await?)
            };
            // The cluster's trust is read while the registry and stores are asked.
            let (gathered, trust) = tokio::join!(
                pipeline.gather(&requests),
                choose_trust(keyring_trust, cluster.as_ref())
            );
            let trust = trust?;
            if !quiet {
                eprintln!("{}", trust_line(&trust));
            }
            let results = judge_all(&requests, gathered, &trust);
            let mut ok = Vec::new();
            let mut errors = Vec::new();
            for r in results {
                match r {
                    Ok(v) => ok.push(v),
                    Err(e) => {
                        crate::ui::error(&e);
                        errors.push(e);
                    }
                }
            }
            if !errors.is_empty() {
                crate::ui::error(
                    "nothing was applied: every release must verify before the first write",
                );
                return super::worst(errors);
            }
            (ok, cluster)
        }
    };
    apply_all(&args, cluster.as_ref(), ok, quiet).await
}

async fn apply_all(
    args: &ApplyArgs,
    cluster: Option<&crate::cluster::Cluster>,
    releases: Vec<VerifiedRelease>,
    quiet: bool,
) -> Result<()> {
    let opts = ApplyOptions {
        field_manager: args.field_manager.clone(),
        force: args.force_conflicts,
        server_dry_run: args.dry_run == DryRun::Server,
    };
    // Every ConfigMap is applied concurrently: one round trip for all releases.
    let configmaps: Vec<ConfigMap> = releases
        .iter()
        .map(|release| {
            report::warn_rejected(release, quiet);
            configmap::build(&release.digest, &release.signature_bytes())
        })
        .collect();
    let results: Vec<Result<ConfigMap>> = futures::stream::iter(configmaps)
        .map(|cm| async {
            match cluster {
                Some(c) => c.apply(&cm, &opts).await,
                None => Ok(cm),
            }
        })
        .buffered(crate::pipeline::RELEASE_PARALLELISM)
        .collect()
        .await;
    let suffix = match args.dry_run {
        DryRun::None => "",
        DryRun::Client => " (dry run)",
        DryRun::Server => " (server dry run)",
    };
    let mut applied = Vec::new();
    let mut errors = Vec::new();
    for (release, result) in releases.iter().zip(results) {
        match result {
            Ok(obj) => {
                let line = format!(
                    "configmap/{} serverside-applied{suffix} ({})",
                    release.digest.dashed(),
                    report::release_summary(release, false)
                );
                if args.output.is_none() {
                    println!("{line}");
                } else if !quiet {
                    eprintln!("{line}");
                }
                applied.push(obj);
            }
            Err(e) => {
                crate::ui::error(&e);
                errors.push(e);
            }
        }
    }
    print_objects(&applied, args.output);
    super::worst(errors)
}

fn print_objects(objects: &[ConfigMap], output: Option<ApplyOutput>) {
    match output {
        None => {}
        Some(ApplyOutput::Name) => {
            for o in objects {
                println!(
                    "configmap/{}",
                    o.metadata.name.as_deref().unwrap_or_default()
                );
            }
        }
        Some(ApplyOutput::Yaml) => {
            for o in objects {
                print!("---\n{}", configmap::to_yaml(o));
            }
        }
        Some(ApplyOutput::Json) => {
            let value = if objects.len() == 1 {
                configmap::to_json(&objects[0])
            } else {
                serde_json::json!({
                    "apiVersion": "v1",
                    "kind": "List",
                    "items": objects.iter().map(configmap::to_json).collect::<Vec<_>>(),
                })
            };
            println!(
                "{}",
                serde_json::to_string_pretty(&value).expect("JSON serializes")
            );
        }
    }
}

/// A ConfigMap read from a file, with the file for messages.
pub struct DirConfigMap {
    /// The file it came from.
    pub file: String,
    /// The ConfigMap.
    pub configmap: ConfigMap,
}

/// Reads every `.yaml`, `.yml` and `.json` file in DIR (or the one file DIR names); each must
/// be a signature ConfigMap.
pub fn read_dir_configmaps(dir: &Path) -> Result<Vec<DirConfigMap>> {
    if dir.is_file() {
        return read_configmap_files(vec![dir.to_path_buf()]);
    }
    let entries = std::fs::read_dir(dir)
        .map_err(|e| Error::usage(format!("cannot read --from-dir {}: {e}", dir.display())))?;
    let mut paths: Vec<_> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && p.extension()
                    .and_then(|e| e.to_str())
                    .is_some_and(|e| matches!(e, "yaml" | "yml" | "json"))
        })
        .collect();
    paths.sort();
    if paths.is_empty() {
        return Err(Error::usage(format!(
            "--from-dir {} holds no .yaml or .json file: point it at the directory `oc \
             release-signature fetch --to-dir`, `oc adm release mirror` or oc-mirror wrote",
            dir.display()
        )));
    }
    read_configmap_files(paths)
}

fn read_configmap_files(paths: Vec<std::path::PathBuf>) -> Result<Vec<DirConfigMap>> {
    let mut out = Vec::new();
    for path in paths {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(&path)
            .map_err(|e| Error::usage(format!("cannot read {file}: {e}")))?;
        // A YAML file may hold several documents (`fetch -o yaml` writes one per release).
        let values: Vec<serde_json::Value> = if file.ends_with(".json") {
            vec![serde_json::from_str(&text)
                .map_err(|e| Error::usage(format!("{file} is not valid JSON: {e}")))?]
        } else {
            serde_saphyr::from_multiple(&text)
                .map_err(|e| Error::usage(format!("{file} is not valid YAML: {e}")))?
        };
        for value in values {
            out.push(DirConfigMap {
                configmap: signature_configmap(&file, value)?,
                file: file.clone(),
            });
        }
    }
    Ok(out)
}

/// Checks that a document is a signature ConfigMap holding at least one signature.
fn signature_configmap(file: &str, value: serde_json::Value) -> Result<ConfigMap> {
    let kind = value.get("kind").and_then(|k| k.as_str()).unwrap_or("");
    if kind != "ConfigMap" || value.get("apiVersion").and_then(|v| v.as_str()) != Some("v1") {
        return Err(Error::usage(format!(
            "{file} is not a signature ConfigMap (kind {kind:?}): --from-dir only applies \
             ConfigMaps labelled {}; move other files out of the directory, or give the \
             signature file itself (e.g. --from-dir cluster-resources/signature-configmap.json)",
            configmap::SIGNATURE_LABEL
        )));
    }
    let cm: ConfigMap = serde_json::from_value(value)
        .map_err(|e| Error::usage(format!("{file} is not a valid ConfigMap: {e}")))?;
    if !configmap::is_signature_configmap(&cm) || configmap::held_signatures(&cm).is_empty() {
        return Err(Error::usage(format!(
            "{file} is not a signature ConfigMap: it needs the label {} and binaryData keys \
             sha256-<HEX>[-N]",
            configmap::SIGNATURE_LABEL
        )));
    }
    Ok(cm)
}

/// Re-verifies every signature in the files against `trust`; one release per digest. Any
/// digest without a trusted signature fails the whole run (exit 3) before anything is applied.
pub fn verify_dir(files: Vec<DirConfigMap>, trust: &Trust) -> Result<Vec<VerifiedRelease>> {
    use std::collections::BTreeMap;
    let mut by_digest: BTreeMap<crate::release::Digest, Vec<crate::store::FetchedSignature>> =
        BTreeMap::new();
    for f in &files {
        for held in configmap::held_signatures(&f.configmap) {
            let found = by_digest.entry(held.digest.clone()).or_default();
            // oc-mirror writes the same ConfigMap as .json and .yaml: keep one copy of each.
            if found.iter().any(|s| s.bytes == held.bytes) {
                continue;
            }
            found.push(crate::store::FetchedSignature {
                source: format!("{} ({})", f.file, held.key),
                bytes: held.bytes,
            });
        }
    }
    let now = std::time::SystemTime::now();
    let mut ok = Vec::new();
    let mut errors = Vec::new();
    for (digest, signatures) in by_digest {
        let request = crate::release::parse_digest_flag(digest.as_str())?;
        let report = crate::store::FetchReport {
            signatures,
            answers: Vec::new(),
        };
        match crate::pipeline::judge(&request, digest, report, trust, now) {
            Ok(v) => ok.push(v),
            Err(e) => {
                crate::ui::error(&e);
                errors.push(e);
            }
        }
    }
    if !errors.is_empty() {
        crate::ui::error("nothing was applied: every release must verify before the first write");
        super::worst(errors)?;
    }
    Ok(ok)
}
