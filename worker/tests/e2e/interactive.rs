//! Interactive jobs end to end: CC Analysis → Interactive Classifier on a band of the 240r page
//! (the fixtures' one-bit page), run by the world's workers. The classifier's run job waits for a
//! person (status 2) and its run waits with it; the person acquires it, opens the page and its
//! files by the token alone, is refused bad input with nothing changed, classifies a few glyphs
//! (one round of suggestions, then finish), and the run finishes with a training-data output
//! holding those classes, which the Non-Interactive Classifier trains from. A second case: an
//! expired lock is taken by another user, and a waiting run is cancelled.

use crate::world::{WAIT, World, port_type, url_of, uuid_of};
use reqwest::{Method, StatusCode};
use rodan_jobs::gamera::Image;
use rodan_jobs::gamera::png::{encode_png, load_png};
use rodan_jobs::gamera::xml::{State, parse};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

pub(crate) const IC: &str = "Interactive Classifier";
const CC: &str = "CC Analysis";
const PREVIEW: &str = "PNG (includes RGB, 1-Bit, and Greyscale) - Preview Image";
const CCS: &str = "GameraXML - Connected Components";
pub(crate) const TRAINING: &str = "GameraXML - Training Data";
const CLASSIFIED: &str = "GameraXML - Classified Glyphs";

/// Rows 2000 to 2400 of the left half of the 240r page, as a one-bit PNG: a few staves' worth of
/// glyphs, so a debug build classifies them quickly.
fn band() -> Vec<u8> {
    let path =
        crate::omr::shared_dir().join("fixtures/upstream-jobs/files/240r_onebit-png_output.png");
    let Image::OneBit(page) = load_png(&path).expect("the 240r page decodes") else {
        panic!("the 240r page is one-bit");
    };
    let (x0, y0, w, h) = (0, 2000, page.width() / 2, 400);
    let mut band = rodan_jobs::gamera::Plane::new(w, h, rodan_jobs::gamera::WHITE);
    for y in 0..h {
        for x in 0..w {
            band.set(x, y, page.get(x0 + x, y0 + y));
        }
    }
    let mut png = Vec::new();
    encode_png(&Image::OneBit(band), &mut png).expect("the band encodes");
    png
}

/// A user who is a worker of `project`, with an API token: (username, token).
async fn member(world: &World, project: &str, name: &str) -> String {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO users (username, email, password) VALUES ($1, $2, '!') RETURNING id",
    )
    .bind(name)
    .bind(format!("{name}@example.org"))
    .fetch_one(&world.pool)
    .await
    .expect("a user");
    let token = rodan_api_server::auth::issue_token(&world.pool, id)
        .await
        .expect("a token");
    if !project.is_empty() {
        let current = world.get(&format!("{project}workers/")).await;
        let mut names: Vec<Value> = current.as_array().cloned().unwrap_or_default();
        names.push(json!(name));
        world
            .call(
                Method::PUT,
                &format!("{project}workers/"),
                Some(Value::Array(names)),
                200,
            )
            .await;
    }
    token
}

/// Calls the API with `token` (none: anonymous) and an optional JSON body: (status, body).
async fn call_as(
    world: &World,
    method: Method,
    url: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = world.http.request(method, world.url(url));
    if let Some(token) = token {
        req = req.header("Authorization", format!("Token {token}"));
    }
    if let Some(body) = body {
        req = req.json(&body);
    }
    let resp = req.send().await.expect("the API server answers");
    let status = resp.status();
    let text = resp.text().await.expect("a body");
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// What a waiting classifier's case starts from.
pub(crate) struct Waiting {
    pub(crate) project: String,
    pub(crate) run: String,
    /// The classifier's run job's URL.
    pub(crate) run_job: String,
}

/// Builds CC Analysis → Interactive Classifier in a new project, runs it on the band, and
/// waits until the classifier waits for a person.
pub(crate) async fn start(world: &World) -> Waiting {
    let project = world.project().await;
    let page = world
        .upload_into(&project, &[("240r-band.png".to_owned(), band())])
        .await
        .remove(0);
    assert_eq!(page["resource_type_mimetype"], "image/onebit+png", "{page}");
    let wf = world
        .post(
            "/api/workflows/",
            json!({"project": project, "name": "classify by hand"}),
        )
        .await;
    let wf = url_of(&wf).to_owned();
    let cc_job = world.job(CC).await;
    let ic_job = world.job(IC).await;
    assert_eq!(ic_job["interactive"], true, "{ic_job}");
    let cc = world
        .post(
            "/api/workflowjobs/",
            json!({"workflow": wf, "job": cc_job["url"]}),
        )
        .await;
    let ic = world
        .post(
            "/api/workflowjobs/",
            json!({"workflow": wf, "job": ic_job["url"]}),
        )
        .await;
    let port = |wfj: &Value, kind: &str, ty: String| {
        let wfj = url_of(wfj).to_owned();
        let route = if kind == "in" {
            ("/api/inputports/", "input_port_type")
        } else {
            ("/api/outputports/", "output_port_type")
        };
        async move {
            let p = world
                .post(route.0, json!({"workflow_job": wfj, route.1: ty}))
                .await;
            url_of(&p).to_owned()
        }
    };
    let cc_in = port(
        &cc,
        "in",
        port_type(&cc_job, "input_port_types", "1-Bit PNG Image"),
    )
    .await;
    let cc_out = port(&cc, "out", port_type(&cc_job, "output_port_types", CCS)).await;
    let preview_in = port(&ic, "in", port_type(&ic_job, "input_port_types", PREVIEW)).await;
    let ccs_in = port(&ic, "in", port_type(&ic_job, "input_port_types", CCS)).await;
    port(
        &ic,
        "out",
        port_type(&ic_job, "output_port_types", TRAINING),
    )
    .await;
    port(
        &ic,
        "out",
        port_type(&ic_job, "output_port_types", CLASSIFIED),
    )
    .await;
    world
        .post(
            "/api/connections/",
            json!({"output_port": cc_out, "input_port": ccs_in}),
        )
        .await;
    let valid = world.patch(&wf, json!({"valid": true})).await;
    assert_eq!(valid["valid"], true, "{valid}");
    let run = world
        .post(
            "/api/workflowruns/",
            json!({"workflow": wf, "resource_assignments": {
                cc_in: [url_of(&page)], preview_in: [url_of(&page)]}}),
        )
        .await;
    let run = url_of(&run).to_owned();
    let run_job = wait_classifier(world, &run, 2).await;
    Waiting {
        project,
        run,
        run_job,
    }
}

/// Waits until the run's classifier run job has `status`; returns its URL.
async fn wait_classifier(world: &World, run: &str, status: i64) -> String {
    let start = Instant::now();
    loop {
        let jobs = world.run_jobs(run).await;
        if let Some(rj) = jobs
            .iter()
            .find(|rj| rj["job_name"] == IC && rj["status"] == status)
        {
            return url_of(rj).to_owned();
        }
        assert!(
            start.elapsed() < WAIT * 3,
            "the classifier reaches status {status}:\n{}\n{}",
            world.describe(run).await,
            world.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The run job's row as the database has it: (status, settings, working user, celery task id,
/// lease owner).
async fn row(
    world: &World,
    run_job: &str,
) -> (i32, Value, Option<i64>, Option<String>, Option<String>) {
    sqlx::query_as(
        "SELECT status, job_settings, working_user_id, celery_task_id, lease_owner FROM run_jobs WHERE uuid = $1",
    )
    .bind(uuid_of(run_job))
    .fetch_one(&world.pool)
    .await
    .expect("the run job's row")
}

async fn acquire(world: &World, run_job: &Value, token: &str) -> (StatusCode, Value) {
    let url = run_job["interactive_acquire"]
        .as_str()
        .unwrap_or_else(|| panic!("interactive_acquire while waiting: {run_job}"));
    call_as(world, Method::POST, url, Some(token), None).await
}

async fn working_url(world: &World, run_job: &str, token: &str) -> String {
    let rj = world.get(run_job).await;
    let (status, body) = acquire(world, &rj, token).await;
    assert_eq!(status, StatusCode::OK, "acquire: {body}");
    body["working_url"]
        .as_str()
        .expect("a working URL")
        .to_owned()
}

async fn context(world: &World, working: &str) -> Value {
    let (status, ctx) = call_as(
        world,
        Method::GET,
        &format!("{working}context.json"),
        None,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{ctx}");
    ctx
}

pub async fn classify_by_hand(world: World) {
    let Waiting {
        project,
        run,
        run_job,
    } = start(&world).await;

    // The run waits: the reaper's sweeps (every second) leave it alone, nothing is dispatched.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(world.get(&run).await["status"], 1, "the run keeps running");
    let (status, settings, user, task, owner) = row(&world, &run_job).await;
    assert_eq!(
        (status, user, task, owner),
        (2, None, None, None),
        "the classifier waits, undispatched, unheld"
    );
    assert_eq!(settings["@state"], 1, "{settings}");
    let rj = world.get(&run_job).await;
    assert!(
        rj["interactive_acquire"].as_str().is_some_and(
            |u| u.ends_with(&format!("/api/interactive/{}/acquire/", uuid_of(&run_job)))
        ),
        "{rj}"
    );
    assert!(rj["working_user"].is_null() && rj["working_user_expiry"].is_null());

    // Acquire: the admin gets the lock; a second member is refused while it holds; a stranger
    // does not see the run job; nobody acquires without credentials.
    let (status, acquired) = acquire(&world, &rj, &world.token).await;
    assert_eq!(status, StatusCode::OK, "{acquired}");
    let working = acquired["working_url"]
        .as_str()
        .expect("a working URL")
        .to_owned();
    assert!(working.starts_with(&format!(
        "{}/api/interactive/{}/",
        world.root,
        uuid_of(&run_job)
    )));
    assert!(acquired["working_user_expiry"].is_string(), "{acquired}");
    let left: f64 = sqlx::query_scalar(
        "SELECT extract(epoch FROM working_user_expiry - now())::float8 FROM run_jobs WHERE uuid = $1",
    )
    .bind(uuid_of(&run_job))
    .fetch_one(&world.pool)
    .await
    .expect("the expiry");
    assert!(
        (999_000.0..=999_999.0).contains(&left),
        "upstream's expiry, 999999 s: {left}"
    );
    let second = member(&world, &project, "second").await;
    let (status, refused) = acquire(&world, &rj, &second).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        refused,
        json!({"message": "Previous working user has not expired yet."})
    );
    let stranger = member(&world, "", "stranger").await;
    assert_eq!(
        acquire(&world, &rj, &stranger).await.0,
        StatusCode::NOT_FOUND
    );
    let url = rj["interactive_acquire"].as_str().expect("a URL");
    assert_eq!(
        call_as(&world, Method::POST, url, None, None).await.0,
        StatusCode::UNAUTHORIZED
    );
    let (_, again) = acquire(&world, &rj, &world.token).await;
    assert_eq!(again["working_url"], working, "the holder keeps the token");
    let rj = world.get(&run_job).await;
    assert!(
        rj["working_user"]
            .as_str()
            .is_some_and(|u| u.contains("/api/user/"))
    );

    // The page and its files, by the token alone.
    let resp = world
        .http
        .get(&working)
        .send()
        .await
        .expect("the page answers");
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(
        resp.headers()[reqwest::header::CONTENT_TYPE]
            .to_str()
            .is_ok_and(|t| t.starts_with("text/html"))
    );
    let html = resp.text().await.expect("the page");
    for id in [
        "ic-glyphs",
        "ic-class-input",
        "ic-apply",
        "ic-classify",
        "ic-finish",
    ] {
        assert!(html.contains(&format!("id=\"{id}\"")), "the page has #{id}");
    }
    let timings: Value =
        sqlx::query_scalar("SELECT interactive_timings FROM run_jobs WHERE uuid = $1")
            .bind(uuid_of(&run_job))
            .fetch_one(&world.pool)
            .await
            .expect("timings");
    assert!(
        timings
            .as_array()
            .is_some_and(|t| t.len() == 1 && t[0]["get"].as_f64().is_some()),
        "{timings}"
    );
    let resp = world
        .http
        .get(format!("{working}classifier.js"))
        .send()
        .await
        .expect("the script answers");
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(
        resp.headers()[reqwest::header::CONTENT_TYPE]
            .to_str()
            .is_ok_and(|t| t.contains("javascript"))
    );
    let ctx = context(&world, &working).await;
    let glyphs = ctx["glyphs"].as_array().expect("glyphs").clone();
    assert!(glyphs.len() >= 10, "the band has glyphs: {}", glyphs.len());
    assert!(glyphs.iter().all(|g| g["class_name"] == "UNCLASSIFIED"));
    for sneaky in [
        "..%2Finput-schema.json",
        "%2E%2E%2F%2E%2E%2Finterface%2Findex.html",
        "%2Fetc%2Fpasswd",
        "nothing-here.js",
    ] {
        let (status, _) = call_as(
            &world,
            Method::GET,
            &format!("{working}{sneaky}"),
            None,
            None,
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{sneaky}");
    }
    let wrong = format!(
        "{}/api/interactive/{}/{}/",
        world.root,
        uuid_of(&run_job),
        uuid::Uuid::new_v4()
    );
    assert_eq!(
        call_as(&world, Method::GET, &wrong, None, None).await,
        (
            StatusCode::UNAUTHORIZED,
            json!({"message": "Permission denied"})
        )
    );

    // Bad input: a specific 400 each, and nothing changes.
    let before = row(&world, &run_job).await;
    let far = glyphs.len() + 10;
    for (input, field) in [
        (
            json!({"@state": 2, "@changed_glyphs": [{"id": far, "class_name": "x"}]}),
            "@changed_glyphs/0/id",
        ),
        (json!({"@state": 7, "@changed_glyphs": []}), "@state"),
        (
            json!({"@state": 2, "@changed_glyphs": [{"id": 0, "class_name": "_delete"}]}),
            "@changed_glyphs/0/class_name",
        ),
        (
            json!({"@state": 2, "@changed_glyphs": [], "glyphs": []}),
            "non_field_errors",
        ),
        (json!({"@changed_glyphs": []}), "non_field_errors"),
    ] {
        let (status, body) =
            call_as(&world, Method::POST, &working, None, Some(input.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{input}: {body}");
        assert!(
            body[field].as_array().is_some_and(|m| !m.is_empty()),
            "{input}: a message on {field}: {body}"
        );
    }
    let resp = world
        .http
        .post(&working)
        .form(&[("__serialized__", "{not json")])
        .send()
        .await
        .expect("the form answers");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let body: Value = resp.json().await.expect("a JSON refusal");
    assert!(body["__serialized__"].is_array(), "{body}");
    assert_eq!(row(&world, &run_job).await, before, "nothing changed");

    // A round of suggestions: two glyphs classified, posted as a form with `__serialized__`.
    let round = json!({"@state": 1, "@changed_glyphs": [
        {"id": 0, "class_name": "neume.punctum"}, {"id": 1, "class_name": "clef.c"}]});
    let resp = world
        .http
        .post(&working)
        .form(&[("__serialized__", round.to_string())])
        .send()
        .await
        .expect("the input answers");
    assert_eq!(resp.status(), StatusCode::OK);
    // The job runs again and waits again, with the person's classes kept.
    let start = Instant::now();
    loop {
        let (status, settings, user, _, _) = row(&world, &run_job).await;
        if status == 2
            && settings["@manual_glyphs"]
                .as_array()
                .is_some_and(|m| m.len() == 2)
        {
            assert_eq!(user, None, "the lock was released");
            break;
        }
        assert!(
            start.elapsed() < WAIT * 3,
            "the classifier waits again: {status} {settings}\n{}",
            world.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        call_as(&world, Method::GET, &working, None, None).await.0,
        StatusCode::UNAUTHORIZED,
        "the old token is spent"
    );
    let working = working_url(&world, &run_job, &world.token).await;
    let ctx = context(&world, &working).await;
    let glyphs = ctx["glyphs"].as_array().expect("glyphs");
    assert_eq!(glyphs[0]["class_name"], "neume.punctum");
    assert_eq!(glyphs[0]["id_state_manual"], true);
    assert!(
        glyphs[2..].iter().all(|g| g["id_state_manual"] == false
            && ["neume.punctum", "clef.c"].contains(&g["class_name"].as_str().unwrap_or(""))),
        "the kNN suggests a class for every other glyph"
    );

    // Finish, classifying one more glyph: the run goes on and finishes.
    let (status, body) = call_as(
        &world,
        Method::POST,
        &working,
        None,
        Some(json!({"@state": 2, "@changed_glyphs": [{"id": 2, "class_name": "custos"}]})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    world.wait_run(&run, 4, WAIT * 3).await;
    let mut outputs = Vec::new();
    for url in world.get(&run_job).await["outputs"]
        .as_array()
        .expect("the classifier's outputs")
    {
        outputs.push(world.get(url.as_str().expect("an output URL")).await);
    }
    let output = |port: &str| -> String {
        outputs
            .iter()
            .find(|o| o["output_port_type_name"] == port)
            .and_then(|o| o["resource"].as_str())
            .unwrap_or_else(|| panic!("an output on {port}: {outputs:?}"))
            .to_owned()
    };
    let training = world.get(&output(TRAINING)).await;
    assert_eq!(training["resource_type_mimetype"], "application/gamera+xml");
    let training_xml = world
        .download(training["resource_file"].as_str().expect("a file URL"))
        .await;
    let db = parse(&training_xml).expect("the training data is GameraXML");
    let mut classes: Vec<(&str, State)> =
        db.glyphs.iter().map(|g| (g.main_id(), g.state)).collect();
    classes.sort_by_key(|c| c.0);
    assert_eq!(
        classes,
        [
            ("clef.c", State::Manual),
            ("custos", State::Manual),
            ("neume.punctum", State::Manual)
        ]
    );
    let classified = world.get(&output(CLASSIFIED)).await;
    let classified_xml = world
        .download(classified["resource_file"].as_str().expect("a file URL"))
        .await;
    let all = parse(&classified_xml).expect("the classified glyphs are GameraXML");
    assert_eq!(all.glyphs.len(), glyphs.len());

    // The Non-Interactive Classifier trains from it.
    let dir = tempfile::tempdir().expect("a temp dir");
    let (t, c, o) = (
        dir.path().join("training.xml"),
        dir.path().join("ccs.xml"),
        dir.path().join("nic.xml"),
    );
    std::fs::write(&t, &training_xml).expect("written");
    std::fs::write(&c, &classified_xml).expect("written");
    use rodan_jobs::Job as _;
    rodan_jobs::wrappers::classification::NonInteractiveClassifier
        .run(
            &rodan_jobs::Inputs::new()
                .with(CCS, &c, "application/gamera+xml")
                .with(TRAINING, &t, "application/gamera+xml"),
            &json!({"Bounding box size": 4}),
            &rodan_jobs::Outputs::new().with(CLASSIFIED, &o, "application/gamera+xml"),
        )
        .expect("the Non-Interactive Classifier trains from the classifier's training data");
}

pub async fn expired_lock_and_cancel(world: World) {
    let Waiting {
        project,
        run,
        run_job,
    } = start(&world).await;
    let first = working_url(&world, &run_job, &world.token).await;
    let second = member(&world, &project, "second").await;
    // The lock expires (as if its time had passed).
    sqlx::query(
        "UPDATE run_jobs SET working_user_expiry = now() - interval '1 second' WHERE uuid = $1",
    )
    .bind(uuid_of(&run_job))
    .execute(&world.pool)
    .await
    .expect("the lock expires");
    assert_eq!(
        call_as(&world, Method::GET, &first, None, None).await,
        (
            StatusCode::UNAUTHORIZED,
            json!({"message": "Permission denied"})
        ),
        "an expired token opens nothing"
    );
    let taken = working_url(&world, &run_job, &second).await;
    assert_ne!(taken, first, "a new token for the new user");
    assert_eq!(
        call_as(
            &world,
            Method::GET,
            &format!("{taken}classifier.css"),
            None,
            None
        )
        .await
        .0,
        StatusCode::OK
    );
    let second_id: i64 = sqlx::query_scalar("SELECT id FROM users WHERE username = 'second'")
        .fetch_one(&world.pool)
        .await
        .expect("second's id");
    let rj = world.get(&run_job).await;
    assert!(
        rj["working_user"]
            .as_str()
            .is_some_and(|u| u.ends_with(&format!("/user/{second_id}/"))),
        "{rj}"
    );

    // Cancelled while it waits: the run and the run job stop, the page closes.
    let cancelled = world.patch(&run, json!({"status": 29})).await;
    assert_eq!(cancelled["status"], 9, "{cancelled}");
    assert_eq!(row(&world, &run_job).await.0, 9, "the run job is cancelled");
    assert_eq!(
        call_as(&world, Method::GET, &taken, None, None).await,
        (
            StatusCode::BAD_REQUEST,
            json!({"message": "This RunJob does not accept input now"})
        )
    );
    let (status, body) = call_as(
        &world,
        Method::POST,
        &taken,
        None,
        Some(json!({"@state": 2, "@changed_glyphs": []})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let rj = world.get(&run_job).await;
    assert!(rj["interactive_acquire"].is_null(), "{rj}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        world.get(&run).await["status"],
        9,
        "the run stays cancelled"
    );
}

const BIOLLANTE: &str = "Biollante";
const CLASSIFIER_DATA: &str = "Classifier Data";
const WEIGHTS: &str = "Feature Weights/Selection";

/// Waits until the run's Biollante run job has `status` and its settings pass `ready`; returns
/// its URL and settings.
pub(crate) async fn wait_biollante(
    world: &World,
    run: &str,
    status: i64,
    ready: impl Fn(&Value) -> bool,
) -> (String, Value) {
    let start = Instant::now();
    loop {
        let jobs = world.run_jobs(run).await;
        if let Some(rj) = jobs
            .iter()
            .find(|rj| rj["job_name"] == BIOLLANTE && rj["status"] == status)
        {
            let url = url_of(rj).to_owned();
            let (_, settings, _, _, _) = row(world, &url).await;
            if ready(&settings) {
                return (url, settings);
            }
        }
        assert!(
            start.elapsed() < WAIT * 4,
            "Biollante reaches status {status}:\n{}\n{}",
            world.describe(run).await,
            world.logs()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Builds a workflow of Biollante alone on the Dalhousie classifier (upstream's test resource)
/// in a new project, runs it, and waits until Biollante waits for a person.
pub(crate) async fn start_biollante(world: &World) -> Waiting {
    let project = world.project().await;
    let xml = std::fs::read(
        crate::omr::shared_dir()
            .join("fixtures/upstream-jobs/files/Dalhousie_TD_421_422_NC-based_classifier.xml"),
    )
    .expect("the Dalhousie classifier");
    let data = world
        .upload_into(&project, &[("dalhousie.xml".to_owned(), xml)])
        .await
        .remove(0);
    assert_eq!(
        data["resource_type_mimetype"], "application/gamera+xml",
        "{data}"
    );
    let wf = world
        .post(
            "/api/workflows/",
            json!({"project": project, "name": "optimise a classifier"}),
        )
        .await;
    let wf = url_of(&wf).to_owned();
    let job = world.job(BIOLLANTE).await;
    assert_eq!(job["interactive"], true, "{job}");
    assert_eq!(job["category"], "Optimization", "{job}");
    let wfj = world
        .post(
            "/api/workflowjobs/",
            json!({"workflow": wf, "job": job["url"]}),
        )
        .await;
    let wfj = url_of(&wfj).to_owned();
    let input = world
        .post(
            "/api/inputports/",
            json!({"workflow_job": wfj,
                   "input_port_type": port_type(&job, "input_port_types", CLASSIFIER_DATA)}),
        )
        .await;
    world
        .post(
            "/api/outputports/",
            json!({"workflow_job": wfj,
                   "output_port_type": port_type(&job, "output_port_types", WEIGHTS)}),
        )
        .await;
    let valid = world.patch(&wf, json!({"valid": true})).await;
    assert_eq!(valid["valid"], true, "{valid}");
    let run = world
        .post(
            "/api/workflowruns/",
            json!({"workflow": wf,
                   "resource_assignments": {url_of(&input): [url_of(&data)]}}),
        )
        .await;
    let run = url_of(&run).to_owned();
    let (run_job, _) = wait_biollante(world, &run, 2, |_| true).await;
    Waiting {
        project,
        run,
        run_job,
    }
}

/// Biollante on the Dalhousie classifier: the run waits with the classifier's settings file; a
/// start without GA settings is refused; a small GA (4 individuals, 2 generations) runs in the
/// worker and the job waits again with its results; the person finishes and the output is a kNN
/// settings file holding the optimised selection.
pub async fn optimise_by_hand(world: World) {
    let Waiting { run, run_job, .. } = start_biollante(&world).await;
    let (_, settings, _, _, _) = row(&world, &run_job).await;

    // The first run reads the classifier and waits with its settings file.
    assert_eq!(settings["@state"], 1, "{settings}");
    assert!(settings["@num_features"].as_u64().is_some_and(|n| n > 100));
    assert_eq!(settings["@results"], Value::Null);
    assert_eq!(
        settings["@base"],
        r#"{"opMode": 0, "popSize": 75, "crossRate": 0.95, "mutRate": 0.05}"#
    );
    let first_settings = settings["@settings"].as_str().expect("a settings file");
    assert!(first_settings.contains("<gamera-knn-settings"));

    let working = working_url(&world, &run_job, &world.token).await;
    let (status, html) = call_as(&world, Method::GET, &working, None, None).await;
    assert_eq!(status, StatusCode::OK);
    let html = html.as_str().unwrap_or_default().to_owned();
    for id in ["bl-start", "bl-finish", "bl-weight-rows", "bl-selection"] {
        assert!(html.contains(&format!("id=\"{id}\"")), "the page has #{id}");
    }
    let ctx = context(&world, &working).await;
    assert_eq!(ctx["features"].as_array().map(Vec::len), Some(16), "{ctx}");
    assert_eq!(ctx["results"], Value::Null);

    // A start without the GA settings: 400, nothing changed.
    let before = row(&world, &run_job).await;
    for bare in [json!({"method": "start"}), json!({"@state": 2})] {
        let (status, body) =
            call_as(&world, Method::POST, &working, None, Some(bare.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bare}: {body}");
        assert!(body.as_object().is_some_and(|m| !m.is_empty()), "{body}");
    }
    assert_eq!(row(&world, &run_job).await, before, "nothing changed");

    // Start a small GA: the job optimises and waits again with its results.
    let start = json!({
        "@state": 2,
        "@base": {"opMode": 0, "popSize": 4, "crossRate": 0.95, "mutRate": 0.5},
        "@selection": {"method": "tournament", "parameters": {"tSize": 2}},
        "@replacement": {"method": "generational", "parameters": {}},
        "@mutation": [{"method": "binary", "parameters": {"rate": 0.05, "normalize": false}},
                      {"method": "swap", "parameters": {}}],
        "@crossover": [{"method": "nPoint", "parameters": {"n": 2}}],
        "@stop_criteria": [{"method": "maxGenerations", "parameters": {"n": 2}}]
    });
    let (status, body) = call_as(&world, Method::POST, &working, None, Some(start)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (run_job, settings) = wait_biollante(&world, &run, 2, |s| s["@results"].is_object()).await;
    assert_eq!(settings["@state"], 1, "{settings}");
    assert_eq!(settings["@results"]["generation"], 2, "{settings}");
    let best = settings["@results"]["bestFitness"]
        .as_f64()
        .expect("a best fitness");
    assert!(best > 0.0 && best <= 1.0, "{best}");
    assert!(
        settings["@selection"]
            .as_str()
            .is_some_and(|s| s.contains("\"tournament\"")),
        "upstream's serialised selection: {settings}"
    );
    let optimised = settings["@settings"]
        .as_str()
        .expect("a settings file")
        .to_owned();
    let working = working_url(&world, &run_job, &world.token).await;
    let ctx = context(&world, &working).await;
    assert_eq!(ctx["results"]["generation"], 2, "{ctx}");

    // Finish: the run finishes with the optimised settings file as its output.
    let (status, body) = call_as(
        &world,
        Method::POST,
        &working,
        None,
        Some(json!({"@state": 3})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    world.wait_run(&run, 4, WAIT * 3).await;
    let outputs = world.get(&run_job).await["outputs"]
        .as_array()
        .expect("Biollante's outputs")
        .clone();
    assert_eq!(outputs.len(), 1);
    let output = world.get(outputs[0].as_str().expect("an output URL")).await;
    let resource = world
        .get(output["resource"].as_str().expect("a resource"))
        .await;
    assert_eq!(resource["resource_type_mimetype"], "application/gamera+xml");
    let file = world
        .download(resource["resource_file"].as_str().expect("a file URL"))
        .await;
    assert_eq!(String::from_utf8_lossy(&file), optimised);
    let parsed =
        rodan_jobs::gamera::knn::parse_settings(&file).expect("our parser reads the output");
    assert_eq!(parsed.selections.len(), 16);
    let selected: Vec<i32> = parsed
        .selections
        .values()
        .flatten()
        .map(|&s| i32::try_from(s).unwrap_or(-1))
        .collect();
    assert!(selected.iter().all(|&s| s == 0 || s == 1), "{selected:?}");
    // The selection written is the one that scored the best fitness.
    let classifier = rodan_jobs::wrappers::biollante::load_classifier(
        &crate::omr::shared_dir()
            .join("fixtures/upstream-jobs/files/Dalhousie_TD_421_422_NC-based_classifier.xml"),
    )
    .expect("the classifier loads");
    let (correct, asked) = classifier.knn.leave_one_out(Some(&selected), None);
    assert_eq!(
        correct as f64 / asked as f64,
        best,
        "the output's selection scores the best"
    );
}
