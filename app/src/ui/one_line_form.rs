//! A one-line text form: an input and a button. It hands the text to `on_submit` (blank
//! text, and text over `max_chars` as the server counts it, are not sent: see `length`)
//! and clears itself. The board's "add" forms and the home page use it.

use leptos::prelude::*;

use super::length::{too_long, LengthHint};

#[component]
pub fn OneLineForm(
    class: &'static str,
    /// The input's `name` (tests and the no-script fallback find it by name).
    name: &'static str,
    placeholder: &'static str,
    /// The input's accessible label.
    label: &'static str,
    max_chars: usize,
    button: &'static str,
    on_submit: impl Fn(String) + Send + Sync + 'static,
    /// Where the form posts when the page's script has not loaded (it does nothing then
    /// when absent).
    #[prop(optional)]
    action: Option<&'static str>,
) -> impl IntoView {
    let text = RwSignal::new(String::new());
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let value = text.get_untracked();
        if !value.trim().is_empty() && !too_long(&value, max_chars) {
            on_submit(value);
            text.set(String::new());
        }
    };
    view! {
        <form class=class method=action.map(|_| "post") action=action on:submit=submit>
            <input
                name=name
                placeholder=placeholder
                aria-label=label
                prop:value=move || text.get()
                on:input:target=move |ev| text.set(ev.target().value())
            />
            <button type="submit">{button}</button>
            <LengthHint text max=max_chars/>
        </form>
    }
}
