#!/usr/bin/env bash
# Build release archives of the plugin and fill the krew manifest's uri/sha256 for them.
#
# Usage: scripts/package-release.sh [OPTIONS] [TARGET...]
#
#   TARGET         Rust target triples to package (e.g. aarch64-unknown-linux-gnu,
#                  x86_64-pc-windows-gnu). Default: the host. A target whose rustup
#                  target is not installed is skipped with a message.
#   --all          Try the five krew platforms' default triples (see ALL_TARGETS).
#   --debug        Build the debug profile instead of release (fast; for testing only).
#   --binary PATH  Do not run cargo: package PATH (a built binary for the host) as the
#                  host platform's archive. Used by tests/krew_manifest.rs.
#   --out-dir DIR  Where archives and the filled manifest go. Default: target/dist.
#   --manifest F   The manifest to fill. Default: plugin-manifest/release-signature.yaml.
#   --in-place     Also rewrite the manifest F itself (default: only DIR/release-signature.yaml).
#
# Environment: PROFILE=debug is the same as --debug. GZIP_LEVEL: 1-9, default 9.
# SOURCE_DATE_EPOCH sets archive mtimes (default: the last commit's time), so an unchanged
# binary gives an unchanged archive (with GNU tar).
#
# Archives: oc-release-signature_<os>_<arch>.tar.gz holding kubectl-release_signature, LICENSE
# and README.md (when present); windows: a .zip holding kubectl-release_signature.exe instead.
# Only the platforms packaged in this run get their uri/sha256 rewritten; the others keep
# what the manifest has (the 64-zero placeholder in the committed manifest).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

NAME=oc-release-signature
PLUGIN_BIN=kubectl-release_signature
URL_BASE="${URL_BASE:-https://github.com/openshift/oc-release-signature/releases/download}"
ALL_TARGETS=(x86_64-unknown-linux-gnu aarch64-unknown-linux-gnu x86_64-apple-darwin
             aarch64-apple-darwin x86_64-pc-windows-gnu)

profile="${PROFILE:-release}"
binary=""
out_dir="$ROOT/target/dist"
manifest="$ROOT/plugin-manifest/release-signature.yaml"
in_place=0
targets=()

die() { echo "package-release.sh: $*" >&2; exit 1; }
note() { echo "package-release.sh: $*" >&2; }

while [ $# -gt 0 ]; do
  case "$1" in
    --all) targets+=("${ALL_TARGETS[@]}") ;;
    --debug) profile=debug ;;
    --binary) [ $# -ge 2 ] || die "--binary needs a path"; binary="$2"; shift ;;
    --binary=*) binary="${1#*=}" ;;
    --out-dir) [ $# -ge 2 ] || die "--out-dir needs a directory"; out_dir="$2"; shift ;;
    --out-dir=*) out_dir="${1#*=}" ;;
    --manifest) [ $# -ge 2 ] || die "--manifest needs a file"; manifest="$2"; shift ;;
    --manifest=*) manifest="${1#*=}" ;;
    --in-place) in_place=1 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) die "unknown option $1 (try --help)" ;;
    *) targets+=("$1") ;;
  esac
  shift
done
case "$profile" in release|debug) ;; *) die "PROFILE must be release or debug, not $profile" ;; esac
[ -f "$manifest" ] || die "no manifest at $manifest"
[ -f LICENSE ] || die "no LICENSE at the repository root"
for tool in python3 sha256sum tar gzip; do
  command -v "$tool" >/dev/null || die "$tool is required"
done

# The crate's version, from the [package] table of Cargo.toml; the release tag is v<version>.
version="$(awk '/^\[/{p=($0=="[package]")} p && /^version *=/{gsub(/^version *= *"|".*$/,""); print; exit}' Cargo.toml)"
[ -n "$version" ] || die "no [package] version in Cargo.toml"
tag="v$version"

host_triple() {
  if command -v rustc >/dev/null; then rustc -vV | sed -n 's/^host: //p'; return; fi
  case "$(uname -s)/$(uname -m)" in
    Linux/x86_64) echo x86_64-unknown-linux-gnu ;;
    Linux/aarch64|Linux/arm64) echo aarch64-unknown-linux-gnu ;;
    Darwin/x86_64) echo x86_64-apple-darwin ;;
    Darwin/arm64|Darwin/aarch64) echo aarch64-apple-darwin ;;
    *) die "cannot tell the host platform from uname: $(uname -s)/$(uname -m)" ;;
  esac
}

# triple -> "os arch" in krew's words, or nothing for a platform krew/the manifest doesn't have.
krew_platform() {
  local os arch
  case "$1" in
    *-linux-*) os=linux ;; *-apple-darwin) os=darwin ;; *-windows-*) os=windows ;; *) return 1 ;;
  esac
  case "$1" in
    x86_64-*) arch=amd64 ;; aarch64-*) arch=arm64 ;; *) return 1 ;;
  esac
  echo "$os $arch"
}

epoch="${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}"
mkdir -p "$out_dir"
out_dir="$(cd "$out_dir" && pwd)"
host="$(host_triple)"
if [ -n "$binary" ]; then
  [ -x "$binary" ] || die "--binary $binary is not an executable file"
  [ ${#targets[@]} -eq 0 ] || die "--binary packages the host only; do not also give targets"
  targets=("$host")
elif [ ${#targets[@]} -eq 0 ]; then
  targets=("$host")
fi

# Which binary target to build: the crate's kubectl-release_signature if it has one,
# otherwise oc-release-signature (the same program) renamed in the archive.
cargo_bin() {
  local meta
  meta="$(cargo metadata --no-deps --format-version 1 --locked 2>/dev/null)" || meta='{"packages":[]}'
  if python3 -c 'import json,sys; m=json.load(sys.stdin); sys.exit(0 if any(t["name"]=="kubectl-release_signature" and "bin" in t["kind"] for p in m["packages"] for t in p["targets"]) else 1)' <<<"$meta"; then
    echo "$PLUGIN_BIN"
  else
    echo "$NAME"
  fi
}

installed_targets=""
if command -v rustup >/dev/null; then installed_targets="$(rustup target list --installed 2>/dev/null || true)"; fi

staging="$(mktemp -d)"
trap 'rm -rf "$staging"' EXIT
fills="$staging/fills.tsv"   # os <TAB> arch <TAB> uri <TAB> sha256
: >"$fills"
bin_name=""

for triple in "${targets[@]}"; do
  if ! plat="$(krew_platform "$triple")"; then
    note "skipping $triple: not one of the manifest's platforms (linux/darwin amd64/arm64, windows/amd64)"
    continue
  fi
  read -r os arch <<<"$plat"
  exe=""; [ "$os" = windows ] && exe=".exe"

  if [ -n "$binary" ]; then
    built="$binary"
  else
    if [ "$triple" != "$host" ] && ! grep -qx "$triple" <<<"$installed_targets"; then
      note "skipping $triple: rustup target not installed (rustup target add $triple)"
      continue
    fi
    [ -n "$bin_name" ] || bin_name="$(cargo_bin)"
    args=(build --locked --bin "$bin_name")
    [ "$profile" = release ] && args+=(--release)
    if [ "$triple" = "$host" ]; then
      dir="${CARGO_TARGET_DIR:-target}/$profile"
    else
      args+=(--target "$triple")
      dir="${CARGO_TARGET_DIR:-target}/$triple/$profile"
    fi
    note "cargo ${args[*]}"
    cargo "${args[@]}" || die "cargo build for $triple failed"
    built="$dir/$bin_name$exe"
    [ -f "$built" ] || die "cargo did not produce $built"
  fi

  pkg="$staging/${os}_${arch}"
  mkdir -p "$pkg"
  cp "$built" "$pkg/$PLUGIN_BIN$exe"
  chmod 0755 "$pkg/$PLUGIN_BIN$exe"
  cp LICENSE "$pkg/LICENSE"
  files=("$PLUGIN_BIN$exe" LICENSE)
  if [ -f README.md ]; then cp README.md "$pkg/README.md"; files+=(README.md)
  else note "no README.md at the repository root; packaging without it"; fi
  chmod 0644 "$pkg/LICENSE" "$pkg"/README.md 2>/dev/null || true
  touch -d "@$epoch" "$pkg"/* 2>/dev/null || true

  if [ "$os" = windows ]; then
    command -v zip >/dev/null || die "zip is required for the windows archive"
    archive="${NAME}_${os}_${arch}.zip"
    rm -f "$out_dir/$archive"
    (cd "$pkg" && zip -q -X "$out_dir/$archive" "${files[@]}")
  else
    archive="${NAME}_${os}_${arch}.tar.gz"
    tar_flags=()
    if tar --version 2>/dev/null | grep -q 'GNU tar'; then
      tar_flags=(--sort=name --owner=0 --group=0 --numeric-owner --mtime="@$epoch")
    fi
    (cd "$pkg" && tar "${tar_flags[@]}" -cf - "${files[@]}") | gzip -n "-${GZIP_LEVEL:-9}" >"$out_dir/$archive"
  fi
  sum="$(sha256sum "$out_dir/$archive" | cut -d' ' -f1)"
  uri="$URL_BASE/$tag/$archive"
  printf '%s\t%s\t%s\t%s\n' "$os" "$arch" "$uri" "$sum" >>"$fills"
  echo "$out_dir/$archive  $sum"
done

[ -s "$fills" ] || die "nothing was packaged"

# Rewrite the manifest line by line: within spec.platforms, each "- " item at the list's
# indentation is one platform; its matchLabels os/arch pick the fill, and its `uri:` and
# `sha256:` lines get the new values (comments and layout are kept). spec.version is set
# to the release tag. Every fill must match exactly one platform.
python3 - "$manifest" "$out_dir/release-signature.yaml" "$fills" "$tag" <<'PY'
import re, sys

src, dst, fills_path, tag = sys.argv[1:5]
fills = {}
for line in open(fills_path):
    os_, arch, uri, sha = line.rstrip("\n").split("\t")
    fills[(os_, arch)] = (uri, sha)

lines = open(src).read().split("\n")
indent = lambda l: len(l) - len(l.lstrip(" "))
meaningful = lambda l: l.strip() and not l.lstrip().startswith("#")

def kv(line):
    m = re.match(r'^\s*(?:-\s+)?([A-Za-z0-9_]+):\s*(.*?)\s*$', line)
    if not m:
        return None, None
    val = m.group(2)
    if val and val[0] not in "\"'":
        val = re.sub(r'\s+#.*$', '', val)
    return m.group(1), val.strip("\"'")

# spec.version
for i, l in enumerate(lines):
    if re.match(r'^  version:', l):
        lines[i] = '  version: "%s"' % tag
        break
else:
    sys.exit("package-release.sh: no spec.version line in %s" % src)

# locate spec.platforms and split it into items
try:
    p = next(i for i, l in enumerate(lines) if re.match(r'^\s*platforms:\s*$', l))
except StopIteration:
    sys.exit("package-release.sh: no platforms: list in %s" % src)
base = indent(lines[p])
end = len(lines)
for j in range(p + 1, len(lines)):
    if meaningful(lines[j]) and indent(lines[j]) <= base and not lines[j].lstrip().startswith("-"):
        end = j
        break
starts = [j for j in range(p + 1, end) if meaningful(lines[j]) and lines[j].lstrip().startswith("- ")]
if not starts:
    sys.exit("package-release.sh: empty platforms list")
item_indent = indent(lines[starts[0]])
starts = [j for j in starts if indent(lines[j]) == item_indent]

done = set()
for k, s in enumerate(starts):
    e = starts[k + 1] if k + 1 < len(starts) else end
    os_ = arch = None
    for j in range(s, e):
        key, val = kv(lines[j])
        if key == "os": os_ = val
        if key == "arch": arch = val
    if (os_, arch) not in fills:
        continue
    if (os_, arch) in done:
        sys.exit("package-release.sh: two platforms for %s/%s" % (os_, arch))
    uri, sha = fills[(os_, arch)]
    field_indent = item_indent + 2
    seen = set()
    for j in range(s, e):
        key, _ = kv(lines[j])
        if key in ("uri", "sha256") and indent(lines[j].replace("- ", "  ", 1)) == field_indent:
            prefix = lines[j][: lines[j].index(key)]
            lines[j] = '%s%s: %s' % (prefix, key, uri if key == "uri" else '"%s"' % sha)
            seen.add(key)
        elif lines[j].lstrip().startswith("# PLACEHOLDER"):
            lines[j] = None  # the placeholder note no longer applies
    if seen != {"uri", "sha256"}:
        sys.exit("package-release.sh: platform %s/%s lacks a uri or sha256 line" % (os_, arch))
    done.add((os_, arch))

missing = set(fills) - done
if missing:
    sys.exit("package-release.sh: no platform in the manifest for %s" % ", ".join("%s/%s" % m for m in sorted(missing)))
open(dst, "w").write("\n".join(l for l in lines if l is not None))
for os_, arch in sorted(done):
    print("filled %s/%s in %s" % (os_, arch, dst), file=sys.stderr)
PY

if [ "$in_place" = 1 ]; then
  cp "$out_dir/release-signature.yaml" "$manifest"
  note "updated $manifest"
fi
