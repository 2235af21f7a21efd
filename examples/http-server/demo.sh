#!/bin/sh
# The second half of `make demo`: Docker's Wasm launch demo on berth. The image
# http-server:1 (this directory) runs detached with its port 8080 published, answers a
# curl, and is stopped and removed.
#
#   BERTH=bin/berth BERTH_ROOT=.demo-root examples/http-server/demo.sh
#
# DEMO_IP (default 127.0.0.1: the demo stays on loopback; `-p 8080:8080`, with no
# address, publishes on every interface, as docker does) and DEMO_PORT (default 8080)
# choose the host address. When that port is taken on this machine, the demo says so
# and publishes on a free port instead.
set -eu
berth=${BERTH:-bin/berth}
ip=${DEMO_IP:-127.0.0.1}
port=${DEMO_PORT:-8080}
name=http-demo
err=$(mktemp)
trap 'rm -f "$err"; $berth rm -f $name >/dev/null 2>&1 || true' EXIT
$berth rm -f $name >/dev/null 2>&1 || true # left by an interrupted demo

echo "== berth run -d --name $name -p $ip:$port:8080 http-server:1"
if ! $berth run -d --name $name -p "$ip:$port:8080" http-server:1 2>"$err"; then
	if ! grep -q "port is already allocated" "$err"; then
		cat "$err" >&2
		exit 1
	fi
	echo "   $ip:$port is taken on this machine; publishing on a free port instead:"
	echo "== berth run -d --name $name -p $ip::8080 http-server:1"
	$berth run -d --name $name -p "$ip::8080" http-server:1
fi
echo "== berth port $name"
$berth port $name
addr=$($berth port $name 8080/tcp)
echo "== curl http://$addr/"
fetch() { if command -v curl >/dev/null; then curl -fsS "$1"; else wget -qO- "$1"; fi; }
i=0
until fetch "http://$addr/" 2>/dev/null; do # the server takes a moment to listen
	i=$((i + 1))
	if [ $i -ge 300 ]; then
		echo "no answer on $addr after 30 s; the container's log:" >&2
		$berth logs $name >&2
		exit 1
	fi
	sleep 0.1
done
echo "== curl http://$addr/healthz"
fetch "http://$addr/healthz"
echo "== berth ps"
$berth ps
echo "== berth stop $name && berth rm $name"
$berth stop $name
$berth rm $name
