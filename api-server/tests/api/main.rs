#![allow(unreachable_pub)]
//! The API server against real PostgreSQL, RabbitMQ and Redis (started once for the binary by
//! `rodan-testkit`), each test on its own fresh database and its own server on loopback.

/// One test: a sentence as its name, run on its own [`ctx::Ctx`].
type Case = fn(ctx::Ctx) -> futures::future::BoxFuture<'static, ()>;

/// `all()`: the listed test functions of a module, each named by itself, in order.
macro_rules! cases {
    ($($name:ident),* $(,)?) => {
        pub fn all() -> Vec<(String, crate::Case)> {
            vec![$((stringify!($name).to_owned(), (|ctx| Box::pin($name(ctx))) as crate::Case)),*]
        }
    };
}

mod cases;
mod ctx;
mod input;
mod interactive;
mod security;

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
    let trials = cases::all()
        .into_iter()
        .chain(input::all())
        .chain(security::all())
        .chain(interactive::all())
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
    let conclusion = libtest_mimic::run(&args, trials);
    drop(services);
    conclusion.exit();
}
