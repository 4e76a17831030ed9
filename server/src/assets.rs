//! The browser bundle as `scripts/build-site` leaves it, and how its files are served.
//!
//! The build names each file by its content (`pkg/frontend-<hash>.js`,
//! `pkg/frontend-<hash>_bg.wasm`, `main-<hash>.css`), writes a `.br` and a `.gz` beside
//! each, and lists the names in the site's manifest, `assets.json`. The server reads the
//! manifest once, at startup ([`Assets::open`]), and the pages link those names: the
//! hydration script through `LeptosOptions::output_name`, the stylesheet through the
//! [`app::ssr::Stylesheet`] context. Three things follow:
//!
//! * **A file is cached for a year and never asked for again** (`Cache-Control: public,
//!   max-age=31536000, immutable`): a new build that changes a file gives it a new name,
//!   which the next page links. Pages themselves are `no-cache` (the router's), so a
//!   browser always learns the current names.
//! * **A page loads the script and the wasm of one build.** With fixed names, a browser
//!   could pair a cached `frontend.js` with the next deploy's wasm and fail to hydrate.
//! * **Nothing is compressed per request.** [`file`] sends the `.br` or `.gz` the browser
//!   accepts as it is (`ServeDir`'s precompressed files); the router's `CompressionLayer`
//!   leaves any response with a `Content-Encoding` alone. Gzipping the 1.7 MiB wasm on the
//!   fly cost about 115 ms of CPU per cold load (`node e2e/bench/page-load.mjs`).
//!
//! The site root is resolved once, too: `target/site` is a link that each build moves to a
//! fresh folder (`site-<stamp>`), and a server keeps serving the folder it started with,
//! whose names its pages link, until it restarts (the build keeps the last few folders).
//!
//! **Without a manifest** (no site was built, or cargo-leptos built it) the server starts
//! anyway, warns once, and links the unfingerprinted names cargo-leptos writes
//! (`/pkg/frontend.js`, `/main.css`), served `no-cache`; with no site at all the pages
//! render but never hydrate. A manifest that cannot be read, or that names a file the
//! folder lacks (a half-copied site), stops the server at startup with the reason.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tower::ServiceExt;
use tower_http::services::ServeDir;

use crate::BoxError;

/// The manifest `scripts/build-site` writes at the site's root.
pub const MANIFEST: &str = "assets.json";
/// Where the script and the wasm live under the site root (`LeptosOptions::site_pkg_dir`).
pub const PKG_DIR: &str = "pkg";
/// What a fingerprinted file is served with: its name changes whenever its content does.
pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// What every other file is served with: kept, but revalidated (`If-Modified-Since`) at
/// each use, since its name says nothing about its content.
pub const REVALIDATE: &str = "no-cache";

/// The names `scripts/build-site` gave this build's files, as `assets.json` says them.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Manifest {
    /// `frontend-<hash>`: the script is `pkg/{output_name}.js`, the wasm
    /// `pkg/{output_name}_bg.wasm` (wasm-bindgen's names); one hash covers both, since
    /// the script only works with its own wasm.
    output_name: String,
    /// `main-<hash>.css`, at the site's root.
    stylesheet: String,
}

/// The site this server serves, resolved and read once at startup.
#[derive(Clone, Debug)]
pub struct Assets {
    /// The folder, with links resolved: a later build's move of `target/site` does not
    /// move it.
    pub root: PathBuf,
    /// What `LeptosOptions::output_name` is: the hydration script loads
    /// `/pkg/{output_name}.js` and `/pkg/{output_name}_bg.wasm`.
    pub output_name: String,
    /// The stylesheet's address, which every page links (`/main-<hash>.css`).
    pub stylesheet: String,
    /// The paths served as [`IMMUTABLE`]: the files the manifest names.
    immutable: HashSet<String>,
    files: ServeDir,
}

impl Assets {
    /// Resolves `site_root` and reads its manifest; see the module's doc for a site
    /// without one.
    pub fn open(site_root: &Path) -> Result<Assets, BoxError> {
        let root = std::fs::canonicalize(site_root).unwrap_or_else(|_| site_root.to_path_buf());
        let files =
            ServeDir::new(&root).precompressed_br().precompressed_gzip().append_index_html_on_directories(false);
        let Some(manifest) = read_manifest(&root)? else {
            let serves =
                if root.is_dir() { "what cargo-leptos wrote there" } else { "nothing: pages will not hydrate" };
            tracing::warn!(
                site = %root.display(),
                "the site has no {MANIFEST}: pages link /pkg/frontend.js and /main.css ({serves}); \
                 scripts/build-site builds the fingerprinted, precompressed site"
            );
            let (output_name, stylesheet) = ("frontend".into(), "/main.css".into());
            return Ok(Assets { root, output_name, stylesheet, immutable: HashSet::new(), files });
        };
        let immutable: HashSet<String> = [
            format!("/{PKG_DIR}/{}.js", manifest.output_name),
            format!("/{PKG_DIR}/{}_bg.wasm", manifest.output_name),
            format!("/{}", manifest.stylesheet),
        ]
        .into();
        // A half-copied site would give pages whose script is missing: refuse to start.
        if let Some(missing) = immutable.iter().find(|path| !root.join(&path[1..]).is_file()) {
            let manifest = root.join(MANIFEST);
            return Err(format!(
                "{} names {missing}, which is not in the site: rebuild it with scripts/build-site",
                manifest.display()
            )
            .into());
        }
        tracing::info!(site = %root.display(), bundle = %manifest.output_name, stylesheet = %manifest.stylesheet, "serving the site");
        let stylesheet = format!("/{}", manifest.stylesheet);
        Ok(Assets { root, output_name: manifest.output_name, stylesheet, immutable, files })
    }

    /// Whether `path` is one of the files the manifest names.
    pub fn is_immutable(&self, path: &str) -> bool {
        self.immutable.contains(path)
    }
}

/// The site's manifest; `None` if it has none.
fn read_manifest(root: &Path) -> Result<Option<Manifest>, BoxError> {
    let path = root.join(MANIFEST);
    let unreadable = |why: String| format!("{}: {why}; rebuild the site with scripts/build-site", path.display());
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(unreadable(err.to_string()).into()),
    };
    let manifest: Manifest = serde_json::from_slice(&bytes).map_err(|err| unreadable(err.to_string()))?;
    // Plain file names: nothing the manifest says reaches outside the site.
    let plain = |name: &str| {
        !name.is_empty()
            && !name.starts_with('.')
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    };
    if !plain(&manifest.output_name) || !plain(&manifest.stylesheet) {
        return Err(unreadable(format!("not plain file names: {manifest:?}")).into());
    }
    Ok(Some(manifest))
}

/// A file of the site for a `GET` or `HEAD`, as it was written: the precompressed copy the
/// browser accepts (brotli first, then gzip) or the file itself, with its `Cache-Control`
/// and `Vary: Accept-Encoding` (a shared cache must keep each encoding apart). `Err` gives
/// the request back when the site has no such file, for the app's 404 page.
pub async fn file(assets: &Assets, request: Request) -> Result<Response, Request> {
    if !matches!(*request.method(), Method::GET | Method::HEAD) {
        return Err(request);
    }
    // `ServeDir` reads only the method, the path and the headers: it gets a copy of those,
    // so that the request itself can still go to the 404 page.
    let mut probe = Request::new(Body::empty());
    *probe.method_mut() = request.method().clone();
    *probe.uri_mut() = request.uri().clone();
    *probe.headers_mut() = request.headers().clone();
    let Ok(response) = assets.files.clone().oneshot(probe).await;
    if response.status() == StatusCode::NOT_FOUND {
        return Err(request);
    }
    let mut response = response.into_response();
    if response.status().is_success() || response.status() == StatusCode::NOT_MODIFIED {
        let cache = if assets.is_immutable(request.uri().path()) { IMMUTABLE } else { REVALIDATE };
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
        headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    }
    Ok(response)
}
