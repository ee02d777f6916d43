#!/bin/sh
# Configure an nginx source tree so that `make modules` builds our dynamic module.
#   configure-nginx.sh NGINX_SRC BUILD [EXTRA_CFLAGS]
# With Debian's nginx-dev (/usr/share/nginx/src) the binary's own configure flags
# (conf_flags) are used, as Debian's nginx_mod build recipe does; any other tree
# gets --with-compat --with-threads, the flags that make a module loadable.
set -eu
src=$1; build=$2; extra=${3:-}
top=$(pwd)
case $build in
    /*) ;;
    *) build=$top/$build ;;
esac
if [ ! -x "$src/configure" ] && [ ! -f "$src/auto/configure" ]; then
    echo "configure-nginx: $src is not an nginx source tree (install nginx-dev or set NGINX_SRC)" >&2
    exit 1
fi
rm -rf "$build/nginx-src" "$build/nginx"
mkdir -p "$build"
cp -a "$src" "$build/nginx-src"
set -- --with-compat --with-threads
if [ -f "$src/conf_flags" ]; then
    # shellcheck disable=SC1090,SC1091
    flags=$(bash -c ". '$src/conf_flags'; printf '%s\n' \"\${NGX_CONF_FLAGS[@]}\"")
    set --
    for f in $flags; do set -- "$@" "$f"; done
fi
cd "$build/nginx-src"
[ -x ./configure ] || cp auto/configure ./configure
# -Wextra for our code; nginx's own headers trip these three, which say nothing about ours.
./configure "$@" \
    --with-cc-opt="-g -O2 -fPIC -fstack-protector-strong -Wformat -Werror=format-security -D_FORTIFY_SOURCE=2 -Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers -Wno-sign-compare $extra" \
    --with-ld-opt="-Wl,-z,relro -Wl,-z,now -fPIC $extra" \
    --add-dynamic-module="$top" \
    --builddir="$build/nginx" > "$build/configure.log" 2>&1 \
  || { tail -30 "$build/configure.log" >&2; exit 1; }
echo "configure-nginx: configured $src into $build/nginx"
