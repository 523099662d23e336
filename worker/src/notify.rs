//! Mail about a run to the person who started it, as upstream sends it: when a job of the run
//! waits for their input, when the run finishes, and when it fails. Sent only to an active
//! creator with an address whose `send_email` preference is on (on when they never set it).
//!
//! Sending never holds up the run: the message goes out from a task of its own, bounded by
//! `EMAIL_TIMEOUT`, and a failure is logged and counted, not retried (the run's state, which the
//! notice only reports, is in the database and on the websocket).

use crate::context::Context;
use uuid::Uuid;

/// Which notice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Notice {
    /// A run job of the run waits for a person (WAITING_FOR_INPUT).
    Waiting,
    /// The run finished.
    Finished,
    /// The run failed.
    Failed,
}

impl Notice {
    /// Upstream's subject (`emails/workflow_run_*.html`, with its site name, "Rodan").
    fn subject(self, name: &str) -> String {
        match self {
            Self::Waiting => format!("Rodan - Workflow run '{name}' is waiting for user input."),
            Self::Finished => format!("Rodan - Workflow run '{name}' has finished!"),
            Self::Failed => format!("Rodan - Workflow run '{name}' failed"),
        }
    }

    /// Upstream's first sentence.
    fn lead(self) -> &'static str {
        match self {
            Self::Waiting => "A workflow run you started is waiting for user input.",
            Self::Finished => "A workflow run you started has finished!",
            Self::Failed => "A workflow run you started has failed.",
        }
    }

    /// Its label in logs and metrics.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Self::Waiting => "waiting",
            Self::Finished => "finished",
            Self::Failed => "failed",
        }
    }
}

/// What a notice says about its run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RunMail {
    pub(crate) to: String,
    pub(crate) name: String,
    pub(crate) description: String,
}

/// The message: upstream's sentence and its name and description table, then where Rodan is.
pub(crate) fn compose(notice: Notice, run: &RunMail, origin: Option<&str>) -> rodan_mail::Mail {
    let home = origin.map(|o| format!("{o}/"));
    let mut text = format!(
        "{}\n\nName: {}\nDescription: {}\n",
        notice.lead(),
        run.name,
        run.description
    );
    if let Some(home) = &home {
        text.push_str(&format!("\nRodan: {home}\n"));
    }
    text.push_str("\nThe Rodan team\n");
    let link = home
        .as_deref()
        .map(|h| {
            format!(
                "<p><a href=\"{0}\">{0}</a></p>\n",
                rodan_mail::escape_html(h)
            )
        })
        .unwrap_or_default();
    let html = format!(
        "<html><body>\n<p>{}</p>\n<table>\n<tr><th>Name</th><td>{}</td></tr>\n\
         <tr><th>Description</th><td>{}</td></tr>\n</table>\n{link}<p>The Rodan team</p>\n\
         </body></html>\n",
        rodan_mail::escape_html(notice.lead()),
        rodan_mail::escape_html(&run.name),
        rodan_mail::escape_html(&run.description),
    );
    rodan_mail::Mail {
        to: run.to.clone(),
        subject: notice.subject(&run.name),
        text,
        html: Some(html),
    }
}

/// The creator of `run` to tell, when they want mail.
async fn recipient(pool: &sqlx::PgPool, run: Uuid) -> Result<Option<RunMail>, sqlx::Error> {
    let row: Option<(String, String, String)> = sqlx::query_as(
        r#"SELECT u.email, wr.name, wr.description
           FROM workflow_runs wr
           JOIN users u ON u.id = wr.creator_id
           LEFT JOIN user_preferences up ON up.user_id = u.id
           WHERE wr.uuid = $1 AND u.is_active AND u.email <> ''
             AND coalesce(up.send_email, true)"#,
    )
    .bind(run)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|(to, name, description)| RunMail {
        to,
        name,
        description,
    }))
}

/// Tells `run`'s creator about it, when they want mail; returns at once, the sending goes on
/// in a task of its own.
pub(crate) async fn run(shared: &Context, run: Uuid, notice: Notice) {
    let found = match recipient(&shared.pool, run).await {
        Ok(found) => found,
        Err(error) => {
            tracing::warn!(%run, notice = notice.label(), %error, "failed to look up whom to tell");
            return;
        }
    };
    let Some(found) = found else {
        return;
    };
    let mailer = shared.mailer.clone();
    let metrics = shared.metrics.clone();
    let mail = compose(notice, &found, mailer.public_origin());
    tokio::spawn(async move {
        let outcome = match mailer.send(&mail).await {
            Ok(()) => "sent",
            Err(error) => {
                tracing::warn!(
                    %run,
                    notice = notice.label(),
                    error = %crate::error::error_chain(&error),
                    "failed to send a run's notice"
                );
                "failed"
            }
        };
        metrics.mail(notice.label(), outcome);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_mail() -> RunMail {
        RunMail {
            to: "ann@example.org".into(),
            name: "Salzinnes <folio 1>".into(),
            description: "pages & more".into(),
        }
    }

    #[test]
    fn each_notice_has_upstreams_subject_and_sentence() {
        let run = run_mail();
        for (notice, subject, lead) in [
            (
                Notice::Waiting,
                "Rodan - Workflow run 'Salzinnes <folio 1>' is waiting for user input.",
                "A workflow run you started is waiting for user input.",
            ),
            (
                Notice::Finished,
                "Rodan - Workflow run 'Salzinnes <folio 1>' has finished!",
                "A workflow run you started has finished!",
            ),
            (
                Notice::Failed,
                "Rodan - Workflow run 'Salzinnes <folio 1>' failed",
                "A workflow run you started has failed.",
            ),
        ] {
            let mail = compose(notice, &run, None);
            assert_eq!(mail.subject, subject);
            assert!(mail.text.starts_with(lead), "{}", mail.text);
            assert!(mail.text.contains("Name: Salzinnes <folio 1>\n"));
            assert!(mail.text.contains("Description: pages & more\n"));
            assert!(!mail.text.contains("Rodan: "), "no link without an origin");
        }
    }

    #[test]
    fn the_html_escapes_what_users_wrote_and_links_rodan() {
        let mail = compose(
            Notice::Waiting,
            &run_mail(),
            Some("https://rodan.example.org"),
        );
        let html = mail.html.expect("an HTML part");
        assert!(
            html.contains("<td>Salzinnes &lt;folio 1&gt;</td>"),
            "{html}"
        );
        assert!(html.contains("<td>pages &amp; more</td>"), "{html}");
        assert!(
            html.contains("<a href=\"https://rodan.example.org/\">"),
            "{html}"
        );
        assert!(mail.text.contains("Rodan: https://rodan.example.org/\n"));
    }
}
