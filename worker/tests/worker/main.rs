#![allow(unreachable_pub)]
//! The worker against real PostgreSQL, RabbitMQ and Redis (started once by `rodan-testkit`);
//! each test has its own database, media root and queue.

mod cases;
mod ctx;
mod package;

fn main() {
    rodan_testkit::suite::Suite::new("worker", 4)
        .cases(cases::all())
        .cases(package::all())
        .pure(cases::local())
        .run()
}
