#!/bin/sh
# Install the Debian (bookworm) packages needed to build, run, test and bench.
# Only the missing ones are installed; a no-op (one dpkg-query) when all are there.
#
# Installing nginx, postgresql and redis-server would normally start their system
# services (port 80, 5432, 6379).  We never use those: our servers run from var/
# on their own ports.  So during our install, a temporary /usr/sbin/policy-rc.d
# (when none exists) tells invoke-rc.d not to start anything.
set -eu

PKGS="build-essential pkg-config nginx nginx-dev libpq-dev postgresql libhiredis-dev
redis-server pgbouncer libyajl-dev libssl-dev libcurl4-openssl-dev libcrypt-dev libcmocka-dev
libunistring-dev libidn-dev clang libclang-rt-14-dev libmojolicious-perl libwww-perl
wrk curl ca-certificates procps util-linux iproute2 binutils openssl perl
chromium chromium-driver python3-mastodon libio-socket-ssl-perl mount libwslay-dev haproxy libcryptx-perl
libvips-dev libvips-tools ffmpeg zlib1g-dev"

# The tests' S3-compatible server (t/media_s3.t): npm's s3rver, pinned, in
# its own prefix (t/lib/MastodonTest.pm runs it from there).  Node and npm
# are Debian's unless some node with its npm is already installed.
S3RVER_PREFIX=/usr/local/lib/mastodon-s3rver
S3RVER_VERSION=3.7.1
command -v npm >/dev/null 2>&1 || PKGS="$PKGS nodejs npm"

install_s3rver() {
    if [ -x "$S3RVER_PREFIX/node_modules/.bin/s3rver" ]; then return 0; fi
    echo "install-deps: installing s3rver $S3RVER_VERSION into $S3RVER_PREFIX" >&2
    $SUDO mkdir -p "$S3RVER_PREFIX"
    $SUDO npm install --prefix "$S3RVER_PREFIX" --no-audit --no-fund --omit=dev \
        "s3rver@$S3RVER_VERSION" >&2
}

if [ "$(id -u)" = 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
else
    SUDO="none"
fi

missing=""
for p in $PKGS; do
    st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
    [ "$st" = installed ] || missing="$missing $p"
done
if [ -z "$missing" ]; then
    if [ "$SUDO" = none ] && [ ! -x "$S3RVER_PREFIX/node_modules/.bin/s3rver" ]; then
        echo "install-deps: not root and no sudo; as root, run:" >&2
        echo "  npm install --prefix $S3RVER_PREFIX s3rver@$S3RVER_VERSION" >&2
        exit 1
    fi
    install_s3rver
    exit 0
fi

echo "install-deps: installing:$missing" >&2

if [ "$SUDO" = none ]; then
    echo "install-deps: not root and no sudo; as root, run:" >&2
    echo "  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends$missing" >&2
    exit 1
fi

policy=/usr/sbin/policy-rc.d
made_policy=0
cleanup() {
    if [ "$made_policy" = 1 ]; then $SUDO rm -f "$policy"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\n# temporary, scripts/install-deps.sh: do not start services\nexit 101\n' \
        | $SUDO tee "$policy" >/dev/null
    $SUDO chmod 755 "$policy"
    made_policy=1
fi

$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q
# shellcheck disable=SC2086
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing

# Check again: a package that apt did not install is a hard error.
still=""
for p in $missing; do
    st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
    [ "$st" = installed ] || still="$still $p"
done
if [ -n "$still" ]; then
    echo "install-deps: still missing after apt-get install:$still" >&2
    exit 1
fi
install_s3rver
echo "install-deps: done" >&2
