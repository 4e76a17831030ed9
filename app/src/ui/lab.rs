//! The fault lab's controls. On the board page, a panel that breaks this tab's connection
//! on purpose (latency, lost frames, a cut, a pause: `sync::lab`) and, when the replica runs
//! with `FAULTS=1`, that replica itself (`POST /api/lab`): the board's change notices lost
//! or late, for whoever holds the board's write key, and a paused database, for whoever
//! has the replica's lab token. On the compare page, one button per preset and pane. What each fault
//! does, and how the engine recovers, shows in the wire inspector's timeline.

use leptos::prelude::*;

use crate::sync::lab::{Fault, Preset};
use crate::sync::BoardClient;
use board_core::api::{ServerFaults, ServerLab};

/// A number input bound to `value` (whole numbers, clamped to `max`).
#[component]
fn Number(value: RwSignal<u32>, max: u32, #[prop(into)] label: String, name: &'static str) -> impl IntoView {
    view! {
        <input
            type="number"
            min="0"
            max=max.to_string()
            aria-label=label
            data-lab-input=name
            prop:value=move || value.get().to_string()
            on:input:target=move |ev| {
                if let Ok(n) = ev.target().value().trim().parse::<u32>() {
                    value.set(n.min(max));
                }
            }
        />
    }
}

/// One control: a number, and a button that applies it (`data-lab-input` and
/// `data-lab-action` are both `name`).
#[component]
fn Control(
    before: &'static str,
    value: RwSignal<u32>,
    max: u32,
    name: &'static str,
    after: &'static str,
    button: &'static str,
    apply: Callback<u32>,
) -> impl IntoView {
    view! {
        <span>
            {before} " " <Number value max label=format!("{before} … {after}") name/> " " {after} " "
            <button data-lab-action=name on:click=move |_| apply.run(value.get_untracked())>{button}</button>
        </span>
    }
}

#[component]
pub fn FaultLab(client: BoardClient) -> impl IntoView {
    let fixed = RwSignal::new(500u32);
    let jitter = RwSignal::new(0u32);
    let drop = RwSignal::new(3u32);
    let cut = RwSignal::new(3u32);
    let lab = client.lab;
    let status = move || {
        let state = lab.get();
        let mut parts = Vec::new();
        if state.fixed_ms > 0 || state.jitter_ms > 0 {
            parts.push(format!("latency {} ms + up to {} ms", state.fixed_ms, state.jitter_ms));
        }
        if state.drop_next > 0 {
            parts.push(format!("losing the next {} frame(s)", state.drop_next));
        }
        if state.cut_until.is_some() {
            parts.push("cut".to_owned());
        }
        if state.paused {
            parts.push(format!("paused, {} held", state.held));
        }
        if parts.is_empty() {
            "no faults: everything passes straight through".to_owned()
        } else {
            parts.join(" · ")
        }
    };
    view! {
        <details class="lab" data-lab="">
            <summary>"Fault lab · break this tab's connection and watch it recover"</summary>
            <p class="muted">
                "Only this tab is affected. Each fault, and each step the client takes to recover "
                "(gap found, backfill, reset, reconnect, resend), is listed with its time in the wire inspector below."
            </p>
            <p class="lab-status" data-lab-status="">{status}</p>
            <div class="lab-controls">
                <span>
                    "latency " <Number value=fixed max=10_000 label="latency (ms)" name="latency"/> " ms + up to "
                    <Number value=jitter max=10_000 label="jitter (ms)" name="jitter"/> " ms "
                    <button data-lab-action="latency" on:click=move |_| {
                        client.fault(Fault::Latency { fixed_ms: fixed.get_untracked(), jitter_ms: jitter.get_untracked() })
                    }>"set"</button>
                    <button data-lab-action="latency-off" on:click=move |_| {
                        client.fault(Fault::Latency { fixed_ms: 0, jitter_ms: 0 })
                    }>"off"</button>
                </span>
                <Control before="lose the next" value=drop max=1000 name="drop" after="frames" button="drop"
                    apply=Callback::new(move |n| client.fault(Fault::DropFrames(n)))/>
                <Control before="cut the connection for" value=cut max=600 name="cut" after="s" button="cut"
                    apply=Callback::new(move |seconds| client.fault(Fault::Cut { seconds }))/>
                <span>
                    <button data-lab-action="pause" on:click=move |_| client.fault(Fault::Pause(!lab.get_untracked().paused))>
                        {move || if lab.get().paused { "resume frame processing" } else { "pause frame processing" }}
                    </button>
                </span>
            </div>
            <ServerFaultsPanel client/>
        </details>
    }
}

/// The replica's own faults, shown only when the replica takes them (`FAULTS=1`).
#[component]
fn ServerFaultsPanel(client: BoardClient) -> impl IntoView {
    let server = RwSignal::new(None::<ServerLab>);
    let error = RwSignal::new(None::<String>);
    let notices = RwSignal::new(3u32);
    let delay = RwSignal::new(2000u32);
    let pause = RwSignal::new(5u32);
    // The replica's lab token, as the person typed it (never stored).
    let token = RwSignal::new(String::new());
    // Once, in the browser: does this replica take faults?
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        leptos::task::spawn_local(async move {
            if let Ok(lab) = crate::sync::http::server_lab(&client.board_id()).await {
                server.set(Some(lab));
            }
        });
    });
    let send = move |faults: ServerFaults| {
        #[cfg(feature = "hydrate")]
        leptos::task::spawn_local(async move {
            let typed = token.get_untracked();
            match crate::sync::http::set_server_faults(&client.board_id(), &faults, Some(&typed)).await {
                Ok(lab) => {
                    error.set(None);
                    server.set(Some(lab));
                }
                Err(err) => error.set(Some(err.message())),
            }
        });
        #[cfg(not(feature = "hydrate"))]
        let _ = faults;
    };
    let enabled = move || server.with(|s| s.as_ref().is_some_and(|s| s.enabled));
    view! {
        <Show
            when=enabled
            fallback=|| view! {
                <p class="muted">"Server-side faults are off on this replica (start it with FAULTS=1, as scripts/cluster does)."</p>
            }
        >
            <div class="lab-server" data-lab-server="">
                <p>
                    "The replica itself: these act on "
                    <strong>{move || server.with(|s| s.as_ref().map(|s| s.replica.clone()).unwrap_or_default())}</strong>
                    ", which answered; this tab's stream is on "
                    <strong>{move || client.replica.get()}</strong> "."
                </p>
                <Show
                    when=move || client.can_admin.get()
                    fallback=|| view! {
                        <p class="muted">"Losing or delaying this board's change notices is for its owner: open the board with its write link."</p>
                    }
                >
                    <div class="lab-controls">
                        <Control before="lose the board's next" value=notices max=1000 name="drop-notices" after="notices" button="drop"
                            apply=Callback::new(move |n| send(ServerFaults { drop_notices: Some(n), ..Default::default() }))/>
                        <Control before="delay its notices by" value=delay max=60_000 name="delay-notices" after="ms" button="set"
                            apply=Callback::new(move |ms| send(ServerFaults { delay_notices_ms: Some(ms), ..Default::default() }))/>
                    </div>
                </Show>
                <Show
                    when=move || server.with(|s| s.as_ref().is_some_and(|s| s.replica_faults))
                    fallback=|| view! {
                        <p class="muted">"Pausing the database is off on this replica (it runs without LAB_TOKEN)."</p>
                    }
                >
                    <div class="lab-controls">
                        <label>
                            "lab token "
                            <input
                                type="password"
                                autocomplete="off"
                                data-lab-input="token"
                                aria-label="lab token (LAB_TOKEN)"
                                prop:value=move || token.get()
                                on:input:target=move |ev| token.set(ev.target().value())
                            />
                        </label>
                        <Control before="pause the database for" value=pause max=30 name="pause-database" after="s" button="pause"
                            apply=Callback::new(move |s| send(ServerFaults { pause_database_s: Some(s), ..Default::default() }))/>
                    </div>
                </Show>
                <p class="muted">
                    {move || server.get().map(|s| format!(
                        "now: {} notice(s) to lose, notices {} ms late, database paused for {} ms more",
                        s.drop_notices, s.delay_notices_ms, s.database_paused_ms
                    ))}
                </p>
            </div>
        </Show>
        {move || error.get().map(|e| view! { <p class="notice" role="alert">{e}</p> })}
    }
}

/// One button per preset, for a compare pane: one click breaks that pane alone.
#[component]
pub fn PresetButtons(client: BoardClient) -> impl IntoView {
    view! {
        <span class="presets" title="break this pane's connection (fault lab)">
            {Preset::ALL.iter().map(|preset| {
                let preset = *preset;
                view! {
                    <button class="preset" data-preset=preset.as_str() on:click=move |_| client.fault(preset.fault())>
                        {preset.label()}
                    </button>
                }
            }).collect_view()}
        </span>
    }
}
