#!/usr/bin/env bash
# Builds amq's release archives for Linux servers and Ascend boards:
#
#   build/release/amq-VERSION-linux-amd64.tar.gz
#   build/release/amq-VERSION-linux-arm64.tar.gz   (scripts/build-board.sh)
#   build/release/SHA256SUMS                       (check: sha256sum -c SHA256SUMS)
#
# Each archive holds amq-VERSION-linux-ARCH/ with the amq binary (cgo;
# libascendcl is loaded at run time, so the binaries need no CANN to start),
# README.md, docs/design.md and scripts/atc.sh. VERSION is $1, else
# `git describe --tags --always --dirty`. The archives are reproducible
# (sorted names, fixed owner, the commit's time as mtime, gzip -n).
#
# The release appears at once or not at all: everything is made in a
# staging folder, and build/release is a symbolic link to it that is
# replaced by one rename.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
version=${1:-$(git describe --tags --always --dirty)}
case $version in */* | "") echo "release: bad version \"$version\"" >&2; exit 1 ;; esac
mtime=$(git log -1 --format=%ct)
bash scripts/board-deps.sh

mkdir -p build
stage=$(mktemp -d "$root/build/.release-$version-XXXXXX")
trap 'rm -rf "$stage"' EXIT

for arch in amd64 arm64; do
  name=amq-$version-linux-$arch
  dir=$stage/tmp/$name
  mkdir -p "$dir/docs" "$dir/scripts"
  if [ "$arch" = arm64 ]; then
    AMQ_BOARD_BUILD=$stage/tmp/board bash scripts/build-board.sh --binary-only
    mv "$stage/tmp/board/amq-linux-arm64" "$dir/amq"
  else
    # As build-board.sh: the shim's digest keeps Go's cache honest.
    shim=$(cat cgo/*.c include/*.h cgo/fake/*.h | sha256sum | cut -c1-16)
    CGO_CFLAGS="${CGO_CFLAGS:--O2 -g} -DAMQ_SHIM_DIGEST=$shim" \
      CGO_ENABLED=1 GOOS=linux GOARCH=amd64 go build -trimpath -o "$dir/amq" ./cmd/amq
  fi
  cp README.md "$dir/"
  cp docs/design.md "$dir/docs/"
  cp scripts/atc.sh "$dir/scripts/"
  tar -C "$stage/tmp" --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$mtime" \
    -cf - "$name" | gzip -n -9 >"$stage/$name.tar.gz"
done
rm -rf "$stage/tmp"
(cd "$stage" && sha256sum amq-*.tar.gz >SHA256SUMS)
chmod 755 "$stage"

# Point build/release at the new folder: rename(2) over the old link is
# atomic; the folder it pointed to goes afterwards.
if [ -e build/release ] && [ ! -L build/release ]; then
  echo "release: build/release exists and is not a link; remove it" >&2
  exit 1
fi
old=$(readlink build/release || true)
ln -sfn "$(basename "$stage")" build/.release-link
mv -T build/.release-link build/release
trap - EXIT
[ -z "$old" ] || rm -rf "build/$old"
echo "build/release -> $(readlink build/release)"
cat build/release/SHA256SUMS
