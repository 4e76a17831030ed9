//! The kanban: a header (name, connection, seq, pattern and transport pickers), the
//! backlog and one column per sprint, and the wire inspector.

use leptos::form::ActionForm;
use leptos::prelude::*;

use super::announcer::Announcer;
use super::connection::ConnectionStatus;
use super::cursors::Cursors;
use super::history::{MissedBanner, TimeTravel};
use super::inspector::WireInspector;
use super::lab::FaultLab;
use super::legend::Legend;
use super::length::{too_long, LengthHint};
use super::local_copy::{LocalCopyNote, OverdueList};
use super::one_line_form::OneLineForm;
use super::presence::PresenceList;
use super::refusals::Refusals;
use super::todo_card::TodoCard;
use super::undo::{UndoDeletes, UndoRedo};
use super::webhooks::WebhooksPanel;
use crate::sync::{BoardClient, Conn};
use board_core::api::{ShareLinks, Viewer};
use board_core::domain::{BoardState, Command, Id, Sprint, SprintStatus, MAX_TITLE_CHARS};
use board_core::optimistic::Refusal;
use board_core::patterns::PatternKind;
use board_core::protocol::Transport;

/// A client for one view of the board, started once the page is hydrated; `cursors`: it
/// shows and sends live cursors (the board page; a compare pane is only present).
pub fn live_client(
    initial: std::sync::Arc<BoardState>,
    pattern: PatternKind,
    transport: Transport,
    replica: String,
    poll_ms: Option<u32>,
    can_write: bool,
    cursors: bool,
) -> BoardClient {
    let client = BoardClient::new(initial, pattern, transport, replica, can_write);
    if let Some(ms) = poll_ms {
        client.poll_ms.set(ms.clamp(100, 60_000));
    }
    // Effects run only in the browser, after hydration: that is when the engine starts.
    Effect::new(move |started: Option<()>| {
        if started.is_none() {
            crate::sync::start(client, cursors);
        }
    });
    client
}

/// How much of a board one view renders at first, the same on the server and in the
/// browser (so the page hydrates): at most `columns` columns (the backlog and the first
/// sprints) and `cards` cards among them. A board may hold 5,000 todos and 200 sprints; a
/// page that rendered all of them (five times on the compare page, each card listing every
/// sprint it could move to) cost the server 1.5 s of CPU and 40 MB per request. Each column
/// and the row of sprints has a "show more" button for the rest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    pub cards: usize,
    pub columns: usize,
}

impl Budget {
    /// The board page.
    pub const PAGE: Budget = Budget { cards: 300, columns: 25 };
    /// Cards a column's "show more" adds.
    pub const MORE_CARDS: usize = 100;
    /// Sprint columns the row's "show more" adds.
    pub const MORE_COLUMNS: usize = 25;

    /// One of `panes` panes of the compare page: the page's budget shared between them.
    pub fn pane(panes: usize) -> Budget {
        let panes = panes.max(1);
        Budget { cards: (Budget::PAGE.cards / panes).max(10), columns: (30 / panes).max(3) }
    }

    /// How many cards each of the columns of these sizes may show: the budget shared out
    /// so that a short column takes what it needs and leaves the rest to the long ones
    /// (700 todos in the backlog and 24 empty sprints: the backlog shows 300), and never
    /// less than an even share, so that a short column has room to grow. What renders at
    /// first is at most the budget: a column shows no more cards than it has.
    fn share(self, sizes: &[usize]) -> Vec<usize> {
        let even = self.cards / sizes.len().max(1);
        let mut order: Vec<usize> = (0..sizes.len()).collect();
        order.sort_by_key(|&i| sizes[i]);
        let mut left = self.cards;
        let mut shares = vec![0; sizes.len()];
        for (done, &i) in order.iter().enumerate() {
            let fair = left / (sizes.len() - done);
            let used = sizes[i].min(fair);
            left -= used;
            shares[i] = used.max(even);
        }
        shares
    }
}

#[component]
pub fn BoardView(
    client: BoardClient,
    /// A pane of the compare page: the pickers do not rewrite the page's URL.
    #[prop(optional)]
    pane: bool,
    /// What this browser may do; its share links are shown to a holder of the write key.
    #[prop(optional)]
    viewer: Option<Viewer>,
    /// How much of the board to render at first.
    #[prop(default = Budget::PAGE)]
    budget: Budget,
) -> impl IntoView {
    let share = viewer.and_then(|v| v.share);
    let seq = move || client.state.with(|s| s.seq);
    // What the page shows is the confirmed board with the pending commands re-applied
    // (`shown`); the seq and the fingerprint are the confirmed board's, the seq applied.
    let name = move || client.shown.with(|s| s.state.board.name.clone());
    // The first sprints get a column (the budget's, then as many as "show more" asked).
    let sprint_columns = RwSignal::new(budget.columns.saturating_sub(1));
    let sprints =
        move || client.shown.with(|s| s.state.sprints.iter().take(sprint_columns.get()).cloned().collect::<Vec<_>>());
    let hidden_sprints = move || client.shown.with(|s| s.state.sprints.len()).saturating_sub(sprint_columns.get());
    // Cards per column at first: decided once, from the board as the page starts (the
    // server's render and the browser's hydration see the same board). A sprint added
    // later starts with a page of its own.
    let first = StoredValue::new(client.state.with_untracked(|s| {
        let columns: Vec<Option<Id>> =
            std::iter::once(None).chain(s.sprints.iter().map(|sp| Some(sp.id))).take(budget.columns).collect();
        let sizes: Vec<usize> = columns.iter().map(|c| s.todos.iter().filter(|t| t.sprint_id == *c).count()).collect();
        columns.into_iter().zip(budget.share(&sizes)).collect::<std::collections::HashMap<_, _>>()
    }));
    let first = move |column: Option<Id>| first.with_value(|f| f.get(&column).copied()).unwrap_or(Budget::MORE_CARDS);
    // Where a card can move (the backlog is always there): the open sprints that have a
    // column here. Built once per change for every card, not once per card.
    let targets = Memo::new(move |_| {
        client.shown.with(|s| {
            s.state
                .sprints
                .iter()
                .take(sprint_columns.get())
                .filter(|sp| sp.status != SprintStatus::Completed)
                .map(|sp| (sp.id, sp.name.clone()))
                .collect::<Vec<_>>()
        })
    });
    // Commands with no answer yet (offline, or on their way).
    let waiting = move || client.outbox.with(|o| o.waiting());
    // The pointer over the board, as fractions of its area (the section's box).
    let moved = move |ev: leptos::ev::MouseEvent| {
        #[cfg(feature = "hydrate")]
        {
            use wasm_bindgen::JsCast;
            let Some(area) = ev.current_target().and_then(|t| t.dyn_into::<web_sys::Element>().ok()) else { return };
            let rect = area.get_bounding_client_rect();
            if rect.width() > 0.0 && rect.height() > 0.0 {
                let x = (f64::from(ev.client_x()) - rect.left()) / rect.width();
                let y = (f64::from(ev.client_y()) - rect.top()) / rect.height();
                client.pointer_moved(x, y);
            }
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = ev;
    };

    let connection = super::connection::use_connection(client);
    let section = NodeRef::<leptos::html::Section>::new();
    super::focus::keep_focus(client, section);

    view! {
        <section
            node_ref=section
            class=if pane { "board pane" } else { "board" }
            on:mousemove=move |ev| if !pane { moved(ev) }
            data-client=move || client.me.get().map(|me| me.client)
            data-person=move || client.me.get().map(|me| me.person)
            data-board-seq=seq
            data-hydrated=move || client.running.get().to_string()
            data-conn=move || client.conn.get().as_str()
            data-connection=move || connection.get().as_str()
            data-stream=move || client.sharing.get().as_str()
            data-fingerprint=client.fingerprint
            data-pending-count=waiting
            data-sends-outbox=move || client.sends.get().to_string()
            data-local-copy=move || client.local_copy.get().map(|copy| copy.seq)
        >
            <header class="board-head">
                <div class="board-title">
                    <h1>{name}</h1>
                    <ConnectionStatus client connection/>
                    <span class="seq" title="the seq this client has applied">"seq " {seq}</span>
                    {(!pane).then(|| {
                        let href = format!("/boards/{}/compare", client.board_id());
                        view! { <a class="compare-link" href=href>"compare patterns side by side →"</a> }
                    })}
                </div>
                <Pickers client pane/>
            </header>
            {(!pane).then(|| view! { <Legend/> })}
            {share.map(|links| view! { <ShareLinksView board=client.board_id() links/> })}
            {(!pane).then(|| view! { <PresenceList client connection/> })}
            {move || (!client.can_write.get() && client.conn.get() != Conn::Revoked).then(|| view! {
                <p class="muted read-only" data-read-only="true">"Read-only: this link lets you see the board, not change it."</p>
            })}
            {move || client.notice.get().map(|message| view! {
                <p class="notice" role="alert">
                    {message}
                    <button class="link" on:click=move |_| client.notice.set(None)>"dismiss"</button>
                </p>
            })}
            {(!pane).then(|| view! { <MissedBanner client/> })}
            {(!pane).then(|| view! { <OverdueList client/> })}
            {(!pane).then(|| view! { <LocalCopyNote client/> })}
            {(!pane).then(|| view! { <UndoDeletes client/> })}
            {(!pane).then(|| view! { <UndoRedo client/> })}
            // Looking at the past, the board is read-only: `inert` takes its controls out
            // of reach of the mouse and the keyboard alike.
            <div class="columns" class:past=move || client.past.with(Option::is_some) inert=move || client.past.with(Option::is_some).then_some("")>
                <Column client sprint=None first=first(None) targets/>
                <For
                    each=sprints
                    key=|s: &Sprint| (s.id, s.status, s.name.clone())
                    children=move |s: Sprint| view! { <Column client first=first(Some(s.id)) sprint=Some(s) targets/> }
                />
                {move || (hidden_sprints() > 0).then(|| view! {
                    <div class="column more-columns">
                        <button
                            class="link"
                            data-more-sprints=hidden_sprints
                            on:click=move |_| sprint_columns.update(|n| *n += Budget::MORE_COLUMNS)
                        >
                            {move || format!("Show {} more sprints", hidden_sprints().min(Budget::MORE_COLUMNS))}
                        </button>
                    </div>
                })}
                <Show when=move || client.can_write.get()>
                    <AddSprint client/>
                </Show>
            </div>
            {(!pane).then(|| view! { <TimeTravel client/> })}
            {(!pane).then(|| view! { <Cursors client/> })}
            {(!pane).then(|| view! { <Announcer client connection/> })}
            {(!pane).then(|| view! {
                <Show
                    when=move || client.can_admin.get()
                    fallback=move || view! {
                        <p class="muted" data-admin-hint="">
                            "Webhooks and the replica's faults on this board are its owner's: open the board with its write link to administer them."
                        </p>
                    }
                >
                    <WebhooksPanel client/>
                </Show>
            })}
            {(!pane).then(|| view! { <FaultLab client/> })}
            <WireInspector client open=!pane/>
            <footer class="board-foot muted" class:hidden=pane>
                "served by replica " <span class="replica">{move || client.replica.get()}</span>
            </footer>
        </section>
    }
}

/// A private board's two share links, for whoever holds its write key. Opening one stores
/// its key in the browser; anyone who has the read link can see the board, the write link
/// also change it.
#[component]
fn ShareLinksView(board: String, links: ShareLinks) -> impl IntoView {
    let absolute = |path: &str| {
        #[cfg(feature = "hydrate")]
        if let Some(origin) = web_sys::window().and_then(|w| w.location().origin().ok()) {
            return format!("{origin}{path}");
        }
        path.to_owned()
    };
    let (read, write) = (absolute(&links.read), absolute(&links.write));
    // Just rotated (this page was reopened with the new write link): say what changed.
    let rotated = leptos_router::hooks::use_query_map().with_untracked(|q| q.get("rotated").is_some());
    let error = RwSignal::new(None::<String>);
    let rotate = move |_| {
        #[cfg(feature = "hydrate")]
        {
            let Some(window) = web_sys::window() else { return };
            let question = "Change this board's keys? Both links stop working at once for everyone who has them, \
                            your other tabs included; you get two new links to share.";
            if !window.confirm_with_message(question).unwrap_or(false) {
                return;
            }
            let board = board.clone();
            leptos::task::spawn_local(async move {
                match crate::sync::http::rotate_keys(&board).await {
                    // The new write link puts the new key in this browser's cookie; the page
                    // comes back with the panel open on the new links.
                    Ok(rotated) => {
                        let _ =
                            window.location().replace(&format!("/boards/{board}?key={}&rotated=1", rotated.keys.write));
                    }
                    Err(err) => error.set(Some(err.message())),
                }
            });
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = &board;
    };
    view! {
        <details class="share" open=rotated data-share-panel="">
            <summary>"Share this private board"</summary>
            <p class="muted">
                "Anyone with a link can open the board: the read-write link lets them change it, the read-only one only shows it. "
                "Changing the keys withdraws both links at once and makes new ones."
            </p>
            {rotated.then(|| view! {
                <p class="rotated" data-rotated="" role="status">
                    "New links made: the old ones no longer open this board. Send these to whoever should keep access."
                </p>
            })}
            <ShareLink kind="read" label="read-only" url=read/>
            <ShareLink kind="write" label="read-write" url=write/>
            <button class="small danger-outline" data-rotate-keys="" on:click=rotate>"Change the keys…"</button>
            {move || error.get().map(|e| view! { <p class="notice" role="alert">{e}</p> })}
        </details>
    }
}

/// One share link: the whole of it, selectable, and a button that copies it.
#[component]
fn ShareLink(kind: &'static str, label: &'static str, url: String) -> impl IntoView {
    let copied = RwSignal::new(false);
    let copy = {
        let url = url.clone();
        move |_| {
            #[cfg(feature = "hydrate")]
            if let Some(window) = web_sys::window() {
                let _ = window.navigator().clipboard().write_text(&url);
                copied.set(true);
                set_timeout(move || copied.set(false), std::time::Duration::from_secs(2));
            }
            #[cfg(not(feature = "hydrate"))]
            let _ = &url;
        }
    };
    let id = format!("share-{kind}");
    view! {
        <div class="share-link">
            <label for=id.clone()>{label}</label>
            <input id=id readonly data-share=kind prop:value=url.clone() value=url/>
            <button class="small" data-copy=kind on:click=copy aria-label=format!("Copy the {label} link")>
                {move || if copied.get() { "Copied" } else { "Copy" }}
            </button>
        </div>
    }
}

/// Pattern and transport pickers: switching reconnects from the applied seq, no reload.
#[component]
pub fn Pickers(client: BoardClient, pane: bool) -> impl IntoView {
    let remember_choice = move |client: BoardClient| {
        if !pane {
            remember_choice(client);
        }
    };
    let on_pattern = move |ev: leptos::ev::Event| {
        let value = event_target_value(&ev);
        if let Ok(pattern) = value.parse::<PatternKind>() {
            client.switch(pattern, client.transport.get_untracked());
            remember_choice(client);
        }
    };
    let on_transport = move |ev: leptos::ev::Event| {
        let value = event_target_value(&ev);
        if let Ok(transport) = value.parse::<Transport>() {
            client.switch(client.pattern.get_untracked(), transport);
            remember_choice(client);
        }
    };
    view! {
        <div class="pickers">
            <label>
                "pattern "
                <select name="pattern" on:change=on_pattern prop:value=move || client.pattern.get().as_str()>
                    {PatternKind::ALL.iter().map(|p| view! {
                        <option value=p.as_str() selected=move || client.pattern.get() == *p>{p.as_str()}</option>
                    }).collect_view()}
                </select>
            </label>
            <label>
                "transport "
                <select name="transport" on:change=on_transport prop:value=move || client.transport.get().as_str()>
                    {Transport::ALL.iter().map(|t| view! {
                        <option value=t.as_str() selected=move || client.transport.get() == *t>{t.as_str()}</option>
                    }).collect_view()}
                </select>
            </label>
            <label title="show your changes before the server confirms them">
                <input
                    type="checkbox"
                    name="optimistic"
                    prop:checked=move || client.optimistic.get()
                    on:change=move |ev| client.optimistic.set(event_target_checked(&ev))
                />
                " optimistic"
            </label>
            <Show when=move || client.transport.get() == Transport::Poll>
                <label>
                    "every "
                    <input
                        class="poll-ms"
                        name="poll_ms"
                        type="number"
                        min="100"
                        max="60000"
                        step="100"
                        prop:value=move || client.poll_ms.get().to_string()
                        on:change=move |ev| {
                            if let Ok(ms) = event_target_value(&ev).parse::<u32>() {
                                client.poll_ms.set(ms.clamp(100, 60_000));
                                remember_choice(client);
                            }
                        }
                    />
                    " ms"
                </label>
            </Show>
        </div>
    }
}

/// Keeps the URL in step with the pickers (so a reload or a shared link keeps them),
/// without navigating.
fn remember_choice(client: BoardClient) {
    #[cfg(feature = "hydrate")]
    if let Some(window) = web_sys::window() {
        let mut url = format!(
            "/boards/{}?pattern={}&transport={}",
            client.board_id(),
            client.pattern.get_untracked(),
            client.transport.get_untracked()
        );
        if client.transport.get_untracked() == Transport::Poll {
            url.push_str(&format!("&poll_ms={}", client.poll_ms.get_untracked()));
        }
        if let Ok(history) = window.history() {
            let _ = history.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&url));
        }
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = client;
}

/// The backlog (`sprint: None`) or one sprint: its `first` cards at first, and a button
/// for more. `targets`: where its cards can move.
#[component]
fn Column(
    client: BoardClient,
    sprint: Option<Sprint>,
    first: usize,
    targets: Memo<Vec<(Id, String)>>,
) -> impl IntoView {
    let sprint_id: Option<Id> = sprint.as_ref().map(|s| s.id);
    let status = sprint.as_ref().map(|s| s.status);
    let limit = RwSignal::new(first);
    // Each card shown with whether a pending command touched it.
    let cards = Memo::new(move |_| {
        client.shown.with(|s| {
            s.state
                .column(sprint_id)
                .into_iter()
                .take(limit.get())
                .map(|t| (t.clone(), s.pending_todos.contains(&t.id)))
                .collect::<Vec<_>>()
        })
    });
    let count = move || client.shown.with(|s| s.state.todos.iter().filter(|t| t.sprint_id == sprint_id).count());
    let hidden = move || count().saturating_sub(limit.get());
    let unfinished = move || {
        client.shown.with(|s| {
            s.state
                .todos
                .iter()
                .filter(|t| t.sprint_id == sprint_id && t.status != board_core::domain::TodoStatus::Done)
                .count()
        })
    };
    // The column's first and last todo, for the cards' up and down buttons: one pass per
    // change for the column, not one per card.
    let ends = Memo::new(move |_| {
        client.shown.with(|s| {
            let column = s.state.column(sprint_id);
            (column.first().map(|t| t.id), column.last().map(|t| t.id))
        })
    });
    // New todos for this column that the server refused.
    let new_here = |r: &Refusal, column: Option<Id>| matches!(&r.command, Command::AddTodo { sprint_id, .. } if *sprint_id == column);
    let column_key = sprint_id.map(|id| format!("sprint-{id}")).unwrap_or_else(|| "backlog".into());
    let title = sprint.as_ref().map(|s| s.name.clone()).unwrap_or_else(|| "Backlog".into());
    let class = format!("column column-{}", status.map(|s| s.as_str()).unwrap_or("backlog"));
    view! {
        <section class=class data-column=column_key>
            <header class="column-head">
                <h2>{title}</h2>
                <span class="count">{count}</span>
                {status.map(|st| view! { <span class=format!("badge badge-{}", st.as_str())>{st.as_str()}</span> })}
                {move || match (sprint_id, status, client.can_write.get()) {
                    (Some(id), Some(SprintStatus::Planned), true) => Some(view! {
                        <button class="small" data-focus="sprint" on:click=move |_| client.send(Command::StartSprint { id })>"Start"</button>
                    }.into_any()),
                    (Some(id), Some(SprintStatus::Active), true) => Some(view! {
                        <button class="small" data-focus="sprint" on:click=move |_| client.send(Command::CompleteSprint { id })>"Complete"</button>
                    }.into_any()),
                    _ => None,
                }}
            </header>
            // Completing a sprint moves its unfinished cards: say where, before and after.
            {move || match status {
                Some(SprintStatus::Active) => (unfinished() > 0 && client.can_write.get()).then(|| view! {
                    <p class="muted sprint-note" data-sprint-note="active">
                        {move || match unfinished() {
                            1 => "Completing it moves its 1 unfinished card to the end of the backlog.".to_owned(),
                            n => format!("Completing it moves its {n} unfinished cards to the end of the backlog."),
                        }}
                    </p>
                }.into_any()),
                Some(SprintStatus::Completed) => Some(view! {
                    <p class="muted sprint-note" data-sprint-note="completed">
                        "Completed: what was unfinished went to the end of the backlog."
                    </p>
                }.into_any()),
                _ => None,
            }}
            <ol
                class="todos"
                // A drop target: allow it, then move the dragged todo to where it fell.
                on:dragover=move |ev: leptos::ev::DragEvent| ev.prevent_default()
                on:drop=move |ev: leptos::ev::DragEvent| {
                    ev.prevent_default();
                    if let Some((id, position)) = super::drag::dropped(&ev) {
                        client.send(Command::MoveTodo { id, sprint_id, position: Some(position), expected_version: None });
                    }
                }
            >
                // Keyed by id alone: a card is updated in place when its todo changes, so
                // the focus and an open editor in it stay (its memo picks its todo out of
                // the column's; until the `<For>` drops it, it keeps the last it had).
                <For
                    each=move || cards.get()
                    key=|(t, _)| t.id
                    children=move |(todo, pending)| {
                        let id = todo.id;
                        let card = Memo::new(move |last: Option<&(board_core::domain::Todo, bool)>| {
                            cards
                                .with(|all| all.iter().find(|(t, _)| t.id == id).cloned())
                                .or_else(|| last.cloned())
                                .unwrap_or_else(|| (todo.clone(), pending))
                        });
                        view! { <TodoCard client id card ends targets/> }
                    }
                />
            </ol>
            {move || (hidden() > 0).then(|| view! {
                <button
                    class="link more-cards"
                    data-more-cards=hidden
                    on:click=move |_| limit.update(|n| *n += Budget::MORE_CARDS)
                >
                    {move || format!("Show {} more", hidden().min(Budget::MORE_CARDS))}
                </button>
            })}
            <Refusals client here=new_here at=sprint_id/>
            <Show when=move || client.can_write.get() && status != Some(SprintStatus::Completed)>
                <AddTodo client sprint_id/>
            </Show>
        </section>
    }
}

/// Adds a todo at the end of a column: an `<ActionForm>` for the `add_todo` server function,
/// so that it works without the page's script (the browser posts the form and is sent back
/// to the board). With the script running, the submit is taken first, in the capture phase
/// on the wrapper, and the command goes through the sync engine like every other (over the
/// chosen transport: up the WebSocket, or a `POST` with an Idempotency-Key and retries);
/// `ActionForm` sees the event handled and does nothing.
#[component]
fn AddTodo(client: BoardClient, sprint_id: Option<Id>) -> impl IntoView {
    let action = ServerAction::<crate::server_fns::AddTodo>::new();
    let title = RwSignal::new(String::new());
    let send = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let value = title.get_untracked();
        if !value.trim().is_empty() && !too_long(&value, MAX_TITLE_CHARS) {
            client.send(Command::AddTodo { title: value, sprint_id });
            title.set(String::new());
        }
    };
    view! {
        <div class="add-todo" on:submit:capture=send>
            <ActionForm action>
                <input
                    name="title"
                    data-add-todo=""
                    placeholder="Add a todo"
                    aria-label="New todo title"
                    prop:value=move || title.get()
                    on:input:target=move |ev| title.set(ev.target().value())
                />
                <button type="submit">"Add"</button>
                <LengthHint text=title max=MAX_TITLE_CHARS/>
                // After the visible field, so `.add-todo input` still finds the title first.
                <input type="hidden" name="board" value=client.board_id()/>
                {sprint_id.map(|id| view! { <input type="hidden" name="sprint_id" value=id.to_string()/> })}
            </ActionForm>
        </div>
    }
}

/// Adds a planned sprint.
#[component]
fn AddSprint(client: BoardClient) -> impl IntoView {
    view! {
        <OneLineForm
            class="column add-sprint"
            name="sprint"
            placeholder="New sprint name"
            label="New sprint name"
            max_chars=board_core::domain::MAX_NAME_CHARS
            button="Add sprint"
            on_submit=move |name| client.send(Command::AddSprint { name })
        />
    }
}

#[cfg(test)]
mod tests {
    use super::Budget;

    #[test]
    fn the_card_budget_goes_where_the_cards_are() {
        let budget = Budget { cards: 300, columns: 25 };
        // What each column may show; what it renders is the least of that and its size.
        let shown = |sizes: &[usize]| -> Vec<usize> {
            budget.share(sizes).iter().zip(sizes).map(|(share, size)| (*share).min(*size)).collect()
        };
        assert_eq!(budget.share(&[700, 0, 0]), [300, 100, 100], "room to grow in the empty ones");
        assert_eq!(shown(&[700, 0, 0]), [300, 0, 0]);
        assert_eq!(budget.share(&[10, 500, 500]), [100, 145, 145]);
        assert_eq!(shown(&[10, 500, 500]), [10, 145, 145]);
        assert_eq!(budget.share(&[5, 6, 7]), [100, 100, 100]);
        assert_eq!(budget.share(&[]), Vec::<usize>::new());
        let shares = shown(&[1000; 25]);
        assert!(shares.iter().sum::<usize>() <= 300 && shares.iter().all(|s| *s == 12));
        // Whatever the sizes, what renders at first stays within the budget.
        for sizes in [vec![1, 2, 3, 400, 5000], vec![0; 25], vec![299, 1, 1], vec![301]] {
            assert!(shown(&sizes).iter().sum::<usize>() <= 300, "{sizes:?}");
        }
    }
}
