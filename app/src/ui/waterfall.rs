//! Traces in the inspector: a switch that traces this tab's changes, the traced changes it
//! applied, and for the one chosen its waterfall: every hop from the command to this
//! tab's screen, with when each began and how long it took. The server's hops come from
//! the spans its replicas recorded (`GET /api/boards/{board}/traces/{trace}`); the last
//! two, received and applied here, from this tab's own clock (`sync::trace`).
//!
//! Bars are SVG rectangles (attributes, not inline styles: the page's CSP allows no
//! `style` attribute).

use leptos::prelude::*;

use board_core::api::Hop;

use crate::sync::trace::Seen;
use crate::sync::BoardClient;

/// What the waterfall shows of one hop.
#[derive(Clone, Debug, PartialEq)]
struct Row {
    /// `data-hop`: command, commit, publish, receive, process, apply, received, applied.
    hop: &'static str,
    label: String,
    replica: String,
    start: f64,
    end: f64,
}

#[component]
pub fn Traces(client: BoardClient) -> impl IntoView {
    let chosen = RwSignal::new(None::<String>);
    let traced = client.traced;
    view! {
        <section class="traces" data-traces="">
            <h3>"Traces"</h3>
            <label class="trace-tab">
                <input
                    type="checkbox"
                    data-trace-tab=""
                    prop:checked=move || traced.get()
                    on:change=move |ev| traced.set(event_target_checked(&ev))
                />
                " trace this tab's changes"
            </label>
            <p class="muted">
                "A traced change's frames carry its trace id: the server's spans of it, on every replica, "
                "and when this tab received and applied it. Changes made elsewhere are traced when their "
                "sender or the server's sampling chose to."
            </p>
            <ul class="trace-list">
                {move || {
                    client
                        .traces
                        .with(|traces| traces.iter().map(|seen| trace_item(seen, chosen)).collect_view())
                }}
            </ul>
            {move || chosen.get().map(|trace| view! { <Waterfall client trace/> })}
        </section>
    }
}

fn trace_item(seen: &Seen, chosen: RwSignal<Option<String>>) -> impl IntoView {
    let trace = seen.trace.clone();
    let whose = if seen.mine { "this browser's" } else { "someone else's" };
    let text = format!("seq {} · {whose} · {}…", seen.seq, &seen.trace[..8]);
    let is_chosen = {
        let trace = trace.clone();
        move || chosen.with(|c| c.as_deref() == Some(trace.as_str()))
    };
    view! {
        <li data-trace=seen.trace.clone() class:chosen=is_chosen>
            <button type="button" on:click=move |_| chosen.set(Some(trace.clone()))>{text}</button>
        </li>
    }
}

/// One trace's hops, fetched when shown, a few times more by itself, and on Refresh (other
/// replicas' hops and other tabs' applies arrive a moment later).
#[component]
fn Waterfall(client: BoardClient, trace: String) -> impl IntoView {
    let hops = RwSignal::new(None::<Result<Vec<Hop>, String>>);
    let fetch = {
        let (board, trace) = (client.board_id(), trace.clone());
        move || fetch_hops(board.clone(), trace.clone(), hops)
    };
    fetch();
    let seen = client.traces.with_untracked(|t| t.get(&trace).cloned());
    let shown_trace = trace.clone();
    view! {
        <div class="waterfall" data-waterfall=shown_trace>
            <p>
                "trace " <code>{trace.clone()}</code> " "
                <button type="button" data-waterfall-refresh="" on:click=move |_| fetch()>"Refresh"</button>
            </p>
            {move || match hops.get() {
                None => view! { <p class="muted">"asking the server…"</p> }.into_any(),
                Some(Err(why)) => view! { <p class="muted" data-waterfall-error="">{why}</p> }.into_any(),
                Some(Ok(hops)) => table(rows(&hops, seen.as_ref())).into_any(),
            }}
        </div>
    }
}

fn table(rows: Vec<Row>) -> impl IntoView {
    let base = rows.iter().map(|r| r.start).fold(f64::INFINITY, f64::min);
    let last = rows.iter().map(|r| r.end).fold(f64::NEG_INFINITY, f64::max);
    let span = (last - base).max(1.0);
    view! {
        <table class="waterfall-hops">
            <thead>
                <tr><th>"hop"</th><th>"replica"</th><th>"at"</th><th>"took"</th><th class="bar-cell">"when"</th></tr>
            </thead>
            <tbody>
                {rows
                    .into_iter()
                    .map(|row| {
                        let x = (row.start - base) / span * 1000.0;
                        let width = ((row.end - row.start) / span * 1000.0).max(2.0);
                        view! {
                            <tr data-hop=row.hop>
                                <td>{row.label}</td>
                                <td>{row.replica}</td>
                                <td>{format!("+{:.1} ms", row.start - base)}</td>
                                <td>{format!("{:.1} ms", row.end - row.start)}</td>
                                <td class="bar-cell">
                                    <svg class="bar" viewBox="0 0 1000 10" preserveAspectRatio="none" aria-hidden="true">
                                        <rect x=format!("{x:.1}") width=format!("{width:.1}") y="0" height="10"></rect>
                                    </svg>
                                </td>
                            </tr>
                        }
                    })
                    .collect_view()}
            </tbody>
        </table>
        <p class="muted">
            "Each machine times its own hops: on one machine the bars line up exactly; across machines, "
            "by as much as their clocks differ."
        </p>
    }
}

/// The server's hops, then this tab's own two, earliest first.
fn rows(hops: &[Hop], seen: Option<&Seen>) -> Vec<Row> {
    let mut rows: Vec<Row> = hops
        .iter()
        .map(|hop| {
            let (name, label) = match hop.name.as_str() {
                "command" => ("command", "command received"),
                "commit" => ("commit", "committed"),
                "publish board" => ("publish", "published"),
                "receive board" => ("receive", "received by the replica"),
                "process board" => ("process", "sent to its subscribers"),
                "apply" => ("apply", "applied by a tab (reported)"),
                _ => ("other", "other"),
            };
            let mut label = label.to_owned();
            if let Some(n) = hop.subscribers {
                label.push_str(&format!(" ({n})"));
            }
            if let Some(error) = &hop.error {
                label.push_str(&format!(" · refused {error}"));
            }
            if let Some(via) = &hop.via {
                label.push_str(&format!(" · {via}"));
            }
            Row { hop: name, label, replica: hop.replica.clone(), start: hop.start, end: hop.end }
        })
        .collect();
    if let Some(seen) = seen {
        let here = |hop, label: &str, start, end| Row {
            hop,
            label: label.to_owned(),
            replica: format!("this tab · {}", seen.via),
            start,
            end,
        };
        rows.push(here("received", "received by this tab", seen.received, seen.received));
        rows.push(here("applied", "applied on this page", seen.received, seen.applied));
    }
    rows.sort_by(|a, b| a.start.total_cmp(&b.start));
    rows
}

/// When the waterfall asks again by itself after it is shown (ms): the fan-out batches end
/// as their last subscriber takes the change, other replicas' hops come over the bus, and a
/// batch a subscriber never took ends 5 to 6 s after it began (`telemetry::change`).
#[cfg(feature = "hydrate")]
const ASK_AGAIN_MS: [u32; 5] = [0, 400, 1500, 3500, 6500];

#[cfg(feature = "hydrate")]
fn fetch_hops(board: String, trace: String, hops: RwSignal<Option<Result<Vec<Hop>, String>>>) {
    leptos::task::spawn_local(async move {
        let mut waited = 0;
        for at in ASK_AGAIN_MS {
            gloo_timers::future::TimeoutFuture::new(at - waited).await;
            waited = at;
            let answer = crate::sync::http::trace_hops(&board, &trace).await;
            // Once it is gone from the server (or refused), asking again will not help.
            let done = answer.is_err();
            hops.set(Some(answer.map(|found| found.hops).map_err(|err| err.message())));
            if done {
                return;
            }
        }
    });
}

#[cfg(not(feature = "hydrate"))]
fn fetch_hops(_board: String, _trace: String, _hops: RwSignal<Option<Result<Vec<Hop>, String>>>) {}
