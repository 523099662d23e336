//! Accounts by e-mail (upstream's djoser routes): self-registration, activation, resending it,
//! password reset. Mail goes to a real SMTP server on loopback (aiosmtpd, `rodan_testkit::Smtp`)
//! and the tests follow the links in what it receives, as a user would.

use crate::ctx::{Ctx, test_security};
use reqwest::{Method, StatusCode};
use rodan_api_server::accounts::{AccountArgs, Accounts, encode_uid};
use rodan_mail::MailArgs;
use rodan_testkit::{ReceivedMail, Smtp};
use serde_json::{Value, json};
use std::time::Duration;

cases!(
    self_registration_mails_a_link_that_activates_the_account_once,
    a_password_reset_link_sets_a_new_password_once,
    a_reset_link_dies_when_its_account_logs_in,
    resend_activation_mails_a_new_link_and_refuses_other_addresses,
    wrong_and_expired_links_get_djosers_400s,
    an_smtp_outage_keeps_the_registration_and_a_resend_delivers_the_link,
    with_self_registration_off_registration_is_refused_as_before,
    mails_asked_for_one_address_are_limited,
);

/// The public host links point at.
const HOST: &str = "rodan.test:8443";

/// A server on `ctx`'s database with self-registration on, mailing through `smtp` (plain SMTP on
/// loopback), links valid for `timeout` seconds; returns its root URL.
async fn server(ctx: &Ctx, smtp: &Smtp, timeout: u64) -> String {
    let args = AccountArgs {
        self_registration: true,
        secret_key: Some("test-secret".into()),
        password_reset_timeout: timeout,
        mail: MailArgs {
            email_host: Some("127.0.0.1".into()),
            email_port: smtp.port,
            email_use_tls: false,
            server_host: Some(HOST.into()),
            server_https: true,
            ..MailArgs::default()
        },
        ..AccountArgs::default()
    };
    let accounts = Accounts::new(&args, None).expect("the settings are valid");
    ctx.replica_with(test_security(), accounts).await
}

async fn anonymous(ctx: &Ctx, url: String, body: Value) -> (StatusCode, Value) {
    ctx.call(Method::POST, &url, None, Some(body)).await
}

async fn register(ctx: &Ctx, root: &str, name: &str) -> Value {
    let (status, body) = anonymous(
        ctx,
        format!("{root}/api/auth/register/"),
        json!({"username": name, "email": format!("{name}@example.org"), "password": format!("{name}-password")}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

async fn login(ctx: &Ctx, root: &str, email: &str, password: &str) -> (StatusCode, Value) {
    anonymous(
        ctx,
        format!("{root}/api/auth/token/"),
        json!({"email": email, "password": password}),
    )
    .await
}

/// The `(uid, token)` of the link to the client's `route` in `mail`, after checking the link
/// points at the public host.
fn link(mail: &ReceivedMail, route: &str) -> (String, String) {
    let prefix = format!("https://{HOST}/#{route}/");
    let start = mail
        .text
        .find(&prefix)
        .unwrap_or_else(|| panic!("a {prefix} link in {:?}", mail.text));
    let rest = &mail.text[start + prefix.len()..];
    let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
    let (uid, token) = rest[..end].split_once('/').expect("uid/token");
    let html = mail.html.as_deref().expect("an HTML alternative");
    assert!(
        html.contains(&format!("href=\"{prefix}{uid}/{token}\"")),
        "{html}"
    );
    (uid.to_owned(), token.to_owned())
}

/// Waits for the `n`th message (from 1) and returns it.
fn nth(smtp: &Smtp, n: usize) -> ReceivedMail {
    smtp.wait_for(n, Duration::from_secs(10))[n - 1].clone()
}

async fn self_registration_mails_a_link_that_activates_the_account_once(ctx: Ctx) {
    let smtp = Smtp::start();
    let root = server(&ctx, &smtp, 3600).await;
    // The client finds every route it looks up.
    let (_, api) = ctx
        .call(Method::GET, &format!("{root}/api/"), None, None)
        .await;
    for name in [
        "auth-register",
        "auth-activate",
        "auth-resend-activation",
        "auth-reset-password",
        "auth-reset-password-confirm",
    ] {
        assert!(api["routes"][name].is_string(), "{name} in {api}");
    }
    // After login the client asks each route's OPTIONS.
    for (name, fields) in [
        ("auth-activate", &["uid", "token"][..]),
        ("auth-resend-activation", &["email"]),
        ("auth-reset-password", &["email"]),
        (
            "auth-reset-password-confirm",
            &["uid", "token", "new_password"],
        ),
    ] {
        let url = api["routes"][name].as_str().expect("a url");
        let (status, meta) = ctx.call(Method::OPTIONS, url, None, None).await;
        assert_eq!(status, StatusCode::OK, "{name}: {meta}");
        let post = meta["actions"]["POST"].as_object().expect("POST fields");
        let names: Vec<&str> = post.keys().map(String::as_str).collect();
        let mut expected = fields.to_vec();
        expected.sort_unstable();
        assert_eq!(names, expected, "{name}");
        assert!(post.values().all(|f| f["required"] == true), "{meta}");
    }
    // `POST /api/users/` stays for administrators only, whatever the switch.
    let (status, _) = anonymous(
        &ctx,
        format!("{root}/api/users/"),
        json!({"username": "jo", "email": "jo@example.org", "password": "jo-password"}),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let user = register(&ctx, &root, "ada").await;
    assert_eq!(user["username"], "ada");
    assert_eq!(user["is_active"], false);
    // Inactive: login is refused as today, with the 403 the client turns into "activation
    // required".
    let (status, body) = login(&ctx, &root, "ada@example.org", "ada-password").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(
        body,
        json!({"is_logged_in": false, "detail": "Account is not activated."})
    );

    let mail = nth(&smtp, 1);
    assert_eq!(mail.rcpt_tos, ["ada@example.org"]);
    assert_eq!(mail.from, "Rodan <noreply@rodan.test>");
    assert!(mail.subject.contains("Activate"), "{}", mail.subject);
    assert!(mail.text.contains("ada"), "{}", mail.text);
    let (uid, token) = link(&mail, "activate");
    let id = user["pk"].as_i64().expect("an id");
    assert_eq!(uid, encode_uid(id));

    // The client posts its forms url-encoded.
    let response = ctx
        .http
        .post(format!("{root}/api/auth/activate/"))
        .form(&[("uid", uid.as_str()), ("token", token.as_str())])
        .send()
        .await
        .expect("the server answers");
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let confirmation = nth(&smtp, 2);
    assert_eq!(confirmation.rcpt_tos, ["ada@example.org"]);
    assert!(confirmation.subject.contains("active"), "{confirmation:?}");

    // The link works once: used again, it is stale (djoser's 403) ...
    let again = json!({"uid": uid, "token": token});
    let activate = format!("{root}/api/auth/activate/");
    let (status, body) = anonymous(&ctx, activate.clone(), again.clone()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body, json!({"detail": "Stale token for given user."}));
    let (status, body) = login(&ctx, &root, "ada@example.org", "ada-password").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // ... and once the account has logged in, no token at all, as Django's signs the last login.
    let (status, body) = anonymous(&ctx, activate, again).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body, json!({"token": ["Invalid token for given user."]}));
}

async fn a_password_reset_link_sets_a_new_password_once(ctx: Ctx) {
    let smtp = Smtp::start();
    let root = server(&ctx, &smtp, 3600).await;
    let old_token = ctx.user("bob").await;
    let reset = format!("{root}/api/auth/reset-password/");
    let confirm = format!("{root}/api/auth/reset-password/confirm/");
    // An address without an account is answered alike, and mails nothing.
    let (status, _) = anonymous(&ctx, reset.clone(), json!({"email": "nobody@example.org"})).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = anonymous(&ctx, reset.clone(), json!({"email": "bob@example.org"})).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let mails = smtp.wait_for(1, Duration::from_secs(10));
    assert_eq!(mails.len(), 1, "nothing went to the unknown address");
    assert_eq!(mails[0].rcpt_tos, ["bob@example.org"]);
    assert!(
        mails[0].text.contains("bob"),
        "the user name is in the mail"
    );
    let (uid, token) = link(&mails[0], "password-reset");

    // djoser checks the new password first.
    let (status, body) = anonymous(
        &ctx,
        confirm.clone(),
        json!({"uid": uid, "token": token, "new_password": "short"}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        json!({"new_password": ["This password is too short. It must contain at least 8 characters."]})
    );
    let (status, body) = anonymous(
        &ctx,
        confirm.clone(),
        json!({"uid": uid, "token": token, "new_password": "bob-new-password"}),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");

    let (status, _) = login(&ctx, &root, "bob@example.org", "bob-password").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the old password is gone");
    // The token of the old password ended with it.
    let (status, _) = ctx.get("/api/auth/me/", &old_token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let changed = nth(&smtp, 2);
    assert!(changed.subject.contains("password"), "{changed:?}");
    // The link works once: its token signed the old password.
    let (status, body) = anonymous(
        &ctx,
        confirm,
        json!({"uid": uid, "token": token, "new_password": "bob-other-password"}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body, json!({"token": ["Invalid token for given user."]}));
    let (status, body) = login(&ctx, &root, "bob@example.org", "bob-new-password").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // A password changed by its owner is told of too (upstream's
    // PASSWORD_CHANGED_EMAIL_CONFIRMATION).
    let (status, body) = ctx
        .call(
            Method::POST,
            &format!("{root}/api/auth/change-password/"),
            body["token"].as_str(),
            Some(json!({"current_password": "bob-new-password", "new_password": "bob-third-password"})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let notice = nth(&smtp, 3);
    assert_eq!(notice.rcpt_tos, ["bob@example.org"]);
    assert!(notice.subject.contains("password"), "{notice:?}");
}

async fn a_reset_link_dies_when_its_account_logs_in(ctx: Ctx) {
    let smtp = Smtp::start();
    let root = server(&ctx, &smtp, 3600).await;
    ctx.user("cy").await;
    let (status, _) = anonymous(
        &ctx,
        format!("{root}/api/auth/reset-password/"),
        json!({"email": "cy@example.org"}),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (uid, token) = link(&nth(&smtp, 1), "password-reset");
    // The owner remembered the password and logged in: the link asked for is void.
    let (status, _) = login(&ctx, &root, "cy@example.org", "cy-password").await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = anonymous(
        &ctx,
        format!("{root}/api/auth/reset-password/confirm/"),
        json!({"uid": uid, "token": token, "new_password": "cy-new-password"}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body, json!({"token": ["Invalid token for given user."]}));
}

async fn resend_activation_mails_a_new_link_and_refuses_other_addresses(ctx: Ctx) {
    let smtp = Smtp::start();
    let root = server(&ctx, &smtp, 3600).await;
    register(&ctx, &root, "dee").await;
    nth(&smtp, 1);
    let resend = format!("{root}/api/auth/resend-activation/");
    let (status, body) = anonymous(&ctx, resend.clone(), json!({"email": "dee@example.org"})).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let again = nth(&smtp, 2);
    assert_eq!(again.rcpt_tos, ["dee@example.org"]);
    let (uid, token) = link(&again, "activate");
    let (status, _) = anonymous(
        &ctx,
        format!("{root}/api/auth/activate/"),
        json!({"uid": uid, "token": token}),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let count = nth(&smtp, 3);
    assert!(count.subject.contains("active"), "{count:?}");

    for (body, field_error) in [
        (
            json!({"email": "dee@example.org"}),
            "This account is already active.",
        ),
        (
            json!({"email": "nobody@example.org"}),
            "User with given email does not exist.",
        ),
        (json!({"email": "nope"}), "Enter a valid email address."),
        (json!({"email": ""}), "This field may not be blank."),
        (json!({}), "This field is required."),
    ] {
        let (status, answer) = anonymous(&ctx, resend.clone(), body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
        assert_eq!(answer, json!({"email": [field_error]}), "{body}");
    }
    assert_eq!(smtp.messages().len(), 3, "no mail for the refused ones");
}

async fn wrong_and_expired_links_get_djosers_400s(ctx: Ctx) {
    let smtp = Smtp::start();
    let root = server(&ctx, &smtp, 1).await;
    register(&ctx, &root, "eve").await;
    let (uid, token) = link(&nth(&smtp, 1), "activate");
    let activate = format!("{root}/api/auth/activate/");
    let bad_uid = json!({"uid": ["Invalid user id or user doesn't exist."]});
    let bad_token = json!({"token": ["Invalid token for given user."]});
    let mut other = token.clone().into_bytes();
    let last = other.len() - 1;
    other[last] = if other[last] == b'0' { b'1' } else { b'0' };
    let other = String::from_utf8(other).expect("ascii");
    for (body, expected) in [
        (
            json!({}),
            json!({"uid": ["This field is required."], "token": ["This field is required."]}),
        ),
        (json!({"uid": "!!", "token": token}), bad_uid.clone()),
        (json!({"uid": "YWJj", "token": token}), bad_uid.clone()),
        (
            json!({"uid": encode_uid(i64::MAX), "token": token}),
            bad_uid.clone(),
        ),
        (json!({"uid": uid, "token": other}), bad_token.clone()),
        (json!({"uid": uid, "token": "junk"}), bad_token.clone()),
        // DRF's `CharField` reads a number as its text, and refuses other types.
        (json!({"uid": uid, "token": 7}), bad_token.clone()),
        (
            json!({"uid": uid, "token": true}),
            json!({"token": ["Not a valid string."]}),
        ),
    ] {
        let (status, answer) = anonymous(&ctx, activate.clone(), body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
        assert_eq!(answer, expected, "{body}");
    }
    // Valid for a second: two seconds on, it has expired.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let (status, answer) =
        anonymous(&ctx, activate.clone(), json!({"uid": uid, "token": token})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(answer, bad_token);
    let (status, answer) = anonymous(
        &ctx,
        format!("{root}/api/auth/reset-password/confirm/"),
        json!({"uid": uid, "token": token, "new_password": "a-good-password"}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(answer, bad_token);
    // Nothing changed: still inactive.
    let (status, _) = login(&ctx, &root, "eve@example.org", "eve-password").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

async fn an_smtp_outage_keeps_the_registration_and_a_resend_delivers_the_link(ctx: Ctx) {
    let mut smtp = Smtp::start();
    let root = server(&ctx, &smtp, 3600).await;
    ctx.user("fay").await;
    smtp.stop();
    // The account is made and answered; only the mail is missing.
    let user = register(&ctx, &root, "gus").await;
    assert_eq!(user["is_active"], false);
    let (status, _) = login(&ctx, &root, "gus@example.org", "gus-password").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // A mail asked for while SMTP is down: 503 with Retry-After, so the user asks again.
    for (path, email) in [
        ("resend-activation", "gus@example.org"),
        ("reset-password", "fay@example.org"),
    ] {
        let response = ctx
            .http
            .post(format!("{root}/api/auth/{path}/"))
            .json(&json!({"email": email}))
            .send()
            .await
            .expect("the server answers");
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE, "{path}");
        assert!(response.headers().contains_key("retry-after"), "{path}");
    }
    smtp.start_again();
    assert!(smtp.messages().is_empty());
    let (status, body) = anonymous(
        &ctx,
        format!("{root}/api/auth/resend-activation/"),
        json!({"email": "gus@example.org"}),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (uid, token) = link(&nth(&smtp, 1), "activate");
    let (status, _) = anonymous(
        &ctx,
        format!("{root}/api/auth/activate/"),
        json!({"uid": uid, "token": token}),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = login(&ctx, &root, "gus@example.org", "gus-password").await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

async fn with_self_registration_off_registration_is_refused_as_before(ctx: Ctx) {
    let new = json!({"username": "hal", "email": "hal@example.org", "password": "hal-password"});
    let (status, body) = ctx
        .call(Method::POST, "/api/auth/register/", None, Some(new.clone()))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let user = ctx.user("ivy").await;
    let (status, body) = ctx.post("/api/auth/register/", &user, new.clone()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        body,
        json!({"detail": "Only administrators may create users."})
    );
    // Administrators still create active accounts, with nothing to activate.
    let created = ctx
        .ok(
            Method::POST,
            "/api/auth/register/",
            &ctx.admin.clone(),
            Some(new),
            201,
        )
        .await;
    assert_eq!(created["is_active"], true);
    ctx.login("hal@example.org", "hal-password").await;
    // The other routes answer without a mail server: the mail is logged.
    let (status, _) = ctx
        .call(
            Method::POST,
            "/api/auth/reset-password/",
            None,
            Some(json!({"email": "hal@example.org"})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
}

async fn mails_asked_for_one_address_are_limited(ctx: Ctx) {
    let smtp = Smtp::start();
    let root = server(&ctx, &smtp, 3600).await;
    ctx.user("kim").await;
    let reset = format!("{root}/api/auth/reset-password/");
    // Five an hour per address (the default), whoever asks.
    for _ in 0..5 {
        let (status, _) = anonymous(&ctx, reset.clone(), json!({"email": "kim@example.org"})).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
    }
    let response = ctx
        .http
        .post(&reset)
        .json(&json!({"email": "kim@example.org"}))
        .send()
        .await
        .expect("the server answers");
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(response.headers().contains_key("retry-after"));
    // An address without an account is counted alike: the 429 tells nothing.
    for _ in 0..5 {
        let (status, _) =
            anonymous(&ctx, reset.clone(), json!({"email": "nobody@example.org"})).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
    }
    let (status, _) = anonymous(&ctx, reset.clone(), json!({"email": "nobody@example.org"})).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    // Resending activations shares the count.
    let (status, _) = anonymous(
        &ctx,
        format!("{root}/api/auth/resend-activation/"),
        json!({"email": "kim@example.org"}),
    )
    .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    // Other addresses are not held back.
    ctx.user("lou").await;
    let (status, _) = anonymous(&ctx, reset, json!({"email": "lou@example.org"})).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let mails = smtp.wait_for(6, Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        smtp.messages().len(),
        6,
        "five to kim, one to lou: {mails:?}"
    );
}
