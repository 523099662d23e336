//! The musicologist's first session, step by step, through the client's own controls.

use crate::stack::{self, CHROMIUM_ARGS, Driver, Front};
use crate::world::World;
use fantoccini::actions::{
    InputSource, MOUSE_BUTTON_LEFT, MOUSE_BUTTON_RIGHT, MouseActions, PointerAction,
};
use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use std::cell::Cell;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// How long any step waits for the page before the test fails.
const STEP: Duration = Duration::from_secs(40);

/// The browser, where its screenshots go, and what to print when a step fails.
pub struct Browser<'a> {
    pub client: Client,
    driver: &'a Driver,
    session: String,
    artefacts: PathBuf,
    step: Cell<u32>,
    front: &'a Front,
    world: &'a World,
}

impl<'a> Browser<'a> {
    async fn open(
        driver: &'a Driver,
        front: &'a Front,
        world: &'a World,
        downloads: &std::path::Path,
    ) -> Self {
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "args": CHROMIUM_ARGS,
                "binary": "/usr/bin/chromium",
                "prefs": {
                    "download.default_directory": downloads.display().to_string(),
                    "download.prompt_for_download": false,
                },
            }),
        );
        caps.insert("goog:loggingPrefs".into(), json!({"browser": "ALL"}));
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&driver.url)
            .await
            .expect("chromedriver opens a Chromium session (Debian chromium)");
        let session = client
            .session_id()
            .await
            .expect("a session id")
            .expect("a session");
        let artefacts = std::env::var_os("RODAN_ARTEFACTS_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("browser"));
        let _ = std::fs::remove_dir_all(&artefacts);
        std::fs::create_dir_all(&artefacts).expect("the artefacts folder");
        Self {
            client,
            driver,
            session,
            artefacts,
            step: Cell::new(0),
            front,
            world,
        }
    }

    /// Keeps a screenshot of the page as `NN-name.png`.
    pub async fn shot(&self, name: &str) {
        let n = self.step.get() + 1;
        self.step.set(n);
        if let Ok(png) = self.client.screenshot().await {
            let path = self.artefacts.join(format!("{n:02}-{name}.png"));
            std::fs::write(&path, png).expect("keep the screenshot");
        }
    }

    /// The browser's console since the last call.
    async fn console(&self) -> String {
        let url = format!("{}/session/{}/se/log", self.driver.url, self.session);
        let Ok(response) = reqwest::Client::new()
            .post(url)
            .json(&json!({"type": "browser"}))
            .send()
            .await
        else {
            return "(chromedriver did not answer)".into();
        };
        let body: Value = response.json().await.unwrap_or_default();
        body["value"]
            .as_array()
            .map(|lines| {
                lines
                    .iter()
                    .map(|l| {
                        format!(
                            "{} {}",
                            l["level"].as_str().unwrap_or(""),
                            l["message"].as_str().unwrap_or("")
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            })
            .unwrap_or_default()
    }

    /// Fails the test with what it was waiting for, a screenshot, the browser's console, the
    /// requests nginx saw and the workers' logs.
    pub async fn fail(&self, what: &str) -> ! {
        self.shot("failure").await;
        let console = self.console().await;
        let log = std::fs::read_to_string(self.front.front.access_log()).unwrap_or_default();
        let calls: Vec<&str> = log.lines().collect();
        let calls = calls[calls.len().saturating_sub(60)..].join("\n");
        panic!(
            "{what}\n--- browser console ---\n{console}\n--- requests through nginx (last 60) ---\n{calls}\n--- workers ---\n{}\nscreenshots in {}",
            self.world.logs(),
            self.artefacts.display()
        );
    }

    /// Waits until `probe` gives a value.
    pub async fn until<T, F, Fut>(&self, what: &str, mut probe: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        let start = Instant::now();
        loop {
            if let Some(value) = probe().await {
                return value;
            }
            if start.elapsed() > STEP {
                self.fail(&format!("waited {STEP:?} for {what}")).await;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The first displayed element matching `css`, once there is one.
    pub async fn shown(&self, css: &str) -> Element {
        self.until(&format!("`{css}` to show"), || async {
            for element in self.client.find_all(Locator::Css(css)).await.ok()? {
                if element.is_displayed().await.unwrap_or(false) {
                    return Some(element);
                }
            }
            None
        })
        .await
    }

    /// The first displayed element matching `css` whose text is `text`.
    pub async fn shown_text(&self, css: &str, text: &str) -> Element {
        self.until(&format!("`{css}` reading {text:?} to show"), || async {
            for element in self.client.find_all(Locator::Css(css)).await.ok()? {
                // innerText, not WebDriver's element text: the client's libraries break the
                // latter's script on some pages ("this.setItem is not a function").
                if element.is_displayed().await.unwrap_or(false)
                    && element.prop("innerText").await.ok()??.trim() == text
                {
                    return Some(element);
                }
            }
            None
        })
        .await
    }

    pub async fn click(&self, css: &str) {
        let element = self.shown(css).await;
        if let Err(error) = element.click().await {
            self.fail(&format!("clicking `{css}`: {error}")).await;
        }
    }

    pub async fn type_into(&self, css: &str, text: &str) {
        let element = self.shown(css).await;
        if let Err(error) = element.send_keys(text).await {
            self.fail(&format!("typing into `{css}`: {error}")).await;
        }
    }

    pub async fn double_click(&self, element: &Element) {
        let mouse = MouseActions::new("mouse".into())
            .then(PointerAction::MoveToElement {
                element: element.clone(),
                duration: None,
                x: 0.0,
                y: 0.0,
            })
            .then(PointerAction::Down {
                button: MOUSE_BUTTON_LEFT,
            })
            .then(PointerAction::Up {
                button: MOUSE_BUTTON_LEFT,
            })
            .then(PointerAction::Down {
                button: MOUSE_BUTTON_LEFT,
            })
            .then(PointerAction::Up {
                button: MOUSE_BUTTON_LEFT,
            });
        if let Err(error) = self.client.perform_actions(mouse).await {
            self.fail(&format!("double-clicking: {error}")).await;
        }
    }
}

/// The workflow builder's items on its canvas (paper.js), with their centres in the viewport.
const CANVAS_ITEMS: &str = r#"
var r = view.element.getBoundingClientRect();
return project.getItems({}).filter(function (i) {
  return i.constructor && ['WorkflowJobItem', 'InputPortItem', 'OutputPortItem'].indexOf(i.constructor.name) >= 0;
}).map(function (i) {
  var p = view.projectToView(i.bounds.center);
  var m = i.getModel ? i.getModel() : null;
  return {kind: i.constructor.name, name: m ? (m.get('name') || m.get('label')) : null,
          x: r.left + p.x, y: r.top + p.y};
});
"#;

impl Browser<'_> {
    /// The centre of the canvas item of `kind` named `name`, once it is drawn.
    async fn item(&self, kind: &str, name: &str) -> (f64, f64) {
        self.until(&format!("the {kind} {name:?} on the canvas"), || async {
            let items = self.client.execute(CANVAS_ITEMS, vec![]).await.ok()?;
            items.as_array()?.iter().find_map(|i| {
                (i["kind"] == kind && i["name"] == name)
                    .then(|| Some((i["x"].as_f64()?, i["y"].as_f64()?)))
                    .flatten()
            })
        })
        .await
    }

    /// Presses the left button at `from`, moves a pixel (a person's hand does; the builder
    /// decides on that first move whether the press began on an item), then on to `to`, and
    /// lets go.
    async fn drag(&self, from: (f64, f64), to: (f64, f64)) {
        let mut mouse = hover(from)
            .then(PointerAction::Down {
                button: MOUSE_BUTTON_LEFT,
            })
            .then(pause(100))
            .then(move_to(from.0 + 1.0, from.1 + 1.0))
            .then(pause(100));
        for k in 1..=12 {
            let t = f64::from(k) / 12.0;
            mouse = mouse.then(move_to(
                from.0 + (to.0 - from.0) * t,
                from.1 + (to.1 - from.1) * t,
            ));
        }
        mouse = mouse.then(pause(100)).then(PointerAction::Up {
            button: MOUSE_BUTTON_LEFT,
        });
        if let Err(error) = self.client.perform_actions(mouse).await {
            self.fail(&format!("dragging on the canvas: {error}")).await;
        }
        let _ = self.client.release_actions().await;
    }

    /// A right click at `at`, which opens the builder's context menu.
    async fn right_click(&self, at: (f64, f64)) {
        let mouse = hover(at)
            .then(PointerAction::Down {
                button: MOUSE_BUTTON_RIGHT,
            })
            .then(PointerAction::Up {
                button: MOUSE_BUTTON_RIGHT,
            });
        if let Err(error) = self.client.perform_actions(mouse).await {
            self.fail(&format!("right-clicking on the canvas: {error}"))
                .await;
        }
        let _ = self.client.release_actions().await;
    }

    /// Clicks the first displayed element the XPath `path` finds.
    async fn click_xpath(&self, path: &str) {
        let element = self
            .until(&format!("`{path}` to show"), || async {
                for element in self.client.find_all(Locator::XPath(path)).await.ok()? {
                    if element.is_displayed().await.unwrap_or(false) {
                        return Some(element);
                    }
                }
                None
            })
            .await;
        if let Err(error) = element.click().await {
            self.fail(&format!("clicking `{path}`: {error}")).await;
        }
    }
}

/// A musicologist of her own, Clara: a login replaces the user's token, and the test keeps the
/// admin's for what it checks through the API.
async fn musicologist(world: &World) {
    world
        .post(
            "/api/users/",
            json!({"username": "clara", "email": "clara@example.org", "password": "Neumes-and-clefs-1"}),
        )
        .await;
}

/// Clara logs in through the login form.
async fn log_in(b: &Browser<'_>) {
    b.type_into("#text-login_email", "clara@example.org").await;
    b.type_into("#text-login_password", "Neumes-and-clefs-1")
        .await;
    b.click("#button-login").await;
    b.shown("#button-new_project").await;
    b.shot("logged-in").await;
}

fn pause(ms: u64) -> PointerAction {
    PointerAction::Pause {
        duration: Duration::from_millis(ms),
    }
}

fn move_to(x: f64, y: f64) -> PointerAction {
    PointerAction::MoveTo {
        duration: Some(Duration::from_millis(20)),
        x: x.round(),
        y: y.round(),
    }
}

/// The pointer brought onto `at` from just beside it and left there a moment: the canvas learns
/// which item is under it from the move, before any button is pressed.
fn hover(at: (f64, f64)) -> MouseActions {
    MouseActions::new("mouse".into())
        .then(move_to(at.0 - 3.0, at.1))
        .then(pause(200))
        .then(move_to(at.0, at.1))
        .then(pause(300))
}

/// Log in, create a project, upload a page, build and run greyscale -> Sauvola, watch it finish,
/// download its output, log out.
pub async fn first_session(services: &rodan_testkit::Services) {
    let world = World::new(services, 0).await;
    musicologist(&world).await;
    let mut files = None;
    let front = stack::start(&world, &mut files);
    let driver = Driver::start();
    let downloads = tempfile::tempdir().expect("a downloads folder");
    let b = Browser::open(&driver, &front, &world, downloads.path()).await;

    // Logging in.
    if let Err(error) = b.client.goto(&format!("{}/", front.origin)).await {
        b.fail(&format!("loading the client: {error}")).await;
    }
    b.shown("#text-login_email").await;
    b.shot("login").await;
    b.type_into("#text-login_email", "clara@example.org").await;
    b.type_into("#text-login_password", "Neumes-and-clefs-1")
        .await;
    b.click("#button-login").await;
    b.shown("#button-new_project").await;
    b.shot("logged-in").await;

    // A project.
    b.click("#button-new_project").await;
    let row = b.shown_text("td", "untitled").await;
    b.shot("project-created").await;
    b.double_click(&row).await;
    b.shown("#resource_count").await;

    // A page, through the upload control.
    let page = pages::page(7, 480);
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("folio-1r.png");
    std::fs::write(&path, &page).expect("write the page");
    b.click("#resource_count").await;
    let upload = b
        .until("the upload control", || async {
            b.client
                .find(Locator::Css("#file-main_resource_file"))
                .await
                .ok()
        })
        .await;
    if let Err(error) = upload.send_keys(&path.display().to_string()).await {
        b.fail(&format!("choosing the page to upload: {error}"))
            .await;
    }
    // Upstream names a resource after its file without the extension; the type appears once a
    // worker has detected it, which only the websocket tells the page.
    b.shown_text("td", "folio-1r").await;
    b.shown_text("td", "image/rgb+png").await;
    b.shot("page-uploaded").await;

    // The workflow: greyscale -> Sauvola, composed in the builder.
    b.click("#workflow_count").await;
    b.click("#button-new_workflow").await;
    let row = b.shown_text("#region-main td", "untitled").await;
    b.double_click(&row).await;
    b.shown("#workflow-dropdown-toggle").await;
    b.shot("workflow-builder").await;
    for job in ["Convert to greyscale PNG", "Sauvola Threshold"] {
        b.click("#workflow-dropdown-toggle").await;
        b.click("#button-add_job").await;
        b.click_xpath(&format!("//tr[td[normalize-space(.)='{job}']]//button"))
            .await;
        b.item("WorkflowJobItem", job).await;
        b.click("#modal-close").await;
    }
    // Both land in the middle, Sauvola on top: move it down, then greyscale up.
    let sauvola = b.item("WorkflowJobItem", "Sauvola Threshold").await;
    b.drag(sauvola, (sauvola.0, sauvola.1 + 200.0)).await;
    let grey = b.item("WorkflowJobItem", "Convert to greyscale PNG").await;
    b.drag(grey, (grey.0, grey.1 - 100.0)).await;
    let out = b.item("OutputPortItem", "Greyscale PNG image").await;
    let into = b.item("InputPortItem", "Greyscale PNG image").await;
    b.drag(out, into).await;
    b.until("the connection to be saved", || async {
        let connections = world.get("/api/connections/").await;
        (connections["count"] == 1).then_some(())
    })
    .await;
    b.shot("jobs-connected").await;
    let page_port = b.item("InputPortItem", "PNG image").await;
    b.right_click(page_port).await;
    b.click_xpath("//a[normalize-space(.)='Assign Resources']")
        .await;
    b.shown_text("tr td", "folio-1r").await;
    b.click("#button-add_all").await;
    b.until("the page to be assigned", || async {
        let workflows = world.get("/api/workflows/").await;
        let url = workflows["results"].get(0)?["url"].as_str()?.to_owned();
        let assignments = world.get(&format!("{url}resourceassignments/")).await;
        assignments
            .as_object()?
            .values()
            .any(|r| r.as_array().is_some_and(|r| r.len() == 1))
            .then_some(())
    })
    .await;
    b.shot("page-assigned").await;
    b.click("#modal-close").await;

    // Running it, with the workers held until the page shows the run processing: its status
    // then changes on the page through the websocket alone, with no reload.
    let pids: Vec<String> = world
        .workers
        .iter()
        .filter_map(|w| w.child.id().map(|p| p.to_string()))
        .collect();
    signal(&pids, "-STOP");
    b.client
        .execute("window.rodanTestNoReload = true;", vec![])
        .await
        .expect("a script runs");
    b.click("#workflow-dropdown-toggle").await;
    b.click("#button-run").await;
    b.shown_text("#region-main td", "Processing").await;
    b.shot("run-processing").await;
    signal(&pids, "-CONT");
    let finished = b.shown_text("#region-main td", "Finished").await;
    let same_page = b
        .client
        .execute("return window.rodanTestNoReload === true;", vec![])
        .await
        .expect("a script runs");
    if same_page != json!(true) {
        b.fail("the page was reloaded while the run went on").await;
    }
    b.shot("run-finished").await;

    // Its output, downloaded from the run's page.
    b.double_click(&finished).await;
    let output = b
        .shown_text("#region-main td", "Sauvola Threshold - Onebit PNG image")
        .await;
    if let Err(error) = output.click().await {
        b.fail(&format!("choosing the output: {error}")).await;
    }
    b.click("#button-main_resource_individual_download").await;
    let downloaded = b
        .until("the download to arrive", || async {
            let entry = std::fs::read_dir(downloads.path())
                .ok()?
                .flatten()
                .find(|e| !e.file_name().to_string_lossy().ends_with(".crdownload"))?;
            std::fs::read(entry.path()).ok().filter(|b| !b.is_empty())
        })
        .await;
    b.shot("output-downloaded").await;
    let reference = pages::reference(&page, &[json!({}), json!({}), json!({})]);
    assert_eq!(
        pages::pixels(&downloaded, "the downloaded output").3,
        pages::pixels(&reference[1], "Sauvola run directly").3,
        "the browser downloaded what Sauvola makes of the page"
    );

    // Logging out.
    b.click("#button-navigation_logout").await;
    b.shown("#text-login_email").await;
    b.shot("logged-out").await;
    let _ = b.client.clone().close().await;
}

use crate::{interactive, pages};

/// Sends `signal` to the processes `pids`.
fn signal(pids: &[String], signal: &str) {
    let status = std::process::Command::new("kill")
        .arg(signal)
        .args(pids)
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill {signal} {pids:?}");
}

/// CC Analysis -> Interactive Classifier runs until the classifier waits for a person; Clara
/// opens it from the client's Run Jobs list (its "Open" button acquires the run job and opens
/// the job's own page in a new window), sets a class for three glyphs and finishes; the run
/// finishes with those classes as its training data.
pub async fn classify_by_hand(services: &rodan_testkit::Services) {
    let world = World::new(services, 1).await;
    musicologist(&world).await;
    let waiting = interactive::start(&world).await;
    add_worker(&world, &waiting.project, "clara").await;
    let mut files = None;
    let front = stack::start(&world, &mut files);
    let driver = Driver::start();
    let downloads = tempfile::tempdir().expect("a downloads folder");
    let b = Browser::open(&driver, &front, &world, downloads.path()).await;
    waiting_in_run_jobs(&b, &front.origin).await;
    b.shot("run-job-waiting").await;
    let main = b.client.window().await.expect("the client's window");
    // A run job's row opens its details, whose Open button acquires it and opens its page.
    let row = b.shown_text("#region-main td", interactive::IC).await;
    if let Err(error) = row.click().await {
        b.fail(&format!("choosing the classifier's run job: {error}"))
            .await;
    }
    let open = b
        .until("the run job's Open button to be enabled", || async {
            let button = b
                .client
                .find(Locator::Css("#button-open_runjob"))
                .await
                .ok()?;
            button.is_enabled().await.ok()?.then_some(button)
        })
        .await;
    b.shot("run-job-details").await;
    if let Err(error) = open.click().await {
        b.fail(&format!("clicking Open: {error}")).await;
    }
    let page = b
        .until("the classifier's window to open", || async {
            let windows = b.client.windows().await.ok()?;
            windows.into_iter().find(|w| *w != main)
        })
        .await;
    if let Err(error) = b.client.switch_to_window(page).await {
        b.fail(&format!("switching to the classifier: {error}"))
            .await;
    }
    b.shown("body[data-ready='true']").await;
    b.shot("classifier").await;
    let glyphs = b
        .until("glyphs on the page", || async {
            let found = b
                .client
                .find_all(Locator::Css("button.ic-glyph"))
                .await
                .ok()?;
            (found.len() >= 3).then_some(found)
        })
        .await;
    let mut chosen = Vec::new();
    for glyph in glyphs.iter().take(3) {
        chosen.push(
            glyph
                .attr("data-id")
                .await
                .ok()
                .flatten()
                .expect("a glyph id"),
        );
        if let Err(error) = glyph.click().await {
            b.fail(&format!("selecting a glyph: {error}")).await;
        }
    }
    b.shown_text("#ic-selected-count", "3 selected").await;
    b.type_into("#ic-class-input", "neume.torculus").await;
    b.click("#ic-apply").await;
    b.until("the three glyphs to be classified by hand", || async {
        let manual = b
            .client
            .find_all(Locator::Css("button.ic-glyph.ic-manual"))
            .await
            .ok()?;
        (manual.len() == 3).then_some(())
    })
    .await;
    b.shot("glyphs-classified").await;
    b.click("#ic-finish").await;
    b.shown("#ic-done").await;
    b.shot("classifier-finished").await;
    let _ = b.client.close_window().await;
    if let Err(error) = b.client.switch_to_window(main).await {
        b.fail(&format!("switching back to the client: {error}"))
            .await;
    }
    b.shown_text("#region-main td", "Finished").await;
    b.shot("run-job-finished").await;

    world.wait_run(&waiting.run, 4, STEP).await;
    let run_job = world.get(&waiting.run_job).await;
    let mut training = None;
    for url in run_job["outputs"]
        .as_array()
        .expect("the classifier's outputs")
    {
        let output = world.get(url.as_str().expect("an output URL")).await;
        if output["output_port_type_name"] == interactive::TRAINING {
            training = output["resource"].as_str().map(str::to_owned);
        }
    }
    let training = world.get(&training.expect("a training-data output")).await;
    let xml = world
        .download(training["resource_file"].as_str().expect("a file URL"))
        .await;
    let db = rodan_jobs::gamera::xml::parse(&xml).expect("the training data is GameraXML");
    let classes: Vec<(&str, rodan_jobs::gamera::xml::State)> =
        db.glyphs.iter().map(|g| (g.main_id(), g.state)).collect();
    assert_eq!(
        classes,
        vec![("neume.torculus", rodan_jobs::gamera::xml::State::Manual); 3],
        "the training data holds the three glyphs Clara classified, {chosen:?}"
    );
    let _ = b.client.clone().close().await;
}

/// Clara opens the waiting Biollante job from the client (Run Jobs → its row → Open) and
/// switches to its window.
async fn open_waiting_job(b: &Browser<'_>, main: &fantoccini::wd::WindowHandle, name: &str) {
    let row = b.shown_text("#region-main td", name).await;
    if let Err(error) = row.click().await {
        b.fail(&format!("choosing the {name} run job: {error}"))
            .await;
    }
    let open = b
        .until("the run job's Open button to be enabled", || async {
            let button = b
                .client
                .find(Locator::Css("#button-open_runjob"))
                .await
                .ok()?;
            button.is_enabled().await.ok()?.then_some(button)
        })
        .await;
    if let Err(error) = open.click().await {
        b.fail(&format!("clicking Open: {error}")).await;
    }
    let page = b
        .until("the job's window to open", || async {
            let windows = b.client.windows().await.ok()?;
            windows.into_iter().find(|w| w != main)
        })
        .await;
    if let Err(error) = b.client.switch_to_window(page).await {
        b.fail(&format!("switching to the job's window: {error}"))
            .await;
    }
}

/// Sets a number input to `value`.
async fn set_number(b: &Browser<'_>, css: &str, value: &str) {
    let input = b.shown(css).await;
    if let Err(error) = input.clear().await {
        b.fail(&format!("clearing `{css}`: {error}")).await;
    }
    b.type_into(css, value).await;
}

/// Adds `user` to the workers of `project`, as its creator (the admin) does.
async fn add_worker(world: &World, project: &str, user: &str) {
    let workers = format!("{project}workers/");
    let mut names = world
        .get(&workers)
        .await
        .as_array()
        .cloned()
        .unwrap_or_default();
    names.push(json!(user));
    world
        .call(
            reqwest::Method::PUT,
            &workers,
            Some(Value::Array(names)),
            200,
        )
        .await;
}

/// Loads the client at `origin`, logs in, opens the `e2e` project's Run Jobs and waits until a
/// run job there waits for input.
async fn waiting_in_run_jobs(b: &Browser<'_>, origin: &str) {
    if let Err(error) = b.client.goto(&format!("{origin}/")).await {
        b.fail(&format!("loading the client: {error}")).await;
    }
    b.shown("#text-login_email").await;
    log_in(b).await;
    let row = b.shown_text("td", "e2e").await;
    b.double_click(&row).await;
    b.click("#button-runjobs").await;
    b.shown_text("#region-main td", "Waiting for input").await;
}

/// Biollante in the web client: Clara opens the waiting job, sets a tiny GA in its page (4
/// individuals, at most 2 generations), starts it, opens the job again once it waits with its
/// results, sees them, finishes, and the run finishes with the optimised settings file.
pub async fn optimise_a_classifier(services: &rodan_testkit::Services) {
    let world = World::new(services, 2).await;
    musicologist(&world).await;
    let waiting = interactive::start_biollante(&world).await;
    add_worker(&world, &waiting.project, "clara").await;
    let mut files = None;
    let front = stack::start(&world, &mut files);
    let driver = Driver::start();
    let downloads = tempfile::tempdir().expect("a downloads folder");
    let b = Browser::open(&driver, &front, &world, downloads.path()).await;
    waiting_in_run_jobs(&b, &front.origin).await;
    let main = b.client.window().await.expect("the client's window");
    open_waiting_job(&b, &main, "Biollante").await;
    b.shown("#bl-start").await;
    b.shown_text("#bl-no-results", "No previous optimizer results.")
        .await;
    b.shot("biollante").await;
    set_number(&b, "#bl-popsize", "4").await;
    b.click("#bl-stop-criteria input[value='maxGenerations']")
        .await;
    set_number(&b, "#bl-max-generations", "2").await;
    b.click("#bl-stop-criteria input[value='steadyState']")
        .await;
    b.shot("biollante-tiny-ga").await;
    b.click("#bl-start").await;
    b.shown("#bl-done[data-state='2']").await;
    b.shot("biollante-started").await;
    let _ = b.client.close_window().await;
    if let Err(error) = b.client.switch_to_window(main.clone()).await {
        b.fail(&format!("switching back to the client: {error}"))
            .await;
    }
    // The job optimises in a worker and waits again with its results.
    let (_, settings) =
        interactive::wait_biollante(&world, &waiting.run, 2, |s| s["@results"].is_object()).await;
    assert_eq!(settings["@results"]["generation"], 2, "{settings}");
    assert!(
        settings["@base"]
            .as_str()
            .is_some_and(|t| t.contains("\"popSize\": 4")),
        "the page's population: {settings}"
    );
    // The client's Run Jobs table follows the run job (scheduled, running, waiting again).
    b.shown_text("#region-main td", "Waiting for input").await;
    b.shot("biollante-waits-again").await;
    open_waiting_job(&b, &main, "Biollante").await;
    b.shown_text("#bl-generation", "2").await;
    b.shown("#bl-best-fitness").await;
    b.shot("biollante-results").await;
    b.click("#bl-finish").await;
    b.shown("#bl-done[data-state='3']").await;
    let _ = b.client.close_window().await;
    if let Err(error) = b.client.switch_to_window(main).await {
        b.fail(&format!("switching back to the client: {error}"))
            .await;
    }
    world.wait_run(&waiting.run, 4, STEP).await;
    b.shown_text("#region-main td", "Finished").await;
    b.shot("biollante-finished").await;
    let run_job = world.get(&waiting.run_job).await;
    let output = world
        .get(run_job["outputs"][0].as_str().expect("an output URL"))
        .await;
    let resource = world
        .get(output["resource"].as_str().expect("a resource"))
        .await;
    let file = world
        .download(resource["resource_file"].as_str().expect("a file URL"))
        .await;
    let (_, last, _, _, _): (i32, Value, Option<i64>, Option<String>, Option<String>) =
        sqlx::query_as(
            "SELECT status, job_settings, working_user_id, celery_task_id, lease_owner FROM run_jobs WHERE uuid = $1",
        )
        .bind(crate::world::uuid_of(&waiting.run_job))
        .fetch_one(&world.pool)
        .await
        .expect("the run job's row");
    assert_eq!(
        Some(String::from_utf8_lossy(&file).as_ref()),
        last["@settings"].as_str(),
        "the output is the optimised settings file"
    );
    rodan_jobs::gamera::knn::parse_settings(&file).expect("a kNN settings file");
    let _ = b.client.clone().close().await;
}
