//! The command line: flags shared with `oc`/`kubectl` where they mean the same thing.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::release::Arch;

/// Fetch, verify and apply the signatures an OpenShift cluster needs before it accepts an update.
#[derive(Debug, Parser)]
#[command(
    name = "oc-release-signature",
    bin_name = "oc release-signature",
    version,
    about,
    after_help = EXAMPLES,
    max_term_width = 100
)]
pub struct Cli {
    /// More logging on stderr: -v for each step, -vv for details (stores, retries), -vvv adds
    /// the libraries' own logs.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    /// Print only errors and the requested output (no progress, summaries or warnings).
    #[arg(short, long, global = true)]
    pub quiet: bool,

    #[command(subcommand)]
    pub command: Command,
}

const EXAMPLES: &str = "\
Examples:
  # Connected host: fetch and verify the signature of 4.14.8, write it for the air gap
  oc release-signature fetch 4.14.8 --to-dir ./signatures

  # Several releases and architectures at once, printed as ConfigMaps for GitOps
  oc release-signature fetch 4.14.8 4.15.0 --arch aarch64 > signatures.yaml

  # A mirrored release, verified with your own keyring
  oc release-signature fetch registry.example:5000/ocp/release:4.14.8-x86_64 \\
      --keyring ./release-key.asc --signature-store https://mirror.example/signatures

Exit codes: 0 success, 1 operational failure (network, registry, store, cluster, files),
2 bad input, 3 a release has no signature the cluster would accept.";

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Resolve, download and verify release signatures; write them as ConfigMaps.
    #[command(after_help = FETCH_EXAMPLES)]
    Fetch(FetchArgs),
    /// Verify, then server-side apply the signature ConfigMaps to the cluster.
    #[command(after_help = APPLY_EXAMPLES)]
    Apply(crate::commands::apply::ApplyArgs),
    /// List the signatures the cluster holds and whether its own keys verify them.
    List(crate::commands::list::ListArgs),
    /// Check whether the cluster would accept a release (exit 0) or not (exit 3).
    #[command(after_help = VERIFY_EXAMPLES)]
    Verify(crate::commands::verify::VerifyArgs),
    /// Print a shell completion script: bash, zsh, fish, powershell or elvish.
    Completion {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff), generated from this command line definition.
    Man,
}

const APPLY_EXAMPLES: &str = "\
Examples:
  # Pre-upgrade checklist: put the target release's signature into the cluster
  oc release-signature apply 4.14.8

  # Review first: what would be applied, validated by the API server, nothing stored
  oc release-signature apply 4.14.8 --dry-run=server -o yaml

  # Air gap, disconnected half: apply what `fetch --to-dir` wrote (no registry, no store)
  oc release-signature apply --from-dir ./signatures

  # GitOps: render the manifest without touching the cluster
  oc release-signature apply 4.14.8 --dry-run=client -o yaml > signature.yaml";

const VERIFY_EXAMPLES: &str = "\
Examples:
  # Would the cluster accept its desired release and each available update?
  oc release-signature verify

  # A specific release
  oc release-signature verify 4.14.8 --arch multi";

const FETCH_EXAMPLES: &str = "\
Examples:
  # Air gap, connected half: files to carry across
  oc release-signature fetch 4.14.8 --to-dir ./signatures
  # -> ./signatures/signature-sha256-<16 hex>.yaml (the ConfigMap `oc adm release mirror` writes)
  # -> ./signatures/signatures/sha256=<hex>/signature-N (usable as --signature-store file://...)

  # Review before a change window: print the ConfigMap without writing anything
  oc release-signature fetch 4.14.8 -o yaml

  # By digest, e.g. from `oc adm upgrade` output
  oc release-signature fetch --digest sha256:96cb606d04e94de1954a50ddb965eb02b76e182478bef9225df0ad523cfa6b38";

/// Which releases, and where to look for them and their signatures.
#[derive(Debug, Args, Clone)]
pub struct ReleaseArgs {
    /// Releases: a version (4.14.8, 4.14.0-rc.1), the tag form (4.14.8-x86_64), or a pullspec
    /// (repo:tag or repo@sha256:HEX).
    #[arg(value_name = "VERSION|PULLSPEC")]
    pub releases: Vec<String>,

    /// A release digest (sha256:HEX); repeatable. No registry is contacted for these.
    #[arg(long, value_name = "sha256:HEX")]
    pub digest: Vec<String>,

    /// Architecture of the release: x86_64 (amd64), aarch64 (arm64), s390x, ppc64le, multi.
    /// [default: x86_64]
    #[arg(long, value_name = "ARCH", value_parser = parse_arch)]
    pub arch: Option<Arch>,

    /// Repository a bare version is looked up in (tag VERSION-ARCH).
    #[arg(long, value_name = "REPO", default_value = crate::release::DEFAULT_RELEASE_REPO)]
    pub release_repo: String,

    /// Registry credentials (a pull secret or auth.json). Default: the first that exists of
    /// $REGISTRY_AUTH_FILE, $XDG_RUNTIME_DIR/containers/auth.json,
    /// ~/.config/containers/auth.json, $DOCKER_CONFIG/config.json, ~/.docker/config.json.
    #[arg(long, value_name = "FILE")]
    pub registry_config: Option<PathBuf>,

    /// Extra CA certificates (PEM) trusted for the registry and the signature stores.
    #[arg(long, value_name = "PEM")]
    pub ca_file: Option<PathBuf>,

    /// Signature store base URL (https://, http:// or file://); repeatable: all are asked at
    /// once, and the first in the order given that has signatures is used (an earlier store
    /// still silent 2 s after a later one served them is not waited for).
    /// [default: the two official stores]
    #[arg(long = "signature-store", value_name = "URL")]
    pub signature_stores: Vec<String>,

    /// A keyring file (armored or binary); repeatable. Every keyring must be satisfied, as in
    /// the cluster. [default: the built-in Red Hat keyring]
    #[arg(long = "keyring", value_name = "FILE")]
    pub keyrings: Vec<PathBuf>,
}

fn parse_arch(s: &str) -> Result<Arch, String> {
    s.parse().map_err(|e: crate::error::Error| e.to_string())
}

/// Output formats, as in kubectl.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// YAML ConfigMaps.
    Yaml,
    /// A JSON report (schema in docs/json-output.md).
    Json,
}

/// `fetch`.
#[derive(Debug, Args)]
pub struct FetchArgs {
    #[command(flatten)]
    pub release: ReleaseArgs,

    /// Write each release's ConfigMap and raw signatures into DIR (the air-gap transfer).
    #[arg(long, value_name = "DIR")]
    pub to_dir: Option<PathBuf>,

    /// Output format on stdout: yaml (the ConfigMaps; the default without --to-dir) or json
    /// (a report).
    #[arg(short, long, value_name = "FORMAT")]
    pub output: Option<OutputFormat>,
}
