//! The webhooks panel, for whoever may change the board: add a webhook (its secret is shown
//! once), see each one's status and position, its delivery log with attempts and errors,
//! remove it, replay from a seq. It reads the REST API from the browser, every 2 s while
//! open; on the server it renders closed and empty.

use leptos::prelude::*;

use crate::sync::BoardClient;
use board_core::api::{Delivery, WebhookInfo};
use board_core::patterns::PatternKind;

/// How often an open panel reads the webhooks and the shown delivery log again.
#[cfg(feature = "hydrate")]
const REFRESH_MS: u32 = 2000;

#[component]
pub fn WebhooksPanel(client: BoardClient) -> impl IntoView {
    let open = RwSignal::new(false);
    let hooks = RwSignal::new(Vec::<WebhookInfo>::new());
    let shown = RwSignal::new(None::<String>);
    let log = RwSignal::new(Vec::<Delivery>::new());
    let secret = RwSignal::new(None::<String>);
    let error = RwSignal::new(None::<String>);
    let url = RwSignal::new(String::new());
    let pattern = RwSignal::new(PatternKind::DEFAULT);

    // While open: read the list (and the shown log) now and every REFRESH_MS.
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        if !open.get() {
            return;
        }
        leptos::task::spawn_local(async move {
            while open.try_get_untracked() == Some(true) {
                refresh(client, hooks, shown, log, error).await;
                gloo_timers::future::TimeoutFuture::new(REFRESH_MS).await;
            }
        });
    });

    let add = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        #[cfg(feature = "hydrate")]
        leptos::task::spawn_local(async move {
            match crate::sync::http::create_webhook(&client.board_id(), &url.get_untracked(), pattern.get_untracked())
                .await
            {
                Ok(created) => {
                    secret.set(Some(created.secret));
                    url.set(String::new());
                    error.set(None);
                    refresh(client, hooks, shown, log, error).await;
                }
                Err(err) => error.set(Some(err.message())),
            }
        });
    };

    view! {
        <details class="webhooks" data-webhooks="">
            // The summary's click opens and closes the panel; the refresh follows it.
            <summary on:click=move |_| open.update(|o| *o = !*o)>"Webhooks · other servers that get every change"</summary>
            <form class="add-webhook" on:submit=add>
                <input
                    data-webhook-url=""
                    placeholder="https://example.org/hook"
                    aria-label="Webhook URL"
                    prop:value=move || url.get()
                    on:input:target=move |ev| url.set(ev.target().value())
                />
                <select
                    aria-label="Webhook pattern"
                    on:change:target=move |ev| {
                        if let Ok(p) = ev.target().value().parse() {
                            pattern.set(p);
                        }
                    }
                >
                    {PatternKind::ALL.iter().map(|p| view! {
                        <option value=p.as_str() selected=*p == PatternKind::DEFAULT>{p.as_str()}</option>
                    }).collect_view()}
                </select>
                <button type="submit">"Add webhook"</button>
            </form>
            {move || secret.get().map(|s| view! {
                <p class="secret" data-webhook-secret="">
                    "Its signing secret, shown this once: " <code>{s}</code>
                </p>
            })}
            {move || error.get().map(|e| view! { <p class="notice" role="alert">{e}</p> })}
            <ul class="hooks">
                <For
                    each=move || hooks.get()
                    key=|h: &WebhookInfo| format!("{h:?}")
                    children=move |hook: WebhookInfo| view! { <Hook client hook shown log hooks error/> }
                />
            </ul>
            {move || shown.get().map(|id| view! {
                <table class="deliveries" data-deliveries=id>
                    <caption>"Delivery log (newest first)"</caption>
                    <thead><tr><th>"seq"</th><th>"attempt"</th><th>"answer"</th><th>"took"</th></tr></thead>
                    <tbody>
                        {move || log.get().into_iter().map(|d| {
                            let answer = match (d.status, d.error.clone()) {
                                (Some(status), None) => status.to_string(),
                                (Some(status), Some(e)) => format!("{status}: {e}"),
                                (None, Some(e)) => e,
                                (None, None) => String::new(),
                            };
                            view! {
                                <tr class="delivery" data-delivery-seq=d.seq.to_string()>
                                    <td>{d.seq}</td><td>{d.attempt}</td><td>{answer}</td><td>{format!("{} ms", d.duration_ms)}</td>
                                </tr>
                            }
                        }).collect_view()}
                    </tbody>
                </table>
            })}
        </details>
    }
}

/// One webhook: where it goes, how it is doing, and what can be done with it.
#[component]
fn Hook(
    client: BoardClient,
    hook: WebhookInfo,
    shown: RwSignal<Option<String>>,
    log: RwSignal<Vec<Delivery>>,
    hooks: RwSignal<Vec<WebhookInfo>>,
    error: RwSignal<Option<String>>,
) -> impl IntoView {
    let since = RwSignal::new(String::from("0"));
    let id = hook.id.clone();
    let (show_id, remove_id, replay_id) = (id.clone(), id.clone(), id.clone());
    let _ = (client, hooks, log, error);
    view! {
        <li class=format!("hook hook-{}", hook.status) data-webhook=id.clone() data-webhook-status=hook.status.clone()>
            <code class="hook-url">{hook.url.clone()}</code>
            " · " {hook.pattern.clone()} " · " <strong>{hook.status.clone()}</strong>
            " · delivered through seq " <span data-webhook-delivered=hook.delivered_seq.to_string()>{hook.delivered_seq}</span>
            {hook.last_error.clone().map(|e| view! { <span class="muted">{format!(" · {e}")}</span> })}
            <button class="small" on:click=move |_| shown.set(Some(show_id.clone()))>"Deliveries"</button>
            <button class="small" on:click=move |_| {
                let _id = remove_id.clone();
                #[cfg(feature = "hydrate")]
                leptos::task::spawn_local(async move {
                    if let Err(err) = crate::sync::http::delete_webhook(&client.board_id(), &_id).await {
                        error.set(Some(err.message()));
                    }
                    refresh(client, hooks, shown, log, error).await;
                });
            }>"Remove"</button>
            <label class="replay">
                "replay from seq "
                <input type="number" min="0" class="replay-since" prop:value=move || since.get() on:input:target=move |ev| since.set(ev.target().value())/>
                <button class="small" on:click=move |_| {
                    let (_id, _since) = (replay_id.clone(), since.get_untracked().parse::<u64>().unwrap_or(0));
                    #[cfg(feature = "hydrate")]
                    leptos::task::spawn_local(async move {
                        if let Err(err) = crate::sync::http::replay_webhook(&client.board_id(), &_id, _since).await {
                            error.set(Some(err.message()));
                        }
                        refresh(client, hooks, shown, log, error).await;
                    });
                }>"Replay"</button>
            </label>
        </li>
    }
}

/// Reads the webhooks, and the delivery log of the one shown.
#[cfg(feature = "hydrate")]
async fn refresh(
    client: BoardClient,
    hooks: RwSignal<Vec<WebhookInfo>>,
    shown: RwSignal<Option<String>>,
    log: RwSignal<Vec<Delivery>>,
    error: RwSignal<Option<String>>,
) {
    let board = client.board_id();
    match crate::sync::http::webhooks(&board).await {
        Ok(list) => {
            hooks.set(list);
        }
        Err(err) => error.set(Some(err.message())),
    }
    if let Some(id) = shown.get_untracked() {
        if let Ok(entries) = crate::sync::http::deliveries(&board, &id).await {
            log.set(entries);
        }
    }
}
