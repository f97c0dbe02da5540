//! Human output: the progress display and colour appear on a terminal (a pty from `script`),
//! and never in pipes, with `--quiet`, or (colour) with `NO_COLOR`.

mod common;

use std::process::Command;

use common::peers::{binary, Peers};

const PROGRESS: &str = "resolving and fetching";
const GREEN: &str = "\x1b[32m";

/// Runs the binary under a pseudo-terminal and returns everything it wrote to it.
fn on_tty(peers: &Peers, extra_env: &str, extra_args: &str) -> String {
    let home = tempfile::tempdir().unwrap();
    let cmd = format!(
        "env -u NO_COLOR -u REGISTRY_AUTH_FILE -u XDG_RUNTIME_DIR HOME={home} {extra_env} {bin} fetch 4.11.4 4.11.5 {args} {extra_args} -o json >/dev/null",
        home = home.path().display(),
        bin = env!("CARGO_BIN_EXE_oc-release-signature"),
        args = peers.source_args().join(" "),
    );
    let out = Command::new("script")
        .args(["-q", "-e", "-c", &cmd, "/dev/null"])
        .output()
        .expect("`script` (util-linux) runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn progress_and_colour_only_on_a_terminal() {
    let peers = Peers::get();
    let tty = on_tty(&peers, "", "");
    assert!(tty.contains(PROGRESS), "{tty:?}");
    assert!(tty.contains(GREEN), "{tty:?}");

    let no_color = on_tty(&peers, "NO_COLOR=1", "");
    assert!(!no_color.contains(GREEN), "{no_color:?}");

    let quiet = on_tty(&peers, "", "--quiet");
    assert!(!quiet.contains(PROGRESS), "{quiet:?}");

    let home = tempfile::tempdir().unwrap();
    let piped = binary(home.path())
        .args(["fetch", "4.11.4"])
        .args(peers.source_args())
        .env_remove("NO_COLOR")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&piped.stderr);
    assert!(piped.status.success());
    assert!(
        !stderr.contains(PROGRESS) && !stderr.contains('\x1b'),
        "{stderr:?}"
    );
}
