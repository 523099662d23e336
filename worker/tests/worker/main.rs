#![allow(unreachable_pub)]
//! The worker against real PostgreSQL, RabbitMQ and Redis (started once by `rodan-testkit`);
//! each test has its own database, media root and queue.

mod cases;
mod ctx;
mod package;

use libtest_mimic::{Arguments, Trial};
use std::sync::Arc;

fn main() {
    let args = Arguments::from_args();
    let services = Arc::new(rodan_testkit::Services::start());
    let runtime = Arc::new(
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(4)
            .enable_all()
            .build()
            .expect("a runtime"),
    );
    let mut trials: Vec<Trial> = cases::all()
        .into_iter()
        .chain(package::all())
        .enumerate()
        .map(|(n, (name, case))| {
            let services = services.clone();
            let runtime = runtime.clone();
            Trial::test(name, move || {
                runtime.block_on(async move {
                    let ctx = ctx::Ctx::new(&services, n).await;
                    case(ctx).await;
                });
                Ok(())
            })
        })
        .collect();
    trials.extend(cases::local());
    let conclusion = libtest_mimic::run(&args, trials);
    drop(services);
    conclusion.exit();
}
