//! The dashboard in a real browser, on SQLite and on PostgreSQL: headless
//! Chromium driven over WebDriver (`chromedriver`, Debian's `chromium` and
//! `chromium-driver` packages), asserting on what a person sees.
//!
//! - Approvers sign in through the form with a token, filter the approvals
//!   table, decide a high-risk change as two people in two browsers and
//!   see the job run; the requester sees that someone else must decide; a
//!   form whose CSRF input was removed answers the 403 page and changes
//!   nothing; an admin reads both decisions in the audit log.
//! - An operator signs in with an API key and follows a lead's event to
//!   its e-mail, and a cycle to its binding constraint; a member of one
//!   tenant who opens another tenant's approval, event or cycle reads
//!   "not found".
//!
//! Every page visited is saved as a PNG under the test target directory's
//! `dashboard-screenshots/`, named `{backend}-{scenario}-{nn}-{step}.png`
//! (`nn` in the order the pages were seen).

#[macro_use]
mod common;

use common::{App, Db, drain, key, receiver, user_token, with_jwt};
use fantoccini::{Client, ClientBuilder, Locator};
use reqwest::{Method, StatusCode};
use revos_smtp_sink::SmtpSink;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

on_both!(
    approvers_decide_in_the_browser,
    operators_follow_events_and_cycles,
    analysts_read_charts_and_experiments
);

/// Where the screenshots go.
const SCREENSHOTS: &str = concat!(env!("CARGO_TARGET_TMPDIR"), "/dashboard-screenshots");

/// The browser window, in CSS pixels.
const WIDTH: u32 = 1280;
const HEIGHT: u32 = 900;

/// What to install when the browser or its driver is missing.
const INSTALL: &str = "install Debian's `chromium` and `chromium-driver` packages \
     (apt-get install chromium chromium-driver), or point REVOS_CHROMIUM and \
     REVOS_CHROMEDRIVER at a Chromium and its chromedriver";

/// The program at `env` (when set), else the first of `candidates` that
/// exists, either as a path or on `PATH`.
fn program(env: &str, candidates: &[&str]) -> PathBuf {
    if let Some(set) = std::env::var_os(env) {
        let path = PathBuf::from(set);
        assert!(
            path.is_file(),
            "{env} names {}, which does not exist: {INSTALL}",
            path.display()
        );
        return path;
    }
    let path_dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    for candidate in candidates {
        let direct = Path::new(candidate);
        if direct.is_absolute() && direct.is_file() {
            return direct.to_owned();
        }
        if let Some(found) = path_dirs
            .iter()
            .map(|dir| dir.join(candidate))
            .find(|p| p.is_file())
        {
            return found;
        }
    }
    panic!(
        "the browser tests need headless Chromium, and {} was not found: {INSTALL}",
        candidates.join(" or ")
    );
}

/// A `chromedriver` of this test alone, on a port it picked itself; the
/// browsers it opened are closed and the driver killed on drop, also when
/// the test fails. Its browsers' screenshots are named after the backend
/// and the scenario.
struct Chromedriver {
    child: Child,
    port: u16,
    chromium: PathBuf,
    sessions: Mutex<Vec<String>>,
    /// `{backend}-{scenario}`, the start of its screenshots' names.
    prefix: String,
    /// Screenshots taken so far, by every browser of the test: their
    /// names sort in the order the pages were seen.
    shots: Arc<AtomicU32>,
}

impl Chromedriver {
    fn start(db: Db, scenario: &str) -> Chromedriver {
        let prefix = format!("{}-{scenario}", backend(db));
        screenshots_cleared(&prefix);
        let chromium = program("REVOS_CHROMIUM", &["/usr/bin/chromium", "chromium"]);
        let driver = program(
            "REVOS_CHROMEDRIVER",
            &["/usr/bin/chromedriver", "chromedriver"],
        );
        let mut child = Command::new(&driver)
            .arg("--port=0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", driver.display()));
        // It says which port it listens on once it does; the rest of what
        // it prints is read and dropped so that it never blocks on a full
        // pipe.
        let stdout = child.stdout.take().expect("chromedriver's stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = tx.send(line);
            }
        });
        let mut said = Vec::new();
        let port = loop {
            match rx.recv_timeout(Duration::from_secs(30)) {
                Ok(line) => {
                    if let Some(rest) = line.split("started successfully on port ").nth(1) {
                        break rest.trim_end_matches('.').parse::<u16>().unwrap();
                    }
                    said.push(line);
                }
                Err(_) => {
                    let _ = child.kill();
                    panic!("{} did not start: {}", driver.display(), said.join("\n"));
                }
            }
        };
        Chromedriver {
            child,
            port,
            chromium,
            sessions: Mutex::default(),
            prefix,
            shots: Arc::default(),
        }
    }

    /// A new browser (its own profile, so its own cookies) on `app`.
    async fn open(&self, app: &App) -> Page {
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".to_owned(),
            json!({
                "binary": self.chromium,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu",
                    "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--no-first-run",
                    format!("--window-size={WIDTH},{HEIGHT}"),
                ],
            }),
        );
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{}", self.port))
            .await
            .unwrap_or_else(|e| panic!("a Chromium session from chromedriver: {e}"));
        if let Some(id) = client.session_id().await.unwrap() {
            self.sessions.lock().unwrap().push(id);
        }
        Page {
            client,
            base: app.base.clone(),
            prefix: self.prefix.clone(),
            shots: self.shots.clone(),
        }
    }
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        // Ending a session quits its Chromium; killing the driver alone
        // would leave the browsers running.
        let sessions =
            std::mem::take(&mut *self.sessions.lock().unwrap_or_else(|e| e.into_inner()));
        for id in sessions {
            let _ = delete_session(self.port, &id);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `DELETE /session/{id}` to the driver, without an async runtime (it
/// runs on drop, when a test may be unwinding).
fn delete_session(port: u16, id: &str) -> std::io::Result<()> {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "DELETE /session/{id} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )?;
    // The driver answers once the browser has quit (and keeps the
    // connection open): the first bytes of the answer are enough.
    let mut answer = [0u8; 512];
    let _ = stream.read(&mut answer)?;
    Ok(())
}

/// One browser, as a person uses it: open a page, type, click, read.
/// Every page it lands on is saved as a screenshot.
struct Page {
    client: Client,
    base: String,
    prefix: String,
    shots: Arc<AtomicU32>,
}

impl Page {
    /// Opens `path` (as typed in the address bar) and saves the page as `step`.
    async fn visit(&self, path: &str, step: &str) {
        self.client
            .goto(&format!("{}{path}", self.base))
            .await
            .unwrap_or_else(|e| panic!("opening {path}: {e}"));
        self.shot(step).await;
    }

    /// Clicks what `locator` finds, which loads a new page, and saves it as
    /// `step`.
    async fn click_to(&self, locator: Locator<'_>, step: &str) {
        // A mark on the current document: gone once the next one loaded.
        self.client
            .execute("window.__left = true;", vec![])
            .await
            .unwrap();
        self.find(locator).await.click().await.unwrap();
        // Usually chromedriver has waited for the navigation already.
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let loaded = self
                .client
                .execute(
                    "return window.__left !== true && document.readyState === 'complete';",
                    vec![],
                )
                .await;
            if matches!(loaded, Ok(Value::Bool(true))) {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no new page after the click ({step}): {loaded:?}"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        self.shot(step).await;
    }

    /// Clicks the button whose visible label is `label`.
    async fn press(&self, label: &str, step: &str) {
        let xpath = format!("//button[normalize-space()='{label}']");
        self.click_to(Locator::XPath(&xpath), step).await;
    }

    /// Follows the link whose visible text is `text`.
    async fn follow(&self, text: &str, step: &str) {
        let xpath = format!("//a[normalize-space()='{text}']");
        self.click_to(Locator::XPath(&xpath), step).await;
    }

    async fn find(&self, locator: Locator<'_>) -> fantoccini::elements::Element {
        match self.client.find(locator).await {
            Ok(found) => found,
            Err(e) => panic!(
                "{locator:?} is not on {}: {e}\n{}",
                self.path().await,
                self.text("body").await
            ),
        }
    }

    /// Types `text` into the field `css`.
    async fn fill(&self, css: &str, text: &str) {
        self.find(Locator::Css(css))
            .await
            .send_keys(text)
            .await
            .unwrap();
    }

    /// The visible text of the first element `css` finds.
    async fn text(&self, css: &str) -> String {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css} is not on the page: {e}"))
            .text()
            .await
            .unwrap()
    }

    /// The visible text of the first element `xpath` finds.
    async fn text_at(&self, xpath: &str) -> String {
        self.find(Locator::XPath(xpath)).await.text().await.unwrap()
    }

    /// The visible texts of every element `css` finds.
    async fn texts(&self, css: &str) -> Vec<String> {
        let mut out = Vec::new();
        for e in self.client.find_all(Locator::Css(css)).await.unwrap() {
            out.push(e.text().await.unwrap());
        }
        out
    }

    /// The value of the definition list's entry named `term` (a page's facts).
    async fn fact(&self, term: &str) -> String {
        self.text_at(&format!(
            "//dl[@class='facts']/dt[normalize-space()='{term}']/following-sibling::dd[1]"
        ))
        .await
    }

    /// The path and query of the page shown.
    async fn path(&self) -> String {
        let url = self.client.current_url().await.unwrap();
        match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        }
    }

    /// Signs in through the form: the credential typed into its field and
    /// the button pressed.
    async fn sign_in(&self, credential: &str, step: &str) {
        if self.path().await != "/sign-in" {
            self.visit("/sign-in", "sign-in").await;
        }
        assert_eq!(self.text("h1").await, "Sign in");
        self.fill("#credential", credential).await;
        self.press("Sign in", step).await;
    }

    /// Saves the whole page (the window grown to its height) as
    /// `{backend}-{scenario}-{nn}-{step}.png`.
    async fn shot(&self, step: &str) {
        let n = self.shots.fetch_add(1, Ordering::Relaxed) + 1;
        // The page's height, and what the window adds around the page.
        let sizes = self
            .client
            .execute(
                "return [Math.ceil(document.documentElement.scrollHeight), \
                         window.outerHeight - window.innerHeight, \
                         window.outerWidth, window.outerHeight];",
                vec![],
            )
            .await
            .unwrap();
        let px = |i: usize| {
            sizes[i]
                .as_u64()
                .and_then(|v| u32::try_from(v).ok())
                .unwrap_or(0)
        };
        let (page_height, frame, width, height) = (px(0), px(1), px(2), px(3));
        let grown = page_height + frame > height;
        if grown {
            self.client
                .set_window_size(width, (page_height + frame).min(8000))
                .await
                .unwrap();
        }
        let png = self.client.screenshot().await.unwrap();
        if grown {
            self.client.set_window_size(width, height).await.unwrap();
        }
        let file = Path::new(SCREENSHOTS).join(format!("{}-{n:02}-{step}.png", self.prefix));
        std::fs::write(&file, png).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    }
}

fn backend(db: Db) -> &'static str {
    match db {
        Db::Sqlite => "sqlite",
        Db::Postgres => "postgres",
    }
}

/// The screenshot folder (named once per run), without the pictures an
/// earlier run took under `prefix`.
fn screenshots_cleared(prefix: &str) {
    static SAID: std::sync::Once = std::sync::Once::new();
    SAID.call_once(|| println!("dashboard screenshots: {SCREENSHOTS}"));
    std::fs::create_dir_all(SCREENSHOTS).unwrap();
    for entry in std::fs::read_dir(SCREENSHOTS).unwrap().flatten() {
        if entry
            .file_name()
            .to_string_lossy()
            .starts_with(&format!("{prefix}-"))
        {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Lets the tenant's agent (`growth-bot`) change deals through a CRM
/// endpoint, every change held for people; answers the agent's key.
async fn deals_need_people(app: &App, t: &str, crm: &str) -> String {
    let (status, body) = app
        .post(
            &format!("/v1/tenants/{t}/webhook-endpoints"),
            json!({"name": "crm", "url": crm}),
        )
        .await;
    assert!(status.is_success(), "{body}");
    let (status, body) = app
        .call(
            Method::PUT,
            &format!("/v1/tenants/{t}/tool-policies"),
            Some(json!({"policies": "@approval(\"required\") permit(principal, action == Action::\"update_deal\", resource);"})),
        )
        .await;
    assert!(status.is_success(), "{body}");
    let (status, body) = app
        .post(
            "/v1/keys",
            json!({"name": "bot", "tenant_id": t, "scopes": ["write"], "agent": "growth-bot"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["token"].as_str().unwrap().to_owned()
}

/// A deal change asked for with `token`; answers its approval's id.
async fn deal_change(app: &App, token: &str, t: &str, deal: &str, amount_cents: u64) -> String {
    let (status, body) = app
        .call_as(
            token,
            Method::POST,
            &format!("/v1/agent-actions?tenant_id={t}"),
            Some(json!({"tool": "update_deal", "args": {"deal_id": deal, "amount_cents": amount_cents},
                        "entity": format!("deal:{deal}"), "reason_code": "stale",
                        "idempotency_key": deal,
                        "evidence": [{"kind": "note", "text": "no reply for 30 days"}]})),
        )
        .await;
    assert!(status.is_success(), "{body}");
    assert_eq!(body["status"], "awaiting_approval", "{body}");
    body["approval_id"].as_str().unwrap().to_owned()
}

async fn member(app: &App, t: &str, who: &str, role: &str) {
    let (status, body) = app
        .post(
            &format!("/v1/tenants/{t}/members"),
            json!({"subject": who, "role": role}),
        )
        .await;
    assert!(status.is_success(), "{body}");
}

/// The approvals the table shows: (id, risk) per row.
async fn rows(page: &Page) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for row in page
        .client
        .find_all(Locator::Css("table.approvals tbody tr"))
        .await
        .unwrap()
    {
        let href = row
            .find(Locator::Css("td:first-child a"))
            .await
            .unwrap()
            .attr("href")
            .await
            .unwrap()
            .unwrap_or_default();
        let risk = row
            .find(Locator::Css("td:nth-child(3)"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let id = href.rsplit('/').next().unwrap_or_default().to_owned();
        out.push((id, risk));
    }
    out.sort();
    out
}

async fn approvers_decide_in_the_browser(db: Db) {
    let app = App::start_with(db, |c| {
        with_jwt(c);
        c.rate_limits.enabled = false;
        c.outbound.allow = vec!["127.0.0.0/8".into()];
        c.queues.insert(
            "approval".into(),
            json!({"backoff": {"kind": "none", "delay_ms": 0}}),
        );
    })
    .await;
    let t = app.tenant().await;
    let (crm, got) = receiver().await;
    let agent = deals_need_people(&app, &t, &crm).await;
    for (who, role) in [
        ("alice", "approver"),
        ("bob", "approver"),
        ("carol", "admin"),
    ] {
        member(&app, &t, who, role).await;
    }
    // Two high-risk changes (two approvers each), one by the agent and one
    // by carol herself, and a medium one (one approver).
    let big = deal_change(&app, &agent, &t, "d1", 20_000_000).await;
    let carol = user_token("carol", "revos");
    let carols = deal_change(&app, &carol, &t, "d2", 20_000_000).await;
    let medium = deal_change(&app, &agent, &t, "d3", 2_000_000).await;

    let driver = Chromedriver::start(db, "approvals");
    let alice = driver.open(&app).await;

    // Not signed in: the approvals page sends to the sign-in form.
    alice
        .visit(&format!("/t/{t}/approvals"), "signed-out")
        .await;
    assert_eq!(alice.path().await, "/sign-in");
    alice.fill("#credential", "rvs_nope_nope").await;
    alice.press("Sign in", "wrong-key").await;
    let refused = alice.text("p.error[role=alert]").await;
    assert!(refused.contains("not valid"), "{refused}");
    assert_eq!(alice.text("h1").await, "Sign in");
    alice
        .sign_in(&user_token("alice", "revos"), "overview")
        .await;
    // One tenant: its overview, with what waits for people.
    assert_eq!(alice.path().await, format!("/t/{t}"));
    assert_eq!(alice.text("h1").await, "Acme");
    assert_eq!(alice.text(".who").await, "user:alice");
    let waiting = alice
        .texts("section[aria-labelledby=h-approvals] tbody tr")
        .await;
    assert_eq!(waiting.len(), 3, "{waiting:?}");
    assert!(
        waiting.iter().all(|r| r.starts_with("update_deal")),
        "{waiting:?}"
    );

    // The filter form: high risk only, then medium only.
    alice.follow("Approvals", "approvals").await;
    assert_eq!(alice.text("h1").await, "Approvals");
    assert_eq!(rows(&alice).await.len(), 3);
    alice
        .find(Locator::Css("select[name=risk]"))
        .await
        .select_by_label("high")
        .await
        .unwrap();
    alice.press("Filter", "filtered-high").await;
    assert!(
        alice.path().await.contains("risk=high"),
        "{}",
        alice.path().await
    );
    let mut high = vec![
        (big.clone(), "high".to_owned()),
        (carols.clone(), "high".to_owned()),
    ];
    high.sort();
    assert_eq!(rows(&alice).await, high);
    alice
        .find(Locator::Css("select[name=risk]"))
        .await
        .select_by_label("medium")
        .await
        .unwrap();
    alice.fill("input[name=agent]", "growth-bot").await;
    alice.press("Filter", "filtered-medium").await;
    assert_eq!(
        rows(&alice).await,
        vec![(medium.clone(), "medium".to_owned())]
    );
    alice
        .find(Locator::Css("input[name=tool]"))
        .await
        .send_keys("send_email")
        .await
        .unwrap();
    alice.press("Filter", "filtered-nothing").await;
    assert_eq!(
        alice.text("main p").await,
        "No approvals match these filters."
    );

    // The high-risk change: alice approves first, one of two.
    let big_path = format!("/t/{t}/approvals/{big}");
    alice.visit(&big_path, "high-risk").await;
    assert_eq!(alice.text("h1").await, "update_deal on deal:d1");
    assert_eq!(alice.fact("Status").await, "pending");
    assert!(alice.fact("Risk").await.starts_with("high"));
    assert!(alice.fact("Approvals").await.starts_with("0 of 2 needed"));
    assert!(alice.text("main").await.contains("no reply for 30 days"));
    alice.fill("#reason", "the deal is real").await;
    alice.press("Approve", "first-approval").await;
    assert_eq!(alice.path().await, big_path);
    assert_eq!(alice.fact("Status").await, "pending");
    assert!(alice.fact("Approvals").await.starts_with("1 of 2 needed"));
    let decisions = alice
        .texts("main h2 + ul li")
        .await
        .into_iter()
        .filter(|d| d.starts_with("approve by"))
        .collect::<Vec<_>>();
    assert_eq!(decisions.len(), 1, "{decisions:?}");
    assert!(
        decisions[0].starts_with("approve by user:alice")
            && decisions[0].ends_with(": the deal is real"),
        "{decisions:?}"
    );

    // Bob, the second approver, in his own browser: approved, and the job
    // is ready to run.
    let bob = driver.open(&app).await;
    bob.sign_in(&user_token("bob", "revos"), "bob-overview")
        .await;
    bob.visit(&big_path, "bob-high-risk").await;
    assert!(bob.fact("Approvals").await.starts_with("1 of 2 needed"));
    bob.fill("#reason", "agreed").await;
    bob.press("Approve", "second-approval").await;
    assert_eq!(bob.fact("Status").await, "approved");
    assert!(bob.fact("Approvals").await.starts_with("2 of 2 needed"));
    assert!(
        bob.client
            .find_all(Locator::Css("form[action$='/decide']"))
            .await
            .unwrap()
            .is_empty(),
        "a decided approval has no form"
    );
    bob.follow("Queues", "queued").await;
    let approval_queue = "//main/table[1]/tbody/tr[td[1]='approval']";
    assert_eq!(
        bob.text_at(&format!("{approval_queue}/td[2]")).await,
        "1",
        "waiting"
    );
    assert_eq!(
        bob.text_at(&format!("{approval_queue}/td[5]")).await,
        "2",
        "still awaiting approval: carol's and the medium one"
    );
    // The worker runs it: the CRM gets the change, and the queue is empty.
    assert_eq!(drain(&app, "approval").await, 1);
    assert_eq!(got.lock().unwrap().len(), 1, "the CRM got the change");
    bob.client.refresh().await.unwrap();
    bob.shot("ran").await;
    assert_eq!(
        bob.text_at(&format!("{approval_queue}/td[2]")).await,
        "0",
        "waiting"
    );
    bob.follow("Overview", "bob-overview-after").await;
    let waiting = bob
        .texts("section[aria-labelledby=h-approvals] tbody tr")
        .await;
    assert_eq!(waiting.len(), 2, "{waiting:?}");
    // The audit trail has both decisions, by name.
    let (status, audit) = app
        .get(&format!("/v1/audit?tenant_id={t}&action=approval.approve"))
        .await;
    assert_eq!(status, StatusCode::OK, "{audit}");
    let mut by: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["actor"].as_str().unwrap())
        .collect();
    by.sort_unstable();
    assert_eq!(by, ["user:alice", "user:bob"], "{audit}");

    // A decision whose form lost its CSRF input: the 403 page, nothing decided.
    let medium_path = format!("/t/{t}/approvals/{medium}");
    alice.visit(&medium_path, "medium").await;
    assert!(alice.fact("Approvals").await.starts_with("0 of 1 needed"));
    let removed = alice
        .client
        .execute(
            "const inputs = document.querySelectorAll(\"form[action$='/decide'] input[name=csrf]\");\
             inputs.forEach(i => i.remove());\
             return inputs.length;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(removed, json!(1));
    alice.fill("#reason", "looks fine").await;
    alice.press("Approve", "without-csrf").await;
    assert_eq!(alice.text("h1").await, "Forbidden");
    assert_eq!(
        alice.text("p.error[role=alert]").await,
        "the form's security token is missing or wrong"
    );
    let (_, shown) = app
        .get(&format!("/v1/approvals/{medium}?tenant_id={t}"))
        .await;
    assert_eq!(shown["status"], "pending", "{shown}");
    assert_eq!(shown["decisions"], json!([]), "{shown}");
    alice.visit(&medium_path, "medium-unchanged").await;
    assert_eq!(alice.fact("Status").await, "pending");
    assert!(alice.fact("Approvals").await.starts_with("0 of 1 needed"));

    // Carol, in alice's browser once alice signed out: her own request
    // says someone else must decide, and has no decision form.
    alice.press("Sign out", "signed-out-again").await;
    assert_eq!(alice.path().await, "/sign-in");
    alice.sign_in(&carol, "carol-overview").await;
    assert_eq!(alice.text(".who").await, "user:carol");
    alice
        .visit(&format!("/t/{t}/approvals/{carols}"), "own-request")
        .await;
    assert_eq!(
        alice.fact("Requested by").await,
        "user:carol (you: someone else must decide)"
    );
    assert_eq!(
        alice.text("p.note").await,
        "You asked for this: another person must decide."
    );
    assert!(
        alice
            .client
            .find_all(Locator::Css("form[action$='/decide'], #reason"))
            .await
            .unwrap()
            .is_empty(),
        "no decision form for the requester"
    );

    // Carol, an admin, reads both decisions in the audit log.
    alice.follow("Audit", "audit").await;
    assert_eq!(alice.text("h1").await, "Audit log");
    assert!(
        alice
            .text("section[aria-labelledby=h-verify]")
            .await
            .contains("Intact"),
        "the chain verifies"
    );
    alice.fill("input[name=action]", "approval.approve").await;
    alice.press("Filter", "audit-approvals").await;
    let mut actors = alice.texts("main table tbody tr td:nth-child(3)").await;
    actors.sort();
    assert_eq!(actors, ["user:alice", "user:bob"]);
}

fn lead_event(key: &str, email: &str) -> Value {
    json!({
        "type": "lead_captured",
        "source": "cmo_campaigns",
        "idempotency_key": key,
        "subject": {"type": "lead", "id": key},
        "payload": {"email": email, "name": "Ana Lima", "message": "Can we get a demo?"},
    })
}

async fn operators_follow_events_and_cycles(db: Db) {
    let sink = SmtpSink::start().await.unwrap();
    let smtp = sink.url();
    let app = App::start_with(db, move |c| {
        with_jwt(c);
        c.kernel_mode = revos_contracts::runtime::KernelMode::Enforce;
        c.email.smtp_url = smtp;
        c.email.from = "Acme <hello@acme.example>".into();
        c.rate_limits.enabled = false;
        c.outbound.allow = vec!["127.0.0.0/8".into()];
    })
    .await;
    let t = app.tenant().await;
    let other = app.tenant().await;
    member(&app, &t, "dana", "viewer").await;

    // A lead arrives (the golden path): one e-mail goes out.
    let writer = key(&app, &t, "write").await;
    let (status, receipt) = app
        .call_as(
            &writer,
            Method::POST,
            "/v1/events",
            Some(lead_event("lead-1", "ana@client.example")),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{receipt}");
    let event = receipt["event_id"].as_str().unwrap().to_owned();
    assert_eq!(drain(&app, "email").await, 1);
    let sent = sink.wait_for(1, Duration::from_secs(5)).await;
    assert_eq!(sent[0].to, vec!["ana@client.example".to_owned()]);
    // A cycle runs.
    let (status, out) = app
        .post("/v1/kernel/run", common::kernel_input(&t, "manual"))
        .await;
    assert_eq!(status, StatusCode::OK, "{out}");
    let cycle = out["cycle_id"].as_str().unwrap().to_owned();
    let constraint = out["cycle_summary"]["binding_constraint"]
        .as_str()
        .unwrap()
        .to_owned();
    // The other tenant has an approval, an event and a cycle of its own.
    let (crm, _) = receiver().await;
    let their_agent = deals_need_people(&app, &other, &crm).await;
    let their_approval = deal_change(&app, &their_agent, &other, "x1", 500).await;
    let (status, theirs) = app
        .post(&format!("/v1/events?tenant_id={other}"), {
            let mut e = lead_event("lead-x", "bo@other.example");
            e["tenant_id"] = json!(other);
            e
        })
        .await;
    assert_eq!(status, StatusCode::CREATED, "{theirs}");
    let their_event = theirs["event_id"].as_str().unwrap().to_owned();
    let (status, their_out) = app
        .post("/v1/kernel/run", common::kernel_input(&other, "manual"))
        .await;
    assert_eq!(status, StatusCode::OK, "{their_out}");
    let their_cycle = their_out["cycle_id"].as_str().unwrap().to_owned();

    // An operator signs in with the tenant's read key.
    let reader = key(&app, &t, "read").await;
    let driver = Chromedriver::start(db, "timeline");
    let page = driver.open(&app).await;
    page.sign_in(&reader, "overview").await;
    assert_eq!(page.path().await, format!("/t/{t}"));
    assert_eq!(page.text("h1").await, "Acme");
    let today = page
        .texts("section[aria-labelledby=h-events] tbody tr")
        .await;
    assert!(
        today
            .iter()
            .any(|r| r.contains("lead_captured") && r.contains("cmo_campaigns")),
        "{today:?}"
    );

    // The events timeline, then the lead's event: its decision and its e-mail.
    page.follow("Events", "events").await;
    let listed = page.texts("main table tbody tr").await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert!(listed[0].contains("lead_captured"), "{listed:?}");
    page.click_to(Locator::Css("main table tbody tr td a"), "event")
        .await;
    assert_eq!(page.path().await, format!("/t/{t}/events/{event}"));
    assert_eq!(page.text("h1").await, "lead_captured from cmo_campaigns");
    assert_eq!(page.fact("Subject").await, "lead lead-1");
    let decision = page
        .text_at("//h2[.='Decisions']/following-sibling::section[1]")
        .await;
    assert!(
        decision.starts_with("act by revenue_os.growth.lead_response_v1 version")
            && decision.contains("in enforce mode"),
        "{decision}"
    );
    let email = page
        .text_at("//main/section[@class='card']/p[starts-with(normalize-space(), 'E-mail to')]")
        .await;
    assert!(
        email.starts_with("E-mail to ana@client.example: “")
            && email.ends_with("(sent, 1 attempt)"),
        "{email}"
    );
    let email_card = page
        .text_at("//main/section[@class='card'][p[starts-with(normalize-space(), 'E-mail to')]]")
        .await;
    assert!(email_card.contains("succeeded"), "{email_card}");

    // The cycles list, then the cycle: its binding constraint.
    page.follow("Cycles", "cycles").await;
    let listed = page.texts("main table tbody tr").await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert!(listed[0].contains(&constraint), "{listed:?}");
    page.click_to(Locator::Css("main table tbody tr td a"), "cycle")
        .await;
    assert_eq!(page.path().await, format!("/t/{t}/cycles/{cycle}"));
    assert_eq!(
        page.text("#h-constraint").await,
        format!("Binding constraint: {constraint}")
    );
    let actions = page.texts("main section.card h3").await;
    assert!(!actions.is_empty(), "a cycle proposes actions");
    assert_eq!(
        page.text_at("//h2[.='Results']/following-sibling::p[1]")
            .await,
        "No action of this cycle has been executed yet."
    );

    // A member of this tenant opens the other tenant's ids: not found,
    // under either tenant's address.
    page.press("Sign out", "signed-out").await;
    page.sign_in(&user_token("dana", "revos"), "dana-overview")
        .await;
    assert_eq!(page.text(".who").await, "user:dana");
    for (what, path) in [
        ("approval", format!("/t/{other}/approvals/{their_approval}")),
        ("approval", format!("/t/{t}/approvals/{their_approval}")),
        ("event", format!("/t/{other}/events/{their_event}")),
        ("event", format!("/t/{t}/events/{their_event}")),
        ("cycle", format!("/t/{other}/cycles/{their_cycle}")),
        ("cycle", format!("/t/{t}/cycles/{their_cycle}")),
        ("tenant", format!("/t/{other}")),
    ] {
        let step = if path.starts_with(&format!("/t/{t}")) {
            format!("their-{what}-here")
        } else {
            format!("their-{what}")
        };
        page.visit(&path, &step).await;
        assert_eq!(page.text("h1").await, "Not Found", "{path}");
        assert!(!page.text("p.error[role=alert]").await.is_empty(), "{path}");
        let body = page.text("main").await;
        assert!(
            !body.contains("bo@other.example") && !body.contains("x1"),
            "{path}: {body}"
        );
    }
}

/// What the page breaks of the accessibility rules the dashboard keeps:
/// every field has a label, every table header a scope, every chart a
/// name, the language is set, and nothing is wider than the window.
const ACCESSIBILITY_CHECK: &str = r#"
const problems = [];
if (!document.documentElement.lang) problems.push('no lang on <html>');
for (const f of document.querySelectorAll('input:not([type=hidden]), select, textarea')) {
  const labelled = f.closest('label') || (f.id && document.querySelector(`label[for="${f.id}"]`))
    || f.getAttribute('aria-label') || f.getAttribute('aria-labelledby');
  if (!labelled) problems.push(`unlabelled ${f.tagName.toLowerCase()} ${f.name}`);
}
for (const th of document.querySelectorAll('thead th')) {
  if (!th.getAttribute('scope')) problems.push(`th without scope: ${th.textContent}`);
}
for (const svg of document.querySelectorAll('svg')) {
  if (svg.getAttribute('role') !== 'img' || !svg.getAttribute('aria-label')) problems.push('svg without a name');
}
if (document.documentElement.scrollWidth > window.innerWidth + 1)
  problems.push(`wider than the window: ${document.documentElement.scrollWidth} > ${window.innerWidth}`);
return problems;
"#;

impl Page {
    /// The accessibility rules' problems on the page shown (none expected).
    async fn accessibility_problems(&self) -> Vec<String> {
        let found = self
            .client
            .execute(ACCESSIBILITY_CHECK, vec![])
            .await
            .unwrap();
        found
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// How many elements `css` finds.
    async fn count(&self, css: &str) -> usize {
        self.client.find_all(Locator::Css(css)).await.unwrap().len()
    }
}

/// An analyst reads a metric's chart with the markers of the experiment
/// that touched it, and the experiment's report; the pages keep the
/// accessibility rules on a laptop and on a phone.
async fn analysts_read_charts_and_experiments(db: Db) {
    let app = App::start_with(db, |c| c.rate_limits.enabled = false).await;
    let t = app.tenant().await;
    let metric = "lead_to_mql_rate";
    let (cycle, action) = common::measured_experiment(&app, &t, metric).await;
    let to = chrono::Utc::now().date_naive() + chrono::Duration::days(8);

    let driver = Chromedriver::start(db, "insight");
    let page = driver.open(&app).await;
    page.sign_in(&app.token, "overview").await;
    page.visit(&format!("/t/{t}/metrics"), "metrics").await;
    assert_eq!(page.text("h1").await, "Metrics");
    let row = page
        .text_at("//tr[td/a[normalize-space()='Lead to MQL rate']]")
        .await;
    assert!(
        row.contains("10.0%") && row.contains("higher is better"),
        "{row}"
    );

    // The chart: the series, and a marker for the day the change was
    // applied and the day it was judged successful, each in the table too.
    page.visit(&format!("/t/{t}/metrics/{metric}?days=30&to={to}"), "chart")
        .await;
    assert_eq!(page.text("h1").await, "Lead to MQL rate");
    assert_eq!(page.count("figure.chart svg path.series").await, 1);
    assert_eq!(page.count("figure.chart svg line.marker.applied").await, 1);
    assert_eq!(
        page.count("figure.chart svg line.marker.succeeded").await,
        1
    );
    let marks = page.texts("main table tbody tr").await;
    assert!(
        marks
            .iter()
            .any(|r| r.contains("applied") && r.contains("act_1")),
        "{marks:?}"
    );
    assert!(
        marks
            .iter()
            .any(|r| r.contains("succeeded") && r.contains("act_1")),
        "{marks:?}"
    );
    assert_eq!(page.accessibility_problems().await, Vec::<String>::new());

    // The experiment's report, reached from the list.
    page.visit(&format!("/t/{t}/experiments"), "experiments")
        .await;
    page.follow("act_1", "report").await;
    assert_eq!(
        page.path().await,
        format!("/t/{t}/cycles/{cycle}/experiments/{action}")
    );
    let treatment = page
        .text_at("//table[@class='report']//tr[th='treatment']")
        .await;
    for part in [
        "2,000",
        "280",
        "14.00%",
        "+40.0%",
        "+16.1% to +63.9%",
        "99.9%",
    ] {
        assert!(treatment.contains(part), "{part}: {treatment}");
    }
    assert!(page.text("main").await.contains("Verdict: successful"));
    assert_eq!(page.count(".banner.bad").await, 0, "no split warning");
    assert_eq!(page.accessibility_problems().await, Vec::<String>::new());

    // On a phone: the same pages, nothing wider than the screen.
    page.client.set_window_size(390, 844).await.unwrap();
    for (path, step) in [
        (
            format!("/t/{t}/cycles/{cycle}/experiments/{action}"),
            "phone-report",
        ),
        (
            format!("/t/{t}/metrics/{metric}?days=30&to={to}"),
            "phone-chart",
        ),
        (format!("/t/{t}"), "phone-overview"),
        (format!("/t/{t}/approvals"), "phone-approvals"),
        (format!("/t/{t}/events"), "phone-events"),
        (format!("/t/{t}/audit"), "phone-audit"),
    ] {
        page.visit(&path, step).await;
        assert_eq!(
            page.accessibility_problems().await,
            Vec::<String>::new(),
            "{step}"
        );
    }
    page.client.set_window_size(WIDTH, HEIGHT).await.unwrap();
    for (path, step) in [
        (format!("/t/{t}/audit"), "audit"),
        (format!("/t/{t}/templates"), "templates"),
        (format!("/t/{t}/tickets"), "tickets"),
        (format!("/t/{t}/posts"), "posts"),
        (format!("/t/{t}/queues"), "queues"),
        (format!("/t/{t}/cycles/{cycle}"), "cycle"),
    ] {
        page.visit(&path, step).await;
        assert_eq!(
            page.accessibility_problems().await,
            Vec::<String>::new(),
            "{step}"
        );
    }
}
