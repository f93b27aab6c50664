#!/usr/bin/env bash
# Consumer test (CI: .ci/run): is chat-relay usable the way a user installs it?
#
#   1. `npm pack` (prepack runs `npm run build`: jsii library + prebundled assets);
#   2. for each aws-cdk-lib version (the oldest the peer range allows, and the latest) and each
#      module system — an ESM app run by tsx, a CommonJS app run by ts-node — a fresh folder with
#      its own `npm install` of the tarball, aws-cdk-lib and constructs from the registry;
#   3. in each: esbuild must be absent from node_modules, `tsc --noEmit` must be clean, and
#      `cdk synth` must produce a default ChatRelay and a customised one (check-template.mjs).
#
# tsx itself runs on esbuild, so the ESM app uses this repository's tsx (outside the app's
# node_modules): the app's own node_modules — chat-relay, its peers, typescript (and ts-node for
# the CommonJS app) — must hold no esbuild at all.
#
# Usage: test/consumer/run.sh [--no-build | --tarball path.tgz]. --no-build packs the current
# build (CI has just run `npm run build`) instead of rebuilding. CONSUMER_CDK_VERSIONS overrides the versions
# ("min latest" by default; "min" is the lower bound of the aws-cdk-lib peer range).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/chat-relay-consumer.XXXXXX")"
trap 'rm -rf "$work"' EXIT
npm_flags=(--no-audit --no-fund --prefer-offline --loglevel=error)

tarball=""
pack_flags=()
case "${1:-}" in
  --tarball) tarball="$(cd "$(dirname "$2")" && pwd)/$(basename "$2")" ;;
  --no-build) pack_flags=(--ignore-scripts) ;;
esac
if [[ -z "$tarball" ]]; then
  echo "consumer: npm pack ${pack_flags[*]:-}"
  (cd "$root" && npm pack "${pack_flags[@]}" --pack-destination "$work" --loglevel=error > "$work/pack.txt")
  tarball="$work/$(tail -n 1 "$work/pack.txt")"
fi
echo "consumer: tarball $(basename "$tarball") ($(du -k "$tarball" | cut -f1) kB)"

peer_min="$(node -p "require('$root/package.json').peerDependencies['aws-cdk-lib'].replace(/^[^0-9]*/, '')")"
constructs_min="$(node -p "require('$root/package.json').peerDependencies.constructs.replace(/^[^0-9]*/, '')")"
cdk_cli="$root/node_modules/.bin/cdk"

failed=0
for which in ${CONSUMER_CDK_VERSIONS:-min latest}; do
  case "$which" in
    min) cdk_lib="aws-cdk-lib@$peer_min"; constructs="constructs@$constructs_min" ;;
    latest) cdk_lib="aws-cdk-lib@latest"; constructs="constructs@latest" ;;
    *) cdk_lib="aws-cdk-lib@$which"; constructs="constructs@$constructs_min" ;;
  esac
  for kind in esm cjs; do
    app="$work/$kind-$which"
    mkdir -p "$app"
    cp "$here/$kind/package.json" "$here/$kind/tsconfig.json" "$here/app.ts" "$app/"
    if [[ "$kind" == esm ]]; then
      runner=()
      echo "{ \"app\": \"$root/node_modules/.bin/tsx app.ts\" }" > "$app/cdk.json"
    else
      runner=(ts-node)
      cp "$here/$kind/cdk.json" "$app/"
    fi
    echo "consumer: $kind app, $cdk_lib, $constructs"
    (
      cd "$app"
      npm install "${npm_flags[@]}" "$tarball" "$cdk_lib" "$constructs"
      npm install "${npm_flags[@]}" --save-dev typescript@5.9.3 @types/node@20 "${runner[@]}"
      if [[ -e node_modules/esbuild ]] || npm ls esbuild --all --parseable 2>/dev/null | grep -q .; then
        echo "esbuild is installed in the consumer app: chat-relay must not need it" >&2
        exit 1
      fi
      installed="$(node -p "require('aws-cdk-lib/package.json').version")"
      echo "consumer: $kind app installed aws-cdk-lib $installed"
      npx tsc --noEmit -p tsconfig.json
      "$cdk_cli" synth --quiet --no-version-reporting --output cdk.out > synth.log 2>&1 || { cat synth.log >&2; exit 1; }
      node "$here/check-template.mjs" cdk.out
    ) || { echo "consumer: FAILED ($kind app, $cdk_lib)" >&2; failed=$((failed + 1)); continue; }
    echo "consumer: ok ($kind app, $cdk_lib)"
  done
done

if [[ "$failed" -gt 0 ]]; then
  echo "consumer: $failed app(s) failed" >&2
  exit 1
fi
echo "consumer: all apps synthesized"
