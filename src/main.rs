//! `oc-release-signature`: see the library crate for the pipeline.

fn main() {
    std::process::exit(oc_release_signature::app::run());
}
