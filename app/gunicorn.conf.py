"""gunicorn settings for the API (`gunicorn -c gunicorn.conf.py demo.wsgi`).

Numbers come from the environment so the cluster can size them per pod; the defaults are what
`make bench` measured best on a 2-core machine (see the README's benchmark section).
"""

import os

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
# The CPU count inside a container is the node's, not the pod's limit: size explicitly.
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
# gthread for its keep-alive connections and idle-connection handling; one thread per worker
# because a request's CPU work holds the GIL: with more threads, a thread back from a database
# round trip queues behind its siblings' CPU work (measured with make bench: README, "Benchmark").
# Scale with WEB_CONCURRENCY and replicas, not threads.
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "gthread")
threads = int(os.environ.get("GUNICORN_THREADS", "1"))

# Requests longer than this are killed; a SIGTERM (pod deletion, rollout) lets in-flight requests
# finish for up to graceful_timeout before the workers exit. Keep it below the pod's
# terminationGracePeriodSeconds (30 s by default).
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "25"))
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "5"))

# Worker recycling is off by default. A recycled worker's replacement gets none of the clients'
# kept-alive connections: they stay on the workers that were already running, so under steady
# load one of two cores sat idle after each recycle (measured with make bench, see the README).
# The pod's memory limit bounds a leak instead. A positive value recycles after that many
# requests, with 10% jitter so workers do not restart all at once.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "0"))
max_requests_jitter = max_requests // 10

# The heartbeat file is touched on every request: keep it in memory, never on an overlay
# filesystem (which can stall the worker and get it killed as unresponsive).
SHARED_MEMORY = "/dev/shm"  # noqa: S108  (gunicorn creates its own file there, with a random name)
if os.path.isdir(SHARED_MEMORY):
    worker_tmp_dir = SHARED_MEMORY

# Load Django once in the arbiter, so workers fork ready (faster, less memory) and a broken import
# stops the container at start instead of looping workers.
preload_app = True

# Logs go to the container's stdout/stderr. Access logging is on stdout: the app writes one JSON
# line per request itself (request id, method, path, status, duration_ms; demo/access_log.py),
# so gunicorn's plain-text access line would only duplicate it. gunicorn's own messages go to stderr.
accesslog = None
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")

# Only the local proxy may claim X-Forwarded-* (the default); no runtime control socket is needed.
control_socket_disable = True
