"""Times Celery on one RabbitMQ: N `delay()`s of an empty task, consumed by a worker started first.

Prints one JSON line: celery's version, the pool, the concurrency, the seconds spent publishing,
and the seconds from the first publish until the queue held no ready message after the last one
(the worker prefetches concurrency x 4 messages, so at most that many empty tasks may still be
running then: a few milliseconds at these rates).
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def queue_state(conn, queue):
    """(ready messages, consumers) of `queue`, or None while it does not exist."""
    channel = conn.channel()
    try:
        _, ready, consumers = channel.queue_declare(queue=queue, passive=True)
        return ready, consumers
    except Exception:  # the queue is not declared yet: the channel was closed by the broker
        return None
    finally:
        try:
            channel.close()
        except Exception:
            pass


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--broker", required=True)
    parser.add_argument("--tasks", type=int, default=20000)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--pool", default="prefork", choices=["prefork", "threads", "solo"])
    parser.add_argument("--queue", default="bench-celery")
    args = parser.parse_args()

    env = dict(os.environ, BENCH_BROKER_URL=args.broker, BENCH_QUEUE=args.queue)
    os.environ.update(env)
    sys.path.insert(0, HERE)
    import celery
    from kombu import Connection
    from tasks import empty

    # The worker's log is shown only when it fails to start; its cold shutdown is noisy.
    log = tempfile.TemporaryFile()
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "tasks", "worker", "--loglevel", "warning",
         "--pool", args.pool, "--concurrency", str(args.concurrency), "-Q", args.queue,
         "--without-gossip", "--without-mingle", "--without-heartbeat"],
        cwd=HERE, env=env, stdout=subprocess.DEVNULL, stderr=log,
    )
    try:
        with Connection(args.broker) as conn:
            deadline = time.monotonic() + 60
            while True:
                state = queue_state(conn, args.queue)
                if state is not None and state[1] >= 1:
                    break
                if time.monotonic() > deadline or worker.poll() is not None:
                    log.seek(0)
                    sys.stderr.write(log.read().decode(errors="replace"))
                    sys.exit("the Celery worker did not start consuming")
                time.sleep(0.05)
            # Publish on the app's pooled producer, as application code calling delay() does.
            start = time.perf_counter()
            for _ in range(args.tasks):
                empty.delay()
            published = time.perf_counter() - start
            while True:
                state = queue_state(conn, args.queue)
                if state is not None and state[0] == 0:
                    break
                time.sleep(0.005)
            total = time.perf_counter() - start
    finally:
        # Cold shutdown: the measurement is over, and a warm one lingers for about 30 s.
        worker.send_signal(signal.SIGQUIT)
        try:
            worker.wait(timeout=10)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
    print(json.dumps({
        "version": celery.__version__,
        "pool": args.pool,
        "concurrency": args.concurrency,
        "tasks": args.tasks,
        "publish_s": published,
        "total_s": total,
    }))


if __name__ == "__main__":
    main()
