//! What the page's two choices mean: a short legend beside the pickers, one line per
//! pattern and per transport (what it sends, when to pick it), each linking to the doc that
//! measures and explains it (`docs/patterns.md`, `docs/transports.md`, which the server
//! serves under `/docs/`). The names are the pickers' own, so the legend and the pickers
//! cannot drift apart.

use leptos::prelude::*;

use board_core::patterns::PatternKind;
use board_core::protocol::Transport;

/// What a pattern sends on each change, and when to pick it.
fn pattern_words(pattern: PatternKind) -> (&'static str, &'static str) {
    match pattern {
        PatternKind::PokePull => (
            "a dataless poke; the client then pulls the board (pulls are coalesced and cacheable)",
            "the simplest server, when a full fetch per change is affordable",
        ),
        PatternKind::PushState => {
            ("the whole board, every time", "small state: nothing to apply, every frame heals whatever was missed")
        }
        PatternKind::PushOps => (
            "the operations (set or remove an entity or a field) that turn the old board into the new",
            "big state and small changes, with a generic client that knows no business rules",
        ),
        PatternKind::PushEvents => (
            "only the business event (\u{201c}renamed todo 3\u{201d}); the client runs the server's own reducer",
            "the smallest frames, when client and server share the domain code",
        ),
        PatternKind::EventDiff => (
            "the business event and the field-level changes it caused",
            "readable intent for people and logs, with a generic apply",
        ),
    }
}

/// What a transport is, and when to pick it.
fn transport_words(transport: Transport) -> (&'static str, &'static str) {
    match transport {
        Transport::Poll => (
            "asks every interval; 304 when nothing changed",
            "anywhere HTTP works; latency is the interval, cost grows with clients \u{d7} rate",
        ),
        Transport::LongPoll => {
            ("the server holds each request until a change (or a timeout)", "near-live over plain requests and proxies")
        }
        Transport::Sse => (
            "one streaming response, resumed with Last-Event-ID",
            "server-to-browser updates with the fewest moving parts",
        ),
        Transport::Ws => (
            "one socket both ways: commands go up it too",
            "the lowest latency both ways, when the network allows sockets",
        ),
    }
}

/// One list of names, each linking `doc`, with what it is and when to pick it.
fn terms<const N: usize>(doc: &'static str, rows: [(&'static str, (&'static str, &'static str)); N]) -> impl IntoView {
    view! {
        <dl>
            {rows.into_iter().map(|(name, (is, pick))| view! {
                <dt><a href=doc>{name}</a></dt>
                <dd>{is} <span class="muted">" · pick it for " {pick}</span></dd>
            }).collect_view()}
        </dl>
    }
}

#[component]
pub fn Legend() -> impl IntoView {
    view! {
        <details class="legend" data-legend="">
            <summary>"What do these choices mean?"</summary>
            <h3>"Patterns: what a change sends"</h3>
            {terms("/docs/patterns.md", PatternKind::ALL.map(|p| (p.as_str(), pattern_words(p))))}
            <h3>"Transports: how it travels"</h3>
            {terms("/docs/transports.md", Transport::ALL.map(|t| (t.as_str(), transport_words(t))))}
            <p class="muted">
                "Every combination delivers every change exactly once, in order; they differ in bytes, requests and latency: "
                "the wire inspector below counts them, and the compare page shows them side by side."
            </p>
        </details>
    }
}
