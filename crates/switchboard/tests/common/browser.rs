//! The browser tests' helpers: headless Chromium via chromedriver, screenshots under
//! target/screenshots/, and small ways to read and drive a page.
#![allow(dead_code)] // each test binary uses its own part

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The chromedriver process; killed when the test ends, however it ends.
pub struct Driver(Child);
impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A fresh headless Chromium (its own profile, 1280×1000) driven through chromedriver
/// (`$CHROMEDRIVER` or `chromedriver` on the PATH).
pub async fn browser() -> (Driver, Client) {
    let port = free_port();
    let driver = Command::new(
        std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into()),
    )
    .arg(format!("--port={port}"))
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .expect(
        "chromedriver is installed (apt-get install chromium chromium-driver; .ci/run does it)",
    );
    let driver = Driver(driver);
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({"args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                        "--disable-background-networking", "--disable-component-update", "--disable-sync",
                        "--no-first-run", "--window-size=1280,1000",
                        format!("--user-data-dir={}", std::env::temp_dir().join(format!("sb-chrome-{}", uuid::Uuid::new_v4().simple())).display())]}),
    );
    let url = format!("http://127.0.0.1:{port}");
    for _ in 0..100 {
        if let Ok(c) = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps.clone())
            .connect(&url)
            .await
        {
            return (driver, c);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("chromedriver did not start on {url}");
}

fn screenshot_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    dir
}

/// Saves the viewport as target/screenshots/{name}.png.
pub async fn shot(c: &Client, name: &str) {
    let png = c.screenshot().await.expect("screenshot");
    std::fs::write(screenshot_dir().join(format!("{name}.png")), png).expect("write screenshot");
}

/// The visible text, white space collapsed (badges sit on lines of their own).
pub async fn text_of(c: &Client, css: &str) -> String {
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|_| panic!("{css} on page"))
        .text()
        .await
        .expect("text")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

pub async fn exists(c: &Client, css: &str) -> bool {
    !c.find_all(Locator::Css(css))
        .await
        .expect("find")
        .is_empty()
}

pub async fn click(c: &Client, css: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|_| panic!("{css} on page"))
        .click()
        .await
        .unwrap_or_else(|e| panic!("click {css}: {e}"));
}

/// Clicks something that loads a new page and waits until the old page is gone, so the next
/// lookup cannot see an element of the page being left.
pub async fn click_and_wait_for_navigation(c: &Client, css: &str) {
    let old = c.find(Locator::Css("html")).await.expect("page");
    click(c, css).await;
    for _ in 0..200 {
        // A stale reference means the document was replaced.
        if old.text().await.is_err() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("clicking {css} did not load a new page within 10 s");
}

/// Waits for an element the next page (or the updated page) has.
pub async fn wait_for(c: &Client, css: &str, secs: u64) {
    c.wait()
        .at_most(Duration::from_secs(secs))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css} did not appear within {secs} s: {e}"));
}

pub async fn set_field(c: &Client, css: &str, value: &str) {
    let field = c.find(Locator::Css(css)).await.unwrap();
    field.clear().await.unwrap();
    field.send_keys(value).await.unwrap();
}

pub async fn scroll_to(c: &Client, css: &str) {
    c.execute(
        "document.querySelector(arguments[0]).scrollIntoView({block: 'center'});",
        vec![json!(css)],
    )
    .await
    .unwrap();
}

/// The rows of a table as the admin reads them: one string per cell, badges as their words.
pub async fn table_rows(c: &Client, css: &str) -> Vec<Vec<String>> {
    let rows = c
        .execute(
            "return Array.from(document.querySelectorAll(arguments[0]))
                 .filter(tr => !tr.closest('[hidden]'))
                 .map(tr => Array.from(tr.cells).map(td => td.innerText.replace(/\\s+/g, ' ').trim()));",
            vec![json!(css)],
        )
        .await
        .unwrap();
    serde_json::from_value(rows).unwrap()
}
