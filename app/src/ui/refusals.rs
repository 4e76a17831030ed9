//! The server's refusals of this tab's commands (`409`, `422`, `403`), each shown where the
//! change was (on its card, or under the column a new todo was for) until dismissed. The
//! optimistic change itself is already gone from the board (`board_core::optimistic`).

use leptos::prelude::*;

use crate::sync::BoardClient;
use board_core::optimistic::Refusal;

/// The refusals that `here` picks out, with the server's message and a dismiss button.
#[component]
pub fn Refusals(client: BoardClient, here: fn(&Refusal, Option<i64>) -> bool, at: Option<i64>) -> impl IntoView {
    let refused = move || {
        client.refusals.with(|all| {
            all.iter().enumerate().filter(|(_, r)| here(r, at)).map(|(i, r)| (i, r.message.clone())).collect::<Vec<_>>()
        })
    };
    // Index `i` is the refusal's place in the list when rendered; any change to the list
    // renders these again, so it is current when clicked.
    let dismiss = move |i: usize| {
        client.refusals.update(|all| {
            if i < all.len() {
                all.remove(i);
            }
        })
    };
    move || {
        refused()
            .into_iter()
            .map(|(i, message)| {
                view! {
                    <p class="refusal" role="alert" data-refusal="">
                        {message}
                        <button class="link" on:click=move |_| dismiss(i)>"dismiss"</button>
                    </p>
                }
            })
            .collect_view()
    }
}
