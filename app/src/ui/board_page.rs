//! `/boards/{board}?pattern=P&transport=T`: loads the board (on the server while
//! rendering; the browser reuses that data when it hydrates) and hands it to the kanban.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};

use super::board::{live_client, BoardView};
use super::{data, set_bad_request, set_unavailable, NotFound};
use board_core::patterns::PatternKind;
use board_core::protocol::Transport;

#[component]
pub fn BoardPage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let id = move || params.read().get("id").unwrap_or_default();
    let board = Resource::new(id, data::board);
    let replica = data::replica();

    // A bad pattern or transport is the caller's mistake: say which names are valid.
    let choice = move || {
        let query = query.read();
        let pattern = PatternKind::from_param(query.get("pattern").as_deref());
        let transport = Transport::from_param(query.get("transport").as_deref());
        pattern.and_then(|p| transport.map(|t| (p, t)))
    };

    view! {
        <Suspense fallback=|| view! { <p class="muted">"Loading board…"</p> }>
            {move || {
                let replica = replica.clone();
                Suspend::new(async move {
                    let choice = choice();
                    match (board.await, choice) {
                        (_, Err(message)) => {
                            set_bad_request();
                            view! { <section class="empty"><h1>"Bad request"</h1><p class="notice">{message}</p></section> }.into_any()
                        }
                        (Ok(Some((state, viewer))), Ok((pattern, transport))) => {
                            let state_name = state.board.name.clone();
                            let poll_ms = query.read_untracked().get("poll_ms").and_then(|ms| ms.parse().ok());
                            let client = live_client(state.into(), pattern, transport, replica, poll_ms, viewer.can_write, true);
                            client.can_admin.set(viewer.admin);
                            // A refusal of the no-script add form (`server_fns::add_todo`) comes
                            // back here as a code, worded by the page (never the URL's text).
                            let refused = query.read_untracked().get("error").map(|code| crate::server_fns::FormError::parse(&code));
                            // The tab says which board it is.
                            let title = format!("{} · Realtime board", state_name);
                            view! {
                                <Title text=title/>
                                {refused.map(|e| view! { <p class="notice" data-form-error=e.code()>{e.words()}</p> })}
                                <BoardView client viewer/>
                            }.into_any()
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
