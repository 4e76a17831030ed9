//! Keeps keyboard focus where the person was when the board re-renders under it.
//!
//! A card re-created elsewhere (moved to another column), moved in its list (up, down),
//! or removed (deleted), or a column re-created (a sprint started), takes the focused
//! control with it: the browser drops focus to `<body>`, and a keyboard user starts again
//! from the top of the page. Every control of the board carries `data-focus` (its name);
//! this remembers the last focused one by address (its todo, its column, its name) and,
//! after each change, if focus fell to `<body>`, puts it back on the control with the same
//! address, or the nearest thing to it: the card's title, the card that took the deleted
//! one's place, the column's new-todo field.
//!
//! A pointer press anywhere forgets the address: focus the person moved away themselves is
//! theirs, and is never taken back.

use leptos::prelude::*;

use crate::sync::BoardClient;

/// Where focus was: enough to find the same control, or its nearest neighbour, after a
/// re-render.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Spot {
    /// `data-todo-id` of the card it was in.
    pub todo: Option<String>,
    /// `data-column` of the column it was in.
    pub column: Option<String>,
    /// `data-focus` of the control.
    pub control: Option<String>,
    /// The card's place in its column, for the card that takes a deleted one's place.
    pub index: usize,
}

impl Spot {
    /// The selectors to try, in order, within the board: the same control on the same card
    /// (wherever the card is now), the card's title, the control of the same name in the
    /// column (a sprint's start button becomes its complete button), then the card now at
    /// the same place in the column, the one before it, the column's new-todo field, and
    /// the column's heading.
    pub fn candidates(&self) -> Vec<String> {
        let enabled = ":not(:disabled)";
        let mut out = Vec::new();
        if let Some(todo) = &self.todo {
            let card = format!("[data-todo-id=\"{}\"]", css_escape(todo));
            if let Some(control) = &self.control {
                out.push(format!("{card} [data-focus=\"{}\"]{enabled}", css_escape(control)));
            }
            out.push(format!("{card} [data-focus=\"title\"]{enabled}"));
        }
        if let Some(column) = &self.column {
            let column = format!("[data-column=\"{}\"]", css_escape(column));
            if let (None, Some(control)) = (&self.todo, &self.control) {
                out.push(format!("{column} [data-focus=\"{}\"]{enabled}", css_escape(control)));
            }
            if self.todo.is_some() {
                let nth = self.index + 1;
                out.push(format!("{column} li[data-todo-id]:nth-child({nth}) [data-focus=\"title\"]{enabled}"));
                if self.index > 0 {
                    out.push(format!(
                        "{column} li[data-todo-id]:nth-child({}) [data-focus=\"title\"]{enabled}",
                        self.index
                    ));
                }
            }
            out.push(format!("{column} [data-add-todo]"));
            out.push(format!("{column} h2"));
        }
        out
    }
}

/// Only what an attribute value from our own pages can hold (ids, names like `sprint-4`),
/// escaped for a double-quoted CSS string.
fn css_escape(value: &str) -> String {
    value.chars().filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_')).collect()
}

/// Watches focus in `board` (the board's section) and restores it after every change to
/// what the page shows. Browser only; nothing on the server.
pub fn keep_focus(client: BoardClient, board: NodeRef<leptos::html::Section>) {
    #[cfg(feature = "hydrate")]
    browser::keep(client, board);
    #[cfg(not(feature = "hydrate"))]
    let _ = (client, board);
}

#[cfg(feature = "hydrate")]
mod browser {
    use leptos::prelude::*;
    use wasm_bindgen::closure::Closure;
    use wasm_bindgen::JsCast;
    use web_sys::{Element, HtmlElement};

    use super::Spot;
    use crate::sync::BoardClient;

    pub fn keep(client: BoardClient, board: NodeRef<leptos::html::Section>) {
        let spot: StoredValue<Option<Spot>, LocalStorage> = StoredValue::new_local(None);
        board.on_load(move |section| {
            let on_focus = Closure::<dyn Fn(web_sys::FocusEvent)>::new(move |ev: web_sys::FocusEvent| {
                if let Some(target) = ev.target().and_then(|t| t.dyn_into::<Element>().ok()) {
                    spot.set_value(Some(locate(&target)));
                }
            });
            let _ = section.add_event_listener_with_callback("focusin", on_focus.as_ref().unchecked_ref());
            on_focus.forget();
            // A press anywhere on the page: where focus goes next is the person's choice.
            let on_press = Closure::<dyn Fn()>::new(move || spot.set_value(None));
            if let Some(document) = web_sys::window().and_then(|w| w.document()) {
                let _ = document.add_event_listener_with_callback("pointerdown", on_press.as_ref().unchecked_ref());
            }
            on_press.forget();
        });
        // After every change the page renders (the board, drafts, refusals), once the DOM
        // is updated: the next animation frame.
        Effect::new(move |_| {
            client.shown.track();
            client.drafts.track();
            client.refusals.track();
            let Some(window) = web_sys::window() else { return };
            let restore = Closure::once_into_js(move || restore(board, spot));
            let _ = window.request_animation_frame(restore.unchecked_ref());
        });
    }

    /// The address of a focused element of the board.
    fn locate(target: &Element) -> Spot {
        let attr =
            |selector: &str, name: &str| target.closest(selector).ok().flatten().and_then(|e| e.get_attribute(name));
        let card = target.closest("[data-todo-id]").ok().flatten();
        let index = card
            .as_ref()
            .map(|card| {
                let mut index = 0;
                let mut at = card.previous_element_sibling();
                while let Some(before) = at {
                    index += 1;
                    at = before.previous_element_sibling();
                }
                index
            })
            .unwrap_or(0);
        Spot {
            todo: attr("[data-todo-id]", "data-todo-id"),
            column: attr("[data-column]", "data-column"),
            control: attr("[data-focus]", "data-focus"),
            index,
        }
    }

    fn restore(board: NodeRef<leptos::html::Section>, spot: StoredValue<Option<Spot>, LocalStorage>) {
        let Some(document) = web_sys::window().and_then(|w| w.document()) else { return };
        // Only when focus fell to the page itself: anything focused is where it should be.
        let fell = match document.active_element() {
            None => true,
            Some(active) => document.body().is_some_and(|body| body.is_same_node(Some(&active))),
        };
        let (Some(section), Some(spot)) = (board.get_untracked(), spot.get_value()) else { return };
        if !fell {
            return;
        }
        for selector in spot.candidates() {
            if let Ok(Some(found)) = section.query_selector(&selector) {
                if let Ok(found) = found.dyn_into::<HtmlElement>() {
                    // A heading is not focusable by default; -1 lets a script focus it.
                    if !found.has_attribute("tabindex") && found.tag_name() == "H2" {
                        let _ = found.set_attribute("tabindex", "-1");
                    }
                    let _ = found.focus();
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Spot;

    #[test]
    fn a_card_control_falls_back_to_its_title_then_its_neighbours() {
        let spot =
            Spot { todo: Some("7".into()), column: Some("sprint-2".into()), control: Some("up".into()), index: 3 };
        assert_eq!(
            spot.candidates(),
            [
                "[data-todo-id=\"7\"] [data-focus=\"up\"]:not(:disabled)",
                "[data-todo-id=\"7\"] [data-focus=\"title\"]:not(:disabled)",
                "[data-column=\"sprint-2\"] li[data-todo-id]:nth-child(4) [data-focus=\"title\"]:not(:disabled)",
                "[data-column=\"sprint-2\"] li[data-todo-id]:nth-child(3) [data-focus=\"title\"]:not(:disabled)",
                "[data-column=\"sprint-2\"] [data-add-todo]",
                "[data-column=\"sprint-2\"] h2",
            ]
        );
    }

    #[test]
    fn a_column_control_is_found_by_name_in_the_column() {
        let spot = Spot { todo: None, column: Some("sprint-2".into()), control: Some("sprint".into()), index: 0 };
        assert_eq!(spot.candidates()[0], "[data-column=\"sprint-2\"] [data-focus=\"sprint\"]:not(:disabled)");
    }

    #[test]
    fn attribute_values_cannot_break_out_of_the_selector() {
        let spot = Spot { todo: Some("1\"] body [x=\"".into()), column: None, control: None, index: 0 };
        assert_eq!(spot.candidates(), ["[data-todo-id=\"1bodyx\"] [data-focus=\"title\"]:not(:disabled)"]);
    }
}
