//! The wire inspector: what this client received and what it cost, so the differences
//! between patterns are visible (frame kinds, bytes, commit-to-receipt latency).

use leptos::prelude::*;

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
            </summary>
            <table>
                <thead>
                    <tr><th>"kind"</th><th>"seq"</th><th>"bytes"</th><th>"latency"</th><th>"what"</th></tr>
                </thead>
                <tbody>
                    {move || wire.with(|w| w.recent.iter().map(|e| {
                        let seq = e.seq.map(|s| s.to_string()).unwrap_or_default();
                        let latency = e.latency_ms.map(|l| format!("{l} ms")).unwrap_or_default();
                        view! {
                            <tr class=format!("frame frame-{}", e.kind)>
                                <td>{e.kind}</td><td>{seq}</td><td>{e.bytes}</td><td>{latency}</td><td>{e.summary.clone()}</td>
                            </tr>
                        }
                    }).collect_view())}
                </tbody>
            </table>
        </details>
    }
}
