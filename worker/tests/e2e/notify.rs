//! A run's creator is told by mail, as upstream tells them: when a job of the run waits for their
//! input, when the run finishes and when it fails; and not at all once they turned mail off in
//! their preferences. The workers send to a real SMTP server on loopback (aiosmtpd).

use crate::world::{WAIT, World, url_of, uuid_of};
use rodan_testkit::{ReceivedMail, Smtp};
use serde_json::json;
use std::time::Duration;

/// The messages `smtp` holds once it holds `n`.
fn received(smtp: &Smtp, n: usize) -> Vec<ReceivedMail> {
    tokio::task::block_in_place(|| smtp.wait_for(n, WAIT))
}

/// The admin's preference set to `send`, through the API as the web client sets it.
async fn send_email(world: &World, send: bool) {
    let page = world.get("/api/userpreferences/").await;
    let mine = page["results"][0]["url"]
        .as_str()
        .unwrap_or_else(|| panic!("the admin's preference: {page}"))
        .to_owned();
    let set = world.patch(&mine, json!({"send_email": send})).await;
    assert_eq!(set["send_email"], send, "{set}");
}

/// Checks `mail` is notice `subject_tail` about `run` to the admin, from the configured sender,
/// with upstream's sentence and a link to Rodan.
async fn check(world: &World, mail: &ReceivedMail, run: &str, subject_tail: &str, lead: &str) {
    let name = world.get(run).await["name"]
        .as_str()
        .expect("a run name")
        .to_owned();
    assert_eq!(mail.rcpt_tos, ["admin@example.org"], "{}", mail.raw);
    assert!(mail.from.contains("rodan@example.org"), "{}", mail.raw);
    assert_eq!(
        mail.subject,
        format!("Rodan - Workflow run '{name}' {subject_tail}")
    );
    assert!(mail.text.starts_with(lead), "{}", mail.text);
    let line = format!("Name: {name}");
    assert!(
        mail.text.lines().any(|l| l.trim_end() == line),
        "{}",
        mail.text
    );
    let html = mail.html.as_deref().unwrap_or_default();
    assert!(
        html.contains("<a href=\"http://rodan.example.org/\">"),
        "{html}"
    );
}

pub async fn notices_by_mail(mut world: World) {
    let smtp = tokio::task::block_in_place(Smtp::start);
    world.worker_env = vec![
        ("EMAIL_HOST".into(), "127.0.0.1".into()),
        ("EMAIL_PORT".into(), smtp.port.to_string()),
        ("EMAIL_USE_TLS".into(), "false".into()),
        (
            "DEFAULT_FROM_EMAIL".into(),
            "Rodan <rodan@example.org>".into(),
        ),
        ("SERVER_HOST".into(), "rodan.example.org".into()),
    ];
    world.restart_workers().await;

    // A job that waits for a person: the creator is told once, when it starts waiting.
    let waiting = crate::interactive::start(&world).await;
    let mails = received(&smtp, 1);
    check(
        &world,
        &mails[0],
        &waiting.run,
        "is waiting for user input.",
        "A workflow run you started is waiting for user input.",
    )
    .await;

    // A run that finishes.
    let pages = [("folio.png".to_owned(), crate::pages::page(7, 240))];
    let (project, uploaded) = world.upload(&pages).await;
    let (workflow, entry, _) = world
        .build_pipeline(&project, [json!({}), json!({}), json!({})])
        .await;
    let run = world.run(&workflow, &entry, &uploaded).await;
    world.wait_run(&run, 4, WAIT).await;
    let mails = received(&smtp, 2);
    check(
        &world,
        &mails[1],
        &run,
        "has finished!",
        "A workflow run you started has finished!",
    )
    .await;

    // Mail turned off: a second run finishes in silence.
    send_email(&world, false).await;
    let quiet = world.run(&workflow, &entry, &uploaded).await;
    world.wait_run(&quiet, 4, WAIT).await;

    // Mail on again: a run whose page cannot be read fails at once, and says so, once.
    send_email(&world, true).await;
    let broken = world.upload_into(&project, &pages).await.remove(0);
    let file = world.media.path().join(format!(
        "projects/{}/resources/{}/original_file",
        uuid_of(&project).simple(),
        uuid_of(url_of(&broken)).simple()
    ));
    assert!(file.is_file(), "{} is the page's file", file.display());
    std::fs::write(&file, b"\x89PNG\r\n\x1a\n not a PNG after all").expect("the page is broken");
    let failed = world.run(&workflow, &entry, &[broken]).await;
    let mails = received(&smtp, 3);
    check(
        &world,
        &mails[2],
        &failed,
        "failed",
        "A workflow run you started has failed.",
    )
    .await;
    assert_eq!(
        world.get(&failed).await["status"],
        -1,
        "the run failed before its notice was sent"
    );
    // Nothing else arrives: not for the quiet run, not twice for the failed one.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let all = smtp.messages();
    assert_eq!(
        all.len(),
        3,
        "{:#?}",
        all.iter().map(|m| &m.subject).collect::<Vec<_>>()
    );
}
