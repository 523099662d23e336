//! The Rodan worker. Its job runner is tracked by issue #5; until it lands this binary only
//! reports the wiring it would read.

fn main() {
    let version = env!("CARGO_PKG_VERSION");
    eprintln!(
        "rodan-worker {version}: not implemented yet (issue #5); it will consume the queues in {} from {}",
        rodan_types::env::WORKER_QUEUES,
        rodan_types::env::RABBITMQ_URL
    );
    std::process::exit(2);
}
