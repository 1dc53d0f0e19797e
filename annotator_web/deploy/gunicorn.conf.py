"""gunicorn's settings for the web app, the one place they are set: the production image, docker-compose and the
API load benchmark start gunicorn with ``-c annotator_web/deploy/gunicorn.conf.py`` (``-b`` and ``-w`` on the
command line take precedence). Every value can be changed through the environment.

Threads (``gthread``) let a worker serve other requests while one waits for PostgreSQL or Redis; each thread keeps
one database connection (``DB_CONN_MAX_AGE``), so the server holds at most ``workers x threads`` connections.
Large files (images, chart assets) are streamed in chunks, so a slow download holds one thread, not a worker."""

import os

bind = os.environ.get("WEB_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("WEB_WORKERS", (os.cpu_count() or 1) + 1))
threads = int(os.environ.get("WEB_THREADS", 4))
worker_class = "gthread"
timeout = int(os.environ.get("WEB_TIMEOUT", 120))
keepalive = 5
backlog = 2048
