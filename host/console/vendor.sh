#!/usr/bin/env bash
# Re-vendor the console's third-party browser code from npm at the pinned
# versions below (run by hand when bumping a version; `cargo build` never
# needs node: the files under vendor/ are checked in and embedded).
set -euo pipefail
cd "$(dirname "$0")"
PACKAGES=(
    "@xterm/xterm@6.0.0"
    "@xterm/addon-fit@0.11.0"
    "@xterm/addon-web-links@0.12.0"
    "@xterm/addon-unicode11@0.9.0"
)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
rm -rf vendor
mkdir -p vendor
for spec in "${PACKAGES[@]}"; do
    (cd "$tmp" && npm pack --silent "$spec" >/dev/null)
done
for tgz in "$tmp"/*.tgz; do
    name=$(basename "$tgz" .tgz)            # e.g. xterm-addon-fit-0.11.0
    dir="$tmp/$name"
    mkdir -p "$dir"
    tar xzf "$tgz" -C "$dir"
    short=${name%-*}                        # drop the version
    short=${short#xterm-}                   # xterm, addon-fit, ...
    for js in "$dir"/package/lib/*.js; do
        cp "$js" "vendor/$(basename "$js")"
    done
    [ -d "$dir/package/css" ] && cp "$dir"/package/css/*.css vendor/
    cp "$dir/package/LICENSE" "vendor/LICENSE.$short"
done
printf '%s\n' "${PACKAGES[@]}" > vendor/VERSIONS
# Strip source-map references: the maps are not vendored.
sed -i '/^\/\/# sourceMappingURL=/d' vendor/*.js
ls -l vendor
