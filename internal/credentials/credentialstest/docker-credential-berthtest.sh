#!/bin/sh
# A credential helper for tests: docker's helper protocol (store, get, erase) over one
# file per server (named by the hex of the server) in $BERTHTEST_STORE; each call is
# appended to $BERTHTEST_STORE/calls.
set -eu
dir=${BERTHTEST_STORE:?}
action=${1:-}
input=$(cat)
echo "$action" >>"$dir/calls"
file() { printf '%s' "$1" | od -An -tx1 | tr -d ' \n'; }
case "$action" in
store)
	server=$(printf '%s' "$input" | sed -n 's/.*"ServerURL":"\([^"]*\)".*/\1/p')
	printf '%s' "$input" >"$dir/$(file "$server").cred"
	;;
get)
	f="$dir/$(file "$input").cred"
	if [ ! -f "$f" ]; then
		echo "credentials not found in native keychain"
		exit 1
	fi
	cat "$f"
	;;
erase)
	rm -f "$dir/$(file "$input").cred"
	;;
*)
	echo "unknown action $action" >&2
	exit 1
	;;
esac
