//! Stage 6 (files): write verified releases for the air-gapped half, atomically.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::configmap;
use crate::error::{Error, Result};
use crate::pipeline::VerifiedRelease;

/// What was written for one release.
#[derive(Debug, Clone, serde::Serialize)]
pub struct WrittenRelease {
    /// The ConfigMap manifest.
    pub configmap_file: PathBuf,
    /// The raw signatures, as a store layout.
    pub signature_files: Vec<PathBuf>,
}

/// Writes `DIR/signature-sha256-<16 hex>.yaml` and `DIR/signatures/sha256=HEX/signature-N` for
/// one verified release. Every file is first written in full under a temporary name; only when
/// all are written are they renamed into place, so a failure leaves no part of the release.
pub fn write_release(dir: &Path, release: &VerifiedRelease) -> Result<WrittenRelease> {
    let bytes = release.signature_bytes();
    let cm = configmap::build(&release.digest, &bytes);
    let sig_dir = dir
        .join("signatures")
        .join(format!("sha256={}", release.digest.hex()));
    std::fs::create_dir_all(&sig_dir).map_err(|e| io_error(&sig_dir, e))?;
    let signature_files: Vec<PathBuf> = (1..=bytes.len())
        .map(|n| sig_dir.join(format!("signature-{n}")))
        .collect();
    let configmap_file = dir.join(configmap::file_name(&release.digest));
    let yaml = configmap::to_yaml(&cm);
    let mut files: Vec<(&Path, &[u8])> = signature_files
        .iter()
        .map(PathBuf::as_path)
        .zip(bytes.iter().copied())
        .collect();
    files.push((&configmap_file, yaml.as_bytes()));

    let mut staged = Vec::new();
    for (path, content) in &files {
        match stage(path, content) {
            Ok(tmp) => staged.push((tmp, *path)),
            Err(e) => {
                for (tmp, _) in &staged {
                    let _ = std::fs::remove_file(tmp);
                }
                return Err(e);
            }
        }
    }
    // A stale higher-numbered file would make a store reader find a signature we did not verify.
    for n in bytes.len() + 1..=crate::store::MAX_SIGNATURES as usize {
        let stale = sig_dir.join(format!("signature-{n}"));
        if stale.exists() {
            std::fs::remove_file(&stale).map_err(|e| io_error(&stale, e))?;
        }
    }
    for (tmp, path) in staged {
        std::fs::rename(&tmp, path).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            io_error(path, e)
        })?;
    }
    Ok(WrittenRelease {
        configmap_file,
        signature_files,
    })
}

/// Checks that `dir` can be created and written before any network work starts.
pub fn prepare_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| {
        Error::usage(format!(
            "cannot create --to-dir {}: {e}: choose a writable directory",
            dir.display()
        ))
    })?;
    let probe = dir.join(".oc-release-signature-probe");
    std::fs::write(&probe, b"").map_err(|e| {
        Error::usage(format!(
            "cannot write in --to-dir {}: {e}: choose a writable directory",
            dir.display()
        ))
    })?;
    let _ = std::fs::remove_file(probe);
    Ok(())
}

/// Writes `bytes` in full to a temporary file beside `path`; returns the temporary path.
fn stage(path: &Path, bytes: &[u8]) -> Result<PathBuf> {
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()
    })();
    match result {
        Ok(()) => Ok(tmp),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(io_error(path, e))
        }
    }
}

fn io_error(path: &Path, e: std::io::Error) -> Error {
    Error::failure(format!("cannot write {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::{TrustedSignature, VerifiedRelease};
    use crate::verify::AcceptedSignature;

    fn release(sigs: &[&[u8]]) -> VerifiedRelease {
        VerifiedRelease {
            request: crate::release::parse_digest_flag(crate::release::EXAMPLE_DIGEST).unwrap(),
            digest: crate::release::EXAMPLE_DIGEST.parse().unwrap(),
            signatures: sigs
                .iter()
                .map(|b| TrustedSignature {
                    source: "test".into(),
                    bytes: b.to_vec(),
                    details: AcceptedSignature {
                        keyrings: vec![],
                        signer: String::new(),
                        identity: "x".into(),
                        creator: None,
                        timestamp: None,
                        packet_version: 4,
                    },
                })
                .collect(),
            rejected: vec![],
        }
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut out: Vec<String> = walk(dir)
            .into_iter()
            .map(|p| p.strip_prefix(dir).unwrap().display().to_string())
            .collect();
        out.sort();
        out
    }

    fn walk(dir: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
        out
    }

    #[test]
    fn writes_the_configmap_and_the_store_layout_and_drops_stale_signatures() {
        let dir = tempfile::tempdir().unwrap();
        let hex = crate::release::EXAMPLE_DIGEST.trim_start_matches("sha256:");
        let sig_dir = dir.path().join(format!("signatures/sha256={hex}"));
        std::fs::create_dir_all(&sig_dir).unwrap();
        std::fs::write(sig_dir.join("signature-3"), b"stale").unwrap();
        write_release(dir.path(), &release(&[b"a", b"b"])).unwrap();
        assert_eq!(
            names(dir.path()),
            [
                "signature-sha256-96cb606d04e94de1.yaml".to_string(),
                format!("signatures/sha256={hex}/signature-1"),
                format!("signatures/sha256={hex}/signature-2"),
            ]
        );
    }

    #[test]
    fn a_failed_write_leaves_nothing_of_the_release() {
        let dir = tempfile::tempdir().unwrap();
        // The ConfigMap's path is taken by a directory, so its write fails after the
        // signatures were staged.
        std::fs::create_dir_all(dir.path().join("signature-sha256-96cb606d04e94de1.yaml")).unwrap();
        std::fs::create_dir_all(dir.path().join(
            "signature-sha256-96cb606d04e94de1.tmp-".to_string() + &std::process::id().to_string(),
        ))
        .unwrap();
        let err = write_release(dir.path(), &release(&[b"a"])).unwrap_err();
        assert!(err.to_string().contains("cannot write"), "{err}");
        let left: Vec<String> = names(dir.path())
            .into_iter()
            .filter(|n| n.contains("signature-1"))
            .collect();
        assert!(left.is_empty(), "{left:?}");
    }
}
