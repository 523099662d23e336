//! The musicologist's first session, step by step, through the client's own controls.

use crate::stack::{self, CHROMIUM_ARGS, Driver, Front};
use crate::world::World;
use fantoccini::actions::{InputSource, MOUSE_BUTTON_LEFT, MouseActions, PointerAction};
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
    async fn open(driver: &'a Driver, front: &'a Front, world: &'a World) -> Self {
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({"args": CHROMIUM_ARGS, "binary": "/usr/bin/chromium"}),
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
                if element.is_displayed().await.unwrap_or(false)
                    && element.text().await.ok()?.trim() == text
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

/// Log in, create a project, upload a page, build and run greyscale -> Sauvola, watch it finish,
/// download its output, log out.
pub async fn first_session(services: &rodan_testkit::Services) {
    let world = World::new(services, 0).await;
    let mut files = None;
    let front = stack::start(&world, &mut files);
    let driver = Driver::start();
    let b = Browser::open(&driver, &front, &world).await;

    // Logging in.
    if let Err(error) = b.client.goto(&format!("{}/", front.origin)).await {
        b.fail(&format!("loading the client: {error}")).await;
    }
    b.shown("#text-login_email").await;
    b.shot("login").await;
    b.type_into("#text-login_email", "admin@example.org").await;
    b.type_into("#text-login_password", "admin-password").await;
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

    // Logging out.
    b.click("#button-navigation_logout").await;
    b.shown("#text-login_email").await;
    b.shot("logged-out").await;
    let _ = b.client.clone().close().await;
}

use crate::pages;
