//! `/admin`: the operator's console. Off (`404`) unless the server has `ADMIN_TOKEN`; then a
//! sign-in form (which sets an `HttpOnly` cookie: `server::admin::session`), then the
//! cluster, live: the page follows `GET /api/admin/stream` (SSE, the app's own transport)
//! and redraws at each report, every two seconds.
//!
//! What it shows, from every replica's report: its streams by transport and pattern, the
//! newest of them (each with a Disconnect), its busiest boards (End streams), the counters
//! of slow and cut consumers and of limits hit, its recent errors; and the webhooks with a
//! backlog (Pause, Resume). Laid out as cards that stack on a phone; tables scroll sideways
//! rather than squeeze.
//!
//! The page never lies: the header says whether the view is live, when the last report
//! came, and a replica whose report is late is marked so. Markers for tests:
//! `[data-admin-live]`, `[data-admin-replica=ID]`, `[data-admin-client=C]` on each stream
//! (C: the tab's presence id), `[data-admin-disconnect]`, `[data-admin-end-board=B]`,
//! `[data-admin-webhook=ID]`, `[data-admin-message]`.

use std::collections::BTreeMap;

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use board_core::console::{Access, ClusterView, Connection, ReplicaReport, WebhookBacklog};

use super::data;

/// A report older than this (ms) is marked late: replicas report every 2 s.
const LATE_MS: i64 = 5_000;

#[component]
pub fn ConsolePage() -> impl IntoView {
    let access = Resource::new(|| (), |_| data::console());
    let failed = move || use_query_map().with(|query| query.get("failed").is_some());
    view! {
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match access.await {
                    Access::Off => view! { <super::NotFound/> }.into_any(),
                    Access::SignedOut => view! { <SignIn failed=failed()/> }.into_any(),
                    Access::SignedIn => view! { <Console/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// The sign-in form: a plain form post, which works before (and without) the script.
#[component]
fn SignIn(failed: bool) -> impl IntoView {
    view! {
        <section class="console console-sign-in" data-admin-sign-in="">
            <h1>"Operator's console"</h1>
            <form method="post" action="/admin/login">
                <label>
                    "Console token "
                    <input type="password" name="token" autocomplete="current-password" required=true minlength="16"/>
                </label>
                " "
                <button type="submit">"Sign in"</button>
            </form>
            {failed.then(|| view! { <p class="notice" role="alert" data-admin-failed="">"That token does not open the console."</p> })}
        </section>
    }
}

/// Whether the page hears the stream. (Only the browser's build hears one.)
#[derive(Clone, Copy, PartialEq, Eq)]
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
enum Hearing {
    Connecting,
    Live,
    Reconnecting,
    /// The server refused the stream (signed out, or too many consoles): reload to sign in.
    Refused,
}

impl Hearing {
    fn as_str(self) -> &'static str {
        match self {
            Hearing::Connecting => "connecting",
            Hearing::Live => "live",
            Hearing::Reconnecting => "reconnecting",
            Hearing::Refused => "refused",
        }
    }
}

#[component]
fn Console() -> impl IntoView {
    let cluster = RwSignal::new(None::<ClusterView>);
    let live = RwSignal::new(Hearing::Connecting);
    let message = RwSignal::new(String::new());
    // Effects run only in the browser: there, follow the stream.
    Effect::new(move |_| follow(cluster, live));
    let act = Callback::new(move |(url, done): (String, String)| act(url, done, message));
    let here = move || cluster.with(|c| c.as_ref().map(|c| c.here.clone()).unwrap_or_default());
    let heard = move || {
        cluster.with(|c| match c {
            Some(c) => format!("last report {}", clock(c.at)),
            None => "waiting for the first report".to_owned(),
        })
    };
    view! {
        <section class="console" data-admin-live=move || live.get().as_str()>
            <header class="console-head">
                <h1>"Operator's console"</h1>
                <p class="muted">
                    <span class=move || format!("live-dot {}", live.get().as_str())></span>
                    " " {move || live.get().as_str()} " · served by " <code>{here}</code> " · " {heard}
                </p>
                {move || (live.get() == Hearing::Refused).then(|| view! {
                    <p class="notice" role="alert">"The server refused the console's stream: sign in again (reload), or close another console."</p>
                })}
                <form method="post" action="/admin/logout"><button type="submit">"Sign out"</button></form>
            </header>
            <p class="console-message" role="status" aria-live="polite" data-admin-message="">{move || message.get()}</p>
            <h2>"Replicas"</h2>
            <div class="console-cards">
                <For
                    each=move || cluster.with(|c| c.as_ref().map(|c| c.replicas.clone()).unwrap_or_default())
                    key=|r| (r.replica.clone(), r.at)
                    children=move |report| {
                        let at = cluster.with_untracked(|c| c.as_ref().map_or(0, |c| c.at));
                        view! { <Replica report at act/> }
                    }
                />
            </div>
            <h2>"Boards"</h2>
            <Boards cluster act/>
            <h2>"Webhooks"</h2>
            <Webhooks cluster act/>
        </section>
    }
}

/// One replica's card.
#[component]
fn Replica(report: ReplicaReport, at: i64, act: Callback<(String, String)>) -> impl IntoView {
    let late = at - report.at > LATE_MS;
    let ReplicaReport { replica, bus, streams, by_way, connections, vitals, errors, .. } = report;
    let shown = connections.len();
    let rows = connections
        .into_iter()
        .map(|connection| view! { <Stream replica=replica.clone() connection act/> })
        .collect_view();
    view! {
        <article class=if late { "console-card late" } else { "console-card" } data-admin-replica=replica.clone()>
            <h3><code>{replica.clone()}</code></h3>
            <p class="muted">
                {format!("{streams} open stream(s) · bus {bus}")}
                {late.then_some(" · report late")}
            </p>
            <table class="console-ways">
                <caption>"Streams by transport and pattern"</caption>
                <tbody>
                    {by_way.into_iter().map(|(way, n)| view! { <tr><th scope="row">{way}</th><td>{n}</td></tr> }).collect_view()}
                </tbody>
            </table>
            <div class="console-scroll">
                <table class="console-streams">
                    <caption>{format!("The newest {shown} of {streams}")}</caption>
                    <thead><tr><th>"Board"</th><th>"Way"</th><th>"Tab"</th><th>"Open since"</th><th></th></tr></thead>
                    <tbody>{rows}</tbody>
                </table>
            </div>
            <h4>"Slow and cut consumers, limits hit"</h4>
            {if vitals.is_empty() {
                view! { <p class="muted">"none since the replica started"</p> }.into_any()
            } else {
                view! {
                    <ul class="console-vitals">
                        {vitals.into_iter().map(|v| {
                            let said = format!(" · {} in all, {} in the last minute", v.total, v.per_minute);
                            view! {
                                <li data-admin-vital=v.metric.clone()>
                                    <code>{v.metric.clone()}</code> " " <span class="muted">{v.labels}</span> {said}
                                </li>
                            }
                        }).collect_view()}
                    </ul>
                }.into_any()
            }}
            <h4>"Recent errors"</h4>
            {if errors.is_empty() {
                view! { <p class="muted">"none"</p> }.into_any()
            } else {
                view! {
                    <ul class="console-errors">
                        {errors.into_iter().map(|e| view! {
                            <li><span class="muted">{format!("{} {} {}", clock(e.at), e.level, e.target)}</span> " " {e.message}</li>
                        }).collect_view()}
                    </ul>
                }.into_any()
            }}
        </article>
    }
}

/// One open stream, with its Disconnect.
#[component]
fn Stream(replica: String, connection: Connection, act: Callback<(String, String)>) -> impl IntoView {
    let Connection { id, board, transport, pattern, client, name, opened } = connection;
    let url = format!("/api/admin/replicas/{replica}/connections/{id}/disconnect");
    let who = name.clone().or_else(|| client.clone()).unwrap_or_else(|| "(unnamed)".to_owned());
    let done = format!("Disconnected {who}'s {transport} stream; the tab reconnects.");
    view! {
        <tr data-admin-client=client.unwrap_or_default() data-admin-connection=id>
            <td><code class="console-id">{board}</code></td>
            <td>{format!("{transport}/{pattern}")}</td>
            <td>{who}</td>
            <td>{clock(opened)}</td>
            <td>
                <button type="button" data-admin-disconnect="" on:click=move |_| act.run((url.clone(), done.clone()))>
                    "Disconnect"
                </button>
            </td>
        </tr>
    }
}

/// Every replica's busiest boards, added up: followers and writes a minute.
#[component]
fn Boards(cluster: RwSignal<Option<ClusterView>>, act: Callback<(String, String)>) -> impl IntoView {
    let boards = move || {
        let mut boards: BTreeMap<String, (usize, u64)> = BTreeMap::new();
        cluster.with(|c| {
            for report in c.iter().flat_map(|c| &c.replicas) {
                for load in &report.boards {
                    let entry = boards.entry(load.board.clone()).or_default();
                    entry.0 += load.followers;
                    entry.1 += load.writes_per_minute;
                }
            }
        });
        let mut boards: Vec<(String, (usize, u64))> = boards.into_iter().collect();
        boards.sort_by_key(|(_, (followers, writes))| std::cmp::Reverse(*followers as u64 + writes));
        boards
    };
    view! {
        <div class="console-scroll">
            <table class="console-boards">
                <thead><tr><th>"Board"</th><th>"Followers"</th><th>"Writes a minute"</th><th></th></tr></thead>
                <tbody>
                    <For
                        each=boards
                        key=|b| b.clone()
                        children=move |(board, (followers, writes))| {
                            let url = format!("/api/admin/boards/{board}/end");
                            let done = format!("Ended every stream of {board}; its tabs reconnect.");
                            view! {
                                <tr>
                                    <td><code class="console-id">{board.clone()}</code></td>
                                    <td>{followers}</td>
                                    <td>{writes}</td>
                                    <td>
                                        <button type="button" data-admin-end-board=board on:click=move |_| act.run((url.clone(), done.clone()))>
                                            "End streams"
                                        </button>
                                    </td>
                                </tr>
                            }
                        }
                    />
                </tbody>
            </table>
        </div>
    }
}

/// The webhooks with a backlog or trouble, each with Pause or Resume.
#[component]
fn Webhooks(cluster: RwSignal<Option<ClusterView>>, act: Callback<(String, String)>) -> impl IntoView {
    let hooks = move || cluster.with(|c| c.as_ref().map(|c| c.webhooks.clone()).unwrap_or_default());
    view! {
        <Show when=move || !hooks().is_empty() fallback=|| view! { <p class="muted">"Every webhook is up to date."</p> }>
            <div class="console-scroll">
                <table class="console-webhooks">
                    <thead><tr><th>"Webhook"</th><th>"Board"</th><th>"Status"</th><th>"Behind"</th><th>"Last error"</th><th></th></tr></thead>
                    <tbody>
                        <For each=hooks key=|h| (h.id.clone(), h.status.clone(), h.backlog, h.failures) children=move |hook: WebhookBacklog| {
                            let paused = hook.status == "paused";
                            let (verb, label) = if paused { ("resume", "Resume") } else { ("pause", "Pause") };
                            let url = format!("/api/admin/webhooks/{}/{verb}", hook.id);
                            let done = format!("{label}d the webhook to {}.", hook.url);
                            let (id, status) = (hook.id.clone(), hook.status.clone());
                            view! {
                                <tr data-admin-webhook=id data-admin-webhook-status=status>
                                    <td><code class="console-id">{hook.url}</code></td>
                                    <td><code class="console-id">{hook.board}</code></td>
                                    <td>{hook.status}{(hook.failures > 0).then(|| format!(" ({} failures)", hook.failures))}</td>
                                    <td>{hook.backlog}</td>
                                    <td>{hook.last_error.unwrap_or_default()}</td>
                                    <td><button type="button" on:click=move |_| act.run((url.clone(), done.clone()))>{label}</button></td>
                                </tr>
                            }
                        }/>
                    </tbody>
                </table>
            </div>
        </Show>
    }
}

/// `HH:MM:SS` (UTC) of a Unix ms time.
fn clock(ms: i64) -> String {
    let secs = ms.div_euclid(1000).rem_euclid(86_400);
    format!("{:02}:{:02}:{:02} UTC", secs / 3600, secs / 60 % 60, secs % 60)
}

/// Runs one action and says how it went.
fn act(url: String, done: String, message: RwSignal<String>) {
    #[cfg(feature = "hydrate")]
    leptos::task::spawn_local(async move {
        let said = match crate::sync::http::console_action(&url).await {
            Ok(202) => format!("{done} (told the other replicas; the next report shows it)"),
            Ok(_) => done,
            Err(err) => format!("Not done: {}", err.message()),
        };
        message.set(said);
    });
    #[cfg(not(feature = "hydrate"))]
    let _ = (url, done, message);
}

/// Follows `GET /api/admin/stream` for as long as the page lives: each `cluster` event
/// replaces the view. `EventSource` reconnects by itself; a refusal (`401`, `429`) closes
/// it, and the page says so.
fn follow(cluster: RwSignal<Option<ClusterView>>, live: RwSignal<Hearing>) {
    #[cfg(feature = "hydrate")]
    {
        use wasm_bindgen::closure::Closure;
        use wasm_bindgen::JsCast;
        let Ok(source) = web_sys::EventSource::new("/api/admin/stream") else {
            live.set(Hearing::Refused);
            return;
        };
        let on_cluster = Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |event: web_sys::MessageEvent| {
            let view = event.data().as_string().and_then(|text| serde_json::from_str::<ClusterView>(&text).ok());
            if let Some(view) = view {
                cluster.set(Some(view));
                live.set(Hearing::Live);
            }
        });
        let on_error = {
            let source = source.clone();
            Closure::<dyn FnMut(web_sys::Event)>::new(move |_| {
                let closed = source.ready_state() == web_sys::EventSource::CLOSED;
                live.set(if closed { Hearing::Refused } else { Hearing::Reconnecting });
            })
        };
        let _ = source.add_event_listener_with_callback("cluster", on_cluster.as_ref().unchecked_ref());
        source.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        let source = send_wrapper::SendWrapper::new((source, on_cluster, on_error));
        on_cleanup(move || source.0.close());
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = (cluster, live);
}
