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
/// one verified release. Each file is written to a temporary name and renamed into place, so a
/// failure never leaves a half-written file.
pub fn write_release(dir: &Path, release: &VerifiedRelease) -> Result<WrittenRelease> {
    let bytes = release.signature_bytes();
    let cm = configmap::build(&release.digest, &bytes);
    let sig_dir = dir
        .join("signatures")
        .join(format!("sha256={}", release.digest.hex()));
    std::fs::create_dir_all(&sig_dir).map_err(|e| io_error(&sig_dir, e))?;
    let mut signature_files = Vec::new();
    for (i, sig) in bytes.iter().enumerate() {
        let path = sig_dir.join(format!("signature-{}", i + 1));
        write_atomic(&path, sig)?;
        signature_files.push(path);
    }
    // A stale higher-numbered file would make a store reader find a signature we did not verify.
    for n in bytes.len() + 1..=crate::store::MAX_SIGNATURES as usize {
        let stale = sig_dir.join(format!("signature-{n}"));
        if stale.exists() {
            std::fs::remove_file(&stale).map_err(|e| io_error(&stale, e))?;
        }
    }
    let configmap_file = dir.join(configmap::file_name(&release.digest));
    write_atomic(&configmap_file, configmap::to_yaml(&cm).as_bytes())?;
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

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io_error(path, e)
    })
}

fn io_error(path: &Path, e: std::io::Error) -> Error {
    Error::failure(format!("cannot write {}: {e}", path.display()))
}
