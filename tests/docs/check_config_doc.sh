#!/bin/sh
# Checks that docs/configuration.md documents exactly the configuration keys
# that `strata --help` lists: every key (broker keys, their aliases and the
# topic-level configs) must have a row in the reference, and the reference
# must not describe a key the binary does not accept.
#
# Usage: check_config_doc.sh STRATA_BINARY REPO_ROOT
#
# Why from --help: --help walks the same key table that parses and
# validates settings (broker/brk_config.c), so it is the binary's own list.
#
# What counts as "documented": a Markdown table row whose first cell is a
# backticked key name, e.g. "| `log.dirs` | string | ...". Keys named in
# prose, code blocks or the example file do not count, so planned keys can
# be mentioned without being documented as existing. In --help, a key line
# is one that starts with exactly two spaces and a lower-case letter; the
# option lines start with "-" and descriptions with six spaces.
#
# Exit status: 0 when both lists match, 1 when they differ (each missing or
# extra key is listed), 2 on a usage or environment error.
set -eu

if [ $# -ne 2 ]; then
    echo "usage: $0 STRATA_BINARY REPO_ROOT" >&2
    exit 2
fi
bin=$1
doc=$2/docs/configuration.md

if [ ! -x "$bin" ]; then
    echo "check_config_doc: $bin is not an executable" >&2
    exit 2
fi
if [ ! -r "$doc" ]; then
    echo "check_config_doc: cannot read $doc" >&2
    exit 2
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/check_config_doc.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM

if ! "$bin" --help >"$tmp/help" 2>"$tmp/help.err"; then
    echo "check_config_doc: '$bin --help' failed:" >&2
    cat "$tmp/help.err" >&2
    exit 2
fi

LC_ALL=C
export LC_ALL

sed -n 's/^  \([a-z][a-z0-9._-]*\)\( .*\)\{0,1\}$/\1/p' "$tmp/help" |
    sort -u >"$tmp/help.keys"
# shellcheck disable=SC2016 # the backticks are Markdown, not a command
sed -n 's/^|[[:space:]]*`\([a-z][a-z0-9._-]*\)`[[:space:]]*|.*$/\1/p' \
    "$doc" | sort -u >"$tmp/doc.keys"

# An empty list means a format changed, not that all is well.
if [ ! -s "$tmp/help.keys" ]; then
    echo "check_config_doc: found no keys in '$bin --help' output" >&2
    exit 2
fi
if [ ! -s "$tmp/doc.keys" ]; then
    echo "check_config_doc: found no key rows in $doc" >&2
    exit 2
fi

comm -23 "$tmp/help.keys" "$tmp/doc.keys" >"$tmp/undocumented"
comm -13 "$tmp/help.keys" "$tmp/doc.keys" >"$tmp/unknown"

status=0
if [ -s "$tmp/undocumented" ]; then
    echo "check_config_doc: keys listed by --help but not documented in" \
        "docs/configuration.md:"
    sed 's/^/  /' "$tmp/undocumented"
    status=1
fi
if [ -s "$tmp/unknown" ]; then
    echo "check_config_doc: keys documented in docs/configuration.md but" \
        "not listed by --help:"
    sed 's/^/  /' "$tmp/unknown"
    status=1
fi
if [ $status -eq 0 ]; then
    echo "check_config_doc: $(wc -l <"$tmp/help.keys" | tr -d ' ') keys," \
        "documentation and --help agree"
fi
exit $status
