//! Opportunistic batching of the worker's per-message statements: callers ask for one item and
//! wait; while fewer than `in_flight` statements run, whatever requests queued up go out at
//! once as one statement. A lone request is sent immediately (no added latency); under load the
//! requests that arrive while every slot is busy share the next statement, which is what lets
//! short jobs outrun the database's per-statement cost.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// The most requests sent in one statement.
const MAX_BATCH: usize = 64;

/// A batch statement that failed; every request of the batch gets it.
#[derive(Debug, Clone, thiserror::Error)]
#[error("failed to run a batched statement")]
pub(crate) struct BatchError(#[source] pub(crate) Arc<sqlx::Error>);

type Run<Req, Resp> = Arc<
    dyn Fn(Vec<Req>) -> Pin<Box<dyn Future<Output = Result<Vec<Resp>, sqlx::Error>> + Send>>
        + Send
        + Sync,
>;

type Request<Req, Resp> = (Req, oneshot::Sender<Result<Resp, BatchError>>);

/// Sends requests of type `Req` in batches through a function answering one `Resp` per request,
/// in order.
pub(crate) struct Batcher<Req, Resp> {
    queue: mpsc::Sender<Request<Req, Resp>>,
}

impl<Req, Resp> std::fmt::Debug for Batcher<Req, Resp> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batcher").finish_non_exhaustive()
    }
}

impl<Req: Send + 'static, Resp: Send + 'static> Batcher<Req, Resp> {
    /// Starts the sending task on the current runtime, running at most `in_flight` statements at
    /// once (at least one). It ends when the batcher is dropped.
    pub(crate) fn new<F, Fut>(in_flight: usize, run: F) -> Self
    where
        F: Fn(Vec<Req>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Vec<Resp>, sqlx::Error>> + Send + 'static,
    {
        let run: Run<Req, Resp> = Arc::new(move |batch| Box::pin(run(batch)));
        let (queue, rx) = mpsc::channel(MAX_BATCH * 4);
        tokio::spawn(send(in_flight.max(1), run, rx));
        Self { queue }
    }

    /// Queues `request` and waits for its answer.
    pub(crate) async fn call(&self, request: Req) -> Result<Resp, BatchError> {
        let (answer, answered) = oneshot::channel();
        let gone = || BatchError(Arc::new(sqlx::Error::PoolClosed));
        self.queue
            .send((request, answer))
            .await
            .map_err(|_| gone())?;
        answered.await.map_err(|_| gone())?
    }
}

async fn send<Req: Send + 'static, Resp: Send + 'static>(
    in_flight: usize,
    run: Run<Req, Resp>,
    mut rx: mpsc::Receiver<Request<Req, Resp>>,
) {
    let slots = Arc::new(tokio::sync::Semaphore::new(in_flight));
    loop {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let mut queued = Vec::with_capacity(MAX_BATCH);
        if rx.recv_many(&mut queued, MAX_BATCH).await == 0 {
            return;
        }
        let run = run.clone();
        tokio::spawn(async move {
            answer(&run, queued).await;
            drop(slot);
        });
    }
}

async fn answer<Req, Resp>(run: &Run<Req, Resp>, queued: Vec<Request<Req, Resp>>) {
    let (requests, answers): (Vec<Req>, Vec<_>) = queued.into_iter().unzip();
    let expected = answers.len();
    match run(requests).await {
        Ok(responses) if responses.len() == expected => {
            for (answer, response) in answers.into_iter().zip(responses) {
                let _ = answer.send(Ok(response));
            }
        }
        Ok(responses) => {
            let error = BatchError(Arc::new(sqlx::Error::Protocol(format!(
                "a batch of {expected} requests got {} answers",
                responses.len()
            ))));
            for answer in answers {
                let _ = answer.send(Err(error.clone()));
            }
        }
        Err(error) => {
            let error = BatchError(Arc::new(error));
            for answer in answers {
                let _ = answer.send(Err(error.clone()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[tokio::test]
    async fn requests_queued_together_share_a_statement_and_get_their_own_answers() {
        let sizes = Arc::new(Mutex::new(Vec::new()));
        let seen = sizes.clone();
        let batcher = Arc::new(Batcher::new(1, move |batch: Vec<u32>| {
            seen.lock().expect("lock").push(batch.len());
            async move {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                Ok(batch.into_iter().map(|n| n * 2).collect())
            }
        }));
        let calls: Vec<_> = (0..40)
            .map(|n| {
                let batcher = batcher.clone();
                tokio::spawn(async move { (n, batcher.call(n).await.expect("answer")) })
            })
            .collect();
        for call in calls {
            let (n, answer) = call.await.expect("joined");
            assert_eq!(answer, n * 2);
        }
        let sizes = sizes.lock().expect("lock").clone();
        assert_eq!(sizes.iter().sum::<usize>(), 40);
        assert!(sizes.len() < 40, "batched: {sizes:?}");
    }

    #[tokio::test]
    async fn up_to_in_flight_statements_run_at_once() {
        const IN_FLIGHT: usize = 3;
        use std::sync::atomic::{AtomicUsize, Ordering};
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let (r, m) = (running.clone(), most.clone());
        let batcher = Arc::new(Batcher::new(IN_FLIGHT, move |batch: Vec<u32>| {
            let (r, m) = (r.clone(), m.clone());
            async move {
                let now = r.fetch_add(1, Ordering::SeqCst) + 1;
                m.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(std::time::Duration::from_millis(30)).await;
                r.fetch_sub(1, Ordering::SeqCst);
                Ok(batch)
            }
        }));
        let mut calls = Vec::new();
        for n in 0..20 {
            let batcher = batcher.clone();
            calls.push(tokio::spawn(async move { batcher.call(n).await }));
            tokio::time::sleep(std::time::Duration::from_millis(3)).await;
        }
        for (n, call) in calls.into_iter().enumerate() {
            assert_eq!(call.await.expect("joined").expect("answer") as usize, n);
        }
        assert_eq!(most.load(Ordering::SeqCst), IN_FLIGHT);
    }

    #[tokio::test]
    async fn a_failed_statement_fails_every_request_of_its_batch() {
        let batcher = Batcher::new(1, |_: Vec<u32>| async {
            Err::<Vec<u32>, _>(sqlx::Error::Protocol("refused".into()))
        });
        let error = batcher.call(1).await.expect_err("fails");
        assert!(error.0.to_string().contains("refused"));
    }
}
