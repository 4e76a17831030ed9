//! What the page says of the browser's local copy: the commands that waited too long (or
//! were made against a board since replaced) and are not sent without the person, each
//! with what it would do now, Send or Discard (every tab lists the same ones; a choice in
//! one holds in all); a board shown from the local copy, and how old it is; and a
//! browser that keeps no copy at all.

use leptos::prelude::*;

use crate::sync::outbox::OverdueCommand;
use crate::sync::BoardClient;
use board_core::optimistic::Overdue;

#[component]
pub fn OverdueList(client: BoardClient) -> impl IntoView {
    move || {
        let listed = client.overdue.get();
        (!listed.is_empty()).then(|| {
            let count = listed.len();
            view! {
                <section class="overdue" role="region" aria-label="Changes waiting for you" data-overdue=count>
                    <p>
                        {format!("{count} change{} made a while ago {} not sent by itself: the board may have moved on. Send or discard each.",
                            if count == 1 { "" } else { "s" }, if count == 1 { "was" } else { "were" })}
                    </p>
                    <ul>{listed.into_iter().map(|o| row(client, o)).collect_view()}</ul>
                </section>
            }
        })
    }
}

fn row(client: BoardClient, overdue: OverdueCommand) -> impl IntoView {
    let why = match overdue.why {
        Overdue::Old { age_ms } => format!("made {} ago", age(age_ms)),
        Overdue::OtherEpoch => "made before the board was replaced".into(),
    };
    let (outcome, refused) = match &overdue.outcome {
        Ok(does) => (format!("if sent now: {does}"), false),
        Err(why) => (format!("the server would refuse it: {why}"), true),
    };
    let (send, discard) = (overdue.key.clone(), overdue.key.clone());
    view! {
        <li data-overdue-key=overdue.key.clone() class:refused=refused>
            <span>{why} ": " {outcome}</span>
            <button class="small" data-overdue-send="" on:click=move |_| client.send_overdue(send.clone())>"Send"</button>
            <button class="small" data-overdue-discard="" on:click=move |_| client.discard(discard.clone())>"Discard"</button>
        </li>
    }
}

/// The board shown is the browser's copy (no connection yet), or the browser keeps none.
#[component]
pub fn LocalCopyNote(client: BoardClient) -> impl IntoView {
    view! {
        {move || client.local_copy.get().map(|copy| {
            let old = (js_sys_now() - copy.saved_at).max(0);
            view! {
                <p class="local-copy" role="status">
                    {format!("Showing this browser's copy of the board (seq {}, saved {} ago): it catches up as soon as a connection opens.", copy.seq, age(old))}
                </p>
            }
        })}
        {move || client.storage_failure.get().map(|why| view! {
            <p class="notice" role="alert" data-storage="memory">
                {format!("This browser is not keeping a copy of the board: {why}. Changes you make while offline last only as long as this tab.")}
            </p>
        })}
    }
}

/// Now (Unix ms) in the browser; rendering on the server has no local copy to age.
fn js_sys_now() -> i64 {
    #[cfg(feature = "hydrate")]
    return js_sys::Date::now() as i64;
    #[cfg(not(feature = "hydrate"))]
    0
}

/// An age in the largest unit that fits: "3 days", "5 hours", "12 minutes".
fn age(ms: i64) -> String {
    let minutes = (ms / 60_000).max(1);
    let (n, unit) = match minutes {
        m if m >= 2 * 24 * 60 => (m / (24 * 60), "days"),
        m if m >= 2 * 60 => (m / 60, "hours"),
        m => (m, if m == 1 { "minute" } else { "minutes" }),
    };
    format!("{n} {unit}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn ages_read_in_the_largest_unit_that_fits() {
        assert_eq!(super::age(30_000), "1 minute");
        assert_eq!(super::age(45 * 60_000), "45 minutes");
        assert_eq!(super::age(25 * 3_600_000), "25 hours");
        assert_eq!(super::age(3 * 24 * 3_600_000), "3 days");
    }
}
