//! A real browser for the console's end-to-end tests: Debian's Chromium, headless, driven over
//! WebDriver (fantoccini) through its own chromedriver on a free port. Nothing is simulated:
//! the page runs its scripts against the real server and its WebSocket.
//!
//! Helpers wait for what a user would see (an element, a text) rather than sleeping, and every
//! wait fails with what the page showed instead, plus the notice line, so a failure says why.

#![allow(dead_code)]

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// How long a page may take to show what a test waits for.
pub const WAIT: Duration = Duration::from_secs(15);

pub const DESKTOP: (u32, u32) = (1280, 900);
pub const PHONE: (u32, u32) = (390, 844);

/// A chromedriver process and one browser session on it; both end when this drops.
pub struct Browser {
    pub client: Client,
    driver: Child,
    /// Where screenshots go (`<repo>/target/console-screenshots/<set>/`, or
    /// `$CONSOLE_SCREENSHOTS/<set>/`).
    shots: PathBuf,
}

extern "C" {
    #[link_name = "setsid"]
    fn libc_setsid() -> i32;
    #[link_name = "kill"]
    fn libc_kill(pid: i32, signal: i32) -> i32;
}

const SIGKILL: i32 = 9;

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("local addr").port()
}

impl Browser {
    /// Starts chromedriver and a headless Chromium at desktop size; `set` names the folder of
    /// this test's screenshots.
    pub async fn start(set: &str) -> Browser {
        assert!(
            std::path::Path::new(CHROMEDRIVER).exists() && std::path::Path::new(CHROMIUM).exists(),
            "the console tests need Debian's chromium and chromium-driver (apt-get install chromium chromium-driver; scripts/test installs them)"
        );
        let port = free_port();
        // A session (and process group) of its own, so that the browser it starts ends with it
        // and nothing it does reaches the test's own group.
        let mut command = Command::new(CHROMEDRIVER);
        // SAFETY: setsid is async-signal-safe and touches nothing of the parent's.
        unsafe {
            command.pre_exec(|| {
                if libc_setsid() < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let driver = command
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let url = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        let http = reqwest::Client::new();
        loop {
            if let Ok(r) = http.get(format!("{url}/status")).send().await {
                if r.status().is_success() {
                    break;
                }
            }
            assert!(started.elapsed() < Duration::from_secs(20), "chromedriver did not start on {url}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": CHROMIUM,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                    "--no-first-run", "--disable-extensions", "--lang=zh-CN",
                    format!("--window-size={},{}", DESKTOP.0, DESKTOP.1),
                ],
            }),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector).capabilities(caps).connect(&url).await.expect("a browser session");
        let root = std::env::var("CONSOLE_SCREENSHOTS")
            .map(PathBuf::from)
            .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/console-screenshots"));
        let shots = root.join(set);
        std::fs::create_dir_all(&shots).expect("screenshot folder");
        Browser { client, driver, shots }
    }

    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.unwrap_or_else(|e| panic!("open {url}: {e}"));
    }

    /// Switches the page to another hash route and waits for `ready` to appear.
    pub async fn route(&self, hash: &str, ready: &str) {
        self.script(&format!("location.hash = {}", json!(hash))).await;
        self.find(ready).await;
    }

    pub async fn script(&self, js: &str) -> Value {
        self.client.execute(js, vec![]).await.unwrap_or_else(|e| panic!("script {js}: {e}"))
    }

    /// The notice line's text and kind (`ok` or `error`), if shown.
    pub async fn notice(&self) -> Option<(String, String)> {
        let v = self
            .script("const n = document.getElementById('notice'); return n.hidden ? null : [n.textContent, n.dataset.kind || ''];")
            .await;
        Some((v.get(0)?.as_str()?.to_string(), v.get(1)?.as_str()?.to_string()))
    }

    async fn page_text(&self) -> String {
        let v = self.script("return document.body ? document.body.innerText : ''").await;
        v.as_str().unwrap_or_default().chars().take(1500).collect()
    }

    /// The element `css`, once it is there.
    pub async fn find(&self, css: &str) -> Element {
        let started = Instant::now();
        loop {
            if let Ok(e) = self.client.find(Locator::Css(css)).await {
                return e;
            }
            if started.elapsed() > WAIT {
                panic!("`{css}` never appeared; notice {:?}; page:\n{}", self.notice().await, self.page_text().await);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn exists(&self, css: &str) -> bool {
        self.client.find(Locator::Css(css)).await.is_ok()
    }

    /// Waits until `css` is gone.
    pub async fn gone(&self, css: &str) {
        let started = Instant::now();
        while self.exists(css).await {
            assert!(started.elapsed() < WAIT, "`{css}` is still there; notice {:?}", self.notice().await);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the text of `css` contains `needle`; answers the whole text.
    pub async fn text_contains(&self, css: &str, needle: &str) -> String {
        let started = Instant::now();
        loop {
            let text = match self.client.find(Locator::Css(css)).await {
                Ok(e) => e.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            };
            if text.contains(needle) {
                return text;
            }
            if started.elapsed() > WAIT {
                panic!("`{css}` never said `{needle}` (it says `{text}`); notice {:?}", self.notice().await);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits for the notice line to say something of `kind` containing `needle`; answers it.
    pub async fn notice_says(&self, kind: &str, needle: &str) -> String {
        let started = Instant::now();
        loop {
            let got = self.notice().await;
            if let Some((text, k)) = &got {
                if k == kind && text.contains(needle) {
                    return text.clone();
                }
            }
            if started.elapsed() > WAIT {
                panic!("the notice never said {kind} `{needle}`; it says {got:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Hides the notice line, so the next `notice_says` sees only what comes after.
    pub async fn clear_notice(&self) {
        self.script("const n = document.getElementById('notice'); n.hidden = true; n.textContent = '';").await;
    }

    /// Replaces the value of the input `css` with `text`, as typed.
    pub async fn fill(&self, css: &str, text: &str) {
        // As for `click`: a panel the page re-renders (after the previous action's answer) can
        // replace or hide the input for a moment; find it again then, as a user would.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            let e = self.find(css).await;
            let typed = match e.clear().await {
                Ok(()) => e.send_keys(text).await,
                Err(err) => Err(err),
            };
            match typed {
                Ok(()) => return,
                Err(err) if std::time::Instant::now() > deadline => panic!("type into {css}: {err}"),
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    pub async fn click(&self, css: &str) {
        // A list the page re-renders (a search answering after the first load) can replace the
        // element between finding and clicking it: find it again then, as a user's next click would.
        let mut tries = 0;
        loop {
            let e = self.find(css).await;
            // Scrolled into view first: a phone-width layout may have it below the fold.
            let at = serde_json::to_value(&e).unwrap_or(Value::Null);
            let _ = self.client.execute("arguments[0].scrollIntoView({block: 'center'});", vec![at]).await;
            match e.click().await {
                Ok(()) => return,
                Err(err) if tries < 5 && err.to_string().contains("stale") => {
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(err) => panic!("click {css}: {err}"),
            }
        }
    }

    /// `confirm()` answers yes from now on (the page asks before delisting, banning, ending).
    pub async fn accept_confirms(&self) {
        self.script("window.confirm = () => true;").await;
    }

    /// Screenshots of the page as it is, at desktop and at phone width:
    /// `<name>-desktop.png` and `<name>-phone.png`. Answers the desktop one's path.
    pub async fn screenshots(&self, name: &str) -> PathBuf {
        let mut desktop = PathBuf::new();
        // From the top: the header and the notice line are part of what a page shows.
        self.script("window.scrollTo(0, 0);").await;
        for (label, (w, h)) in [("phone", PHONE), ("desktop", DESKTOP)] {
            self.client.set_window_size(w, h).await.unwrap_or_else(|e| panic!("resize: {e}"));
            // A moment for the layout to follow the new width.
            tokio::time::sleep(Duration::from_millis(150)).await;
            let png = self.client.screenshot().await.unwrap_or_else(|e| panic!("screenshot: {e}"));
            assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
            let path = self.shots.join(format!("{name}-{label}.png"));
            std::fs::write(&path, png).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
            if label == "desktop" {
                desktop = path;
            }
        }
        desktop
    }

    /// The page's width in CSS pixels wider than the window (a layout that does not fit a phone).
    pub async fn overflow_x(&self) -> i64 {
        self.script("return document.documentElement.scrollWidth - window.innerWidth;").await.as_i64().unwrap_or(0)
    }

    /// Ends the browser session (the driver and browser end when this drops).
    pub async fn close(self) {
        let _ = self.client.clone().close().await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // The whole group: chromedriver and the Chromium it started (a failed test never ends its
        // session, and a killed chromedriver leaves its browser behind).
        // The driver leads its own group (setsid), so its pid is the group's id; the check keeps
        // a nonsense id from ever meaning "every process" (-1) or "our own group" (0).
        match i32::try_from(self.driver.id()) {
            Ok(group) if group > 1 => {
                // SAFETY: kill(2) with a negative pid signals exactly that process group.
                unsafe {
                    libc_kill(-group, SIGKILL);
                }
            }
            _ => {
                let _ = self.driver.kill();
            }
        }
        // Reaped if it is gone by now; never a blocking wait in a destructor.
        for _ in 0..50 {
            if !matches!(self.driver.try_wait(), Ok(None)) {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
