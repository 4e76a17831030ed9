//! The wire inspector: what this client received and what it cost, so the differences
//! between patterns are visible (frame kinds, bytes, commit-to-receipt latency). The
//! change log's frames and the ephemeral ones (presence, signals, relayed cursors) are
//! counted and listed apart, side by side. Below them, the timeline: each fault injected
//! (the fault lab) and each step the client took to recover, with its time.

use leptos::prelude::*;

use crate::sync::wire::{clock, Note, WireEntry};
use crate::sync::BoardClient;

#[component]
pub fn WireInspector(client: BoardClient, open: bool) -> impl IntoView {
    let wire = client.wire;
    view! {
        <details class="inspector" open=open>
            <summary>
                "Wire · "
                <span class="totals">
                    {move || wire.with(|w| format!("{} frames, {} bytes, {} requests", w.frames, w.bytes, w.requests))}
                </span>
                <span class="totals ephemeral-totals">
                    {move || wire.with(|w| format!(" · ephemeral: {} frames, {} bytes", w.ephemeral_frames, w.ephemeral_bytes))}
                </span>
            </summary>
            <div class="wire-tables">
                <table data-wire="log">
                    <caption>"The change log (and the stream's control frames)"</caption>
                    <thead>
                        <tr><th>"kind"</th><th>"seq"</th><th>"bytes"</th><th>"latency"</th><th>"what"</th></tr>
                    </thead>
                    <tbody>
                        {move || wire.with(|w| w.recent.iter().map(row).collect_view())}
                    </tbody>
                </table>
                <table data-wire="ephemeral">
                    <caption>"Ephemeral: presence, signals, relayed cursors (no seq, never stored)"</caption>
                    <thead>
                        <tr><th>"kind"</th><th>"seq"</th><th>"bytes"</th><th>"latency"</th><th>"what"</th></tr>
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
    view! {
        <tr class=format!("frame frame-{}", e.kind)>
            <td>{e.kind}</td><td>{seq}</td><td>{e.bytes}</td><td>{latency}</td><td>{e.summary.clone()}</td>
        </tr>
    }
}
