//! Bounded by construction: every route of the router is in one table with what bounds it:
//! who may call it (the gate), how often (a rate), how big a request may be (a body cap),
//! and what it may cost on the largest board the limits allow, with the test that holds
//! each bound. The test walks the router itself (every path it registered, and which
//! methods each answers) and fails on a route missing from the table, or a row the router
//! no longer has: the next surface cannot ship unbounded, nor a bound outlive its route.

mod common;

use std::collections::BTreeSet;

use common::{Backend, TestServer};

/// Who may call a route.
#[derive(Debug)]
enum Gate {
    /// Anyone who reaches the server: what it answers holds no board's data, or only public
    /// boards'.
    Anyone,
    /// Whoever may read the board (`Reader`): anyone on a public board, a key on a private one.
    Reader,
    /// Whoever may change the board (`Writer`, or the command service's check).
    Writer,
    /// The board's write key (`Admin`).
    Admin,
    /// `FAULTS=1`, then the board's write key for its faults and `LAB_TOKEN` for the
    /// database (`lab`).
    Lab,
    /// `ADMIN_TOKEN` as a bearer, or the console's sign-in cookie (`admin`); without the
    /// setting, the route does not exist.
    Operator,
}

/// One route and what bounds it.
struct Row {
    method: &'static str,
    path: &'static str,
    gate: Gate,
    /// How often one client may call it.
    rate: &'static str,
    /// The most a request may carry.
    body: &'static str,
    /// What one call may cost the server on the largest board the limits allow (5,000 todos
    /// of 500 characters, 200 sprints), and why it cannot cost more.
    cost: &'static str,
    /// Where the bound is held (a test, or a benchmark for figures).
    held_by: &'static str,
}

const BODY: &str = "64 KiB (413), read within HEADER_TIMEOUT (408)";
const NONE: &str = "none (a GET)";

const ROUTES: &[Row] = &[
    Row {
        method: "GET",
        path: "/",
        gate: Gate::Anyone,
        rate: "PAGE_RENDERS_PER_IP 2 at once, 8 waiting (429); PAGE_RENDERS per replica (503)",
        body: NONE,
        cost: "a page: the public boards (200 at most) and at most 16 key cookies' boards",
        held_by: "pages.rs renders_are_bounded_per_client_and_per_replica",
    },
    Row {
        method: "GET",
        path: "/boards/{id}",
        gate: Gate::Reader,
        rate: "render slots, as /",
        body: NONE,
        cost:
            "300 cards in 25 columns at first, whatever the board; one shared copy of it (40 ms, +5 MiB at 4,000 todos)",
        held_by: "pages.rs a_big_board_renders_a_bounded_first_page; bench abuse -- pages --page board",
    },
    Row {
        method: "GET",
        path: "/boards/{id}/compare",
        gate: Gate::Reader,
        rate: "render slots, as /",
        body: NONE,
        cost: "the page's 300 cards shared by at most 6 panes, one copy of the board (50-70 ms, +1-8 MiB)",
        held_by: "pages.rs a_big_board_renders_a_bounded_first_page; bench abuse -- pages",
    },
    Row {
        method: "POST",
        path: "/api/fn/add_todo",
        gate: Gate::Writer,
        rate: "COMMANDS_PER_MINUTE (429 + Retry-After)",
        body: "the page's form only, with an Origin (415, 403); 64 KiB",
        cost: "one command",
        held_by: "server_fns.rs server_functions_take_only_what_they_should",
    },
    Row {
        method: "POST",
        path: "/api/fn/run_command",
        gate: Gate::Writer,
        rate: "COMMANDS_PER_MINUTE (429 + Retry-After)",
        body: "JSON only (415); 64 KiB",
        cost: "one command",
        held_by: "server_fns.rs server_functions_take_only_what_they_should",
    },
    Row {
        method: "GET",
        path: "/api/boards",
        gate: Gate::Anyone,
        rate: "none: cheap",
        body: NONE,
        cost: "200 public boards and at most 16 key cookies checked",
        held_by: "access.rs share_links_and_the_board_list",
    },
    Row {
        method: "POST",
        path: "/api/boards",
        gate: Gate::Anyone,
        rate: "BOARDS_PER_MINUTE (429 + Retry-After)",
        body: BODY,
        cost: "one row",
        held_by: "access.rs limits_answer_429_and_change_nothing",
    },
    Row {
        method: "GET",
        path: "/api/ice-servers",
        gate: Gate::Anyone,
        rate: "60 a minute per client (429)",
        body: NONE,
        cost: "a short-lived TURN credential at most",
        held_by: "presence.rs the_page_learns_its_ice_servers",
    },
    Row {
        method: "GET",
        path: "/api/lab",
        gate: Gate::Anyone,
        rate: "none: reads no database",
        body: NONE,
        cost: "a few atomics",
        held_by: "lab.rs off_unless_the_replica_runs_with_faults",
    },
    Row {
        method: "POST",
        path: "/api/lab",
        gate: Gate::Lab,
        rate: "a database pause: 30 s at most, a third of the time (429)",
        body: BODY,
        cost: "setting a fault; at most 1,000 boards with faults (429)",
        held_by: "lab.rs only_owners_break_a_board_and_only_the_lab_token_pauses_the_database",
    },
    Row {
        method: "GET",
        path: "/api/boards/{board}",
        gate: Gate::Reader,
        rate: "none: encoded once per seq, ETag/304",
        body: NONE,
        cost: "the cached JSON (the snapshot cache is bounded in bytes)",
        held_by: "freshness.rs the_snapshot_cache_is_bounded_in_bytes_least_recently_used_first",
    },
    Row {
        method: "POST",
        path: "/api/boards/{board}/commands",
        gate: Gate::Writer,
        rate: "COMMANDS_PER_MINUTE (429 + Retry-After)",
        body: BODY,
        cost: "one transaction over the board (MAX_TODOS_PER_BOARD, MAX_SPRINTS_PER_BOARD)",
        held_by: "access.rs limits_answer_429_and_change_nothing; api.rs board_size_limits",
    },
    Row {
        method: "GET",
        path: "/api/boards/{board}/access",
        gate: Gate::Reader,
        rate: "none: one row",
        body: NONE,
        cost: "the gate's one read",
        held_by: "access.rs share_links_and_the_board_list",
    },
    Row {
        method: "POST",
        path: "/api/boards/{board}/keys",
        gate: Gate::Admin,
        rate: "COMMANDS_PER_MINUTE",
        body: BODY,
        cost: "one row",
        held_by: "webhooks.rs a_public_boards_webhooks_are_its_owners",
    },
    Row {
        method: "GET",
        path: "/api/boards/{board}/changes",
        gate: Gate::Reader,
        rate: "none",
        body: NONE,
        cost: "one page of the log: 500 changes, about 1 MiB",
        held_by: "bounds.rs a_long_log_is_caught_up_in_pages_on_every_path",
    },
    Row {
        method: "GET",
        path: "/api/boards/{board}/snapshots/{seq}",
        gate: Gate::Reader,
        rate: "none: immutable, cached by proxies",
        body: NONE,
        cost: "the cached JSON at the head; 410 for older",
        held_by: "api.rs snapshots_at_immutable_urls",
    },
    Row {
        method: "GET",
        path: "/api/boards/{board}/history",
        gate: Gate::Reader,
        rate: "HISTORY_PER_MINUTE 600 per client, bursts of 100 (429)",
        body: NONE,
        cost: "one snapshot (the board, up to its 4 MiB of text) and fewer than SNAPSHOT_EVERY (1,000) events \
               replayed; at most 500 changes after it",
        held_by: "history.rs history_reads_are_bounded_gated_and_limited",
    },
    Row {
        method: "GET",
        path: "/api/admin/connections",
        gate: Gate::Operator,
        rate: "none of its own: the operator's",
        body: NONE,
        cost: "a walk of this replica's open streams (MAX_CONNECTIONS at most), 500 of them listed",
        held_by: "admin.rs the_operator_sees_every_open_stream_and_ends_one_or_a_boards",
    },
    Row {
        method: "POST",
        path: "/api/admin/connections/{id}/disconnect",
        gate: Gate::Operator,
        rate: "none of its own: the operator's",
        body: NONE,
        cost: "one lookup; the stream ends",
        held_by: "admin.rs the_operator_sees_every_open_stream_and_ends_one_or_a_boards",
    },
    Row {
        method: "POST",
        path: "/api/admin/boards/{board}/end",
        gate: Gate::Operator,
        rate: "none of its own: the operator's",
        body: NONE,
        cost: "a walk of this replica's open streams, and of every other replica's when the bus brings it",
        held_by: "admin.rs the_console_of_either_replica_shows_both_and_acts_on_either",
    },
    Row {
        method: "GET",
        path: "/api/admin/cluster",
        gate: Gate::Operator,
        rate: "none of its own: the view is built at most once a second, whoever asks",
        body: NONE,
        cost: "every replica's report (64 at most, 6,000 bytes each) and one query: 20 webhooks",
        held_by: "admin.rs the_console_of_either_replica_shows_both_and_acts_on_either",
    },
    Row {
        method: "GET",
        path: "/api/admin/stream",
        gate: Gate::Operator,
        rate: "WATCHING 8 consoles at once per replica (429)",
        body: NONE,
        cost: "the view every 2 s, shared by every console watching",
        held_by: "admin.rs signing_in_sets_a_cookie_that_opens_the_console_and_nothing_else",
    },
    Row {
        method: "POST",
        path: "/api/admin/replicas/{replica}/connections/{id}/disconnect",
        gate: Gate::Operator,
        rate: "none of its own: the operator's",
        body: NONE,
        cost: "one lookup here, or one bus message",
        held_by: "admin.rs the_console_of_either_replica_shows_both_and_acts_on_either",
    },
    Row {
        method: "POST",
        path: "/api/admin/webhooks/{id}/pause",
        gate: Gate::Operator,
        rate: "none of its own: the operator's",
        body: NONE,
        cost: "one row",
        held_by: "admin.rs the_operator_pauses_and_resumes_a_webhook_with_a_backlog",
    },
    Row {
        method: "POST",
        path: "/api/admin/webhooks/{id}/resume",
        gate: Gate::Operator,
        rate: "none of its own: the operator's",
        body: NONE,
        cost: "one row, and a delivery",
        held_by: "admin.rs the_operator_pauses_and_resumes_a_webhook_with_a_backlog",
    },
    Row {
        method: "GET",
        path: "/api/boards/{board}/traces/{trace}",
        gate: Gate::Reader,
        rate: "none of its own: a lookup in memory",
        body: NONE,
        cost: "one trace's hops from memory: at most 48, of the 512 traces a replica keeps",
        held_by: "tracing.rs the_waterfalls_routes_refuse_what_they_cannot_use",
    },
    Row {
        method: "POST",
        path: "/api/boards/{board}/traces/{trace}/apply",
        gate: Gate::Reader,
        rate: "COMMANDS_PER_MINUTE per client (429); 16 applies per trace, then 429",
        body: BODY,
        cost: "one span, kept in memory with the trace's other hops (48 at most)",
        held_by: "tracing.rs the_waterfalls_routes_refuse_what_they_cannot_use",
    },
    Row {
        method: "GET",
        path: "/api/boards/{board}/todos/{id}/history",
        gate: Gate::Reader,
        rate: "HISTORY_PER_MINUTE 600 per client, bursts of 100 (429)",
        body: NONE,
        cost: "an index range: the todo's newest 200 changes, and the sprint completions (200 at most)",
        held_by: "history.rs a_todos_history_names_every_change_and_who_made_it",
    },
    Row {
        method: "POST",
        path: "/api/boards/{board}/signal",
        gate: Gate::Reader,
        rate: "20 a second per tab, 1 MiB a second per client (429)",
        body: "64 KiB of data (413)",
        cost: "a frame into one mailbox (64 signals, 64 KiB a second in)",
        held_by: "presence_bounds.rs a_tab_takes_in_a_bounded_number_of_signal_bytes",
    },
    Row {
        method: "POST",
        path: "/api/boards/{board}/leave",
        gate: Gate::Reader,
        rate: "none: the tab's own (403 otherwise)",
        body: BODY,
        cost: "a flag",
        held_by: "presence_bounds.rs a_tabs_id_is_the_connections_that_claimed_it",
    },
    Row {
        method: "GET",
        path: "/api/boards/{board}/webhooks",
        gate: Gate::Reader,
        rate: "none",
        body: NONE,
        cost: "20 webhooks at most, without secrets for anyone but the owner",
        held_by: "webhooks.rs a_public_boards_webhooks_are_its_owners",
    },
    Row {
        method: "POST",
        path: "/api/boards/{board}/webhooks",
        gate: Gate::Admin,
        rate: "20 per board (422)",
        body: "64 KiB; a URL of 2,048 characters",
        cost: "a DNS lookup and a row; deliveries: 1 at a time per webhook, 4 per board, 512 per replica",
        held_by: "webhooks.rs webhooks_need_the_write_key, stuck_receivers_hold_their_own_boards_slots_only",
    },
    Row {
        method: "DELETE",
        path: "/api/boards/{board}/webhooks/{id}",
        gate: Gate::Admin,
        rate: "none: one row",
        body: NONE,
        cost: "one row",
        held_by: "webhooks.rs a_public_boards_webhooks_are_its_owners",
    },
    Row {
        method: "POST",
        path: "/api/boards/{board}/webhooks/{id}/replay",
        gate: Gate::Admin,
        rate: "the webhook's one delivery at a time",
        body: BODY,
        cost: "one row; the deliveries as above",
        held_by: "webhooks.rs replay_delivers_again_with_the_same_ids",
    },
    Row {
        method: "POST",
        path: "/api/boards/{board}/webhooks/{id}/secret",
        gate: Gate::Admin,
        rate: "none: one row",
        body: BODY,
        cost: "one row",
        held_by: "webhooks.rs a_public_boards_webhooks_are_its_owners",
    },
    Row {
        method: "GET",
        path: "/api/boards/{board}/webhooks/{id}/deliveries",
        gate: Gate::Admin,
        rate: "none",
        body: NONE,
        cost: "the newest 100 attempts",
        held_by: "webhooks.rs a_public_boards_webhooks_are_its_owners",
    },
    Row {
        method: "GET",
        path: "/api/boards/{board}/poll",
        gate: Gate::Reader,
        rate: "MAX_TABS_PER_IP for the tabs it names",
        body: NONE,
        cost: "one page of frames (1 MiB) or 304",
        held_by: "bounds.rs a_long_log_is_caught_up_in_pages_on_every_path",
    },
    Row {
        method: "GET",
        path: "/api/boards/{board}/long-poll",
        gate: Gate::Reader,
        rate: "MAX_STREAMS_PER_IP while held (429)",
        body: NONE,
        cost: "held 55 s at most; one page of frames",
        held_by: "bounds.rs a_long_log_is_caught_up_in_pages_on_every_path",
    },
    Row {
        method: "GET",
        path: "/api/boards/{board}/sse",
        gate: Gate::Reader,
        rate: "MAX_STREAMS_PER_IP (429)",
        body: NONE,
        cost: "256 KiB of queued frames (or one frame) at most, cut after 10 s without room",
        held_by: "bounds.rs slow_sse_readers_are_cut_and_hold_little",
    },
    Row {
        method: "GET",
        path: "/api/boards/{board}/ws",
        gate: Gate::Reader,
        rate: "MAX_STREAMS_PER_IP (429); commands up it at COMMANDS_PER_MINUTE",
        body: "messages of 64 KiB (close 1009)",
        cost: "a 1 KiB read buffer; cut after 10 s without room (close 1013)",
        held_by: "websocket.rs a_message_over_64_kib_closes_with_1009; bounds.rs clients_that_stop_reading_are_cut_off",
    },
    Row {
        method: "GET",
        path: "/api/boards/{board}/{transport}",
        gate: Gate::Anyone,
        rate: "none: a 400",
        body: NONE,
        cost: "a refusal that names the transports",
        held_by: "api.rs every_refusal_changes_nothing",
    },
    Row {
        method: "GET",
        path: "/docs/{file}",
        gate: Gate::Anyone,
        rate: "none: no I/O",
        body: NONE,
        cost: "a copy of one of twelve docs compiled in (the largest 43 KB); any other name is a 404",
        held_by: "pages.rs docs_are_the_listed_files_as_plain_text_and_nothing_else",
    },
    Row {
        method: "GET",
        path: "/sw.js",
        gate: Gate::Anyone,
        rate: "none: no I/O",
        body: NONE,
        cost: "a copy of the worker made at startup (about 3 KB)",
        held_by: "pages.rs the_service_worker_keeps_the_shell_the_pages_link",
    },
    Row {
        method: "GET",
        path: "/healthz",
        gate: Gate::Anyone,
        rate: "none: no I/O",
        body: NONE,
        cost: "nothing",
        held_by: "connections.rs connections_that_ask_nothing_are_closed_within_the_header_timeout",
    },
    Row {
        method: "GET",
        path: "/readyz",
        gate: Gate::Anyone,
        rate: "none",
        body: NONE,
        cost: "a database ping and a broker ping",
        held_by: "api.rs health_and_replica_header",
    },
    Row {
        method: "GET",
        path: "/admin",
        gate: Gate::Operator,
        rate: "render slots, as /",
        body: NONE,
        cost: "a page without data: the sign-in form, or the console's frame (its data comes over its stream)",
        held_by: "admin.rs signing_in_sets_a_cookie_that_opens_the_console_and_nothing_else",
    },
    Row {
        method: "POST",
        path: "/admin/login",
        gate: Gate::Anyone,
        rate: "LOGINS_PER_MINUTE 10 per client (429), before the token is compared",
        body: "64 KiB form",
        cost: "one SHA-256 and one HMAC",
        held_by: "admin.rs signing_in_sets_a_cookie_that_opens_the_console_and_nothing_else",
    },
    Row {
        method: "POST",
        path: "/admin/logout",
        gate: Gate::Anyone,
        rate: "none of its own: it only clears a cookie",
        body: NONE,
        cost: "nothing",
        held_by: "admin.rs signing_in_sets_a_cookie_that_opens_the_console_and_nothing_else",
    },
    Row {
        method: "POST",
        path: "/boards",
        gate: Gate::Anyone,
        rate: "BOARDS_PER_MINUTE (429)",
        body: "64 KiB form",
        cost: "one row",
        held_by: "access.rs limits_answer_429_and_change_nothing",
    },
];

/// Every path the router registered, from its own description of itself: its path
/// routers list them as `RouteId(N): "<path>"` (paths hold braces, so the entries are found
/// by their quotes, not by the map's).
fn registered_paths(router: &axum::Router) -> BTreeSet<String> {
    let described = format!("{router:?}");
    let mut paths = BTreeSet::new();
    for entry in described.split("RouteId(").skip(1) {
        let Some(close) = entry.find("): \"") else { continue };
        if !entry[..close].bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let rest = &entry[close + 4..];
        if let Some(end) = rest.find('"') {
            paths.insert(rest[..end].to_owned());
        }
    }
    paths
}

/// A concrete URL for a path pattern: each parameter filled in.
fn concrete(path: &str) -> String {
    path.replace("{board}", "demo")
        .replace("{id}", "demo")
        .replace("{seq}", "1")
        .replace("{transport}", "pigeon")
        .replace("{*name}", "nope")
        .replace("{*rest}", "nope")
}

/// Paths that only catch what no other route does (a JSON 404 for anything else under
/// `/api`, `/metrics` on this listener), and axum's own fallback (static files and the
/// app's 404 page).
const CATCH_ALLS: &[&str] = &["/api/{*rest}", "/api/fn/{*name}", "/metrics", "/{*__private__axum_fallback}"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_is_in_the_table_of_bounds() {
    let srv = TestServer::start(Backend::Sqlite).await;
    let router = server::router::router(srv.app.clone());
    let paths = registered_paths(&router);
    assert!(paths.contains("/api/boards/{board}/sse"), "the router describes its paths: {paths:?}");

    // Which methods each path answers (anything but 405), asked of the running server.
    let no_redirects = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let mut routed = BTreeSet::new();
    for path in paths.iter().filter(|p| !CATCH_ALLS.contains(&p.as_str())) {
        for method in ["GET", "POST", "PUT", "PATCH", "DELETE"] {
            let request = no_redirects.request(method.parse().unwrap(), srv.url(&concrete(path)));
            let r = request.header("content-type", "application/json").body("{}").send().await.unwrap();
            if r.status() != 405 {
                routed.insert((method.to_owned(), path.clone()));
            }
        }
    }
    let table: BTreeSet<(String, String)> = ROUTES.iter().map(|r| (r.method.to_owned(), r.path.to_owned())).collect();
    let missing: Vec<_> = routed.difference(&table).collect();
    let stale: Vec<_> = table.difference(&routed).collect();
    assert!(missing.is_empty(), "routes with no row of bounds: {missing:?}");
    assert!(stale.is_empty(), "rows for routes the router does not have: {stale:?}");
    for row in ROUTES {
        assert!(
            !row.rate.is_empty() && !row.body.is_empty() && !row.cost.is_empty() && !row.held_by.is_empty(),
            "{} {}: every bound is said ({:?})",
            row.method,
            row.path,
            row.gate
        );
    }
    println!("{} routes, each with its gate, rate, body cap, cost and the test that holds it", ROUTES.len());
    srv.stop().await;
}
