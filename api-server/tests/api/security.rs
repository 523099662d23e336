//! Credentials, login throttling, the websocket's origins and revocations, security headers.

use crate::cases::start_nginx;
use crate::ctx::{Ctx, test_security};
use futures::StreamExt;
use reqwest::{Method, StatusCode};
use rodan_api_server::security::{Networks, SecurityArgs};
use serde_json::{Value, json};
use std::time::Duration;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

cases!(
    a_new_password_ends_cached_basic_logins_at_once_on_every_replica,
    logins_are_throttled_per_account_and_per_client_address,
    answers_carry_security_headers,
    the_websocket_opens_only_for_allowed_origins,
    the_websocket_follows_membership_and_closes_when_credentials_go,
    nginx_limits_logins_and_adds_security_headers,
    each_login_has_its_own_token_and_logging_out_ends_them_all,
    a_refused_user_change_changes_nothing,
);

async fn basic(ctx: &Ctx, root: &str, login: &str, password: &str) -> StatusCode {
    ctx.http
        .get(format!("{root}/api/auth/me/"))
        .basic_auth(login, Some(password))
        .send()
        .await
        .expect("answer")
        .status()
}

async fn user_url(ctx: &Ctx, token: &str) -> String {
    let (_, me) = ctx.get("/api/auth/me/", token).await;
    me["url"].as_str().expect("a user url").to_owned()
}

async fn a_new_password_ends_cached_basic_logins_at_once_on_every_replica(ctx: Ctx) {
    let alice = ctx.user("alice").await;
    let alice_url = user_url(&ctx, &alice).await;
    // A second replica: its own Basic cache, the same database.
    let other = ctx.replica(test_security()).await;
    for root in [&ctx.root, &other] {
        assert_eq!(
            basic(&ctx, root, "alice", "alice-password").await,
            StatusCode::OK
        );
    }
    // The password changes on the second replica; both stop taking the old one at once.
    let (status, body) = ctx
        .post(
            &format!("{other}/api/auth/change-password/"),
            &alice,
            json!({"current_password": "alice-password", "new_password": "alice-new-password"}),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    for root in [&ctx.root, &other] {
        assert_eq!(
            basic(&ctx, root, "alice", "alice-password").await,
            StatusCode::UNAUTHORIZED,
            "the old password on {root}"
        );
        assert_eq!(
            basic(&ctx, root, "alice", "alice-new-password").await,
            StatusCode::OK
        );
    }
    // An administrator's new password for her, too.
    let (status, _) = ctx
        .patch(&alice_url, &ctx.admin, json!({"password": "set-by-admin"}))
        .await;
    assert_eq!(status, StatusCode::OK);
    for root in [&ctx.root, &other] {
        assert_eq!(
            basic(&ctx, root, "alice", "alice-new-password").await,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        basic(&ctx, &ctx.root, "alice", "set-by-admin").await,
        StatusCode::OK
    );
    // Deactivated: refused at once as well.
    let (status, _) = ctx
        .patch(
            &format!("{other}/api/user/{}/", id_of(&alice_url)),
            &ctx.admin,
            json!({"is_active": false}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        basic(&ctx, &ctx.root, "alice", "set-by-admin").await,
        StatusCode::UNAUTHORIZED
    );
}

fn id_of(url: &str) -> String {
    url.trim_end_matches('/')
        .rsplit('/')
        .next()
        .expect("an id")
        .to_owned()
}

async fn token_login(
    ctx: &Ctx,
    root: &str,
    login: &str,
    password: &str,
    from: &str,
) -> reqwest::Response {
    ctx.http
        .post(format!("{root}/api/auth/token/"))
        .header("X-Real-IP", from)
        .header("X-Forwarded-For", from)
        .json(&json!({"email": login, "password": password}))
        .send()
        .await
        .expect("answer")
}

/// Asserts DRF's throttled answer and returns its wait.
async fn throttled(resp: reqwest::Response) -> u64 {
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = resp.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    let body: Value = resp.json().await.expect("json");
    assert_eq!(
        body,
        json!({"detail": format!("Request was throttled. Expected available in {wait} seconds.")})
    );
    wait
}

async fn logins_are_throttled_per_account_and_per_client_address(ctx: Ctx) {
    for name in ["alice", "bob", "carol", "dave", "erin"] {
        ctx.user(name).await;
    }
    let settings = SecurityArgs {
        login_throttle_account: "3/hour".parse().expect("a rate"),
        login_throttle_address: "5/hour".parse().expect("a rate"),
        trusted_proxies: Networks(vec!["127.0.0.1/32".parse().expect("a net")]),
        ..test_security()
    };
    let api = ctx.replica(settings).await;
    // Per account: three wrong passwords from three addresses, then the right one is refused
    // too, from anywhere and by any way of logging in.
    for i in 0..3 {
        let resp = token_login(
            &ctx,
            &api,
            "alice@example.org",
            "wrong",
            &format!("198.51.100.{i}"),
        )
        .await;
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    }
    let wait = throttled(
        token_login(
            &ctx,
            &api,
            "alice@example.org",
            "alice-password",
            "198.51.100.50",
        )
        .await,
    )
    .await;
    assert!((3500..=3600).contains(&wait), "{wait}");
    // Her user name is the same account.
    throttled(token_login(&ctx, &api, "alice", "alice-password", "198.51.100.51").await).await;
    let resp = ctx
        .http
        .get(format!("{api}/api/auth/me/"))
        .header("X-Real-IP", "198.51.100.52")
        .basic_auth("alice", Some("alice-password"))
        .send()
        .await
        .expect("answer");
    throttled(resp).await;
    // Per address: five failures from one address over several accounts (known or not), each
    // below its account's limit; then that address is refused, another is not.
    for (login, n) in [
        ("bob@example.org", 2),
        ("carol", 2),
        ("nobody@example.org", 1),
    ] {
        for _ in 0..n {
            let resp = token_login(&ctx, &api, login, "wrong", "203.0.113.7").await;
            assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
        }
    }
    throttled(token_login(&ctx, &api, "bob@example.org", "bob-password", "203.0.113.7").await)
        .await;
    assert_eq!(
        token_login(&ctx, &api, "bob@example.org", "bob-password", "203.0.113.8")
            .await
            .status(),
        StatusCode::OK
    );
    // Twenty wrong passwords at once, from twenty addresses: three are tried, the rest refused.
    let burst = futures::future::join_all((0..20).map(|i| {
        let (ctx, api) = (&ctx, &api);
        async move {
            token_login(ctx, api, "erin", "wrong", &format!("198.18.0.{i}"))
                .await
                .status()
        }
    }))
    .await;
    let tried = burst
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    let refused = burst
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!((tried, refused), (3, 17), "{burst:?}");
    // A peer that is no trusted proxy cannot pick its address: five failures claiming five
    // addresses all count against the peer's own.
    let plain = ctx
        .replica(SecurityArgs {
            login_throttle_address: "5/hour".parse().expect("a rate"),
            ..test_security()
        })
        .await;
    for i in 0..5 {
        let resp = token_login(
            &ctx,
            &plain,
            &format!("nobody{i}@example.org"),
            "wrong",
            &format!("192.0.2.{i}"),
        )
        .await;
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    }
    throttled(token_login(&ctx, &plain, "carol", "carol-password", "192.0.2.99").await).await;
    // A wrong current password when changing it counts for the account as well.
    let dave = ctx.login("dave@example.org", "dave-password").await;
    for i in 0..3 {
        let resp = ctx
            .http
            .post(format!("{api}/api/auth/change-password/"))
            .header("Authorization", format!("Token {dave}"))
            .header("X-Real-IP", format!("198.51.100.{}", 100 + i))
            .json(&json!({"current_password": "wrong", "new_password": "dave-new-password"}))
            .send()
            .await
            .expect("answer");
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    }
    let resp = ctx
        .http
        .post(format!("{api}/api/auth/change-password/"))
        .header("Authorization", format!("Token {dave}"))
        .header("X-Real-IP", "198.51.100.110")
        .json(&json!({"current_password": "dave-password", "new_password": "dave-new-password"}))
        .send()
        .await
        .expect("answer");
    throttled(resp).await;
}

async fn answers_carry_security_headers(ctx: Ctx) {
    let resp = ctx.http.get(ctx.url("/api/")).send().await.expect("answer");
    assert_eq!(resp.status(), StatusCode::OK);
    let h = resp.headers();
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["x-frame-options"], "DENY");
    let csp = h["content-security-policy"].to_str().expect("ascii");
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(h["referrer-policy"], "same-origin");
    assert!(
        !h.contains_key("strict-transport-security"),
        "no HSTS over plain HTTP"
    );
    assert!(h.get("cache-control").is_none_or(|v| v != "no-store"));
    // Authenticated answers, and refusals, are not to be stored.
    for (path, auth) in [
        ("/api/auth/me/", format!("Token {}", ctx.admin)),
        ("/api/projects/", "Token nope".to_owned()),
    ] {
        let resp = ctx
            .http
            .get(ctx.url(path))
            .header("Authorization", auth)
            .send()
            .await
            .expect("answer");
        assert_eq!(resp.headers()["cache-control"], "no-store", "{path}");
        assert_eq!(resp.headers()["x-content-type-options"], "nosniff");
    }
    // Told it is served over HTTPS (an https public URL): HSTS.
    let tls = ctx
        .replica(SecurityArgs {
            public_url: Some("https://rodan.example".into()),
            ..test_security()
        })
        .await;
    let resp = ctx
        .http
        .get(format!("{tls}/api/"))
        .send()
        .await
        .expect("answer");
    assert_eq!(
        resp.headers()["strict-transport-security"],
        "max-age=31536000"
    );
}

fn ws_root(root: &str) -> String {
    root.replace("http://", "ws://")
}

async fn open_ws(
    url: &str,
    origin: Option<&str>,
) -> Result<
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    WsError,
> {
    let mut request = url.into_client_request().expect("a request");
    if let Some(origin) = origin {
        request
            .headers_mut()
            .insert("origin", origin.parse().expect("a header"));
    }
    tokio_tungstenite::connect_async(request)
        .await
        .map(|(socket, _)| socket)
}

async fn the_websocket_opens_only_for_allowed_origins(ctx: Ctx) {
    let alice = ctx.user("alice").await;
    let url = format!("{}/ws/rodan?token={alice}", ws_root(&ctx.root));
    let own = ctx.root.clone();
    for origin in [
        "http://evil.example",
        "http://rodan.example.evil.example",
        "https://client.example",
        "null",
    ] {
        match open_ws(&url, Some(origin)).await {
            Err(WsError::Http(resp)) => {
                assert_eq!(resp.status(), StatusCode::FORBIDDEN, "{origin}")
            }
            other => panic!("{origin} opened the websocket: {:?}", other.map(|_| ())),
        }
    }
    // The public URL's origin, an allowed one, the page's own host, and non-browser clients.
    for origin in [
        Some("http://rodan.example"),
        Some("http://client.example"),
        Some(own.as_str()),
        None,
    ] {
        assert!(
            open_ws(&url, origin).await.is_ok(),
            "{origin:?} may open the websocket"
        );
    }
}

/// The next text message that is not a heartbeat, within `secs`.
async fn next_event<S>(socket: &mut S, secs: u64) -> Value
where
    S: futures::Stream<Item = Result<Message, WsError>> + Unpin,
{
    tokio::time::timeout(Duration::from_secs(secs), async {
        loop {
            match socket.next().await {
                Some(Ok(Message::Text(text))) if text.as_str() != "--heartbeat--" => {
                    return serde_json::from_str(text.as_str()).expect("json");
                }
                Some(Ok(_)) => continue,
                other => panic!("socket ended: {other:?}"),
            }
        }
    })
    .await
    .expect("an event arrives")
}

/// Waits (at most `secs`) for the server to close the socket; returns its close code.
async fn closed<S>(socket: &mut S, secs: u64) -> Option<CloseCode>
where
    S: futures::Stream<Item = Result<Message, WsError>> + Unpin,
{
    tokio::time::timeout(Duration::from_secs(secs), async {
        loop {
            match socket.next().await {
                Some(Ok(Message::Close(frame))) => return frame.map(|f| f.code),
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return None,
            }
        }
    })
    .await
    .expect("the socket closes within seconds, not at a heartbeat")
}

fn uuid_of(url: &str) -> String {
    id_of(url).replace('-', "")
}

async fn the_websocket_follows_membership_and_closes_when_credentials_go(ctx: Ctx) {
    let alice = ctx.user("alice").await;
    let bob = ctx.user("bob").await;
    let carol = ctx.user("carol").await;
    let carol_url = user_url(&ctx, &carol).await;
    let shared = ctx.project(&bob, "shared").await;
    ctx.ok(
        Method::PUT,
        &format!("{shared}workers/"),
        &bob,
        Some(json!(["alice"])),
        200,
    )
    .await;
    let mut socket = open_ws(
        &format!("{}/ws/rodan?token={alice}", ws_root(&ctx.root)),
        None,
    )
    .await
    .expect("the websocket opens");
    tokio::time::sleep(Duration::from_millis(300)).await;
    ctx.ok(
        Method::PATCH,
        &shared,
        &bob,
        Some(json!({"name": "renamed"})),
        200,
    )
    .await;
    let event = next_event(&mut socket, 10).await;
    assert_eq!(event["uuid"], uuid_of(&shared), "{event}");
    // Bob takes her off the project: its later events no longer reach her.
    ctx.ok(
        Method::PUT,
        &format!("{shared}workers/"),
        &bob,
        Some(json!([])),
        200,
    )
    .await;
    ctx.ok(
        Method::PATCH,
        &shared,
        &bob,
        Some(json!({"name": "after she left"})),
        200,
    )
    .await;
    let mine = ctx.project(&alice, "mine").await;
    let event = next_event(&mut socket, 10).await;
    assert_eq!(
        event["uuid"],
        uuid_of(&mine),
        "the project she left sent {event}"
    );
    // Her token is reset on another replica: the socket closes at once (1008).
    let other = ctx.replica(test_security()).await;
    let (status, _) = ctx
        .post(&format!("{other}/api/auth/reset-token/"), &alice, json!({}))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(closed(&mut socket, 5).await, Some(CloseCode::Policy));
    // Carol is deactivated by an administrator: her socket closes too.
    let mut socket = open_ws(
        &format!("{}/ws/rodan?token={carol}", ws_root(&ctx.root)),
        None,
    )
    .await
    .expect("the websocket opens");
    tokio::time::sleep(Duration::from_millis(300)).await;
    ctx.ok(
        Method::PATCH,
        &carol_url,
        &ctx.admin,
        Some(json!({"is_active": false})),
        200,
    )
    .await;
    assert_eq!(closed(&mut socket, 5).await, Some(CloseCode::Policy));
}

async fn nginx_limits_logins_and_adds_security_headers(ctx: Ctx) {
    let nginx = start_nginx(&ctx);
    // nginx's own answers and the API's carry the headers, once each.
    for path in ["/nginx-health", "/api/", "/nowhere"] {
        let resp = ctx
            .http
            .get(format!("{}{path}", nginx.root))
            .send()
            .await
            .expect("answer");
        let h = resp.headers();
        for name in [
            "x-content-type-options",
            "x-frame-options",
            "content-security-policy",
            "referrer-policy",
        ] {
            assert_eq!(h.get_all(name).iter().count(), 1, "{name} on {path}");
        }
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert!(!h.contains_key("strict-transport-security"));
    }
    // Behind a TLS-terminating ingress: HSTS.
    let resp = ctx
        .http
        .get(format!("{}/api/", nginx.root))
        .header("X-Forwarded-Proto", "https")
        .send()
        .await
        .expect("answer");
    assert_eq!(
        resp.headers()
            .get_all("strict-transport-security")
            .iter()
            .count(),
        1
    );
    // A burst of logins from one address: nginx refuses the excess with DRF's throttled answer
    // (each account here is a different unknown one, so the API's own limits stay out of it).
    let mut refused = None;
    for i in 0..40 {
        let resp = ctx
            .http
            .post(format!("{}/api/auth/token/", nginx.root))
            .json(&json!({"email": format!("nobody{i}@example.org"), "password": "wrong"}))
            .send()
            .await
            .expect("answer");
        if resp.status() == StatusCode::TOO_MANY_REQUESTS {
            refused = Some((i, resp));
            break;
        }
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    }
    let (i, resp) = refused.expect("nginx limits the login location");
    assert!(i >= 5, "a small burst passes: refused at {i}");
    assert_eq!(resp.headers()["x-content-type-options"], "nosniff");
    assert_eq!(resp.headers()["content-type"], "application/json");
    throttled(resp).await;
    // Other locations are not limited by it.
    let resp = ctx
        .http
        .get(format!("{}/api/", nginx.root))
        .send()
        .await
        .expect("answer");
    assert_eq!(resp.status(), StatusCode::OK);
}

/// Two logins (two browsers): the second does not end the first's session, nor close its
/// websocket; logging out (upstream's reset-token) ends both.
async fn each_login_has_its_own_token_and_logging_out_ends_them_all(ctx: Ctx) {
    let first = ctx.user("dora").await;
    let mut socket = open_ws(
        &format!("{}/ws/rodan?token={first}", ws_root(&ctx.root)),
        None,
    )
    .await
    .expect("the websocket opens");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let second = ctx.login("dora@example.org", "dora-password").await;
    assert_ne!(first, second, "each login gets a token of its own");
    for token in [&first, &second] {
        let (status, me) = ctx.get("/api/auth/me/", token).await;
        assert_eq!(status, StatusCode::OK, "{me}");
        assert_eq!(me["username"], "dora", "{me}");
    }
    // The first session's socket stays open: nothing but events or heartbeats for 2 s.
    let open = tokio::time::timeout(Duration::from_secs(2), async {
        loop {
            match socket.next().await {
                Some(Ok(Message::Close(frame))) => return format!("closed: {frame:?}"),
                Some(Ok(_)) => continue,
                Some(Err(e)) => return format!("failed: {e}"),
                None => return "ended".to_owned(),
            }
        }
    })
    .await;
    assert!(open.is_err(), "the first session's socket {open:?}");
    let (status, _) = ctx
        .post(
            &format!("{}/api/auth/reset-token/", ctx.root),
            &second,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    for token in [&first, &second] {
        let (status, _) = ctx.get("/api/auth/me/", token).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "after logout");
    }
    assert_eq!(closed(&mut socket, 5).await, Some(CloseCode::Policy));
}

async fn a_refused_user_change_changes_nothing(ctx: Ctx) {
    let alice = ctx.user("alice").await;
    let bob = ctx.user("bob").await;
    let (_, bob_me) = ctx.get("/api/auth/me/", &bob).await;
    let alice_url = user_url(&ctx, &alice).await;
    // The name is free, the address is Bob's: nothing changes, not even the name.
    let (status, body) = ctx
        .patch(
            &alice_url,
            &alice,
            json!({"username": "alicia", "email": bob_me["email"], "password": "short"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(
        body,
        json!({"password": ["This password is too short. It must contain at least 8 characters."]})
    );
    let (status, body) = ctx
        .patch(
            &alice_url,
            &alice,
            json!({"username": "alicia", "email": bob_me["email"]}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(
        body,
        json!({"email": ["A user with that email already exists."]})
    );
    let (_, me) = ctx.get("/api/auth/me/", &alice).await;
    assert_eq!(me["username"], "alice", "{me}");
    // A user's own change of the account flags is ignored; an administrator's is not.
    let (status, me) = ctx
        .patch(
            "/api/auth/me/",
            &alice,
            json!({"is_superuser": true, "first_name": "Alice"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["first_name"], "Alice", "{me}");
    assert_eq!(me["is_superuser"], false, "{me}");
    let (status, me) = ctx
        .patch(&alice_url, &ctx.admin, json!({"is_staff": true}))
        .await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["is_staff"], true, "{me}");
}
