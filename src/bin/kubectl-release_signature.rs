//! The name `oc` and `kubectl` look for: `oc release-signature ...` and
//! `kubectl release-signature ...` both run this binary (a dash in a plugin name becomes `_`).

fn main() {
    std::process::exit(oc_release_signature::app::run());
}
