#!/bin/sh
# The board over TLS with HTTP/2 beside plain HTTP: makes a self-signed certificate for
# localhost in DIR (unless one is there), and DIR/listen.conf, the lines board.conf
# includes into its server block to listen on LISTEN with TLS and HTTP/2. Over HTTP/2 a
# browser's streams to the board share one connection, so its tabs never run out of the
# six HTTP/1.1 connections it allows an origin (docs/transports.md, "Many tabs, six
# connections"). Browsers warn about the certificate (nobody vouches for it): accept it
# once, or put your own in DIR as localhost.pem and localhost-key.pem.
#
#   tls.sh DIR LISTEN        # docker-compose: /etc/nginx/tls 8443; scripts/cluster: its own
#
# Without openssl there is no certificate: nginx then serves plain HTTP only, and says why.
set -eu
dir=${1:?usage: tls.sh DIR LISTEN}
listen=${2:?usage: tls.sh DIR LISTEN}
mkdir -p "$dir"
rm -f "$dir/listen.conf"
if [ ! -s "$dir/localhost.pem" ] || [ ! -s "$dir/localhost-key.pem" ]; then
  if ! command -v openssl > /dev/null; then
    echo "tls: no openssl here to make a certificate: serving plain HTTP only" >&2
    exit 0
  fi
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 365 -subj /CN=localhost \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
    -keyout "$dir/localhost-key.pem" -out "$dir/localhost.pem" 2> /dev/null
fi
# `listen ... http2` rather than nginx 1.25's `http2 on`, which Debian's nginx 1.22
# (scripts/cluster, deploy/airgap) does not know; newer nginx accepts both.
cat > "$dir/listen.conf" << CONF
listen $listen ssl http2;
ssl_certificate $dir/localhost.pem;
ssl_certificate_key $dir/localhost-key.pem;
CONF
