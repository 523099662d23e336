//! The API's defences: login throttling (per account and per client address, counted in Redis so
//! every replica shares the counts), the client address behind trusted proxies only, the
//! websocket's allowed origins, security headers, and notices of revoked credentials that reach
//! the websockets of every replica.

use crate::error::ApiError;
use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use ipnet::IpNet;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::time::Duration;

/// Redis channel of credential changes: the payload is the id of a user whose token was replaced
/// or revoked, who was deactivated, deleted or changed rights. Websockets of that user check
/// their token again.
pub const AUTH_CHANNEL: &str = "rodan:auth:changed";

/// What the websocket hub fans out to the sockets of a replica.
#[derive(Debug, Clone)]
pub enum Notice {
    /// A model event, as published.
    Event(std::sync::Arc<str>),
    /// The credentials or rights of this user changed.
    Credentials(i64),
}

/// A rate in Django REST framework's notation: `"20/hour"` (`s`, `m`, `h`, `d` by first letter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Allowed events per period.
    pub count: u64,
    /// The period.
    pub period: Duration,
}

impl FromStr for Rate {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("{s:?} is not a rate like \"20/hour\" (s, m, h or d)");
        let (count, period) = s.trim().split_once('/').ok_or_else(bad)?;
        let count: u64 = count.trim().parse().map_err(|_| bad())?;
        let secs = match period.trim().chars().next() {
            Some('s') => 1,
            Some('m') => 60,
            Some('h') => 3600,
            Some('d') => 86_400,
            _ => return Err(bad()),
        };
        if count == 0 {
            return Err(format!("{s:?}: the count must be at least 1"));
        }
        Ok(Self {
            count,
            period: Duration::from_secs(secs),
        })
    }
}

fn parse_net(s: &str) -> Result<IpNet, String> {
    let s = s.trim();
    s.parse::<IpNet>()
        .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| format!("{s:?} is neither an address nor a CIDR network"))
}

/// Comma-separated addresses or CIDR networks; empty for none.
fn parse_nets(s: &str) -> Result<Networks, String> {
    s.split(',')
        .filter(|p| !p.trim().is_empty())
        .map(parse_net)
        .collect::<Result<_, _>>()
        .map(Networks)
}

/// Networks whose members are trusted proxies.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Networks(pub Vec<IpNet>);

impl Networks {
    /// Whether `address` is in one of them.
    pub fn contain(&self, address: &IpAddr) -> bool {
        self.0.iter().any(|n| n.contains(address))
    }
}

/// Settings of [`Security`], from the command line or the environment.
#[derive(Debug, Clone, clap::Args)]
pub struct SecurityArgs {
    /// The public URL of the deployment (`https://rodan.example`): its origin may open the
    /// websocket, and `https` turns on Strict-Transport-Security.
    #[arg(long, env = rodan_types::env::PUBLIC_URL)]
    pub public_url: Option<String>,
    /// Further origins allowed to open the websocket (a web client served elsewhere), comma
    /// separated: `https://client.example,http://localhost:9002`.
    #[arg(
        long,
        env = "RODAN_ALLOWED_ORIGINS",
        value_delimiter = ',',
        num_args = 0..
    )]
    pub allowed_origins: Vec<String>,
    /// Proxies whose `X-Forwarded-For`/`X-Real-IP` give the client's address (addresses or CIDR
    /// networks, comma separated). Requests from any other peer are attributed to the peer.
    #[arg(long, env = "RODAN_TRUSTED_PROXIES", value_parser = parse_nets, default_value = "")]
    pub trusted_proxies: Networks,
    /// Served over HTTPS (by a TLS-terminating proxy): send Strict-Transport-Security. Implied by
    /// an `https` public URL.
    #[arg(long, env = "RODAN_HTTPS")]
    pub https: bool,
    /// Failed logins allowed per account before further logins of it are refused for the rest
    /// of the period (429).
    #[arg(long, env = "RODAN_LOGIN_THROTTLE_ACCOUNT", default_value = "20/hour")]
    pub login_throttle_account: Rate,
    /// Failed logins allowed per client address before further logins from it are refused.
    #[arg(long, env = "RODAN_LOGIN_THROTTLE_ADDRESS", default_value = "60/hour")]
    pub login_throttle_address: Rate,
}

impl Default for SecurityArgs {
    fn default() -> Self {
        Self {
            public_url: None,
            allowed_origins: Vec::new(),
            trusted_proxies: Networks::default(),
            https: false,
            login_throttle_account: Rate {
                count: 20,
                period: Duration::from_secs(3600),
            },
            login_throttle_address: Rate {
                count: 60,
                period: Duration::from_secs(3600),
            },
        }
    }
}

/// The defences' settings and their Redis connection.
pub struct Security {
    /// The settings.
    pub settings: SecurityArgs,
    /// Prefix of the Redis keys (`rodan`).
    pub namespace: String,
    redis: redis::aio::ConnectionManager,
}

impl std::fmt::Debug for Security {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Security")
            .field("settings", &self.settings)
            .field("namespace", &self.namespace)
            .finish_non_exhaustive()
    }
}

/// Counts an attempt on each key (`KEYS`), the window (`ARGV`, seconds) starting with its first;
/// answers each count and its remaining milliseconds.
const ATTEMPT: &str = r"
local out = {}
for i, key in ipairs(KEYS) do
  local n = redis.call('INCR', key)
  if n == 1 then redis.call('EXPIRE', key, ARGV[i]) end
  out[2 * i - 1] = n
  out[2 * i] = redis.call('PTTL', key)
end
return out
";

/// Takes an attempt back from each key still there (an expired one stays gone).
const TAKE_BACK: &str = r"
for _, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 1 then redis.call('DECR', key) end
end
return 0
";

/// Redis answers within this, or the limiter lets the login through (and says so in the log).
const REDIS_WAIT: Duration = Duration::from_secs(2);

impl Security {
    /// Connects to Redis at `url`.
    pub async fn connect(
        url: &str,
        settings: SecurityArgs,
        namespace: &str,
    ) -> redis::RedisResult<Self> {
        let redis = redis::Client::open(url)?.get_connection_manager().await?;
        Ok(Self {
            settings,
            namespace: namespace.to_owned(),
            redis,
        })
    }

    /// [`Security::connect`] without connecting: Redis is reached with the first login
    /// attempt (which answers 503 while it cannot be). Must be called on a Tokio runtime.
    pub fn lazy(url: &str, settings: SecurityArgs, namespace: &str) -> redis::RedisResult<Self> {
        let redis = redis::aio::ConnectionManager::new_lazy_with_config(
            redis::Client::open(url)?,
            redis::aio::ConnectionManagerConfig::new(),
        )?;
        Ok(Self {
            settings,
            namespace: namespace.to_owned(),
            redis,
        })
    }

    /// Whether HSTS is sent.
    pub fn https(&self) -> bool {
        self.settings.https
            || self
                .settings
                .public_url
                .as_deref()
                .is_some_and(|u| u.starts_with("https://"))
    }

    fn keys(&self, address: Option<IpAddr>, account: &str) -> [(String, Rate); 2] {
        let address = address.map_or_else(|| "unknown".to_owned(), |a| a.to_string());
        [
            (
                format!("{}:throttle:login:address:{address}", self.namespace),
                self.settings.login_throttle_address,
            ),
            (
                format!("{}:throttle:login:account:{account}", self.namespace),
                self.settings.login_throttle_account,
            ),
        ]
    }

    /// Counts a login attempt against the client's address and the account, refusing it (429)
    /// when either has used up its failures. The count comes first, atomically, so concurrent
    /// attempts cannot slip past the limit together; a refused attempt is taken back at once, a
    /// successful one by [`Self::login_succeeded`]. `account` names the account (`id:<n>`, or
    /// `login:<digest>` for an unknown one).
    pub async fn login_attempt(
        &self,
        address: Option<IpAddr>,
        account: &str,
    ) -> Result<(), ApiError> {
        self.attempt(&self.keys(address, account), "login").await
    }

    /// Counts one use of `what` (`mail:<digest>`) against `rate`, in Redis so every replica
    /// counts together, refusing it (429) once the period's uses are spent; a refused use is
    /// taken back. With Redis unreachable, it passes and the log says so.
    pub async fn limit(&self, what: &str, rate: Rate) -> Result<(), ApiError> {
        let key = format!("{}:throttle:{what}", self.namespace);
        self.attempt(&[(key, rate)], "request").await
    }

    async fn attempt(&self, keys: &[(String, Rate)], kind: &str) -> Result<(), ApiError> {
        let mut script = redis::cmd("EVAL");
        script.arg(ATTEMPT).arg(keys.len());
        for (key, _) in keys {
            script.arg(key);
        }
        for (_, rate) in keys {
            script.arg(rate.period.as_secs());
        }
        let mut conn = self.redis.clone();
        let counts: Vec<i64> =
            match tokio::time::timeout(REDIS_WAIT, script.query_async(&mut conn)).await {
                Ok(Ok(counts)) => counts,
                Ok(Err(error)) => {
                    tracing::warn!(%error, kind, "throttle unavailable (Redis); not limited");
                    return Ok(());
                }
                Err(_) => {
                    tracing::warn!(kind, "throttle unavailable (Redis timed out); not limited");
                    return Ok(());
                }
            };
        let wait = keys
            .iter()
            .zip(counts.chunks(2))
            .filter(|((_, rate), got)| got.first().is_some_and(|&n| n > rate.count as i64))
            .map(|((_, rate), got)| match got.get(1) {
                Some(&ttl) if ttl > 0 => (ttl as u64).div_ceil(1000),
                _ => rate.period.as_secs(),
            })
            .max();
        match wait {
            Some(wait) => {
                self.take_back(keys).await;
                Err(ApiError::Throttled(wait.max(1)))
            }
            None => Ok(()),
        }
    }

    /// Takes back the attempt of a login that succeeded: only failures count.
    pub async fn login_succeeded(&self, address: Option<IpAddr>, account: &str) {
        self.take_back(&self.keys(address, account)).await;
    }

    async fn take_back(&self, keys: &[(String, Rate)]) {
        let mut script = redis::cmd("EVAL");
        script.arg(TAKE_BACK).arg(keys.len());
        for (key, _) in keys {
            script.arg(key);
        }
        let mut conn = self.redis.clone();
        match tokio::time::timeout(REDIS_WAIT, script.query_async::<()>(&mut conn)).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::warn!(%error, "failed to take back a login attempt"),
            Err(_) => tracing::warn!("failed to take back a login attempt: Redis timed out"),
        }
    }

    /// Tells every replica that the credentials or rights of `user` changed.
    pub async fn credentials_changed(&self, user: i64) {
        let mut conn = self.redis.clone();
        let sent = tokio::time::timeout(
            REDIS_WAIT,
            redis::cmd("PUBLISH")
                .arg(AUTH_CHANNEL)
                .arg(user)
                .query_async::<()>(&mut conn),
        )
        .await;
        if !matches!(sent, Ok(Ok(()))) {
            tracing::warn!(
                user,
                "failed to announce a credential change; open websockets notice it at their next check"
            );
        }
    }

    /// Whether a websocket handshake with these headers may proceed: no `Origin` (not a
    /// browser), or the origin of the request's own host, of the public URL, or an allowed one.
    pub fn origin_allowed(&self, headers: &HeaderMap) -> bool {
        let Some(origin) = headers.get(header::ORIGIN) else {
            return true;
        };
        let Ok(origin) = origin.to_str() else {
            return false;
        };
        let origin = origin.trim().trim_end_matches('/').to_ascii_lowercase();
        let same = |allowed: &str| {
            let allowed = allowed.trim().trim_end_matches('/').to_ascii_lowercase();
            origin == origin_of(&allowed)
        };
        if self
            .settings
            .public_url
            .iter()
            .chain(&self.settings.allowed_origins)
            .filter(|o| !o.trim().is_empty())
            .any(|o| same(o))
        {
            return true;
        }
        // The page came from this very host (as Django's CSRF check): a browser sets `Host`
        // itself, so another site cannot fake it.
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(str::to_ascii_lowercase);
        match (origin.split_once("://"), host) {
            (Some(("http" | "https", authority)), Some(host)) => authority == host,
            _ => false,
        }
    }
}

/// `scheme://host[:port]` of a URL.
fn origin_of(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
            format!("{scheme}://{authority}")
        }
        None => url.to_owned(),
    }
}

/// The client's address: the peer's, or when the peer is a trusted proxy the address it names,
/// `X-Real-IP` (nginx's own view, after its own trusted proxies) or else the first untrusted
/// address of `X-Forwarded-For` read from the right. A client's own claims count for nothing.
pub fn client_address(headers: &HeaderMap, peer: IpAddr, trusted: &Networks) -> IpAddr {
    let is_trusted = |a: &IpAddr| trusted.contain(a);
    if !is_trusted(&peer) {
        return peer;
    }
    if let Some(real) = headers
        .get("x-real-ip")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
    {
        return real;
    }
    let forwarded = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .collect::<Vec<_>>();
    let mut client = peer;
    for hop in forwarded.iter().rev() {
        let Ok(address) = hop.parse::<IpAddr>() else {
            // A mangled entry: nothing left of it can be trusted.
            break;
        };
        client = address;
        if !is_trusted(&address) {
            break;
        }
    }
    client
}

/// The client address of a request, when the server was started with connection info.
#[derive(Debug, Clone, Copy)]
pub struct Client(pub Option<IpAddr>);

/// A state that holds the [`Security`] settings and limiters.
pub trait SecurityState: Send + Sync {
    /// The security settings and limiters.
    fn security(&self) -> &Security;
}

impl<S: SecurityState> FromRequestParts<S> for Client {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Infallible> {
        Ok(Self(client_of(parts, state.security())))
    }
}

/// The web client's `token` cookie (it keeps its token there), if the request carries one.
pub fn cookie_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == "token")
        .map(|(_, v)| v.to_owned())
}

/// See [`Client`].
pub fn client_of(parts: &Parts, security: &Security) -> Option<IpAddr> {
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())?;
    Some(client_address(
        &parts.headers,
        peer,
        &security.settings.trusted_proxies,
    ))
}

/// Headers every answer carries (unless the handler set its own): no sniffing, no framing, a
/// policy that lets a JSON answer load nothing, no referrer to other sites.
pub const HEADERS: &[(&str, &str)] = &[
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    (
        "content-security-policy",
        "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    ),
    ("referrer-policy", "same-origin"),
    ("cross-origin-resource-policy", "same-origin"),
];

/// HSTS when served over HTTPS: a year, subdomains left alone.
pub const HSTS: &str = "max-age=31536000";

/// `Cache-Control: no-store` on answers to requests with credentials, and HSTS when over HTTPS.
pub async fn headers<S: SecurityState + Clone>(
    State(state): State<S>,
    request: Request,
    next: Next,
) -> Response {
    let credentials = request.headers().contains_key(header::AUTHORIZATION)
        || cookie_token(request.headers()).is_some();
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    for (name, value) in HEADERS {
        headers
            .entry(HeaderName::from_static(name))
            .or_insert(HeaderValue::from_static(value));
    }
    if credentials {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if state.security().https() {
        headers
            .entry(header::STRICT_TRANSPORT_SECURITY)
            .or_insert(HeaderValue::from_static(HSTS));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(list: &[&str]) -> Networks {
        parse_nets(&list.join(",")).expect("networks")
    }

    fn xff(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", value.parse().expect("a header"));
        h
    }

    #[test]
    fn forwarded_addresses_count_only_from_trusted_proxies() {
        let peer: IpAddr = "10.0.0.5".parse().expect("ip");
        let headers = xff("6.6.6.6, 1.2.3.4, 10.0.0.9");
        // Untrusted peer: its own address, whatever it claims.
        assert_eq!(client_address(&headers, peer, &Networks::default()), peer);
        assert_eq!(
            client_address(&headers, peer, &nets(&["192.168.0.0/16"])),
            peer
        );
        // Trusted peer and trusted hop: the first untrusted address from the right, not the
        // client-supplied leftmost one.
        assert_eq!(
            client_address(&headers, peer, &nets(&["10.0.0.0/8"])),
            "1.2.3.4".parse::<IpAddr>().expect("ip")
        );
        // X-Real-IP, set by the trusted proxy, comes first.
        let mut real = xff("6.6.6.6");
        real.insert("x-real-ip", "1.2.3.4".parse().expect("a header"));
        assert_eq!(
            client_address(&real, peer, &nets(&["10.0.0.5"])),
            "1.2.3.4".parse::<IpAddr>().expect("ip")
        );
        assert_eq!(client_address(&real, peer, &Networks::default()), peer);
        // A mangled entry stops the walk at the last trusted hop.
        assert_eq!(
            client_address(
                &xff("1.2.3.4, junk, 10.0.0.9"),
                peer,
                &nets(&["10.0.0.0/8"])
            ),
            "10.0.0.9".parse::<IpAddr>().expect("ip")
        );
    }

    #[test]
    fn rates_read_like_django_rest_frameworks() {
        assert_eq!(
            "20/hour".parse(),
            Ok(Rate {
                count: 20,
                period: Duration::from_secs(3600)
            })
        );
        assert_eq!(
            "5/s".parse::<Rate>().map(|r| r.period),
            Ok(Duration::from_secs(1))
        );
        assert!("0/min".parse::<Rate>().is_err());
        assert!("ten/min".parse::<Rate>().is_err());
        assert!("10/fortnight".parse::<Rate>().is_err());
        assert!("10".parse::<Rate>().is_err());
    }

    #[test]
    fn settings_parse_lists_networks_and_rates() {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            security: SecurityArgs,
        }
        let cli = Cli::try_parse_from([
            "api",
            "--trusted-proxies",
            "10.0.0.0/8,::1",
            "--allowed-origins",
            "http://a.example,https://b.example",
            "--login-throttle-account",
            "5/min",
        ])
        .expect("valid settings");
        assert_eq!(
            cli.security.trusted_proxies,
            nets(&["10.0.0.0/8", "::1/128"])
        );
        assert_eq!(cli.security.allowed_origins.len(), 2);
        assert_eq!(cli.security.login_throttle_account.count, 5);
        assert_eq!(cli.security.login_throttle_address.count, 60);
        assert!(Cli::try_parse_from(["api", "--trusted-proxies", "everyone"]).is_err());
        // Empty (an empty variable): none.
        let none = Cli::try_parse_from(["api", "--trusted-proxies", ""]).expect("valid");
        assert_eq!(none.security.trusted_proxies, Networks::default());
        let none = Cli::try_parse_from(["api"]).expect("valid");
        assert_eq!(none.security.trusted_proxies, Networks::default());
    }

    #[test]
    fn origins_compare_scheme_host_and_port() {
        assert_eq!(
            origin_of("https://rodan.example/api/"),
            "https://rodan.example"
        );
        assert_eq!(origin_of("http://h:8080"), "http://h:8080");
    }
}
