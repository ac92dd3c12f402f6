#!/bin/sh
# The image's entry point. One image, three jobs:
#   web (default)   nginx in front of gunicorn (serve.py; gunicorn.conf.py, nginx.conf.template)
#   migrate         apply the database migrations and exit (the cluster runs this as a Job)
#   manage ARGS...  any manage.py command, e.g. `manage createsuperuser`
# Anything else is run as given (e.g. `sh` for debugging).
set -eu

case "${1:-web}" in
  web)
    exec python /app/serve.py
    ;;
  migrate)
    exec python /app/manage.py migrate --noinput
    ;;
  manage)
    shift
    exec python /app/manage.py "$@"
    ;;
  *)
    exec "$@"
    ;;
esac
