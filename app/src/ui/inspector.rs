//! The wire inspector: what this client's sync traffic was and what it cost, so the
//! differences between patterns are visible (frame kinds, bytes, commit-to-receipt
//! latency). Everything that crossed the network counts once: stream messages both ways and
//! every HTTP request of the engine with its answer (polls, pulls, backfills, snapshots,
//! commands); frames that came inside an answer are listed with their size but counted in
//! the answer (`sync::wire` says exactly what is counted). The change log's side and the
//! ephemeral one (presence, signals, relayed cursors) are counted and listed apart. Below
//! them, the timeline: each fault injected (the fault lab) and each step the client took to
//! recover, with its time. The words it uses are explained in place.

use leptos::prelude::*;

use super::waterfall::Traces;
use crate::sync::wire::{clock, Note, WireEntry};
use crate::sync::BoardClient;

/// The inspector's words, as a person new to them needs them.
const TERMS: [(&str, &str); 9] = [
    ("seq", "the change's number in the board's log: every client applies changes in seq order, once each"),
    ("hello", "the first frame of a stream: which replica serves it and the log's head"),
    ("head", "the newest seq the server has"),
    ("heartbeat", "sent when nothing changes, with the head: a client behind it knows it missed something"),
    ("poke", "poke-pull's only frame: \"something changed\"; the client then pulls the board"),
    (
        "pull, snapshot, backfill",
        "requests the client makes: the board at a seq, the board now, the frames after a seq",
    ),
    ("poll, long-poll", "the requests of those transports; a 304 answer means nothing new"),
    ("in an answer", "a frame that came inside an HTTP answer: its bytes are counted once, in the answer's row"),
    ("ephemeral", "presence, signals and cursors: not in the log, no seq, never stored or replayed"),
];

#[component]
pub fn WireInspector(client: BoardClient, open: bool) -> impl IntoView {
    let wire = client.wire;
    view! {
        <details class="inspector" open=open data-wire-bytes=move || wire.with(|w| w.total_bytes())>
            <summary>
                "Wire · "
                <span class="totals">
                    {move || wire.with(|w| format!("{} bytes in all · the log: {} frames, {} bytes, {} requests", w.total_bytes(), w.frames, w.bytes, w.requests))}
                </span>
                <span class="totals ephemeral-totals">
                    {move || wire.with(|w| format!(" · ephemeral: {} frames, {} bytes", w.ephemeral_frames, w.ephemeral_bytes))}
                </span>
            </summary>
            <p class="muted">
                "Bytes are bodies as sent and received: stream messages both ways, and every request "
                "this tab's engine made with its answer. Headers, the stream's framing and compression are not counted."
            </p>
            <div class="wire-tables">
                <table data-wire="log">
                    <caption>"The change log (and the stream's control frames, and the requests they cause)"</caption>
                    <thead>
                        <tr><th>"time"</th><th>"kind"</th><th>"seq"</th><th>"bytes"</th><th>"latency"</th><th>"what"</th></tr>
                    </thead>
                    <tbody>
                        {move || wire.with(|w| w.recent.iter().map(row).collect_view())}
                    </tbody>
                </table>
                <table data-wire="ephemeral">
                    <caption>"Ephemeral: presence, signals, relayed cursors (no seq, never stored)"</caption>
                    <thead>
                        <tr><th>"time"</th><th>"kind"</th><th>"seq"</th><th>"bytes"</th><th>"latency"</th><th>"what"</th></tr>
                    </thead>
                    <tbody>
                        {move || wire.with(|w| w.ephemeral.iter().map(row).collect_view())}
                    </tbody>
                </table>
            </div>
            <table data-wire="timeline" class="timeline">
                <caption>"Faults and recovery (newest first; time is UTC)"</caption>
                <thead>
                    <tr><th>"time"</th><th>"step"</th><th>"what"</th></tr>
                </thead>
                <tbody>
                    {move || wire.with(|w| w.notes.iter().map(note_row).collect_view())}
                </tbody>
            </table>
            <Traces client/>
            <details class="terms" data-wire-terms="">
                <summary>"What the words mean"</summary>
                <dl>
                    {TERMS.iter().map(|(term, meaning)| view! { <dt>{*term}</dt><dd>{*meaning}</dd> }).collect_view()}
                </dl>
            </details>
        </details>
    }
}

fn note_row(note: &Note) -> impl IntoView {
    let kind = if note.step.is_fault() { "fault" } else { "recovery" };
    view! {
        <tr class=format!("note note-{kind}") data-note=kind data-step=note.step.as_str()>
            <td>{clock(note.at)}</td><td>{note.step.as_str()}</td><td>{note.text.clone()}</td>
        </tr>
    }
}

fn row(e: &WireEntry) -> impl IntoView {
    let seq = e.seq.map(|s| s.to_string()).unwrap_or_default();
    let latency = e.latency_ms.map(|l| format!("{l} ms")).unwrap_or_default();
    // A frame inside an answer shows its size in brackets: the answer's row counted it.
    let bytes = if e.carried { format!("({})", e.bytes) } else { e.bytes.to_string() };
    let what = if e.carried { format!("{} · in an answer", e.summary) } else { e.summary.clone() };
    let class = if e.request { format!("frame request request-{}", e.kind) } else { format!("frame frame-{}", e.kind) };
    view! {
        <tr class=class data-carried=e.carried.then_some("true")>
            <td>{clock(e.at)}</td><td>{e.kind}</td><td>{seq}</td><td>{bytes}</td><td>{latency}</td><td>{what}</td>
        </tr>
    }
}
