//! The browser bundle as a browser gets it from a built site: pages link the fingerprinted
//! names of the site's manifest; those files are cached for good and sent as the build
//! compressed them, never compressed per request; pages are revalidated at every load; the
//! server keeps the site it started with when the next build is swapped in; and a site
//! without a manifest, or with a broken one, does what the server's `assets` module says.
//! (What a cold load costs with and without all this: `node e2e/bench/page-load.mjs`.)

mod common;

use std::path::{Path, PathBuf};

use common::{Backend, TestServer};

const BUNDLE: &str = "frontend-0123456789abcdef";
const STYLESHEET: &str = "main-fedcba9876543210.css";

/// A site as `scripts/build-site` leaves it, in miniature: each file, and a `.br` and a
/// `.gz` beside it whose bytes say which copy they are, so that a test can tell which file
/// was sent (a compression on the fly would send other bytes).
fn built_site(dir: &Path, bundle: &str, stylesheet: &str) -> PathBuf {
    std::fs::create_dir_all(dir.join("pkg")).unwrap();
    for file in [format!("pkg/{bundle}.js"), format!("pkg/{bundle}_bg.wasm"), stylesheet.to_owned()] {
        let path = dir.join(&file);
        std::fs::write(&path, format!("the content of {file}, ").repeat(20)).unwrap();
        std::fs::write(dir.join(format!("{file}.br")), format!("{file}, as brotli")).unwrap();
        std::fs::write(dir.join(format!("{file}.gz")), format!("{file}, as gzip")).unwrap();
    }
    let manifest = serde_json::json!({"output_name": bundle, "stylesheet": stylesheet});
    std::fs::write(dir.join("assets.json"), manifest.to_string()).unwrap();
    dir.to_path_buf()
}

async fn get(srv: &TestServer, path: &str, accept_encoding: Option<&str>) -> reqwest::Response {
    let mut request = srv.http.get(srv.url(path));
    if let Some(encodings) = accept_encoding {
        request = request.header("accept-encoding", encodings);
    }
    request.send().await.unwrap()
}

fn header<'a>(r: &'a reqwest::Response, name: &str) -> &'a str {
    r.headers().get(name).map(|v| v.to_str().unwrap()).unwrap_or("")
}

/// The board page links the manifest's script, wasm and stylesheet; each is sent with
/// `Cache-Control: public, max-age=31536000, immutable`, as the `.br` file to a browser
/// that accepts brotli (Chromium sends `gzip, deflate, br, zstd`) and as the `.gz` file to
/// one that accepts only gzip, each with `Vary: Accept-Encoding`; the page is `no-cache`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_link_fingerprinted_files_that_are_cached_for_good_and_sent_precompressed() {
    let dir = tempfile::tempdir().unwrap();
    let site = built_site(&dir.path().join("site"), BUNDLE, STYLESHEET);
    let srv = TestServer::start_with(Backend::Sqlite, |c| c.site_root = site.clone()).await;

    let page = get(&srv, "/boards/demo", Some("gzip, deflate, br, zstd")).await;
    assert_eq!(page.status(), 200);
    assert_eq!(header(&page, "cache-control"), "no-cache", "a page is revalidated at every load");
    // The page itself is compressed per request (it is rendered per request).
    assert_eq!(header(&page, "content-encoding"), "gzip");
    let page = get(&srv, "/boards/demo", None).await.text().await.unwrap();
    let script = format!("/pkg/{BUNDLE}.js");
    let wasm = format!("/pkg/{BUNDLE}_bg.wasm");
    let stylesheet = format!("/{STYLESHEET}");
    // The hydration script names the bundle once and loads `{name}.js` and
    // `{name}_bg.wasm`; the preload links name both files in full.
    assert!(page.contains(&format!("href=\"{script}\"")), "the page preloads the script");
    assert!(page.contains(&format!("href=\"{wasm}\"")), "the page preloads the wasm");
    assert!(page.contains(&format!("\"{BUNDLE}\"")), "the hydration script loads the bundle");
    assert!(page.contains(&format!("href=\"{stylesheet}\"")), "the page links the stylesheet");
    assert!(!page.contains("/pkg/frontend.js") && !page.contains("/main.css"), "no unfingerprinted name");

    for (path, content_type) in [(&script, "text/javascript"), (&wasm, "application/wasm"), (&stylesheet, "text/css")] {
        let file = &path[1..];
        for (accepted, encoding, copy) in [
            ("gzip, deflate, br, zstd", "br", format!("{file}, as brotli")),
            ("gzip", "gzip", format!("{file}, as gzip")),
        ] {
            let r = get(&srv, path, Some(accepted)).await;
            assert_eq!(r.status(), 200, "GET {path}");
            assert_eq!(header(&r, "cache-control"), "public, max-age=31536000, immutable", "{path}");
            assert_eq!(header(&r, "content-encoding"), encoding, "{path} for {accepted}");
            assert_eq!(header(&r, "content-type"), content_type, "{path}");
            assert!(header(&r, "vary").to_ascii_lowercase().contains("accept-encoding"), "{path}: Vary");
            assert_eq!(r.text().await.unwrap(), copy, "{path} for {accepted}: the file written at build time");
        }
        // A client that accepts no encoding gets the file itself.
        let r = get(&srv, path, None).await;
        assert_eq!(header(&r, "content-encoding"), "", "{path} as it is");
        assert_eq!(header(&r, "cache-control"), "public, max-age=31536000, immutable");
        assert!(r.text().await.unwrap().starts_with(&format!("the content of {file}")));
    }

    // A file that the manifest does not name is revalidated at each use, not kept blindly.
    let r = get(&srv, "/assets.json", None).await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "cache-control"), "no-cache");
    let modified = header(&r, "last-modified").to_owned();
    let r = srv.http.get(srv.url("/assets.json")).header("if-modified-since", modified).send().await.unwrap();
    assert_eq!(r.status(), 304, "a revalidation of an unchanged file");

    // Anything else is the app's 404 page, revalidated like every page.
    let r = get(&srv, "/pkg/frontend.js", None).await;
    assert_eq!(r.status(), 404);
    assert_eq!(header(&r, "cache-control"), "no-cache");
    assert!(r.text().await.unwrap().contains(&format!("href=\"{stylesheet}\"")), "the 404 page is styled too");
    srv.stop().await;
}

/// `target/site` is a link that the next build turns to another folder: a server resolves
/// it once, at startup, and keeps serving the files its pages link until it restarts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_server_keeps_the_site_it_started_with() {
    let dir = tempfile::tempdir().unwrap();
    built_site(&dir.path().join("site-1"), BUNDLE, STYLESHEET);
    let link = dir.path().join("site");
    std::os::unix::fs::symlink("site-1", &link).unwrap();
    let srv = TestServer::start_with(Backend::Sqlite, |c| c.site_root = link.clone()).await;

    // The next build: other names in another folder, swapped in as build-site does.
    let next = "frontend-aaaaaaaaaaaaaaaa";
    built_site(&dir.path().join("site-2"), next, "main-bbbbbbbbbbbbbbbb.css");
    std::os::unix::fs::symlink("site-2", dir.path().join("site.new")).unwrap();
    std::fs::rename(dir.path().join("site.new"), &link).unwrap();

    let page = get(&srv, "/boards/demo", None).await.text().await.unwrap();
    assert!(page.contains(&format!("/pkg/{BUNDLE}_bg.wasm")) && !page.contains(next), "the pages link the first build");
    let r = get(&srv, &format!("/pkg/{BUNDLE}_bg.wasm"), Some("br")).await;
    assert_eq!(r.status(), 200, "and its files are still served");
    assert_eq!(get(&srv, &format!("/pkg/{next}_bg.wasm"), None).await.status(), 404);
    srv.stop().await;

    // A server started now serves the new one.
    let srv = TestServer::start_with(Backend::Sqlite, |c| c.site_root = link.clone()).await;
    let page = get(&srv, "/boards/demo", None).await.text().await.unwrap();
    assert!(page.contains(&format!("/pkg/{next}_bg.wasm")), "a restarted server links the new build");
    srv.stop().await;
}

/// No manifest (no site was built, or cargo-leptos built it): the server starts and the
/// pages link the unfingerprinted names cargo-leptos writes, served `no-cache` if present.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_manifest_pages_link_the_unfingerprinted_names() {
    let dir = tempfile::tempdir().unwrap();
    let site = dir.path().join("site");
    std::fs::create_dir_all(site.join("pkg")).unwrap();
    std::fs::write(site.join("main.css"), "body {}").unwrap();
    let srv = TestServer::start_with(Backend::Sqlite, |c| c.site_root = site.clone()).await;
    let page = get(&srv, "/boards/demo", None).await.text().await.unwrap();
    assert!(page.contains("href=\"/pkg/frontend.js\"") && page.contains("href=\"/main.css\""));
    let r = get(&srv, "/main.css", None).await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "cache-control"), "no-cache", "an unfingerprinted file is revalidated");
    srv.stop().await;
}

/// A manifest that names a file the site lacks (a half-copied site) or that cannot be read
/// stops the server at startup, saying which and what to do: never a page whose script is
/// missing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_manifest_stops_the_server_at_startup() {
    let dir = tempfile::tempdir().unwrap();
    let site = built_site(&dir.path().join("site"), BUNDLE, STYLESHEET);
    std::fs::remove_file(site.join(format!("pkg/{BUNDLE}_bg.wasm"))).unwrap();
    let error = start_error(&dir, &site).await;
    assert!(error.contains(&format!("/pkg/{BUNDLE}_bg.wasm")) && error.contains("scripts/build-site"), "{error}");

    std::fs::write(site.join("assets.json"), "{\"output_name\": 3}").unwrap();
    let error = start_error(&dir, &site).await;
    assert!(error.contains("assets.json") && error.contains("scripts/build-site"), "{error}");
}

async fn start_error(dir: &tempfile::TempDir, site: &Path) -> String {
    let mut config = server::config::Config::for_database(format!("sqlite://{}/board.db", dir.path().display()));
    config.site_root = site.to_path_buf();
    let (_close, closing) = tokio::sync::watch::channel(false);
    match server::build_state(&config, "127.0.0.1:0".parse().unwrap(), closing).await {
        Ok(_) => panic!("the server started with a broken site"),
        Err(err) => err.to_string(),
    }
}
