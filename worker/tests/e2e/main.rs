#![allow(unreachable_pub)]
//! End to end: the API server in-process and two `rodan-worker` processes on real PostgreSQL,
//! RabbitMQ and Redis (started once by `rodan-testkit`). Each case has its own database,
//! RabbitMQ virtual host and media root; pages are uploaded, the greyscale -> Sauvola ->
//! Despeckle workflow is built and run through REST, and the outputs are compared with the same
//! jobs run directly; DDMAL's square-notation OMR workflow is imported and run over manuscript
//! pages to MEI.

mod cases;
mod interactive;
mod notify;
mod omr;
mod pages;
mod world;

use libtest_mimic::{Arguments, Trial};
use std::sync::Arc;

fn main() {
    let args = Arguments::from_args();
    let services = Arc::new(rodan_testkit::Services::start());
    let runtime = Arc::new(
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a runtime"),
    );
    let trials: Vec<Trial> = cases::all()
        .into_iter()
        .enumerate()
        .map(|(n, (name, case))| {
            let services = services.clone();
            let runtime = runtime.clone();
            Trial::test(name, move || {
                runtime.block_on(async move {
                    let world = world::World::new(&services, n).await;
                    case(world).await;
                });
                Ok(())
            })
        })
        .collect();
    let first = trials.len();
    let mut trials = trials;
    trials.extend(
        cases::outages()
            .into_iter()
            .enumerate()
            .map(|(n, (name, case))| {
                let runtime = runtime.clone();
                Trial::test(name, move || {
                    runtime.block_on(async move {
                        // Services of its own: the case takes one of them down.
                        let services = tokio::task::block_in_place(rodan_testkit::Services::start);
                        let world = world::World::new(&services, first + n).await;
                        case(world, services).await;
                    });
                    Ok(())
                })
            }),
    );
    let conclusion = libtest_mimic::run(&args, trials);
    drop(services);
    conclusion.exit();
}
