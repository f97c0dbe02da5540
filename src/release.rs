//! Stage 1: parse what the user typed into a [`ReleaseRequest`], before any network call.
//!
//! Accepted forms: a release version (`4.4.0`, `4.14.0-rc.1`), the tag form (`4.4.0-x86_64`), a
//! pullspec by tag (`repo:tag`) or by digest (`repo@sha256:HEX`), and `--digest sha256:HEX`.

use std::fmt;
use std::str::FromStr;

use crate::error::Error;

/// The official release repository (FACTS.md section 3).
pub const DEFAULT_RELEASE_REPO: &str = "quay.io/openshift-release-dev/ocp-release";

/// An example of a well-formed digest, shown in error messages.
pub const EXAMPLE_DIGEST: &str =
    "sha256:96cb606d04e94de1954a50ddb965eb02b76e182478bef9225df0ad523cfa6b38";

/// A release image architecture, spelled as in release tags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Arch {
    X86_64,
    Aarch64,
    S390x,
    Ppc64le,
    /// The multi-arch release: a manifest list / OCI index.
    Multi,
}

impl Arch {
    /// All architectures, in the order shown in help and errors.
    pub const ALL: [Arch; 5] = [
        Arch::X86_64,
        Arch::Aarch64,
        Arch::S390x,
        Arch::Ppc64le,
        Arch::Multi,
    ];

    /// The spelling used in release tags (`4.4.0-<arch>`).
    pub fn as_str(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Aarch64 => "aarch64",
            Arch::S390x => "s390x",
            Arch::Ppc64le => "ppc64le",
            Arch::Multi => "multi",
        }
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Arch {
    type Err = Error;

    /// Parses a tag spelling or a Go/OCI alias (`amd64`, `arm64`).
    fn from_str(s: &str) -> Result<Arch, Error> {
        match s {
            "x86_64" | "amd64" => Ok(Arch::X86_64),
            "aarch64" | "arm64" => Ok(Arch::Aarch64),
            "s390x" => Ok(Arch::S390x),
            "ppc64le" => Ok(Arch::Ppc64le),
            "multi" => Ok(Arch::Multi),
            _ => Err(Error::usage(format!(
                "unknown architecture `{s}`: use one of x86_64 (alias amd64), aarch64 (alias arm64), \
                 s390x, ppc64le or multi, e.g. --arch aarch64"
            ))),
        }
    }
}

/// A validated `sha256:<64 lowercase hex>` image digest.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest(String);

impl Digest {
    /// The full `sha256:HEX` form.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The 64 hex characters after `sha256:`.
    pub fn hex(&self) -> &str {
        &self.0["sha256:".len()..]
    }

    /// The digest of `bytes`, as a registry computes it.
    pub fn of_bytes(bytes: &[u8]) -> Digest {
        use sha2::Digest as _;
        Digest(format!(
            "sha256:{}",
            hex::encode(sha2::Sha256::digest(bytes))
        ))
    }

    /// The ConfigMap name and binaryData key prefix: `sha256-HEX`.
    pub fn dashed(&self) -> String {
        format!("sha256-{}", self.hex())
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Digest {
    type Err = Error;

    fn from_str(s: &str) -> Result<Digest, Error> {
        let valid = s.strip_prefix("sha256:").is_some_and(|hex| {
            hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        });
        if valid {
            Ok(Digest(s.to_string()))
        } else {
            Err(Error::usage(format!(
                "malformed digest `{s}`: expected `sha256:` followed by 64 lowercase hex characters, \
                 e.g. {EXAMPLE_DIGEST}"
            )))
        }
    }
}

/// Where a release image lives: a registry repository and either a tag or a digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageLocator {
    /// `repo:tag`: the digest must be resolved from the registry.
    Tag { repository: String, tag: String },
    /// The digest is already known; no registry call is needed.
    Digest(Digest),
}

/// One release the user asked about, fully parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseRequest {
    /// What the user typed, for messages.
    pub input: String,
    /// The release version, when the input named one (`4.4.0`).
    pub version: Option<String>,
    /// The architecture, when known from the input or `--arch`.
    pub arch: Option<Arch>,
    /// Where to find the digest.
    pub locator: ImageLocator,
}

impl ReleaseRequest {
    /// A short label for summaries: `4.4.0 x86_64`, a pullspec, or a digest.
    pub fn label(&self) -> String {
        match (&self.version, self.arch) {
            (Some(v), Some(a)) => format!("{v} {a}"),
            _ => self.input.clone(),
        }
    }
}

/// Options that shape how a bare version is turned into a pullspec.
#[derive(Debug, Clone)]
pub struct ParseOptions {
    /// `--arch`, if the user gave it.
    pub arch: Option<Arch>,
    /// `--release-repo`.
    pub release_repo: String,
}

impl Default for ParseOptions {
    fn default() -> Self {
        ParseOptions {
            arch: None,
            release_repo: DEFAULT_RELEASE_REPO.to_string(),
        }
    }
}

/// Parses one positional argument: a version, a tag-form version or a pullspec.
pub fn parse_release(input: &str, opts: &ParseOptions) -> Result<ReleaseRequest, Error> {
    let input = input.trim();
    if input.is_empty() {
        return Err(Error::usage(
            "empty release: give a version such as 4.4.0, a pullspec, or --digest sha256:HEX",
        ));
    }
    if input.starts_with("sha256:") {
        let digest: Digest = input.parse()?;
        return Ok(from_digest(input, digest));
    }
    if input.contains(['/', '@', ':']) {
        return parse_pullspec(input, opts);
    }
    parse_version(input, opts)
}

/// Builds the request for `--digest sha256:HEX`.
pub fn parse_digest_flag(input: &str) -> Result<ReleaseRequest, Error> {
    let digest: Digest = input.trim().parse()?;
    Ok(from_digest(input.trim(), digest))
}

fn from_digest(input: &str, digest: Digest) -> ReleaseRequest {
    ReleaseRequest {
        input: input.to_string(),
        version: None,
        arch: None,
        locator: ImageLocator::Digest(digest),
    }
}

fn parse_version(input: &str, opts: &ParseOptions) -> Result<ReleaseRequest, Error> {
    // Tag form: `4.4.0-x86_64`. The suffix must be a tag spelling, not an alias.
    let (version, tag_arch) = match Arch::ALL
        .iter()
        .find_map(|a| input.strip_suffix(&format!("-{a}")).map(|v| (v, *a)))
    {
        Some((v, a)) => (v, Some(a)),
        None => (input, None),
    };
    if !is_release_version(version) {
        return Err(Error::usage(format!(
            "`{input}` is not a release version or pullspec: use a full version such as 4.4.0 or \
             4.14.0-rc.1, the tag form 4.4.0-x86_64, a pullspec such as \
             {DEFAULT_RELEASE_REPO}:4.4.0-x86_64, or --digest sha256:HEX"
        )));
    }
    let arch = match (tag_arch, opts.arch) {
        (Some(t), Some(a)) if t != a => {
            return Err(Error::usage(format!(
                "`{input}` names architecture {t} but --arch says {a}: drop one of them, \
                 e.g. `{version} --arch {a}`"
            )))
        }
        (Some(t), _) => t,
        (None, Some(a)) => a,
        (None, None) => Arch::X86_64,
    };
    let repository = opts.release_repo.trim_end_matches('/').to_string();
    validate_repository(&repository)?;
    Ok(ReleaseRequest {
        input: input.to_string(),
        version: Some(version.to_string()),
        arch: Some(arch),
        locator: ImageLocator::Tag {
            repository,
            tag: format!("{version}-{arch}"),
        },
    })
}

/// `MAJOR.MINOR.PATCH` with an optional pre-release (`-rc.1`, `-0.nightly-2024-01-01-000000`).
fn is_release_version(s: &str) -> bool {
    let (core, pre) = match s.split_once('-') {
        Some((c, p)) => (c, Some(p)),
        None => (s, None),
    };
    let parts: Vec<&str> = core.split('.').collect();
    let core_ok = parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.len() <= 9 && p.bytes().all(|b| b.is_ascii_digit()));
    let pre_ok = pre.is_none_or(|p| {
        !p.is_empty()
            && p.split('.').all(|id| {
                !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            })
    });
    core_ok && pre_ok
}

fn parse_pullspec(input: &str, opts: &ParseOptions) -> Result<ReleaseRequest, Error> {
    let bad = |why: &str| {
        Error::usage(format!(
            "`{input}` is not a valid pullspec ({why}): use repo:tag or repo@sha256:HEX, e.g. \
             {DEFAULT_RELEASE_REPO}:4.4.0-x86_64"
        ))
    };
    if let Some((repo, digest)) = input.split_once('@') {
        validate_repository(repo).map_err(|_| bad("invalid repository"))?;
        let digest: Digest = digest.parse()?;
        let mut req = from_digest(input, digest);
        req.arch = opts.arch;
        return Ok(req);
    }
    // The tag is after the last ':' that follows the last '/' (a ':' before it is a port).
    let last_slash = input.rfind('/').unwrap_or(0);
    let Some(colon) = input[last_slash..].rfind(':').map(|i| i + last_slash) else {
        return Err(bad("no tag or digest"));
    };
    let (repo, tag) = (&input[..colon], &input[colon + 1..]);
    validate_repository(repo).map_err(|_| bad("invalid repository"))?;
    let tag_ok = !tag.is_empty()
        && tag.len() <= 128
        && tag
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        && !tag.starts_with(['.', '-']);
    if !tag_ok {
        return Err(bad("invalid tag"));
    }
    let arch = Arch::ALL
        .iter()
        .find(|a| tag.ends_with(&format!("-{a}")))
        .copied()
        .or(opts.arch);
    Ok(ReleaseRequest {
        input: input.to_string(),
        version: None,
        arch,
        locator: ImageLocator::Tag {
            repository: repo.to_string(),
            tag: tag.to_string(),
        },
    })
}

/// Checks a repository against the distribution reference grammar (host[:port]/path).
pub fn validate_repository(repo: &str) -> Result<(), Error> {
    let (host, path) = repo.split_once('/').unwrap_or(("", repo));
    let host_ok = host.is_empty()
        || host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b));
    let path_ok = !path.is_empty()
        && path.split('/').all(|c| {
            !c.is_empty()
                && c.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
                && c.starts_with(|ch: char| ch.is_ascii_alphanumeric())
                && c.ends_with(|ch: char| ch.is_ascii_alphanumeric())
        });
    if host_ok && path_ok && !repo.contains("..") {
        Ok(())
    } else {
        Err(Error::usage(format!(
            "`{repo}` is not a valid repository: use host/path such as {DEFAULT_RELEASE_REPO}"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<ReleaseRequest, Error> {
        parse_release(s, &ParseOptions::default())
    }

    #[test]
    fn versions_become_official_tags() {
        let r = parse("4.4.0").unwrap();
        assert_eq!(
            r.locator,
            ImageLocator::Tag {
                repository: DEFAULT_RELEASE_REPO.into(),
                tag: "4.4.0-x86_64".into()
            }
        );
        let r = parse("4.14.0-rc.1").unwrap();
        assert_eq!(r.version.as_deref(), Some("4.14.0-rc.1"));
        let opts = ParseOptions {
            arch: Some("arm64".parse().unwrap()),
            ..Default::default()
        };
        let r = parse_release("4.4.0", &opts).unwrap();
        assert!(matches!(r.locator, ImageLocator::Tag { ref tag, .. } if tag == "4.4.0-aarch64"));
    }

    #[test]
    fn tag_form_carries_its_arch() {
        let r = parse("4.4.0-s390x").unwrap();
        assert_eq!(r.version.as_deref(), Some("4.4.0"));
        assert_eq!(r.arch, Some(Arch::S390x));
        let r = parse("4.14.0-rc.1-multi").unwrap();
        assert_eq!(r.arch, Some(Arch::Multi));
        let clash = ParseOptions {
            arch: Some(Arch::Aarch64),
            ..Default::default()
        };
        let err = parse_release("4.4.0-x86_64", &clash).unwrap_err();
        assert!(err.to_string().contains("--arch"));
    }

    #[test]
    fn pullspecs_by_tag_and_digest() {
        let r = parse("127.0.0.1:5000/ocp/release:4.10.1-x86_64").unwrap();
        assert_eq!(
            r.locator,
            ImageLocator::Tag {
                repository: "127.0.0.1:5000/ocp/release".into(),
                tag: "4.10.1-x86_64".into()
            }
        );
        assert_eq!(r.arch, Some(Arch::X86_64));
        let r = parse(&format!("quay.io/a/b@{EXAMPLE_DIGEST}")).unwrap();
        assert_eq!(
            r.locator,
            ImageLocator::Digest(EXAMPLE_DIGEST.parse().unwrap())
        );
    }

    #[test]
    fn bad_inputs_name_the_value_and_show_a_good_one() {
        for bad in [
            "4.4",
            "foo",
            "../x",
            "4.4.0.1",
            "v4.4.0",
            "4.4.0-",
            "quay.io/x",
            "Quay.io/X/Y:Z:",
        ] {
            let err = parse(bad).unwrap_err();
            let msg = err.to_string();
            assert_eq!(err.exit_code(), 2, "{bad}");
            assert!(msg.contains(bad), "{bad}: {msg}");
            assert!(msg.contains("4.4.0"), "{bad}: {msg}");
        }
        let err = "sparc".parse::<Arch>().unwrap_err().to_string();
        assert!(err.contains("sparc") && err.contains("aarch64"), "{err}");
        for bad in [
            "sha256:abc",
            "sha256:96CB606D04E94DE1954A50DDB965EB02B76E182478BEF9225DF0AD523CFA6B38",
            "md5:00",
        ] {
            let err = parse_digest_flag(bad).unwrap_err().to_string();
            assert!(err.contains(bad) && err.contains(EXAMPLE_DIGEST), "{err}");
        }
    }

    #[test]
    fn digest_helpers() {
        let d: Digest = EXAMPLE_DIGEST.parse().unwrap();
        assert_eq!(d.dashed(), format!("sha256-{}", d.hex()));
        assert_eq!(
            Digest::of_bytes(b"").as_str(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
