#!/usr/bin/env bash
# The one entry point.
#   ./build.sh            build the extension: dist/chrome, dist/firefox and their store zips,
#                         and the headless command: dist/cli/canary-switch
#   ./build.sh test       every check: fmt, clippy (host + wasm), unit tests, lint, e2e in Chromium and Firefox
#   ./build.sh demo       the stand-in + Chromium with the extension on https://staging.gitlab.com
#   ./build.sh bench      benchmarks against the budgets (bench/results.json)
#   ./build.sh package    same as build (the zips are part of every build)
# Each command installs what it is missing (Debian packages, the wasm32 target, wasm-bindgen-cli,
# npm tools in project-local folders) and is quick when everything is already there.
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$PWD
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
WASM_OUT=$TARGET_DIR/wasm32-unknown-unknown/release
GLUE=$TARGET_DIR/glue
# One wasm module per context that needs one: the background, and the popup with the options
# page. Each crate's module is named after it (canary_switch_<context>.js, _bg.wasm).
CONTEXTS="background pages"
export PATH="$HOME/.cargo/bin:$PATH"

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'build.sh: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- installs (idempotent)
APT_UPDATED=
apt_install() { # apt_install <command-or-path> <package>...
  local probe=$1; shift
  if command -v "$probe" >/dev/null 2>&1 || [ -e "$probe" ]; then return; fi
  command -v apt-get >/dev/null || die "$probe is missing and apt-get is not available: install $* yourself"
  local sudo=; [ "$(id -u)" = 0 ] || sudo=sudo
  if [ -z "$APT_UPDATED" ]; then log "apt-get update"; $sudo apt-get update -qq; APT_UPDATED=1; fi
  log "apt-get install $*"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

ensure_rust() {
  command -v cargo >/dev/null || die "cargo is missing: install Rust with rustup (https://rustup.rs)"
  rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown \
    || { log "rustup target add wasm32-unknown-unknown"; rustup target add wasm32-unknown-unknown; }
  rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy rustfmt
}

ensure_wasm_bindgen() {
  local want
  want=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/"/, "", $3); print $3; exit }' Cargo.lock)
  [ -n "$want" ] || die "wasm-bindgen is not in Cargo.lock"
  if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$want" ]; then
    log "cargo install wasm-bindgen-cli $want (a few minutes, once)"
    # --locked can fail when a locked dependency was yanked; the unlocked build is the fallback.
    cargo install wasm-bindgen-cli --version "$want" --locked 2>/dev/null \
      || cargo install wasm-bindgen-cli --version "$want"
  fi
}

npm_ci() { # npm_ci <dir>: install <dir>/package.json's pins into <dir>/node_modules when they changed
  local dir=$1 stamp=$1/node_modules/.installed
  apt_install npm npm
  if [ ! -f "$stamp" ] || [ "$dir/package-lock.json" -nt "$stamp" ] || [ "$dir/package.json" -nt "$stamp" ]; then
    log "npm install in $dir"
    # No browser downloads: the tests drive Debian's Chromium and Firefox ESR.
    (cd "$dir" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 PUPPETEER_SKIP_DOWNLOAD=1 \
      npm ci --no-audit --no-fund --loglevel=error)
    touch "$stamp"
  fi
}

ensure_build_tools() {
  apt_install zip zip
  apt_install advzip advancecomp
  apt_install gzip gzip
  ensure_rust
  ensure_wasm_bindgen
  npm_ci tools
}

ensure_browsers() {
  apt_install chromium chromium
  apt_install firefox-esr firefox-esr
}

# The GitLab-like Rails stack the e2e tests run against (tests/rails): Debian's gems, no bundler.
ensure_rails() {
  apt_install redis-server redis-server
  apt_install puma puma
  # The gems have no command or fixed path to probe: RubyGems says whether they are there (a
  # few milliseconds); `rails-gems` names them in apt_install's message when they are not.
  ruby -e '%w[rails devise redis-actionpack sqlite3].each { |g| Gem::Specification.find_by_name(g) }' >/dev/null 2>&1 \
    || apt_install rails-gems ruby-rails ruby-devise ruby-redis-actionpack ruby-sqlite3
}

# ---------------------------------------------------------------- build
version() { awk -F'"' '/^version = / { print $2; exit }' Cargo.toml; }

# bindgen_opt <module.wasm> <name>: wasm-bindgen's classic-script glue <name>.js and the
# size-optimised <name>_bg.wasm, into $GLUE.tmp.
bindgen_opt() {
  # The module's import section names the glue, "./<out-name>_bg.js", once per import: with a
  # one-letter name the background module is ~48 B smaller in gzip. The glue only passes that
  # name back to the module, and every loader names the .wasm: the files keep their names.
  wasm-bindgen --target no-modules --no-typescript --out-name w --out-dir "$GLUE.tmp/$2" "$1"
  mv "$GLUE.tmp/$2/w.js" "$GLUE.tmp/$2.js"
  mv "$GLUE.tmp/$2/w_bg.wasm" "$GLUE.tmp/$2_bg.wasm"
  rmdir "$GLUE.tmp/$2"
  # Feature flags: binaryen must accept what rustc emits for wasm32 (reference types, bulk
  # memory...). Debian's binaryen 108 breaks such modules at run time; the npm one is current.
  # --low-memory-unused: Rust's wasm32 stack ends at 1 MiB and grows down, its data starts
  # above it: the low 1 KiB is never used, which lets loads and stores fold their offsets
  # (~630 B of the background module's gzip).
  tools/node_modules/.bin/wasm-opt -Oz --converge --low-memory-unused --strip-producers --enable-bulk-memory --enable-nontrapping-float-to-int \
    --enable-sign-ext --enable-reference-types --enable-mutable-globals --enable-multivalue \
    "$GLUE.tmp/$2_bg.wasm" -o "$GLUE.tmp/$2_bg.opt.wasm"
  mv "$GLUE.tmp/$2_bg.opt.wasm" "$GLUE.tmp/$2_bg.wasm"
}

# Panic locations name their source files, and a dependency's path starts with the registry's
# folder under CARGO_HOME (~60 bytes each, and different per machine): remapped to crate/file,
# the background module is 42 B smaller in gzip, and the same on every machine. The folder
# exists once cargo has fetched.
remap_registry() {
  local src=${CARGO_HOME:-$HOME/.cargo}/registry/src d
  [ -d "$src" ] || cargo fetch --quiet
  for d in "$src"/*/; do
    if [ -d "$d" ]; then printf -- '--remap-path-prefix=%s= ' "$d"; fi
  done
}

build() {
  ensure_build_tools
  local v; v=$(version)
  log "cargo build (wasm32, release): $CONTEXTS"
  local c pkgs=()
  for c in $CONTEXTS; do pkgs+=(-p "canary-switch-$c"); done
  CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS=$(remap_registry) \
    cargo build --release --target wasm32-unknown-unknown --quiet "${pkgs[@]}"
  # Redo when a module or this script (its wasm-bindgen/wasm-opt flags) changed.
  local stale=
  for c in $CONTEXTS; do
    local out=$GLUE/canary_switch_${c}_bg.wasm
    if [ ! -f "$out" ] || [ "$WASM_OUT/canary_switch_$c.wasm" -nt "$out" ] || [ build.sh -nt "$out" ]; then stale=1; fi
  done
  if [ -n "$stale" ]; then
    log "wasm-bindgen + wasm-opt -Oz"
    rm -rf "$GLUE.tmp" && mkdir -p "$GLUE.tmp"
    for c in $CONTEXTS; do bindgen_opt "$WASM_OUT/canary_switch_$c.wasm" "canary_switch_$c"; done
    rm -rf "$GLUE" && mv "$GLUE.tmp" "$GLUE"
  fi
  local b out
  for b in chrome firefox; do
    local src=$b; [ "$b" = chrome ] && src=chromium
    out=dist/$b
    rm -rf "$out" && mkdir -p "$out"
    # Everything in extension/ but the manifest source, the per-browser folders and the crates.
    (cd extension && tar cf - --exclude=manifest.base.json --exclude=chromium --exclude=firefox --exclude=crates .) | (cd "$out" && tar xf -)
    cp "extension/$src/ext-compat.js" "$out/ext-compat.js"
    node tools/manifest.mjs "$src" "$v" "$out/manifest.json"
    cp "$GLUE"/canary_switch_*.js "$GLUE"/canary_switch_*_bg.wasm "$out/"
    rm -f "dist/canary-switch-$b-$v.zip"
    (cd "$out" && find . -type f | LC_ALL=C sort | zip -q -X -9 "../canary-switch-$b-$v.zip" -@)
    # Recompress with zopfli: still a standard deflate zip, ~4% smaller than zip -9.
    advzip -q -z -4 "dist/canary-switch-$b-$v.zip"
  done
  for c in $CONTEXTS; do
    printf 'canary_switch_%s_bg.wasm: %d bytes raw, %d bytes gzip -9\n' "$c" "$(wc -c < "$GLUE/canary_switch_${c}_bg.wasm")" \
      "$(gzip -9 -c "$GLUE/canary_switch_${c}_bg.wasm" | wc -c)"
  done
  for b in chrome firefox; do
    printf 'dist/canary-switch-%s-%s.zip: %d bytes\n' "$b" "$v" "$(wc -c < "dist/canary-switch-$b-$v.zip")"
  done
  build_cli
}

# The headless command (cli/): native, release, into dist/cli/.
build_cli() {
  log "cargo build --release -p canary-switch-cli"
  cargo build --release --quiet -p canary-switch-cli
  mkdir -p dist/cli
  cp "$TARGET_DIR/release/canary-switch" dist/cli/canary-switch
  printf 'dist/cli/canary-switch: %d bytes\n' "$(wc -c < dist/cli/canary-switch)"
}

# ---------------------------------------------------------------- test
run_tests() {
  local t0=$SECONDS
  ensure_build_tools
  ensure_browsers
  ensure_rails
  npm_ci tests
  log "cargo fmt --check"
  cargo fmt --all --check
  log "cargo clippy (host, all targets)"
  cargo clippy --workspace --all-targets --quiet -- -D warnings
  log "cargo clippy (wasm32: the browser bindings and each context's module)"
  cargo clippy --target wasm32-unknown-unknown --quiet -p canary-switch-browser -p canary-switch-background -p canary-switch-pages -- -D warnings
  # The headless command's tests (cli/tests) start the stand-in binary: built first.
  log "cargo build -p www"
  cargo build -p www --quiet
  log "cargo test --workspace"
  cargo test --workspace --quiet
  build
  log "web-ext lint dist/firefox"
  tools/node_modules/.bin/web-ext lint --source-dir dist/firefox --output=text
  log "end-to-end tests (Chromium and Firefox)"
  (cd tests && npm test)
  log "all checks passed in $((SECONDS - t0)) s"
}

demo() {
  build
  ensure_browsers
  npm_ci tests
  cargo build -p www --quiet
  node tests/demo.mjs
}

case "${1:-build}" in
  build|package) build ;;
  test) run_tests ;;
  demo) demo ;;
  bench) build; ensure_browsers; npm_ci tests; cargo build -p www --quiet; node tests/bench.mjs ;;
  -h|--help|help) sed -n '2,9p' "$0" ;;
  *) die "unknown command '$1' (try: build, test, demo, bench, package)" ;;
esac
