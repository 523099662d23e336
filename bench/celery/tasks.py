"""The Celery side of the dispatch benchmark: an app with no result backend and one empty task.

The broker URL and queue come from BENCH_BROKER_URL and BENCH_QUEUE, so the worker process
started by bench_celery.py and the publisher share them.
"""

import os

from celery import Celery

app = Celery("bench", broker=os.environ["BENCH_BROKER_URL"])
app.conf.update(
    task_default_queue=os.environ.get("BENCH_QUEUE", "bench-celery"),
    task_ignore_result=True,
    result_backend=None,
    worker_hijack_root_logger=False,
    broker_connection_retry_on_startup=True,
)


@app.task(name="bench.empty")
def empty():
    """Does nothing: what is measured is Celery's dispatch and consume path."""
