//! `fetch`: resolve, download and verify; print the ConfigMaps or write them to a directory.

use crate::cli::{FetchArgs, OutputFormat};
use crate::configmap;
use crate::error::Result;
use crate::output;
use crate::pipeline::VerifiedRelease;
use crate::report;
use crate::verify::Trust;

/// Runs `fetch`.
pub async fn run(args: FetchArgs, quiet: bool) -> Result<()> {
    let prepared = super::prepare(&args.release)?;
    let trust = super::keyring_trust(&args.release)?.unwrap_or_else(Trust::builtin);
    if let Some(dir) = &args.to_dir {
        output::prepare_dir(dir)?;
    }
    let format = args.output.unwrap_or(if args.to_dir.is_some() {
        OutputFormat::Json
    } else {
        OutputFormat::Yaml
    });
    let human_summary = args.output.is_none() && args.to_dir.is_some();
    let (requests, pipeline) = prepared.into_pipeline(quiet);
    if !quiet {
        eprintln!("Using trust from {}", trust.source);
    }
    let results = pipeline.run(&requests, &trust).await;

    let mut errors = Vec::new();
    let mut json_releases = Vec::new();
    let mut yaml_docs = Vec::new();
    for (request, result) in requests.iter().zip(results) {
        match result {
            Ok(release) => {
                report::warn_rejected(&release, quiet);
                let written = match &args.to_dir {
                    Some(dir) => match output::write_release(dir, &release) {
                        Ok(w) => Some(w),
                        Err(e) => {
                            crate::ui::error(&e);
                            json_releases.push(report::failed_json(request, &e));
                            errors.push(e);
                            continue;
                        }
                    },
                    None => None,
                };
                let summary = summary_line(&release, written.as_ref());
                if human_summary {
                    println!("{summary}");
                } else if !quiet {
                    crate::ui::done(&summary);
                }
                let cm = configmap::build(&release.digest, &release.signature_bytes());
                yaml_docs.push(configmap::to_yaml(&cm));
                json_releases.push(report::release_json(&release, written.as_ref()));
            }
            Err(e) => {
                crate::ui::error(&e);
                json_releases.push(report::failed_json(request, &e));
                errors.push(e);
            }
        }
    }
    if !human_summary {
        match format {
            OutputFormat::Yaml => {
                for doc in &yaml_docs {
                    print!("---\n{doc}");
                }
            }
            OutputFormat::Json => {
                report::print_document("ReleaseSignatureReport", &trust, "releases", json_releases);
            }
        }
    }
    super::worst(errors)
}

fn summary_line(release: &VerifiedRelease, written: Option<&output::WrittenRelease>) -> String {
    let what = report::release_summary(release, true);
    match written {
        Some(w) => format!("wrote {} ({what})", w.configmap_file.display()),
        None => format!("verified configmap/{} ({what})", release.digest.dashed()),
    }
}
