//! Dragging a card: what a dragged card carries (`started`, on the card) and where it falls
//! (`dropped`, on a column's list). The card and the column both use it, and neither
//! knows the other's insides.

use board_core::domain::Id;

/// The drag data type a dragged card carries: its todo id.
pub const DRAGGED_TODO: &str = "application/x-board-todo";

/// A card dropped on a column's list: the todo's id, and its place in that column as it
/// will be without it (the cards of the list whose middle is above the pointer), which is
/// what `move_todo`'s `position` means.
pub fn dropped(ev: &leptos::ev::DragEvent) -> Option<(Id, u32)> {
    #[cfg(feature = "hydrate")]
    {
        use wasm_bindgen::JsCast;
        let id: Id = ev.data_transfer()?.get_data(DRAGGED_TODO).ok()?.parse().ok()?;
        let list = ev.current_target()?.dyn_into::<web_sys::Element>().ok()?;
        let cards = list.query_selector_all("[data-todo-id]").ok()?;
        let y = f64::from(ev.client_y());
        let above = (0..cards.length())
            .filter_map(|i| cards.item(i)?.dyn_into::<web_sys::Element>().ok())
            .filter(|card| card.get_attribute("data-todo-id").and_then(|v| v.parse::<Id>().ok()) != Some(id))
            .filter(|card| {
                let rect = card.get_bounding_client_rect();
                rect.top() + rect.height() / 2.0 < y
            })
            .count();
        Some((id, above as u32))
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = ev;
        None
    }
}

/// A card's drag begins: it carries its todo's id, to be moved.
pub fn started(ev: &leptos::ev::DragEvent, id: Id) {
    #[cfg(feature = "hydrate")]
    if let Some(data) = ev.data_transfer() {
        let _ = data.set_data(DRAGGED_TODO, &id.to_string());
        data.set_effect_allowed("move");
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = (ev, id);
}
