"""Hooks into the Celery worker's life: start the sweeper that re-queues jobs whose worker died."""

import logging

from celery.signals import worker_ready, worker_shutdown

log = logging.getLogger(__name__)
_sweeper = None


@worker_ready.connect
def start_sweeper(**_kwargs) -> None:
    global _sweeper
    from annotator_web.core.jobs import Sweeper

    _sweeper = Sweeper()
    _sweeper.start()
    log.info("job sweeper started")


@worker_shutdown.connect
def stop_sweeper(**_kwargs) -> None:
    if _sweeper is not None:
        _sweeper.stop.set()
