//! A public lead form in a real browser, on SQLite and on PostgreSQL:
//! headless Chromium (Debian's `chromium` and `chromium-driver`) opens a
//! page served by a small HTTP server on another port, which posts a lead
//! to revos with `fetch()` (a CORS preflight, then the JSON post) and with
//! a plain HTML form (followed to its `redirect_url`); a page on an origin
//! the token does not allow gets no answer it may read, and records
//! nothing.

#[macro_use]
mod common;

use common::{App, Db};
use fantoccini::{Client, ClientBuilder, Locator};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

on_both!(a_page_posts_its_lead_form_from_the_browser);

const INSTALL: &str = "install Debian's `chromium` and `chromium-driver` packages, or point \
     REVOS_CHROMIUM and REVOS_CHROMEDRIVER at a Chromium and its chromedriver";

/// The program at `env` (when set), else the first of `candidates` found.
fn program(env: &str, candidates: &[&str]) -> PathBuf {
    if let Some(set) = std::env::var_os(env) {
        return PathBuf::from(set);
    }
    let dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    candidates
        .iter()
        .flat_map(|c| {
            let direct = Path::new(c).to_owned();
            std::iter::once(direct).chain(dirs.iter().map(move |d| d.join(c)))
        })
        .find(|p| p.is_absolute() && p.is_file())
        .unwrap_or_else(|| panic!("{} not found: {INSTALL}", candidates.join(" or ")))
}

/// A chromedriver of this test alone; its browser is closed and the driver
/// killed on drop, also when the test fails.
struct Driver {
    child: Child,
    port: u16,
    session: Option<String>,
}

impl Driver {
    fn start() -> Driver {
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
        let stdout = child.stdout.take().expect("chromedriver's stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = tx.send(line);
            }
        });
        let port = loop {
            match rx.recv_timeout(Duration::from_secs(30)) {
                Ok(line) => {
                    if let Some(rest) = line.split("started successfully on port ").nth(1) {
                        break rest.trim_end_matches('.').parse::<u16>().unwrap();
                    }
                }
                Err(_) => {
                    let _ = child.kill();
                    panic!("{} did not start", driver.display());
                }
            }
        };
        Driver {
            child,
            port,
            session: None,
        }
    }

    async fn browser(&mut self) -> Client {
        let chromium = program("REVOS_CHROMIUM", &["/usr/bin/chromium", "chromium"]);
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".to_owned(),
            json!({
                "binary": chromium,
                "args": ["--headless", "--no-sandbox", "--disable-gpu",
                         "--disable-background-networking", "--no-first-run"],
            }),
        );
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{}", self.port))
            .await
            .unwrap_or_else(|e| panic!("a Chromium session from chromedriver: {e}"));
        self.session = client.session_id().await.unwrap();
        client
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // Ending the session quits Chromium; killing the driver alone would
        // leave the browser running.
        if let Some(id) = self.session.take()
            && let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", self.port))
        {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
            let _ = write!(
                stream,
                "DELETE /session/{id} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
            let _ = stream.read(&mut [0u8; 512]);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A listener on a port of its own, and its origin.
async fn listen() -> (tokio::net::TcpListener, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    (listener, origin)
}

/// A web site on `listener`: every path answers `page` as HTML, except
/// `/thanks`, which answers a thank-you page.
fn site(listener: tokio::net::TcpListener, page: String) {
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let page = page.clone();
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buf = [0u8; 4096];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&request);
                let body = if head.starts_with("GET /thanks") {
                    "<!doctype html><title>Thanks</title><h1>Thank you</h1>".to_owned()
                } else {
                    page
                };
                let answer = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(answer.as_bytes()).await;
            });
        }
    });
}

/// The page: a plain HTML form and a `fetch()` that posts the same lead
/// as JSON.
fn page(action: &str) -> String {
    format!(
        r#"<!doctype html><html><head><title>Contact</title></head><body>
<form id="lead" method="post" action="{action}">
  <input type="email" name="email" id="email" required>
  <input type="text" name="company" id="company">
  <div style="display:none"><input type="text" name="website" tabindex="-1"></div>
  <button type="submit" id="send">Send</button>
</form>
<script>
window.postLead = function (email, done) {{
  fetch("{action}", {{method: "POST", headers: {{"content-type": "application/json"}},
                      body: JSON.stringify({{email: email, utm_source: "site"}})}})
    .then(function (r) {{ return r.json().then(function (b) {{ done({{status: r.status, body: b}}); }}); }})
    .catch(function (e) {{ done({{blocked: String(e)}}); }});
}};
</script></body></html>"#
    )
}

async fn leads(app: &App, tenant: &str) -> Vec<Value> {
    let (status, body) = app
        .get(&format!("/v1/events?tenant_id={tenant}&type=lead_captured"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["items"].as_array().unwrap().clone()
}

async fn post_with_fetch(browser: &Client, email: &str) -> Value {
    browser
        .execute_async(
            "window.postLead(arguments[0], arguments[arguments.length - 1]);",
            vec![json!(email)],
        )
        .await
        .unwrap()
}

async fn a_page_posts_its_lead_form_from_the_browser(db: Db) {
    let app = App::start(db).await;
    let t = app.tenant().await;
    // The site listens first, so the token can name its origin.
    let (listener, allowed) = listen().await;
    let (status, created) = app
        .post(
            &format!("/v1/tenants/{t}/forms"),
            json!({"name": "Site", "origins": [allowed],
                   "redirect_url": format!("{allowed}/thanks"), "honeypot": "website"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let token = created["token"].as_str().unwrap();
    let action = format!("{}/v1/forms/{token}/submit", app.base);
    site(listener, page(&action));
    let (other, elsewhere) = listen().await;
    site(other, page(&action));

    let mut driver = Driver::start();
    let browser = driver.browser().await;

    // fetch(): the preflight is answered, the post is read by the page.
    browser.goto(&format!("{allowed}/contact")).await.unwrap();
    let answer = post_with_fetch(&browser, "js@example.com").await;
    assert_eq!(answer, json!({"status": 201, "body": {"received": true}}));

    // The plain form: posted, then sent on to the thank-you page.
    browser
        .find(Locator::Id("email"))
        .await
        .unwrap()
        .send_keys("form@example.com")
        .await
        .unwrap();
    browser
        .find(Locator::Id("company"))
        .await
        .unwrap()
        .send_keys("Acme")
        .await
        .unwrap();
    browser
        .find(Locator::Id("send"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let mut url = browser.current_url().await.unwrap();
    for _ in 0..50 {
        if url.path() == "/thanks" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        url = browser.current_url().await.unwrap();
    }
    assert_eq!(url.as_str(), format!("{allowed}/thanks?submitted=1"));

    // A page on another origin: the browser refuses to hand it an answer.
    browser.goto(&format!("{elsewhere}/contact")).await.unwrap();
    let answer = post_with_fetch(&browser, "eve@example.com").await;
    assert!(answer.get("blocked").is_some(), "{answer}");

    let got = leads(&app, &t).await;
    let mut emails: Vec<&str> = got
        .iter()
        .map(|e| e["payload"]["email"].as_str().unwrap())
        .collect();
    emails.sort_unstable();
    assert_eq!(emails, ["form@example.com", "js@example.com"]);
    let form_lead = got
        .iter()
        .find(|e| e["payload"]["email"] == "form@example.com")
        .unwrap();
    assert_eq!(form_lead["payload"]["company"], "Acme");
    assert_eq!(form_lead["payload"]["origin"], "public_form");
}
