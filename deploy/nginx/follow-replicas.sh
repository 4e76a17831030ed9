#!/bin/sh
# The nginx container's entry point under docker-compose: nginx, plus a loop that keeps its
# upstream list equal to the replicas Docker's DNS knows.
#
# Why: nginx resolves the names in an `upstream` block once, at start. A replica added with
# `docker compose up --scale app=3` would get no traffic until nginx reloads, and one that
# was stopped would keep its address in the list. (nginx 1.27.3 and later can re-resolve
# by itself with `resolve` on an upstream server; this works with any nginx, including the
# Debian 1.22 of deploy/airgap/.) Every REPLICAS_EVERY seconds the loop resolves
# REPLICAS_HOST; when the set of addresses changes it rewrites upstream.conf and reloads
# nginx gracefully: new requests go to the new list at once, and the old workers keep
# their open streams for at most 30 s (worker_shutdown_timeout), after which those
# clients reconnect and resume from their seq.
set -eu
host=${REPLICAS_HOST:-app}
port=${REPLICAS_PORT:-3000}
every=${REPLICAS_EVERY:-1}
# board: every request about one board goes to one replica (consistent hashing on the board
# id, see board.conf's `$board`); none: round-robin.
affinity=${AFFINITY:-board}
case "$affinity" in
  board | none) ;;
  *) echo "follow-replicas: AFFINITY must be board or none, not $affinity" >&2; exit 2 ;;
esac
conf=/etc/nginx/conf.d/upstream.conf

addresses() { getent ahostsv4 "$host" 2> /dev/null | awk '{ print $1 }' | sort -u | tr '\n' ' '; }

# The upstream list, in the same shape as the one scripts/cluster writes.
render() {
  echo "# Written by follow-replicas.sh from the addresses of \"$host\"."
  echo "upstream board {"
  # Before `keepalive`, which must follow the balancing method. Adding or removing a
  # replica moves only the boards whose points it takes or held (docs/scaling.md).
  [ "$affinity" = board ] && echo "    hash \$board consistent;"
  if [ -n "$1" ]; then
    for address in $1; do echo "    server $address:$port max_fails=1 fail_timeout=5s;"; done
  else
    # No replica is up: answer 502 at once rather than wait on an address.
    echo "    server 127.0.0.1:$port down;"
  fi
  echo "    keepalive 32;"
  # Below the replicas' HEADER_TIMEOUT (10 s), after which they close idle connections.
  echo "    keepalive_timeout 5s;"
  echo "}"
}

# TLS with HTTP/2 on 8443 beside plain HTTP on 8080 (a certificate made here once).
sh /etc/nginx/board/tls.sh /etc/nginx/tls 8443

current=$(addresses)
render "$current" > "$conf"
echo "follow-replicas: $host is [ $current], affinity $affinity"

(
  while sleep "$every"; do
    next=$(addresses)
    [ "$next" = "$current" ] && continue
    render "$next" > "$conf.next" && mv "$conf.next" "$conf"
    if nginx -s reload 2> /dev/null; then
      echo "follow-replicas: $host is now [ $next], nginx reloaded"
      current=$next
    fi
  done
) &

exec nginx -g 'daemon off; worker_shutdown_timeout 30s;'
