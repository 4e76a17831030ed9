//! `GET /docs/{file}`: the project's own docs, compiled into the binary and served as plain
//! text, so the page's legend can link a learner to the measured comparison of the
//! patterns and transports on any deployment, with nothing to build or mount. Only the
//! names below exist (no path is ever read from the request), each a fixed string: the
//! cost of an answer is a copy of at most a few tens of kilobytes, and public caches may
//! keep it for an hour.

use axum::extract::Path;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};

use crate::error::AppError;

/// Every doc the server serves, by file name.
const DOCS: [(&str, &str); 13] = [
    ("architecture.md", include_str!("../../../docs/architecture.md")),
    ("history.md", include_str!("../../../docs/history.md")),
    ("leptos.md", include_str!("../../../docs/leptos.md")),
    ("local-first.md", include_str!("../../../docs/local-first.md")),
    ("observability.md", include_str!("../../../docs/observability.md")),
    ("optimistic.md", include_str!("../../../docs/optimistic.md")),
    ("patterns.md", include_str!("../../../docs/patterns.md")),
    ("performance.md", include_str!("../../../docs/performance.md")),
    ("presence.md", include_str!("../../../docs/presence.md")),
    ("protocol.md", include_str!("../../../docs/protocol.md")),
    ("scaling.md", include_str!("../../../docs/scaling.md")),
    ("security.md", include_str!("../../../docs/security.md")),
    ("transports.md", include_str!("../../../docs/transports.md")),
];

/// The doc named `file`, if it is one of [`DOCS`].
pub fn doc(file: &str) -> Option<&'static str> {
    DOCS.iter().find(|(name, _)| *name == file).map(|(_, text)| *text)
}

pub async fn get(Path(file): Path<String>) -> Result<Response, AppError> {
    let text = doc(&file).ok_or_else(|| AppError::NotFound("no such doc".into()))?;
    let headers = [
        // Markdown read as it is: `text/markdown` would make a browser download it.
        (header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8")),
        (header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600")),
    ];
    Ok((headers, text).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_listed_docs_exist() {
        assert!(doc("patterns.md").is_some_and(|t| t.contains("poke-pull")));
        assert!(doc("transports.md").is_some_and(|t| t.contains("long-poll")));
        for name in ["", "../Cargo.toml", "patterns", "PATTERNS.md", "performance/storm.json", "%2e%2e"] {
            assert_eq!(doc(name), None, "{name}");
        }
    }
}
