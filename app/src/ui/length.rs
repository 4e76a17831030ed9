//! Text limits as the server counts them. A `maxlength` counts UTF-16 units and cuts a
//! pasted text silently (an emoji title at 250 characters, any title at 500 without a
//! word); instead the fields take whatever is typed or pasted, count characters after
//! trimming (as `domain::decide` does, whose limits these are), show the count as the limit
//! nears, and refuse to send a text over it, saying so.

use leptos::prelude::*;

/// The count shows once a text is this close to its limit.
const NEAR: usize = 50;

/// Characters as the server counts them: Unicode scalar values of the trimmed text.
pub fn chars(text: &str) -> usize {
    text.trim().chars().count()
}

/// Is `text` over `max` as the server counts?
pub fn too_long(text: &str, max: usize) -> bool {
    chars(text) > max
}

/// Under a field: the count near the limit, and over it why the form will not send.
#[component]
pub fn LengthHint(#[prop(into)] text: Signal<String>, max: usize) -> impl IntoView {
    move || {
        let n = text.with(|t| chars(t));
        (n + NEAR > max).then(|| {
            let over = n > max;
            let words = match over {
                true => format!("{n} characters: the limit is {max}. Shorten it to send it."),
                false => format!("{n} of {max} characters"),
            };
            view! {
                <p class="length-hint" class:over=over data-length=n data-too-long=over.to_string() aria-live="polite">
                    {words}
                </p>
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use board_core::domain::{decide::valid_title, MAX_TITLE_CHARS};

    #[test]
    fn counts_as_the_server_does() {
        // 300 emoji are 600 UTF-16 units (a `maxlength` of 500 would have cut them at 250)
        // and 300 characters: within the limit here and on the server.
        let emoji = "\u{1F600}".repeat(300);
        assert_eq!(chars(&emoji), 300);
        assert!(!too_long(&emoji, MAX_TITLE_CHARS) && valid_title(&emoji).is_ok());
        let long = format!("  {}  ", "a".repeat(MAX_TITLE_CHARS + 1));
        assert!(too_long(&long, MAX_TITLE_CHARS) && valid_title(&long).is_err());
        let padded = format!("  {}  ", "a".repeat(MAX_TITLE_CHARS));
        assert!(!too_long(&padded, MAX_TITLE_CHARS) && valid_title(&padded).is_ok(), "spaces around are trimmed");
    }
}
