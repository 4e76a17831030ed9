//! The wire inspector: what this client received and what it cost, so the differences
//! between patterns are visible (frame kinds, bytes, commit-to-receipt latency). The
//! change log's frames and the ephemeral ones (presence, signals, relayed cursors) are
//! counted and listed apart, side by side.

use leptos::prelude::*;

use crate::sync::wire::WireEntry;
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
        </details>
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
