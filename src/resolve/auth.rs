//! Registry credentials from the pull-secret format (`{"auths":{host:{"auth":b64(user:pass)}}}`),
//! looked up where podman and docker look.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::Deserialize;

use crate::error::{Error, Result};

/// Credentials for one registry.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    /// Basic auth (also exchanged for a bearer token when the registry asks for one).
    Basic { username: String, password: String },
    /// A registry token used as a bearer token directly.
    Bearer(String),
}

// Never print secrets, whatever the verbosity.
impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::Basic { username, .. } => write!(f, "Basic({username}, <redacted>)"),
            Credentials::Bearer(_) => f.write_str("Bearer(<redacted>)"),
        }
    }
}

/// The parsed auth file and where it came from.
#[derive(Debug, Clone, Default)]
pub struct AuthFile {
    /// The file, if one was found.
    pub path: Option<PathBuf>,
    entries: BTreeMap<String, Credentials>,
}

#[derive(Deserialize)]
struct RawFile {
    #[serde(default)]
    auths: BTreeMap<String, RawEntry>,
}

#[derive(Deserialize)]
struct RawEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    registrytoken: Option<String>,
}

/// The default places, in podman's order, then docker's.
pub fn default_locations() -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Some(p) = std::env::var_os("REGISTRY_AUTH_FILE") {
        out.push(PathBuf::from(p));
    }
    if let Some(dir) = std::env::var_os("XDG_RUNTIME_DIR") {
        out.push(Path::new(&dir).join("containers/auth.json"));
    }
    if let Some(home) = std::env::var_os("HOME") {
        out.push(Path::new(&home).join(".config/containers/auth.json"));
    }
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG") {
        out.push(Path::new(&dir).join("config.json"));
    }
    if let Some(home) = std::env::var_os("HOME") {
        out.push(Path::new(&home).join(".docker/config.json"));
    }
    out
}

impl AuthFile {
    /// Loads `explicit` (`--registry-config`), which must exist, else the first default location
    /// that exists; no file at all means anonymous access.
    pub fn load(explicit: Option<&Path>) -> Result<AuthFile> {
        if let Some(path) = explicit {
            let text = std::fs::read(path).map_err(|e| {
                Error::usage(format!(
                    "cannot read --registry-config {}: {e}: give the path of a pull secret or auth.json",
                    path.display()
                ))
            })?;
            return AuthFile::parse(path, &text);
        }
        for path in default_locations() {
            if let Ok(text) = std::fs::read(&path) {
                return AuthFile::parse(&path, &text);
            }
        }
        Ok(AuthFile::default())
    }

    /// Parses the contents of an auth file.
    pub fn parse(path: &Path, bytes: &[u8]) -> Result<AuthFile> {
        let bad = |why: String| {
            Error::usage(format!(
                "registry auth file {} is not valid ({why}): it must look like \
                 {{\"auths\":{{\"quay.io\":{{\"auth\":\"<base64 of user:password>\"}}}}}}",
                path.display()
            ))
        };
        let raw: RawFile = serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
        let mut entries = BTreeMap::new();
        for (key, entry) in raw.auths {
            let creds = if let Some(token) = entry.registrytoken.filter(|t| !t.is_empty()) {
                Credentials::Bearer(token)
            } else if let Some(auth) = entry.auth.filter(|a| !a.is_empty()) {
                let decoded = base64::engine::general_purpose::STANDARD
                    .decode(auth.trim())
                    .map_err(|_| bad(format!("the auth of {key} is not base64")))?;
                let decoded = String::from_utf8(decoded)
                    .map_err(|_| bad(format!("the auth of {key} is not text")))?;
                let (u, p) = decoded
                    .split_once(':')
                    .ok_or_else(|| bad(format!("the auth of {key} is not user:password")))?;
                Credentials::Basic {
                    username: u.to_string(),
                    password: p.to_string(),
                }
            } else if let (Some(u), Some(p)) = (entry.username, entry.password) {
                Credentials::Basic {
                    username: u,
                    password: p,
                }
            } else {
                continue;
            };
            entries.insert(normalize_key(&key), creds);
        }
        Ok(AuthFile {
            path: Some(path.to_path_buf()),
            entries,
        })
    }

    /// Credentials for `repository` (`host[:port]/path`): the longest matching key among
    /// `host/path...` prefixes, then `host`. Docker Hub is stored under several spellings.
    pub fn lookup(&self, repository: &str) -> Option<&Credentials> {
        let mut candidate = repository.trim_end_matches('/');
        loop {
            if let Some(c) = self.entries.get(candidate) {
                return Some(c);
            }
            match candidate.rfind('/') {
                Some(i) => candidate = &candidate[..i],
                None => break,
            }
        }
        let host = registry_host(repository);
        if host == "docker.io" {
            return self
                .entries
                .get("index.docker.io/v1")
                .or_else(|| self.entries.get("registry-1.docker.io"));
        }
        None
    }
}

/// Strips a scheme and trailing slashes from an auth file key.
fn normalize_key(key: &str) -> String {
    let key = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    key.trim_end_matches('/').to_string()
}

/// The registry host of a repository (`docker.io` when the first part is not a host).
pub fn registry_host(repository: &str) -> &str {
    match repository.split_once('/') {
        Some((first, _)) if first.contains(['.', ':']) || first == "localhost" => first,
        _ => "docker.io",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pull_secret_entries_are_found_by_host_and_path() {
        let file = br#"{"auths":{"quay.io":{"auth":"dXNlcjpwYXNz","email":"x"},
            "https://reg.example:5000/":{"username":"u","password":"p"},
            "quay.io/private/repo":{"auth":"b3RoZXI6c2VjcmV0"}}}"#;
        let auth = AuthFile::parse(Path::new("ps.json"), file).unwrap();
        assert_eq!(
            auth.lookup("quay.io/openshift-release-dev/ocp-release"),
            Some(&Credentials::Basic {
                username: "user".into(),
                password: "pass".into()
            })
        );
        assert_eq!(
            auth.lookup("quay.io/private/repo"),
            Some(&Credentials::Basic {
                username: "other".into(),
                password: "secret".into()
            })
        );
        assert!(auth.lookup("reg.example:5000/ocp/release").is_some());
        assert!(auth.lookup("other.example/ocp/release").is_none());
    }

    #[test]
    fn broken_files_name_the_file_and_never_print_secrets() {
        let err = AuthFile::parse(Path::new("/tmp/ps.json"), b"{nope").unwrap_err();
        assert!(err.to_string().contains("/tmp/ps.json"));
        assert_eq!(err.exit_code(), 2);
        let c = Credentials::Basic {
            username: "u".into(),
            password: "hunter2".into(),
        };
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
