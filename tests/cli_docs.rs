//! Completion scripts, the man page and the worked examples in `--help`, from the real binary.

use assert_cmd::Command;
use predicates::prelude::*;
use predicates::str::contains;

fn bin() -> Command {
    Command::cargo_bin("oc-release-signature").unwrap()
}

#[test]
fn completions_for_every_shell() {
    for (shell, marker) in [
        ("bash", "oc-release-signature"),
        ("zsh", "#compdef oc-release-signature"),
        ("fish", "complete -c oc-release-signature"),
        ("powershell", "Register-ArgumentCompleter"),
    ] {
        bin()
            .args(["completion", shell])
            .assert()
            .success()
            .stdout(contains(marker).and(contains("signature-store")));
    }
    bin()
        .args(["completion", "tcsh"])
        .assert()
        .code(2)
        .stderr(contains("tcsh"));
}

#[test]
fn man_page_is_generated_from_the_cli() {
    bin().arg("man").assert().success().stdout(
        contains(".TH oc-release-signature")
            .and(contains("fetch"))
            .and(contains("apply")),
    );
}

#[test]
fn help_has_worked_examples() {
    bin().args(["apply", "--help"]).assert().success().stdout(
        contains("Pre-upgrade checklist")
            .and(contains("Air gap"))
            .and(contains("GitOps"))
            .and(contains("--dry-run=server")),
    );
    bin()
        .args(["fetch", "--help"])
        .assert()
        .success()
        .stdout(contains("--to-dir ./signatures"));
    bin()
        .arg("--help")
        .assert()
        .success()
        .stdout(contains("Exit codes: 0 success, 1 operational failure"));
}

#[test]
fn no_release_is_a_usage_error() {
    bin()
        .arg("fetch")
        .assert()
        .code(2)
        .stderr(contains("no release given"));
    bin().arg("frobnicate").assert().code(2);
}

#[test]
fn a_closed_pipe_ends_quietly() {
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "'{}' completion bash | head -1",
            env!("CARGO_BIN_EXE_oc-release-signature")
        ))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        !stderr.contains("panicked") && !stderr.contains("Broken pipe"),
        "{stderr}"
    );
}
