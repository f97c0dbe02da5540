#!/usr/bin/env bash
# Start the real test peers used by the integration tests:
#   - docker-registry over TLS with htpasswd auth (tester / s3cret)
#   - docker-registry over TLS without auth (anonymous)
#   - an HTTPS signature store (tests/peers/store.py)
#   - GnuPG keys (trusted, second, rogue) and signatures for a set of release tags
# and write <state>/env (KEY=VALUE lines) for the tests. It also installs nginx, which tests
# start per test as an HTTP/2 front (h2front.sh).
#
# State dir: $OCRS_PEERS_DIR, else <repo>/target/peers. Idempotent: when the peers are already
# running it only re-arms the flaky-store list and exits. When the build is complete but the
# daemons are gone (after down.sh) it restarts them on fresh ports without rebuilding.
# Set OCRS_PEERS_REBUILD=1 to throw away the built state and start from scratch.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
STATE=${OCRS_PEERS_DIR:-$REPO/target/peers}
mkdir -p "$STATE"
STATE=$(cd "$STATE" && pwd)
case "$STATE" in *:*) echo "up.sh: state dir must not contain ':' ($STATE)" >&2; exit 1 ;; esac

log() { echo "up.sh: $*" >&2; }
die() { echo "up.sh: ERROR: $*" >&2; exit 1; }

USER_NAME=tester
USER_PASSWORD=s3cret
QUAY_REPO=quay.io/openshift-release-dev/ocp-release

TAGS=(4.10.1-x86_64 4.10.1-aarch64 4.10.2-x86_64 4.10.3-x86_64 4.10.4-x86_64 4.10.5-x86_64
      4.10.6-x86_64 4.10.7-x86_64 4.10.8-x86_64 4.10.9-multi 4.10.10-x86_64)
for i in $(seq 0 19); do TAGS+=("4.11.$i-x86_64"); done

# ---------------------------------------------------------------------------------------------
# Tools
install_tools() {
  local -A pkg=([skopeo]=skopeo [docker-registry]=docker-registry [gpg]=gnupg [gpgconf]=gnupg
                [htpasswd]=apache2-utils [openssl]=openssl [curl]=curl [python3]=python3
                [flock]=util-linux [setsid]=util-linux [sha256sum]=coreutils [base64]=coreutils)
  local missing=() t
  for t in "${!pkg[@]}"; do
    command -v "$t" >/dev/null 2>&1 || missing+=("${pkg[$t]}")
  done
  # nginx, the HTTP/2 front of h2front.sh, is in /usr/sbin (not on a non-root PATH).
  [[ -x /usr/sbin/nginx ]] || missing+=(nginx)
  [[ ${#missing[@]} -eq 0 ]] && return 0
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
  log "installing missing packages: ${missing[*]}"
  local sudo=()
  [[ $(id -u) -eq 0 ]] || sudo=(sudo)
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
}
install_tools

# One up.sh at a time per state dir. `flock -o` holds the lock in the flock process itself, so
# the daemons started below do not inherit it.
if [[ ${OCRS_PEERS_LOCKED:-} != "$STATE" ]]; then
  export OCRS_PEERS_LOCKED="$STATE"
  exec flock -o "$STATE/.lock" bash "${BASH_SOURCE[0]}" "$@"
fi

# ---------------------------------------------------------------------------------------------
# Daemon bookkeeping
DAEMONS=(registry registry-anon store)
daemon_pattern() { case "$1" in store) echo store.py ;; *) echo docker-registry ;; esac; }

alive() {
  local f="$STATE/$1.pid" pid
  [[ -s $f ]] || return 1
  pid=$(<"$f")
  kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$(daemon_pattern "$1")"
}

all_alive() {
  local d
  for d in "${DAEMONS[@]}"; do alive "$d" || return 1; done
}

arm_flaky() {
  local digest
  digest=$(sed -n 's/^DIGEST_4_10_8_X86_64=sha256://p' "$STATE/build.env")
  [[ -n $digest ]] || die "no digest for 4.10.8-x86_64 in $STATE/build.env"
  printf '/sha256=%s/signature-1\n' "$digest" >"$STATE/store-flaky.txt.tmp"
  mv -f "$STATE/store-flaky.txt.tmp" "$STATE/store-flaky.txt"
}

if [[ -f $STATE/env && -f $STATE/.built ]] && all_alive; then
  arm_flaky
  log "peers already running (state $STATE, env $STATE/env); flaky list re-armed"
  exit 0
fi

# Something is missing: stop leftovers (keeps the state dir).
bash "$HERE/down.sh" >/dev/null 2>&1 || true
rm -f "$STATE/env"

start_daemon() { # name logfile cmd...
  local name=$1 logf=$2; shift 2
  setsid "$@" >>"$logf" 2>&1 </dev/null &
  local pid=$!
  echo "$pid" >"$STATE/$name.pid"
  sleep 0.2
  alive "$name" || { tail -n 20 "$logf" >&2 || true; die "$name did not start (log $logf)"; }
}

wait_https() { # name url logfile
  local name=$1 url=$2 logf=$3 code i
  for i in $(seq 1 150); do
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 --cacert "$STATE/tls/ca.pem" "$url" || true)
    [[ $code != 000 ]] && { echo "$code"; return 0; }
    alive "$name" || break
    sleep 0.1
  done
  tail -n 20 "$logf" >&2 || true
  die "$name does not answer at $url"
}

free_ports() { # count
  python3 - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}

# ---------------------------------------------------------------------------------------------
# TLS
make_tls() {
  local d="$STATE/tls"
  rm -rf "$d"; mkdir -p "$d/certs.d"
  openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 \
    -keyout "$d/ca-key.pem" -out "$d/ca.pem" -subj "/CN=oc-release-signature test CA" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -addext "subjectKeyIdentifier=hash" 2>/dev/null
  openssl req -new -newkey rsa:2048 -nodes -sha256 \
    -keyout "$d/server-key.pem" -out "$d/server.csr" -subj "/CN=localhost" 2>/dev/null
  cat >"$d/server.ext" <<'EOF'
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid,issuer
EOF
  openssl x509 -req -sha256 -days 3650 -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca-key.pem" \
    -CAcreateserial -out "$d/server.pem" -extfile "$d/server.ext" 2>/dev/null
  openssl verify -CAfile "$d/ca.pem" "$d/server.pem" >/dev/null || die "server cert does not verify"
  cp "$d/ca.pem" "$d/certs.d/ca.crt"
  chmod 600 "$d"/*-key.pem
}

# ---------------------------------------------------------------------------------------------
# Registries
write_registry_config() { # name port with_auth
  local name=$1 port=$2 auth=$3 d="$STATE/$1"
  mkdir -p "$d/data"
  {
    cat <<EOF
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $d/data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
  secret: ocrs-test-$name
  tls:
    certificate: $STATE/tls/server.pem
    key: $STATE/tls/server-key.pem
EOF
    if [[ $auth == yes ]]; then
      cat <<EOF
auth:
  htpasswd:
    realm: ocrs-test
    path: $STATE/htpasswd
EOF
    fi
  } >"$d/config.yml"
}

start_registries() { # port port_anon
  htpasswd -Bbn "$USER_NAME" "$USER_PASSWORD" >"$STATE/htpasswd"
  write_registry_config registry "$1" yes
  write_registry_config registry-anon "$2" no
  start_daemon registry "$STATE/registry.log" docker-registry serve "$STATE/registry/config.yml"
  start_daemon registry-anon "$STATE/registry-anon.log" docker-registry serve "$STATE/registry-anon/config.yml"
  local c
  c=$(wait_https registry "https://127.0.0.1:$1/v2/" "$STATE/registry.log")
  [[ $c == 401 ]] || die "registry with auth answered $c to an anonymous /v2/ (want 401)"
  c=$(wait_https registry-anon "https://127.0.0.1:$2/v2/" "$STATE/registry-anon.log")
  [[ $c == 200 ]] || die "anonymous registry answered $c to /v2/ (want 200)"
}

push_images() {
  local layout="$STATE/images/oci" certs="$STATE/tls/certs.d" tag target dest
  local -a fmt creds
  rm -rf "$STATE/images"
  python3 "$HERE/gen_images.py" "$layout" "${TAGS[@]}"
  local running=0
  for tag in "${TAGS[@]}"; do
    if [[ $tag == *-multi ]]; then fmt=(--all); else fmt=(--format v2s2); fi
    for target in auth anon; do
      if [[ $target == auth ]]; then
        creds=(--dest-creds "$USER_NAME:$USER_PASSWORD"); dest="docker://$REGISTRY/ocp/release:$tag"
      else
        creds=(--dest-no-creds); dest="docker://$REGISTRY_ANON/ocp/release:$tag"
      fi
      (
        out=$(skopeo copy --quiet "${fmt[@]}" --dest-cert-dir "$certs" "${creds[@]}" \
                "oci:$layout:$tag" "$dest" 2>&1) \
          || { echo "$out" >&2; echo "up.sh: ERROR: push of $tag to $target failed" >&2; exit 1; }
      ) &
      running=$((running + 1))
      if (( running >= 4 )); then
        wait -n || die "a push failed"
        running=$((running - 1))
      fi
    done
  done
  while (( running > 0 )); do
    wait -n || die "a push failed"
    running=$((running - 1))
  done
}

ACCEPT="application/vnd.docker.distribution.manifest.v2+json,application/vnd.docker.distribution.manifest.list.v2+json,application/vnd.oci.image.manifest.v1+json,application/vnd.oci.image.index.v1+json"

fetch_manifest() { # host tag out_body out_headers [user:pass]
  local auth=()
  [[ -n ${5:-} ]] && auth=(-u "$5")
  curl -sS -f --cacert "$STATE/tls/ca.pem" "${auth[@]}" -H "Accept: $ACCEPT" \
    -D "$4" -o "$3" "https://$1/v2/ocp/release/manifests/$2" || die "cannot fetch manifest $2 from $1"
}

header() { # file name
  grep -i "^$2:" "$1" | head -n1 | cut -d: -f2- | tr -d ' \r'
}

record_digests() {
  local m="$STATE/manifests" tag hex hex_anon want type key
  rm -rf "$m"; mkdir -p "$m"
  : >"$STATE/build.env.tmp"
  for tag in "${TAGS[@]}"; do
    fetch_manifest "$REGISTRY" "$tag" "$m/$tag.json" "$m/$tag.headers" "$USER_NAME:$USER_PASSWORD"
    fetch_manifest "$REGISTRY_ANON" "$tag" "$m/$tag.anon.json" "$m/$tag.anon.headers"
    hex=$(sha256sum "$m/$tag.json" | cut -d' ' -f1)
    hex_anon=$(sha256sum "$m/$tag.anon.json" | cut -d' ' -f1)
    [[ $hex == "$hex_anon" ]] || die "$tag: digest differs between the two registries"
    [[ $(header "$m/$tag.headers" Docker-Content-Digest) == "sha256:$hex" ]] \
      || die "$tag: Docker-Content-Digest header does not match the body"
    if [[ $tag == *-multi ]]; then want=application/vnd.oci.image.index.v1+json
    else want=application/vnd.docker.distribution.manifest.v2+json; fi
    type=$(header "$m/$tag.headers" Content-Type)
    [[ $type == "$want" ]] || die "$tag: registry serves $type, want $want"
    rm -f "$m/$tag.anon.json" "$m/$tag.headers" "$m/$tag.anon.headers"
    key="DIGEST_$(echo "$tag" | tr '.-' '__' | tr '[:lower:]' '[:upper:]')"
    echo "$key=sha256:$hex" >>"$STATE/build.env.tmp"
  done
}

# ---------------------------------------------------------------------------------------------
# GnuPG
make_keys() {
  export GNUPGHOME="$STATE/gnupg"
  gpgconf --kill all >/dev/null 2>&1 || true
  rm -rf "$GNUPGHOME" "$STATE/keys"
  mkdir -p "$GNUPGHOME" "$STATE/keys"
  chmod 700 "$GNUPGHOME"
  local role uid fpr
  for role in trusted second rogue; do
    uid="OCRS Test ${role^} <$role@ocrs.test>"
    # Created "in 2019" so that the 2020 signature of 4.10.5 is merely expired (a signature
    # older than its key would be rejected for another reason).
    gpg --batch --quiet --faked-system-time 20190101T000000 --passphrase '' \
      --quick-gen-key "$uid" rsa2048 sign never 2>/dev/null
    fpr=$(gpg --batch --with-colons --list-keys "<$role@ocrs.test>" 2>/dev/null | awk -F: '/^fpr:/ {print $10; exit}')
    [[ ${#fpr} -eq 40 ]] || die "no fingerprint for the $role key"
    gpg --batch --armor --export "$fpr" >"$STATE/keys/$role.asc"
    echo "${role^^}_FPR=$fpr" >>"$STATE/build.env.tmp"
    eval "${role^^}_FPR=$fpr"
  done
}

digest_of() { sed -n "s/^DIGEST_$(echo "$1" | tr '.-' '__' | tr '[:lower:]' '[:upper:]')=sha256://p" "$STATE/build.env.tmp"; }

sigdir() { local d="$STATE/store/sha256=$(digest_of "$1")"; mkdir -p "$d"; echo "$d"; }

# skopeo_sign TAG N FPR [MANIFEST_TAG]: signature-N for TAG over MANIFEST_TAG's manifest.
skopeo_sign() {
  local tag=$1 n=$2 fpr=$3 mtag=${4:-$1} out
  out="$(sigdir "$tag")/signature-$n"
  skopeo standalone-sign "$STATE/manifests/$mtag.json" "$QUAY_REPO:$tag" "$fpr" -o "$out" \
    || die "skopeo standalone-sign failed for $tag"
}

must_verify() { # manifest_tag ref_tag fpr file
  skopeo standalone-verify "$STATE/manifests/$1.json" "$QUAY_REPO:$2" "$3" "$4" >/dev/null 2>&1 \
    || die "second opinion: $4 does not verify ($1, $3)"
}
must_not_verify() {
  if skopeo standalone-verify "$STATE/manifests/$1.json" "$QUAY_REPO:$2" "$3" "$4" >/dev/null 2>&1; then
    die "second opinion: $4 verifies ($1, $3) but must not"
  fi
}

payload() { # tag extra_json_for_critical optional_json
  printf '{"critical":{"type":"atomic container signature","image":{"docker-manifest-digest":"sha256:%s"},"identity":{"docker-reference":"%s:%s"}%s},"optional":%s}' \
    "$(digest_of "$1")" "$QUAY_REPO" "$1" "$2" "$3"
}

make_signatures() {
  export GNUPGHOME="$STATE/gnupg"
  rm -rf "$STATE/store"; mkdir -p "$STATE/store"
  local T=$TRUSTED_FPR S=$SECOND_FPR R=$ROGUE_FPR tag d out

  # Good signatures by TRUSTED (and SECOND).
  local good=(4.10.1-x86_64 4.10.1-aarch64 4.10.8-x86_64 4.10.9-multi 4.10.10-x86_64)
  for i in $(seq 0 19); do good+=("4.11.$i-x86_64"); done
  for tag in "${good[@]}"; do
    skopeo_sign "$tag" 1 "$T"
    must_verify "$tag" "$tag" "$T" "$(sigdir "$tag")/signature-1"
  done
  skopeo_sign 4.10.10-x86_64 2 "$S"
  must_verify 4.10.10-x86_64 4.10.10-x86_64 "$S" "$(sigdir 4.10.10-x86_64)/signature-2"

  # 4.10.2: rogue only.
  skopeo_sign 4.10.2-x86_64 1 "$R"
  d=$(sigdir 4.10.2-x86_64)
  must_not_verify 4.10.2-x86_64 4.10.2-x86_64 "$T" "$d/signature-1"
  must_verify 4.10.2-x86_64 4.10.2-x86_64 "$R" "$d/signature-1"

  # 4.10.3: TRUSTED signature over 4.10.1-x86_64's manifest, stored under 4.10.3's digest.
  skopeo_sign 4.10.3-x86_64 1 "$T" 4.10.1-x86_64
  d=$(sigdir 4.10.3-x86_64)
  must_verify 4.10.1-x86_64 4.10.3-x86_64 "$T" "$d/signature-1"
  must_not_verify 4.10.3-x86_64 4.10.3-x86_64 "$T" "$d/signature-1"

  # 4.10.4: unknown JSON field in "critical", signed by TRUSTED with plain gpg.
  d=$(sigdir 4.10.4-x86_64)
  payload 4.10.4-x86_64 ',"surprise":"x"' '{"creator":"test"}' >"$STATE/payload-4.10.4.json"
  gpg --batch --quiet --yes -u "$T" --sign -o "$d/signature-1" "$STATE/payload-4.10.4.json" \
    || die "gpg sign failed for 4.10.4"
  out=$(gpg --batch --status-fd 1 --verify "$d/signature-1" 2>/dev/null || true)
  grep -q "^\[GNUPG:\] GOODSIG" <<<"$out" || die "4.10.4 signature does not verify with gpg"

  # 4.10.5: correct payload, TRUSTED, but a v4 signature that expired on 2020-01-02.
  d=$(sigdir 4.10.5-x86_64)
  payload 4.10.5-x86_64 '' '{"creator":"test","timestamp":1577836800}' >"$STATE/payload-4.10.5.json"
  gpg --batch --quiet --yes -u "$T" --faked-system-time 20200101T000000 --default-sig-expire 1d \
    --sign -o "$d/signature-1" "$STATE/payload-4.10.5.json" 2>/dev/null || die "gpg sign failed for 4.10.5"
  out=$(gpg --batch --list-packets "$d/signature-1" 2>/dev/null || true)
  grep -q "sig expires" <<<"$out" || die "4.10.5 signature has no 'sig expires' subpacket"
  out=$(gpg --batch --status-fd 1 --verify "$d/signature-1" 2>/dev/null || true)
  grep -q "^\[GNUPG:\] EXPSIG" <<<"$out" || die "gpg does not see the 4.10.5 signature as expired"

  # 4.10.6: ROGUE first, TRUSTED second.
  skopeo_sign 4.10.6-x86_64 1 "$R"
  skopeo_sign 4.10.6-x86_64 2 "$T"
  d=$(sigdir 4.10.6-x86_64)
  must_not_verify 4.10.6-x86_64 4.10.6-x86_64 "$T" "$d/signature-1"
  must_verify 4.10.6-x86_64 4.10.6-x86_64 "$T" "$d/signature-2"

  # 4.10.7: nothing.
  rm -f "$STATE"/payload-*.json
}

# ---------------------------------------------------------------------------------------------
# Signature store
start_store() { # port
  touch "$STATE/store.log"
  start_daemon store "$STATE/store.stderr.log" python3 "$HERE/store.py" --dir "$STATE/store" \
    --port "$1" --cert "$STATE/tls/server.pem" --key "$STATE/tls/server-key.pem" \
    --log "$STATE/store.log" --flaky "$STATE/store-flaky.txt" --delay-file "$STATE/store-delay-ms"
  local c
  c=$(wait_https store "https://127.0.0.1:$1/_ready" "$STATE/store.stderr.log")
  [[ $c == 404 ]] || die "store answered $c to /_ready (want 404)"
}

write_env() {
  local auth_b64
  auth_b64=$(printf '%s:%s' "$USER_NAME" "$USER_PASSWORD" | base64 -w0)
  printf '{"auths":{"%s":{"auth":"%s"}}}\n' "$REGISTRY" "$auth_b64" >"$STATE/auth.json"
  {
    echo "PEERS_DIR=$STATE"
    echo "CA_FILE=$STATE/tls/ca.pem"
    echo "TLS_CERT=$STATE/tls/server.pem"
    echo "TLS_KEY=$STATE/tls/server-key.pem"
    echo "REGISTRY=$REGISTRY"
    echo "REGISTRY_ANON=$REGISTRY_ANON"
    echo "REGISTRY_USER=$USER_NAME"
    echo "REGISTRY_PASSWORD=$USER_PASSWORD"
    echo "RELEASE_REPO=$REGISTRY/ocp/release"
    echo "RELEASE_REPO_ANON=$REGISTRY_ANON/ocp/release"
    echo "AUTH_FILE=$STATE/auth.json"
    echo "STORE_URL=https://127.0.0.1:$STORE_PORT"
    echo "STORE_DIR=$STATE/store"
    echo "STORE_LOG=$STATE/store.log"
    echo "STORE_FLAKY_FILE=$STATE/store-flaky.txt"
    echo "GNUPGHOME=$STATE/gnupg"
    echo "TRUSTED_KEYRING=$STATE/keys/trusted.asc"
    echo "SECOND_KEYRING=$STATE/keys/second.asc"
    echo "ROGUE_KEYRING=$STATE/keys/rogue.asc"
    echo "MANIFESTS_DIR=$STATE/manifests"
    cat "$STATE/build.env"
  } >"$STATE/env.tmp"
  mv -f "$STATE/env.tmp" "$STATE/env"
}

# ---------------------------------------------------------------------------------------------
START=$SECONDS
[[ ${OCRS_PEERS_REBUILD:-} == 1 ]] && rm -f "$STATE/.built"
if [[ ! -f $STATE/.built ]]; then
  log "building peers from scratch in $STATE"
  rm -rf "$STATE/tls" "$STATE/registry" "$STATE/registry-anon" "$STATE/images" "$STATE/manifests" \
         "$STATE/gnupg" "$STATE/keys" "$STATE/store" "$STATE/build.env" "$STATE/build.env.tmp" \
         "$STATE/env.stopped"
  make_tls
fi

read -r PORT PORT_ANON STORE_PORT < <(free_ports 3)
REGISTRY=127.0.0.1:$PORT
REGISTRY_ANON=127.0.0.1:$PORT_ANON
start_registries "$PORT" "$PORT_ANON"

if [[ ! -f $STATE/.built ]]; then
  push_images
  log "pushed ${#TAGS[@]} tags to both registries ($((SECONDS - START))s)"
  record_digests
  make_keys
  make_signatures
  mv -f "$STATE/build.env.tmp" "$STATE/build.env"
  touch "$STATE/.built"
  log "keys and signatures made ($((SECONDS - START))s)"
else
  # Restart of a complete build: check the registries still serve what was signed.
  for tag in 4.10.1-x86_64 4.10.9-multi; do
    key="DIGEST_$(echo "$tag" | tr '.-' '__' | tr '[:lower:]' '[:upper:]')"
    want=$(sed -n "s/^$key=//p" "$STATE/build.env")
    fetch_manifest "$REGISTRY" "$tag" "$STATE/check.json" /dev/null "$USER_NAME:$USER_PASSWORD"
    [[ sha256:$(sha256sum "$STATE/check.json" | cut -d' ' -f1) == "$want" ]] \
      || die "registry no longer serves $tag as $want; rerun with OCRS_PEERS_REBUILD=1"
    rm -f "$STATE/check.json"
  done
fi

arm_flaky
start_store "$STORE_PORT"
write_env
log "peers up in $((SECONDS - START))s: registry $REGISTRY, anonymous $REGISTRY_ANON, store https://127.0.0.1:$STORE_PORT"
log "env: $STATE/env"
