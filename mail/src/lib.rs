//! E-mail for Rodan's API server and worker, configured as upstream's Django settings are
//! (`EMAIL_HOST`, `EMAIL_PORT`, `EMAIL_HOST_USER`, `EMAIL_HOST_PASSWORD`, `EMAIL_USE_TLS`,
//! `DEFAULT_FROM_EMAIL`, `SERVER_HOST`): over SMTP with lettre when `EMAIL_HOST` is set, and
//! otherwise written to the log at `info`, as Django's console backend prints it.
//!
//! Sending is bounded by `EMAIL_TIMEOUT`; a failure is returned to the caller, which decides
//! what the user's request becomes (the API logs it and answers as if sent: see its README).

use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use std::sync::Arc;
use std::time::Duration;

/// Mail settings, from the command line or upstream's environment variables; binaries
/// `#[command(flatten)]` it.
#[derive(Debug, Clone, clap::Args)]
pub struct MailArgs {
    /// SMTP server. Unset or empty: nothing is sent, each message is logged at `info` instead
    /// (Django's console backend), links included.
    #[arg(long, env = "EMAIL_HOST")]
    pub email_host: Option<String>,
    /// SMTP port (25 as Django's default; 587 is the usual submission port with STARTTLS, 465
    /// with `EMAIL_USE_SSL`).
    #[arg(long, env = "EMAIL_PORT", default_value_t = 25)]
    pub email_port: u16,
    /// User name for SMTP authentication; none when unset.
    #[arg(long, env = "EMAIL_HOST_USER")]
    pub email_host_user: Option<String>,
    /// Password for SMTP authentication.
    #[arg(long, env = "EMAIL_HOST_PASSWORD", hide_env_values = true)]
    pub email_host_password: Option<String>,
    /// Require STARTTLS (upstream's `EMAIL_USE_TLS = True`). `false` sends in plain text: only
    /// for a relay on loopback or in the pod's own network.
    #[arg(
        long,
        env = "EMAIL_USE_TLS",
        default_value_t = true,
        action = clap::ArgAction::Set,
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub email_use_tls: bool,
    /// Implicit TLS from the first byte (Django's `EMAIL_USE_SSL`, port 465); `EMAIL_USE_TLS` is
    /// then ignored.
    #[arg(
        long,
        env = "EMAIL_USE_SSL",
        default_value_t = false,
        action = clap::ArgAction::Set,
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub email_use_ssl: bool,
    /// Seconds a message may take to send (connection included) before it counts as failed.
    #[arg(long, env = "EMAIL_TIMEOUT", default_value_t = 10)]
    pub email_timeout: u64,
    /// Sender, `Name <address>`. Default: `Rodan <noreply@HOST>` with the host of `SERVER_HOST`
    /// (upstream hard-codes its own domain, which other deployments may not send as), or
    /// `Rodan <noreply@localhost>` without one.
    #[arg(long, env = "DEFAULT_FROM_EMAIL")]
    pub default_from_email: Option<String>,
    /// The public host, with its port if not the default (`rodan.example.org`,
    /// `127.0.0.1:8080`), as the web client's `SERVER_HOST`: links in mails point there.
    #[arg(long, env = "SERVER_HOST")]
    pub server_host: Option<String>,
    /// Links in mails use `https` (the web client's `SERVER_HTTPS`).
    #[arg(
        long,
        env = "SERVER_HTTPS",
        default_value_t = false,
        action = clap::ArgAction::Set,
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub server_https: bool,
}

impl Default for MailArgs {
    /// Nothing sent, everything logged; no public host.
    fn default() -> Self {
        Self {
            email_host: None,
            email_port: 25,
            email_host_user: None,
            email_host_password: None,
            email_use_tls: true,
            email_use_ssl: false,
            email_timeout: 10,
            default_from_email: None,
            server_host: None,
            server_https: false,
        }
    }
}

impl MailArgs {
    /// `http(s)://SERVER_HOST` (no trailing slash), when `SERVER_HOST` is set.
    pub fn public_origin(&self) -> Option<String> {
        let host = non_empty(&self.server_host)?;
        let host = host.trim_end_matches('/');
        let scheme = if self.server_https { "https" } else { "http" };
        Some(format!("{scheme}://{host}"))
    }

    fn sender(&self) -> Result<Mailbox, Error> {
        if let Some(from) = non_empty(&self.default_from_email) {
            return from.parse().map_err(|source| Error::Address {
                setting: "DEFAULT_FROM_EMAIL",
                value: from.to_owned(),
                source,
            });
        }
        let domain = non_empty(&self.server_host)
            .map(|host| match host.rsplit_once(':') {
                Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
                _ => host,
            })
            // An address literal is no domain a relay accepts mail from.
            .filter(|name| name.parse::<std::net::IpAddr>().is_err())
            .filter(|name| valid_address(&format!("noreply@{name}")))
            .unwrap_or("localhost");
        format!("Rodan <noreply@{domain}>")
            .parse()
            .map_err(|source| Error::Address {
                setting: "DEFAULT_FROM_EMAIL",
                value: domain.to_owned(),
                source,
            })
    }
}

fn non_empty(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

/// Text made safe inside HTML elements and quoted attributes, for the HTML part of a message
/// (names and descriptions are the users' own).
pub fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#x27;")
}

/// Whether `address` is one mail can be sent to (`user@domain`).
pub fn valid_address(address: &str) -> bool {
    address.parse::<lettre::Address>().is_ok()
}

/// A message to one recipient: plain text, and optionally the same as HTML.
#[derive(Debug, Clone)]
pub struct Mail {
    /// The recipient's address.
    pub to: String,
    /// Subject line.
    pub subject: String,
    /// Plain-text body.
    pub text: String,
    /// HTML body, sent as the alternative to the text.
    pub html: Option<String>,
}

/// Why a message was not sent, or the settings are unusable.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An address that is not `user@domain` (a setting or a recipient).
    #[error("{setting} is not a valid e-mail address: {value:?}")]
    Address {
        /// What the address is (`DEFAULT_FROM_EMAIL`, `recipient`).
        setting: &'static str,
        /// The address given.
        value: String,
        /// lettre's reason.
        #[source]
        source: lettre::address::AddressError,
    },
    /// The message could not be built.
    #[error("failed to build the message")]
    Build(#[source] lettre::error::Error),
    /// The SMTP server refused, or could not be reached.
    #[error("failed to send through SMTP")]
    Smtp(#[source] lettre::transport::smtp::Error),
    /// Sending took longer than `EMAIL_TIMEOUT`.
    #[error("sending took longer than {0:?}")]
    Timeout(Duration),
}

/// Sends mail, or logs it when no SMTP server is set. Cheap to clone.
#[derive(Clone)]
pub struct Mailer(Arc<Inner>);

struct Inner {
    smtp: Option<(AsyncSmtpTransport<Tokio1Executor>, String)>,
    from: Mailbox,
    timeout: Duration,
    public_origin: Option<String>,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field("smtp", &self.0.smtp.as_ref().map(|(_, server)| server))
            .field("from", &self.0.from.to_string())
            .field("timeout", &self.0.timeout)
            .field("public_origin", &self.0.public_origin)
            .finish()
    }
}

impl Mailer {
    /// A mailer from `args`; fails only on settings that can never work (a bad sender address,
    /// a host name lettre refuses). Connects on the first message, not here. With `EMAIL_HOST`
    /// set, call it inside a Tokio runtime: the connection pool starts a task.
    pub fn new(args: &MailArgs) -> Result<Self, Error> {
        let from = args.sender()?;
        let timeout = Duration::from_secs(args.email_timeout.max(1));
        let smtp = match non_empty(&args.email_host) {
            None => None,
            Some(host) => {
                let builder = if args.email_use_ssl {
                    AsyncSmtpTransport::<Tokio1Executor>::relay(host).map_err(Error::Smtp)?
                } else if args.email_use_tls {
                    AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host)
                        .map_err(Error::Smtp)?
                } else {
                    AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
                };
                let mut builder = builder.port(args.email_port).timeout(Some(timeout));
                if let Some(user) = non_empty(&args.email_host_user) {
                    builder = builder.credentials(Credentials::new(
                        user.to_owned(),
                        args.email_host_password.clone().unwrap_or_default(),
                    ));
                }
                let tls = if args.email_use_ssl {
                    "implicit TLS"
                } else if args.email_use_tls {
                    "STARTTLS"
                } else {
                    "no TLS"
                };
                Some((
                    builder.build(),
                    format!("{host}:{} ({tls})", args.email_port),
                ))
            }
        };
        Ok(Self(Arc::new(Inner {
            smtp,
            from,
            timeout,
            public_origin: args.public_origin(),
        })))
    }

    /// A mailer that only logs (no `EMAIL_HOST`), with no public host.
    pub fn log_only() -> Self {
        Self::new(&MailArgs::default()).unwrap_or_else(|_| unreachable!("the defaults are valid"))
    }

    /// Whether messages go to an SMTP server (rather than to the log).
    pub fn sends(&self) -> bool {
        self.0.smtp.is_some()
    }

    /// `http(s)://SERVER_HOST`, when set: where links in messages point.
    pub fn public_origin(&self) -> Option<&str> {
        self.0.public_origin.as_deref()
    }

    /// The sender, `Name <address>`.
    pub fn from(&self) -> String {
        self.0.from.to_string()
    }

    /// Sends `mail`, or logs it when no SMTP server is set. Takes at most `EMAIL_TIMEOUT`.
    pub async fn send(&self, mail: &Mail) -> Result<(), Error> {
        let to: Mailbox = mail.to.parse().map_err(|source| Error::Address {
            setting: "recipient",
            value: mail.to.clone(),
            source,
        })?;
        let Some((transport, server)) = &self.0.smtp else {
            tracing::info!(
                from = %self.0.from,
                to = %to,
                subject = %mail.subject,
                body = %mail.text,
                "e-mail not sent (EMAIL_HOST is not set); its text follows"
            );
            return Ok(());
        };
        let builder = lettre::Message::builder()
            .from(self.0.from.clone())
            .to(to)
            .subject(mail.subject.clone());
        let message = match &mail.html {
            Some(html) => builder.multipart(MultiPart::alternative_plain_html(
                mail.text.clone(),
                html.clone(),
            )),
            None => builder.singlepart(SinglePart::plain(mail.text.clone())),
        }
        .map_err(Error::Build)?;
        match tokio::time::timeout(self.0.timeout, transport.send(message)).await {
            Ok(Ok(_)) => {
                tracing::debug!(%server, to = %mail.to, subject = %mail.subject, "e-mail sent");
                Ok(())
            }
            Ok(Err(error)) => Err(Error::Smtp(error)),
            Err(_) => Err(Error::Timeout(self.0.timeout)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        mail: MailArgs,
    }

    fn parse(args: &[&str]) -> MailArgs {
        Cli::try_parse_from(std::iter::once("test").chain(args.iter().copied()))
            .expect("the arguments parse")
            .mail
    }

    #[test]
    fn defaults_are_djangos_and_log_only() {
        let args = parse(&[]);
        assert_eq!(args.email_port, 25);
        assert!(args.email_use_tls);
        let mailer = Mailer::new(&args).expect("the defaults are valid");
        assert!(!mailer.sends());
        assert_eq!(mailer.from(), "Rodan <noreply@localhost>");
        assert_eq!(mailer.public_origin(), None);
    }

    #[test]
    fn the_sender_and_links_follow_the_public_host() {
        let args = parse(&[
            "--server-host",
            "rodan.example.org:8443",
            "--server-https",
            "true",
        ]);
        let mailer = Mailer::new(&args).expect("valid");
        assert_eq!(
            mailer.public_origin(),
            Some("https://rodan.example.org:8443")
        );
        assert_eq!(mailer.from(), "Rodan <noreply@rodan.example.org>");
        // An IP address is no mail domain: the sender falls back to localhost.
        let args = parse(&["--server-host", "127.0.0.1:8080"]);
        let mailer = Mailer::new(&args).expect("valid");
        assert_eq!(mailer.public_origin(), Some("http://127.0.0.1:8080"));
        assert_eq!(mailer.from(), "Rodan <noreply@localhost>");
    }

    #[test]
    fn booleans_read_as_python_settings_write_them() {
        let args = parse(&["--email-use-tls", "False", "--server-https", "yes"]);
        assert!(!args.email_use_tls);
        assert!(args.server_https);
    }

    #[test]
    fn a_bad_sender_is_refused_at_start() {
        let args = parse(&["--default-from-email", "not an address"]);
        let error = Mailer::new(&args).expect_err("refused");
        assert!(error.to_string().contains("DEFAULT_FROM_EMAIL"), "{error}");
    }

    #[tokio::test]
    async fn a_message_to_a_bad_recipient_fails_before_any_connection() {
        let mailer = Mailer::log_only();
        let mail = Mail {
            to: "nobody".into(),
            subject: "s".into(),
            text: "t".into(),
            html: None,
        };
        assert!(matches!(
            mailer.send(&mail).await,
            Err(Error::Address { .. })
        ));
    }

    #[tokio::test]
    async fn an_unreachable_server_fails_within_the_timeout() {
        // A port nothing listens on: bound, then released.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let args = parse(&[
            "--email-host",
            "127.0.0.1",
            "--email-port",
            &port.to_string(),
            "--email-use-tls",
            "false",
        ]);
        let mailer = Mailer::new(&args).expect("valid");
        assert!(mailer.sends());
        let mail = Mail {
            to: "someone@example.org".into(),
            subject: "s".into(),
            text: "t".into(),
            html: Some("<p>t</p>".into()),
        };
        assert!(matches!(mailer.send(&mail).await, Err(Error::Smtp(_))));
    }
}
