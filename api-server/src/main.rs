//! The Rodan API server. Its REST API is tracked by issue #4; until it lands this binary only
//! reports the wiring it would read, so that images and the operator's contract can be tried.

fn main() {
    let version = env!("CARGO_PKG_VERSION");
    eprintln!(
        "rodan-api-server {version}: not implemented yet (issue #4); it will read {}, {}, {} and serve on port {}",
        rodan_types::env::DATABASE_URL,
        rodan_types::env::RABBITMQ_URL,
        rodan_types::env::REDIS_URL,
        rodan_types::ports::API
    );
    std::process::exit(2);
}
