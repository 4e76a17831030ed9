//! `/boards/{board}/compare?panes=pattern:transport,...`: the same board in several panes,
//! each with its own client, pattern and transport, side by side. Each pane shows its
//! applied seq and whether it agrees with the others: **converged** (same seq and the same
//! state fingerprint as every pane at that seq), **catching up** (behind the newest pane),
//! **between polls** (a short-poll pane behind: it has not asked yet, which is how short
//! polling works, not a fault), or **diverged** (same seq, different state: a bug this page
//! exists to make visible). Under it, what each pane's changes cost since the page opened:
//! bytes and requests per change, and the commit-to-screen latency (p50, p95), from the
//! pane's wire inspector, so the patterns compare on equal terms.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};

use super::board::{live_client, BoardView, Budget};
use super::lab::PresetButtons;
use super::{data, set_bad_request, set_unavailable, NotFound};
use crate::sync::BoardClient;
use board_core::patterns::PatternKind;
use board_core::protocol::Transport;

/// One pane per pattern, over a spread of transports.
const DEFAULT_PANES: [(PatternKind, Transport); 5] = [
    (PatternKind::PokePull, Transport::Poll),
    (PatternKind::PushState, Transport::LongPoll),
    (PatternKind::PushOps, Transport::Sse),
    (PatternKind::PushEvents, Transport::Ws),
    (PatternKind::EventDiff, Transport::Sse),
];

/// At most this many panes: each is a client of its own (a stream in the browser, a copy
/// of the board while the server renders), and the page's card budget is shared by them.
pub const MAX_PANES: usize = 6;

/// The poll interval of compare panes: short, so the poll pane keeps up visibly.
const PANE_POLL_MS: u32 = 1000;

fn parse_panes(spec: Option<String>) -> Result<Vec<(PatternKind, Transport)>, String> {
    let Some(spec) = spec.filter(|s| !s.trim().is_empty()) else { return Ok(DEFAULT_PANES.to_vec()) };
    let panes = spec
        .split(',')
        .map(|pane| {
            let (pattern, transport) =
                pane.split_once(':').ok_or_else(|| format!("a pane is `pattern:transport`, not `{pane}`"))?;
            Ok((pattern.parse::<PatternKind>()?, transport.parse::<Transport>()?))
        })
        .collect::<Result<Vec<_>, String>>()?;
    if panes.is_empty() || panes.len() > MAX_PANES {
        return Err(format!("compare 1 to {MAX_PANES} panes"));
    }
    Ok(panes)
}

#[component]
pub fn ComparePage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let id = move || params.read().get("id").unwrap_or_default();
    let board = Resource::new(id, data::board);
    let replica = data::replica();
    view! {
        <Suspense fallback=|| view! { <p class="muted">"Loading board…"</p> }>
            {move || {
                let replica = replica.clone();
                Suspend::new(async move {
                    let panes = parse_panes(query.read_untracked().get("panes"));
                    match (board.await, panes) {
                        (_, Err(message)) => {
                            set_bad_request();
                            view! { <section class="empty"><h1>"Bad request"</h1><p class="notice">{message}</p></section> }.into_any()
                        }
                        (Ok(Some((state, viewer))), Ok(panes)) => {
                            // One copy of the board for every pane until one of them moves on.
                            let state = std::sync::Arc::new(state);
                            let clients: Vec<BoardClient> = panes
                                .into_iter()
                                .map(|(p, t)| {
                                    live_client(state.clone(), p, t, replica.clone(), Some(PANE_POLL_MS), viewer.can_write, false)
                                })
                                .collect();
                            let title = format!("{} compared · Realtime board", state.board.name);
                            view! { <Title text=title/> <Comparison clients/> }.into_any()
                        }
                        (Ok(None), _) => view! { <NotFound board=true/> }.into_any(),
                        (Err(err), _) => {
                            set_unavailable();
                            view! { <p class="notice">{err}</p> }.into_any()
                        }
                    }
                })
            }}
        </Suspense>
    }
}

#[component]
fn Comparison(clients: Vec<BoardClient>) -> impl IntoView {
    let first = clients[0];
    let all = clients.clone();
    let running = move || all.iter().all(|c| c.running.get());
    let href = move || format!("/boards/{}", first.board_id());
    view! {
        <section class="compare" data-hydrated=move || running().to_string()>
            <header class="board-head">
                <div class="board-title">
                    <h1>{move || first.state.with(|s| s.board.name.clone())} " · compared"</h1>
                    <a href=href>"back to the board"</a>
                </div>
                <p class="muted">
                    "One board, one client per pane. Change it in any pane (or anywhere else) and "
                    "watch each pattern and transport deliver it: frames, bytes and latency below each pane. "
                    "The buttons above a pane break its connection alone; its inspector's timeline shows how it recovers."
                </p>
            </header>
            <div class="panes">
                {clients.iter().map(|client| {
                    let client = *client;
                    let all = clients.clone();
                    let budget = Budget::pane(clients.len());
                    view! {
                        <div class="pane-wrap">
                            <Agreement client all/>
                            <Costs client/>
                            <BoardView client pane=true budget/>
                        </div>
                    }
                }).collect_view()}
            </div>
        </section>
    }
}

/// This pane's verdict against the others, from seqs and state fingerprints.
#[component]
fn Agreement(client: BoardClient, all: Vec<BoardClient>) -> impl IntoView {
    // A memo is `Copy`, so the three places below can each read it.
    let verdict = Memo::new(move |_| {
        let (seq, print) = (client.state.with(|s| s.seq), client.fingerprint.get());
        let newest = all.iter().map(|c| c.state.with(|s| s.seq)).max().unwrap_or(seq);
        if seq < newest && client.transport.get() == Transport::Poll {
            "between-polls"
        } else if seq < newest {
            "catching-up"
        } else if all.iter().filter(|c| c.state.with(|s| s.seq) == seq).all(|c| c.fingerprint.with(|p| *p == print)) {
            "converged"
        } else {
            "diverged"
        }
    });
    let print = move || client.fingerprint.with(|p| p[..8].to_owned());
    view! {
        <div class="agreement-bar">
            <span class=move || format!("agreement agreement-{}", verdict.get()) data-agreement=verdict>
                {move || verdict.get().replace('-', " ")}
            </span>
            <span class="muted">"state " <code class="fingerprint">{print}</code></span>
            <PresetButtons client/>
        </div>
    }
}

/// What this pane's changes cost since the page opened, per change applied: bytes (all of
/// its sync traffic, ephemeral frames aside), requests, and the commit-to-screen latency.
#[component]
fn Costs(client: BoardClient) -> impl IntoView {
    // Counted from here: the seq the pane started at, and what its inspector had then.
    let start = client.state.with_untracked(|s| s.seq);
    let changes = Memo::new(move |_| client.state.with(|s| s.seq).saturating_sub(start));
    let figures = move || {
        let changes = changes.get();
        client.wire.with(|w| {
            if changes == 0 {
                return "no change yet: make one to see what it costs".to_owned();
            }
            let per = |total: u64| total as f64 / changes as f64;
            let latency = match (w.latency_percentile(50), w.latency_percentile(95)) {
                (Some(p50), Some(p95)) => format!(" · latency p50 {p50} ms, p95 {p95} ms"),
                _ => String::new(),
            };
            format!(
                "{changes} change(s): {:.0} bytes and {:.1} requests per change{latency}",
                per(w.bytes),
                per(w.requests)
            )
        })
    };
    view! {
        <p
            class="muted pane-costs"
            data-bytes-per-change=move || {
                let changes = changes.get();
                (changes > 0).then(|| client.wire.with(|w| w.bytes / changes))
            }
        >
            {figures}
        </p>
    }
}
