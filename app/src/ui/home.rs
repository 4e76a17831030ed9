//! `/`: the boards this browser may see (public ones and those it holds keys for), newest
//! first, and a form to create one.

use leptos::prelude::*;
use leptos_router::components::A;

use super::data;
use super::one_line_form::OneLineForm;

#[component]
pub fn HomePage() -> impl IntoView {
    let boards = Resource::new(|| (), |_| data::boards());
    // Effects run only in the browser: the marker tells tests (and styles) the page is live.
    let hydrated = RwSignal::new(false);
    Effect::new(move |_| hydrated.set(true));
    view! {
        <section class="home" data-hydrated=move || hydrated.get().to_string()>
            <h1>"Boards"</h1>
            <p class="lead">
                "Open a board in two windows and change it in one: the other follows at once. "
                "Pick how changes travel (the pattern) and over what (the transport) on the board itself."
            </p>
            <p class="lead" data-private-note="">
                "A new board is private: only people with one of its two links can open it, one that "
                "lets them change it and one that only shows it. You get both on the board once it is "
                "made, and its owner (the holder of the first) can withdraw them. The demo board is public: "
                "anyone can open and change it."
            </p>
            <CreateBoard/>
            <Suspense fallback=|| view! { <p class="muted">"Loading boards…"</p> }>
                {move || Suspend::new(async move {
                    match boards.await {
                        Ok(list) => view! {
                            <ul class="board-list">
                                {list.into_iter().map(|b| {
                                    let href = format!("/boards/{}", b.id);
                                    view! {
                                        <li data-board-id=b.id.clone()>
                                            <A href=href>{b.name}</A>
                                            <span class="muted">" · seq " {b.seq}</span>
                                        </li>
                                    }
                                }).collect_view()}
                            </ul>
                        }.into_any(),
                        Err(err) => {
                            super::set_unavailable();
                            view! { <p class="notice">{err}</p> }.into_any()
                        }
                    }
                })}
            </Suspense>
        </section>
    }
}

#[component]
fn CreateBoard() -> impl IntoView {
    let error = RwSignal::new(None::<String>);
    let create = move |wanted: String| {
        #[cfg(feature = "hydrate")]
        leptos::task::spawn_local(async move {
            match crate::sync::http::create_board(&wanted).await {
                Ok(created) => {
                    if let Some(window) = web_sys::window() {
                        // The write link: the server keeps the key in a cookie and redirects.
                        let _ =
                            window.location().set_href(&format!("/boards/{}?key={}", created.id, created.keys.write));
                    }
                }
                Err(err) => error.set(Some(err.message())),
            }
        });
        #[cfg(not(feature = "hydrate"))]
        let _ = wanted;
    };
    view! {
        // Without the page's script the form still works: the server creates and redirects.
        <OneLineForm
            class="create-board"
            name="name"
            placeholder="New board name"
            label="New board name"
            max_chars=board_core::domain::MAX_NAME_CHARS
            button="Create board"
            action="/boards"
            on_submit=create
        />
        {move || error.get().map(|e| view! { <p class="notice">{e}</p> })}
    }
}
