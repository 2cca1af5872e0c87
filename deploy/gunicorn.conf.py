"""Gunicorn settings for one KL.dialog app process (docs/deploy.md); the bind comes per unit."""

import os

# Sync workers: requests are short and CPU-bound (templates, argon2); a slow client is nginx's
# problem, which buffers requests and responses.
workers = int(os.environ.get("WEB_CONCURRENCY", "3"))
worker_class = "sync"
timeout = 30
graceful_timeout = 20
keepalive = 5  # nginx keeps upstream connections open (keepalive in the upstream block)
# Recycle workers now and then, so a slow leak can never grow without bound.
max_requests = 2000
max_requests_jitter = 200
# nginx logs every request (with shortened client addresses); the app logs errors only.
accesslog = None
errorlog = "-"
loglevel = "info"
# Trust X-Forwarded-Proto only from nginx on this host; the app's ProxyFix does the rest.
forwarded_allow_ips = "127.0.0.1"
proc_name = "kldialog"
# gunicorn's control socket (one default path per user) would be shared by the two processes
# on a host; nothing here uses it.
control_socket_disable = True
