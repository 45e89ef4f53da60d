#!/usr/bin/env bash
# Regenerates the Go code for the project's .proto schemas. Needs protoc
# (Debian: protobuf-compiler) and protoc-gen-go at the version go.mod pins.
set -euo pipefail
cd "$(dirname "$0")/.."
ver=$(go list -m -f '{{.Version}}' google.golang.org/protobuf)
GOBIN="$(go env GOPATH)/bin" go install "google.golang.org/protobuf/cmd/protoc-gen-go@$ver"
export PATH="$(go env GOPATH)/bin:$PATH"
for f in $(git ls-files '*.proto'; find . -name '*.proto' -not -path './.git/*' | sed 's|^\./||') ; do echo "$f"; done | sort -u |
while read -r proto; do
  dir=$(dirname "$proto")
  protoc -I "$dir" --go_out="$dir" --go_opt=paths=source_relative "$proto"
done
