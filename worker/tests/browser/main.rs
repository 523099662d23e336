#![allow(unreachable_pub)]
//! Upstream's web client in a real browser (Debian's headless `chromium` through
//! `chromedriver`): the client from `../shared/fixtures/rodan-client` served as its image serves
//! it, behind the nginx configuration the operator renders, in front of the API server and two
//! workers on real PostgreSQL, RabbitMQ and Redis. A musicologist's first session: log in, create
//! a project, upload a page, compose greyscale -> Sauvola in the workflow builder, run it, see it
//! finish live, download its output, log out.
//!
//! Every step leaves a screenshot in `target/tmp/browser/` (or `$RODAN_ARTEFACTS_DIR`); a failure
//! prints the browser's console and the requests nginx saw.

#[allow(dead_code)]
#[path = "../e2e/interactive.rs"]
mod interactive;
#[allow(dead_code)]
#[path = "../e2e/omr.rs"]
mod omr;
#[allow(dead_code)]
#[path = "../e2e/pages.rs"]
mod pages;
#[allow(dead_code)]
#[path = "../e2e/world.rs"]
mod world;

mod session;
mod stack;

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
    let trials = vec![
        {
            let services = services.clone();
            let runtime = runtime.clone();
            Trial::test("a_first_session_in_the_web_client", move || {
                runtime.block_on(session::first_session(&services));
                Ok(())
            })
        },
        {
            let services = services.clone();
            let runtime = runtime.clone();
            Trial::test("glyphs_classified_by_hand_in_the_web_client", move || {
                runtime.block_on(session::classify_by_hand(&services));
                Ok(())
            })
        },
        {
            let services = services.clone();
            let runtime = runtime.clone();
            Trial::test(
                "a_classifier_optimised_with_biollante_in_the_web_client",
                move || {
                    runtime.block_on(session::optimise_a_classifier(&services));
                    Ok(())
                },
            )
        },
    ];
    let conclusion = libtest_mimic::run(&args, trials);
    drop(services);
    conclusion.exit();
}
