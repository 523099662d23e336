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

fn main() {
    rodan_testkit::suite::Suite::new("browser", 2)
        .case(
            "a_first_session_in_the_web_client",
            |services, _| async move {
                session::first_session(&services).await;
            },
        )
        .case(
            "glyphs_classified_by_hand_in_the_web_client",
            |services, _| async move { session::classify_by_hand(&services).await },
        )
        .case(
            "a_classifier_optimised_with_biollante_in_the_web_client",
            |services, _| async move { session::optimise_a_classifier(&services).await },
        )
        .run()
}
