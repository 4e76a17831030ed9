//! The commands that waited too long (or were made against a board since replaced) and
//! are not sent without the person: each with what it would do now, and Send or Discard.
//! Every tab of the browser lists the same ones; a choice in one holds in all.

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
