#!/bin/sh
# The parts of the official redis image's entrypoint that docker-compose.yml relies on.
set -e
# `docker run redis:7 --flag` and `... x.conf` mean redis-server with those arguments.
if [ "${1#-}" != "$1" ] || [ "${1%.conf}" != "$1" ]; then set -- redis-server "$@"; fi
if [ "$1" = 'redis-server' ]; then
  # The official image is built with protected mode off: other containers may connect.
  # Appended, so that a config file stays first and an explicit setting still wins.
  case " $* " in *" --protected-mode "*) ;; *) set -- "$@" --protected-mode no ;; esac
  if [ "$(id -u)" = '0' ]; then
    find . \! -user redis -exec chown redis '{}' +
    exec gosu redis "$@"
  fi
fi
umask 0077
exec "$@"
