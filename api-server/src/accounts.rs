//! Accounts by e-mail, as upstream's djoser: self-registration behind a switch, activation and
//! password reset through links carrying the user's id and a signed one-time token, and the
//! messages that carry them.
//!
//! Tokens are stateless, as Django's `PasswordResetTokenGenerator`: `<seconds base 36>-<32 hex>`,
//! an HMAC-SHA256 under `RODAN_SECRET_KEY` of the user's id, password hash, last login, e-mail and
//! the time. A new password or a login (either changes the hash input) ends every token given
//! before it, and tokens expire after `PASSWORD_RESET_TIMEOUT` seconds.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use std::sync::Arc;

/// Settings of self-registration and of the links sent by e-mail; `serve` flattens it.
#[derive(Debug, Clone, clap::Args)]
pub struct AccountArgs {
    /// Anyone may create an account at `POST /api/auth/register/`: it starts inactive and an
    /// activation link is mailed to it. Off: only administrators create accounts there.
    #[arg(
        long,
        env = "RODAN_SELF_REGISTRATION",
        default_value_t = false,
        action = clap::ArgAction::Set,
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub self_registration: bool,
    /// Key that signs activation and password-reset links (Django's `SECRET_KEY`); every replica
    /// needs the same. Unset: a random key per process, so a link works only on the process that
    /// sent it, until it restarts.
    #[arg(long, env = rodan_types::env::SECRET_KEY, hide_env_values = true)]
    pub secret_key: Option<String>,
    /// Seconds an activation or password-reset link stays valid (Django's
    /// `PASSWORD_RESET_TIMEOUT`: three days).
    #[arg(long, env = "PASSWORD_RESET_TIMEOUT", default_value_t = 259_200)]
    pub password_reset_timeout: u64,
    /// Activation and password-reset mails asked for one address, per period, counted on every
    /// replica together (DRF's rate syntax); past it, 429. Anyone can ask, so this keeps a
    /// mailbox from being flooded through Rodan.
    #[arg(long, env = "RODAN_MAIL_THROTTLE", default_value = "5/hour")]
    pub mail_throttle: crate::security::Rate,
    /// SMTP and the public host of links.
    #[command(flatten)]
    pub mail: rodan_mail::MailArgs,
}

impl Default for AccountArgs {
    /// Self-registration off, mail logged, a random key.
    fn default() -> Self {
        Self {
            self_registration: false,
            secret_key: None,
            password_reset_timeout: 259_200,
            mail_throttle: crate::security::Rate {
                count: 5,
                period: std::time::Duration::from_secs(3600),
            },
            mail: rodan_mail::MailArgs::default(),
        }
    }
}

/// What the account routes need: the switch, the signing key, the mailer, where links point.
#[derive(Clone)]
pub struct Accounts {
    /// Anyone may register.
    pub self_registration: bool,
    /// Sends (or logs) the messages.
    pub mailer: rodan_mail::Mailer,
    /// Mails asked for one address per period.
    pub mail_throttle: crate::security::Rate,
    key: Arc<[u8; 32]>,
    timeout: u64,
    origin: String,
}

impl std::fmt::Debug for Accounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Accounts")
            .field("self_registration", &self.self_registration)
            .field("mailer", &self.mailer)
            .field("timeout", &self.timeout)
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

impl Default for Accounts {
    fn default() -> Self {
        Self::new(&AccountArgs::default(), None)
            .unwrap_or_else(|_| unreachable!("the defaults are valid"))
    }
}

/// The origin (`scheme://host[:port]`) of a URL.
fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let host = rest
        .split(['/', '?', '#'])
        .next()
        .filter(|h| !h.is_empty())?;
    Some(format!("{scheme}://{host}"))
}

impl Accounts {
    /// From `args`. Links point at `SERVER_HOST`, else at `public_url` (`RODAN_PUBLIC_URL`),
    /// never at a request's own `Host` (a forged one would carry a victim's reset link away).
    pub fn new(args: &AccountArgs, public_url: Option<&str>) -> Result<Self, rodan_mail::Error> {
        let mailer = rodan_mail::Mailer::new(&args.mail)?;
        let origin = match mailer
            .public_origin()
            .map(str::to_owned)
            .or_else(|| public_url.and_then(origin_of))
        {
            Some(origin) => origin,
            None => {
                tracing::warn!(
                    "neither SERVER_HOST nor RODAN_PUBLIC_URL is set: links in e-mails point at http://localhost"
                );
                "http://localhost".to_owned()
            }
        };
        let key = match args.secret_key.as_deref().filter(|k| !k.is_empty()) {
            Some(secret) => {
                let mut digest = Sha256::new();
                digest.update(b"rodan.accounts.tokens\0");
                digest.update(secret.as_bytes());
                digest.finalize().into()
            }
            None => {
                if args.self_registration || mailer.sends() {
                    tracing::warn!(
                        "RODAN_SECRET_KEY is not set: activation and password-reset links work only on this process until it restarts"
                    );
                }
                rand::random()
            }
        };
        Ok(Self {
            self_registration: args.self_registration,
            mailer,
            mail_throttle: args.mail_throttle,
            key: Arc::new(key),
            timeout: args.password_reset_timeout,
            origin,
        })
    }

    /// The web client's page for `route` (`activate`, `password-reset`) with the link's uid and
    /// token: `http(s)://SERVER_HOST/#activate/<uid>/<token>`, upstream's `ACTIVATION_URL` and
    /// `PASSWORD_RESET_CONFIRM_URL`.
    fn link(&self, route: &str, holder: &Holder) -> String {
        format!(
            "{}/#{route}/{}/{}",
            self.origin,
            encode_uid(holder.id),
            self.make_token(holder, now())
        )
    }

    fn hash(&self, holder: &Holder, timestamp: u64) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(self.key.as_slice())
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        let login = holder.last_login.map(|t| t.to_string()).unwrap_or_default();
        for part in [
            holder.id.to_string().as_bytes(),
            holder.password.as_bytes(),
            login.as_bytes(),
            timestamp.to_string().as_bytes(),
            holder.email.as_bytes(),
        ] {
            mac.update(part);
            mac.update(&[0]);
        }
        // Every other hex digit, as Django shortens its tokens: 128 bits.
        mac.finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{:x}", b >> 4))
            .collect()
    }

    fn make_token(&self, holder: &Holder, now: u64) -> String {
        format!("{}-{}", to_base36(now), self.hash(holder, now))
    }

    /// Whether `token` was made for `holder` as it is now, and is not older than the timeout.
    fn check_token(&self, holder: &Holder, token: &str, now: u64) -> bool {
        let Some((ts, hash)) = token.split_once('-') else {
            return false;
        };
        let Some(timestamp) = from_base36(ts) else {
            return false;
        };
        let expected = self.hash(holder, timestamp);
        // Constant time: the comparison says nothing about how much of a guess was right.
        let same = expected.len() == hash.len()
            && expected
                .bytes()
                .zip(hash.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0;
        same && now.saturating_sub(timestamp) <= self.timeout
    }

    fn validity(&self) -> String {
        let t = self.timeout;
        let (n, unit) = if t >= 86_400 && t.is_multiple_of(86_400) {
            (t / 86_400, "day")
        } else if t >= 3600 && t.is_multiple_of(3600) {
            (t / 3600, "hour")
        } else if t >= 60 && t.is_multiple_of(60) {
            (t / 60, "minute")
        } else {
            (t, "second")
        };
        format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
    }

    /// The activation message for `holder`.
    pub(crate) fn activation_mail(&self, holder: &Holder) -> rodan_mail::Mail {
        let link = self.link("activate", holder);
        mail(
            holder,
            "Activate your Rodan account",
            &[
                &format!(
                    "An account named {} was registered on Rodan with this address. To activate it, open this link:",
                    holder.username
                ),
                &link,
                &format!(
                    "The link works once, for {}. If you did not register, ignore this message: the account stays inactive.",
                    self.validity()
                ),
            ],
            Some(&link),
        )
    }

    /// The password-reset message for `holder`.
    pub(crate) fn reset_mail(&self, holder: &Holder) -> rodan_mail::Mail {
        let link = self.link("password-reset", holder);
        mail(
            holder,
            "Reset your Rodan password",
            &[
                &format!(
                    "A new password was asked for the Rodan account {} (this is its user name). To choose one, open this link:",
                    holder.username
                ),
                &link,
                &format!(
                    "The link works once, until the account next logs in, for at most {}. If you did not ask for it, ignore this message: the password stays as it is.",
                    self.validity()
                ),
            ],
            Some(&link),
        )
    }

    /// Says that the account is now active.
    pub(crate) fn activated_mail(&self, holder: &Holder) -> rodan_mail::Mail {
        let home = format!("{}/", self.origin);
        mail(
            holder,
            "Your Rodan account is active",
            &[
                &format!(
                    "The Rodan account {} is active: you can log in now.",
                    holder.username
                ),
                &home,
            ],
            Some(&home),
        )
    }

    /// Says that the account's password was changed.
    pub(crate) fn password_changed_mail(&self, holder: &Holder) -> rodan_mail::Mail {
        mail(
            holder,
            "Your Rodan password was changed",
            &[
                &format!(
                    "The password of the Rodan account {} was changed. If you did not change it, reset it from the login page and tell the administrators.",
                    holder.username
                ),
                &format!("{}/", self.origin),
            ],
            None,
        )
    }

    /// The user that a link's `uid` names, and whether its `token` is valid for them now.
    pub(crate) async fn check_link(
        &self,
        pool: &PgPool,
        uid: &str,
        token: &str,
    ) -> Result<Option<(Holder, bool)>, sqlx::Error> {
        let Some(id) = decode_uid(uid) else {
            return Ok(None);
        };
        let Some(holder) = Holder::by_id(pool, id).await? else {
            return Ok(None);
        };
        let valid = self.check_token(&holder, token, now());
        Ok(Some((holder, valid)))
    }
}

/// A text message and, with `link`, its HTML alternative with the link clickable.
fn mail(
    holder: &Holder,
    subject: &str,
    paragraphs: &[&str],
    link: Option<&str>,
) -> rodan_mail::Mail {
    let text = format!("{}\n\nThe Rodan team\n", paragraphs.join("\n\n"));
    let html = link.map(|link| {
        let body: String = paragraphs
            .iter()
            .map(|p| {
                if *p == link {
                    format!(
                        "<p><a href=\"{}\">{}</a></p>\n",
                        rodan_mail::escape_html(link),
                        rodan_mail::escape_html(link)
                    )
                } else {
                    format!("<p>{}</p>\n", rodan_mail::escape_html(p))
                }
            })
            .collect();
        format!("<html><body>\n{body}<p>The Rodan team</p>\n</body></html>\n")
    });
    rodan_mail::Mail {
        to: holder.email.clone(),
        subject: subject.to_owned(),
        text,
        html,
    }
}

/// Seconds since 2001-01-01, the epoch of Django's tokens.
fn now() -> u64 {
    const EPOCH_2001: u64 = 978_307_200;
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs().saturating_sub(EPOCH_2001))
        .unwrap_or(0)
}

fn to_base36(mut n: u64) -> String {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    loop {
        out.push(DIGITS[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

fn from_base36(text: &str) -> Option<u64> {
    // Django refuses more than 13 digits too; u64 would overflow past that.
    if text.is_empty() || text.len() > 12 {
        return None;
    }
    u64::from_str_radix(text, 36).ok()
}

/// A user id as in links: URL-safe base64 of its decimal digits, unpadded (djoser's
/// `encode_uid`).
pub fn encode_uid(id: i64) -> String {
    URL_SAFE_NO_PAD.encode(id.to_string())
}

/// The user id of a link's `uid`, padded or not.
pub fn decode_uid(uid: &str) -> Option<i64> {
    let bytes = URL_SAFE_NO_PAD.decode(uid.trim_end_matches('=')).ok()?;
    std::str::from_utf8(&bytes).ok()?.parse().ok()
}

/// What a token is made of: a user's id, password hash, last login, e-mail; and what the messages
/// name. Not whether the account is active: a used activation link stays valid, and is told
/// apart as stale.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct Holder {
    pub id: i64,
    pub username: String,
    pub email: String,
    pub password: String,
    /// Microseconds since 1970.
    pub last_login: Option<i64>,
}

const HOLDER: &str = "SELECT id, username, email, password,
    (extract(epoch FROM last_login) * 1000000)::bigint AS last_login FROM users";

impl Holder {
    pub(crate) async fn by_id(pool: &PgPool, id: i64) -> Result<Option<Self>, sqlx::Error> {
        sqlx::query_as(&format!("{HOLDER} WHERE id = $1"))
            .bind(id)
            .fetch_optional(pool)
            .await
    }

    /// The user with exactly this e-mail and this activity (djoser's `get_user(is_active)`).
    pub(crate) async fn by_email(
        pool: &PgPool,
        email: &str,
        active: bool,
    ) -> Result<Option<Self>, sqlx::Error> {
        sqlx::query_as(&format!("{HOLDER} WHERE email = $1 AND is_active = $2"))
            .bind(email)
            .bind(active)
            .fetch_optional(pool)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holder() -> Holder {
        Holder {
            id: 7,
            username: "ada".into(),
            email: "ada@example.org".into(),
            password: "$argon2id$v=19$m=19456,t=2,p=1$salt$hash".into(),
            last_login: None,
        }
    }

    fn accounts(timeout: u64) -> Accounts {
        let args = AccountArgs {
            secret_key: Some("k".into()),
            password_reset_timeout: timeout,
            ..AccountArgs::default()
        };
        Accounts::new(&args, Some("https://rodan.example/api/")).expect("valid")
    }

    // In a runtime: lettre's connection pool starts a task when an SMTP server is set.
    #[tokio::test]
    async fn the_serve_command_takes_the_account_and_mail_settings() {
        use clap::{CommandFactory, Parser};
        crate::config::Cli::command().debug_assert();
        #[derive(Debug, Parser)]
        struct Serve {
            #[command(flatten)]
            args: crate::config::ServeArgs,
        }
        let serve = Serve::try_parse_from([
            "serve",
            "--database-url",
            "postgres://db",
            "--rabbitmq-url",
            "amqp://mq",
            "--redis-url",
            "redis://cache",
            "--self-registration",
            "true",
            "--email-host",
            "smtp.example.org",
            "--email-use-tls",
            "false",
            "--server-host",
            "rodan.example.org",
        ])
        .expect("the settings parse");
        let accounts = &serve.args.accounts;
        assert!(accounts.self_registration);
        assert_eq!(accounts.password_reset_timeout, 259_200);
        assert_eq!(
            accounts.mail.email_host.as_deref(),
            Some("smtp.example.org")
        );
        assert!(!accounts.mail.email_use_tls);
        let built = Accounts::new(accounts, None).expect("valid");
        assert!(built.mailer.sends());
        assert_eq!(built.origin, "http://rodan.example.org");
    }

    #[test]
    fn uids_are_djosers() {
        assert_eq!(encode_uid(1), "MQ");
        assert_eq!(encode_uid(1234), "MTIzNA");
        assert_eq!(decode_uid("MTIzNA"), Some(1234));
        assert_eq!(decode_uid("MTIzNA=="), Some(1234));
        assert_eq!(decode_uid("!!"), None);
        assert_eq!(decode_uid("YWJj"), None, "not digits");
    }

    #[test]
    fn a_token_holds_until_the_password_login_or_email_changes_or_it_expires() {
        let accounts = accounts(3600);
        let h = holder();
        let token = accounts.make_token(&h, 1_000_000);
        assert!(token.starts_with("lfls-"), "{token}");
        assert_eq!(token.len(), "lfls-".len() + 32);
        assert!(accounts.check_token(&h, &token, 1_000_000 + 3600));
        assert!(
            !accounts.check_token(&h, &token, 1_000_000 + 3601),
            "expired"
        );
        let changed = [
            Holder {
                password: "other".into(),
                ..h.clone()
            },
            Holder {
                last_login: Some(1),
                ..h.clone()
            },
            Holder {
                email: "eve@example.org".into(),
                ..h.clone()
            },
            Holder { id: 8, ..h.clone() },
        ];
        for other in &changed {
            assert!(!accounts.check_token(other, &token, 1_000_000), "{other:?}");
        }
        // Another key, or a changed timestamp, and it is no token.
        let (ts, hash) = token.split_once('-').expect("two parts");
        assert!(!accounts.check_token(&h, &format!("{}-{hash}", to_base36(1_000_001)), 1_000_001));
        assert!(!accounts.check_token(&h, &format!("{ts}-{}", &hash[1..]), 1_000_000));
        let other_key = Accounts::new(
            &AccountArgs {
                secret_key: Some("other".into()),
                ..AccountArgs::default()
            },
            None,
        )
        .expect("valid");
        assert!(!other_key.check_token(&h, &token, 1_000_000));
        for junk in ["", "-", "zzzzzzzzzzzzzzzzz-00", "abc", "lfls-"] {
            assert!(!accounts.check_token(&h, junk, 1_000_000), "{junk}");
        }
    }

    #[test]
    fn links_point_at_the_public_host_and_escape_html() {
        let accounts = accounts(259_200);
        let mut h = holder();
        h.username = "<b>ada</b>".into();
        let mail = accounts.activation_mail(&h);
        assert_eq!(mail.to, "ada@example.org");
        assert!(
            mail.text.contains("https://rodan.example/#activate/Nw/"),
            "{}",
            mail.text
        );
        assert!(mail.text.contains("for 3 days"), "{}", mail.text);
        let html = mail.html.expect("an HTML part");
        assert!(html.contains("&lt;b&gt;ada&lt;/b&gt;"), "{html}");
        assert!(!html.contains("<b>"), "{html}");
        let reset = accounts.reset_mail(&h);
        assert!(
            reset
                .text
                .contains("https://rodan.example/#password-reset/Nw/")
        );
    }
}
