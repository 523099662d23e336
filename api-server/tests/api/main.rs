#![allow(unreachable_pub)]
//! The API server against real PostgreSQL, RabbitMQ and Redis (started once for the binary by
//! `rodan-testkit`), each test on its own fresh database and its own server on loopback.

/// `all()`: the listed test functions of a module, each run on its own [`ctx::Ctx`].
macro_rules! cases {
    ($($name:ident),* $(,)?) => {
        rodan_testkit::cases!(crate::ctx::Ctx; $($name),*);
    };
}

mod cases;
mod client;
mod ctx;
mod input;
mod interactive;
mod registration;
mod security;

fn main() {
    rodan_testkit::suite::Suite::new("API", 2)
        .cases(cases::all())
        .cases(input::all())
        .cases(security::all())
        .cases(interactive::all())
        .cases(client::all())
        .cases(registration::all())
        .run()
}
