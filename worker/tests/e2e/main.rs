#![allow(unreachable_pub)]
//! End to end: the API server in-process and two `rodan-worker` processes on real PostgreSQL,
//! RabbitMQ and Redis (started once by `rodan-testkit`). Each case has its own database,
//! RabbitMQ virtual host and media root; pages are uploaded, the greyscale -> Sauvola ->
//! Despeckle workflow is built and run through REST, and the outputs are compared with the same
//! jobs run directly; DDMAL's square-notation OMR workflow is imported and run over manuscript
//! pages to MEI; DDMAL's exports of the GPU jobs are imported and run on a third worker that
//! consumes only the `GPU` queue.

mod cases;
mod gpu;
mod interactive;
mod notify;
mod omr;
mod pages;
mod world;

fn main() {
    rodan_testkit::suite::Suite::new("end-to-end", 2)
        .cases(cases::all())
        .cases(cases::outages())
        .run()
}
