#!/usr/bin/env bash
# Checks amq's ACL declarations (include/amq_acl_decls.h) against CANN's real
# headers, then checks that the check works: a few deliberately wrong
# declarations, each in a scratch copy, must each fail it.
#
#   scripts/check-cann-headers.sh DIR...
#
# Each DIR holds CANN's acl/ headers: a toolkit's include/ folder, a
# checkout of hicann/runtime (include/external/acl) or of hicann/ge
# (inc/external/acl), or any folder with acl/ in it. They are overlaid in
# the order given, as CANN's installer does: hicann/runtime ships
# placeholder acl_mdl.h/acl_op.h that hicann/ge's packages replace, so give
# runtime first, then ge. Without DIR: $AMQ_CANN_HEADERS (space-separated),
# else a CANN toolkit ($ASCEND_TOOLKIT_HOME, or the default install path);
# with none of them it prints "skipped: no CANN headers" and exits 0 (CI has
# no copy of CANN). The headers are only read: nothing of CANN's is written
# into the repository.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

dirs=("$@")
if [ ${#dirs[@]} -eq 0 ] && [ -n "${AMQ_CANN_HEADERS:-}" ]; then
	read -r -a dirs <<<"$AMQ_CANN_HEADERS"
fi
if [ ${#dirs[@]} -eq 0 ]; then
	home=${ASCEND_TOOLKIT_HOME:-/usr/local/Ascend/ascend-toolkit/latest}
	if [ -f "$home/include/acl/acl.h" ]; then
		dirs=("$home/include")
	else
		echo "skipped: no CANN headers (give DIR..., or set AMQ_CANN_HEADERS or ASCEND_TOOLKIT_HOME)"
		exit 0
	fi
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/amq-cann-headers.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# Overlay every DIR's acl/ folder into one include folder.
mkdir -p "$tmp/include/acl"
for d in "${dirs[@]}"; do
	found=
	for sub in . include include/external inc/external; do
		if [ -d "$d/$sub/acl" ]; then
			found=$d/$sub/acl
			break
		fi
	done
	if [ -z "$found" ]; then
		echo "check-cann-headers: $d: no acl/ folder in it (nor in include/, include/external/, inc/external/)" >&2
		exit 1
	fi
	cp -R "$found/." "$tmp/include/acl/"
	echo "headers: $found"
done
inc=$tmp/include
if [ ! -f "$inc/acl/acl.h" ]; then
	echo "check-cann-headers: no acl/acl.h among the headers given (hicann/runtime has it)" >&2
	exit 1
fi
if ! grep -q aclmdlExecute "$inc/acl/acl_mdl.h" 2>/dev/null; then
	echo "check-cann-headers: acl/acl_mdl.h declares no aclmdlExecute: it is hicann/runtime's placeholder; give hicann/ge's inc/external after hicann/runtime's" >&2
	exit 1
fi

# build SRC BUILD: configure and build the header-check targets of the
# sources in SRC; the compiler's messages go to BUILD.log.
build() {
	cmake -S "$1" -B "$2" -DAMQ_CANN_INCLUDE="$inc" >"$2.log" 2>&1 &&
		cmake --build "$2" --target cann_header_check_c cann_header_check -j2 >>"$2.log" 2>&1
}

echo "== amq's declarations against CANN's headers"
if ! build "$root" "$tmp/build"; then
	cat "$tmp/build.log" >&2
	echo "check-cann-headers: FAILED: amq_acl_decls.h differs from CANN's headers (above)" >&2
	exit 1
fi
"$tmp/build/cann_header_check"

echo "== each wrong declaration must fail the check"
src=$tmp/src
mkdir -p "$src"
cp -R "$root/CMakeLists.txt" "$root/cgo" "$root/include" "$src/"
decls=$src/include/amq_acl_decls.h
cp "$decls" "$tmp/decls.orig"
# what the mutation is | sed expression on amq_acl_decls.h | a word the error must name
mutations=(
	"aclrtMalloc's size parameter as uint32_t|s/aclrtMalloc, (void \*\*devPtr, size_t size/aclrtMalloc, (void **devPtr, uint32_t size/|aclrtMalloc"
	"aclmdlGetOutputNameByIndex returning char *|s/X(const char \*, aclmdlGetOutputNameByIndex/X(char *, aclmdlGetOutputNameByIndex/|aclmdlGetOutputNameByIndex"
	"ACL_ERROR_INVALID_MODEL_ID as 100010|s/X(ERROR_INVALID_MODEL_ID, 100011)/X(ERROR_INVALID_MODEL_ID, 100010)/|ERROR_INVALID_MODEL_ID"
	"ACL_BOOL as 13|s/X(BOOL, 12)/X(BOOL, 13)/|BOOL"
	"aclError as long|s/X(aclError, int)/X(aclError, long)/|aclError"
	"aclmdlIODims.dimCount as uint32_t|s/    size_t dimCount;/    uint32_t dimCount;/|dimCount"
)
cmake -S "$src" -B "$tmp/mut" -DAMQ_CANN_INCLUDE="$inc" >"$tmp/mut.log" 2>&1
fails=0
for m in "${mutations[@]}"; do
	IFS='|' read -r what expr name <<<"$m"
	sed "$expr" "$tmp/decls.orig" >"$decls"
	if cmp -s "$decls" "$tmp/decls.orig"; then
		echo "check-cann-headers: mutation \"$what\" changed nothing in amq_acl_decls.h: update the script" >&2
		exit 1
	fi
	if cmake --build "$tmp/mut" --target cann_header_check_c cann_header_check -j2 >"$tmp/mut.log" 2>&1; then
		echo "NOT rejected: $what" >&2
		fails=$((fails + 1))
	elif ! grep -q "error.*$name" "$tmp/mut.log"; then
		echo "rejected without naming $name: $what" >&2
		grep -m3 error "$tmp/mut.log" >&2 || true
		fails=$((fails + 1))
	else
		echo "rejected: $what ($(grep -m1 -o "error: .*$name[^\"]*" "$tmp/mut.log" | cut -c1-120))"
	fi
done
cp "$tmp/decls.orig" "$decls"
if [ "$fails" -gt 0 ]; then
	echo "check-cann-headers: FAILED: $fails wrong declaration(s) passed the check" >&2
	exit 1
fi
echo "check-cann-headers: ok"
