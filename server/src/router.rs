//! Every route in one place: the REST API, the streams, health, the Leptos pages, and the
//! site's files (`assets`).

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{header, HeaderName, HeaderValue};
use axum::routing::{any, get, post};
use axum::{middleware, Router};
use leptos::prelude::provide_context;
use leptos_axum::{generate_route_list, LeptosRoutes};
use tower_http::compression::CompressionLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::RequestBodyTimeoutLayer;
use tower_http::trace::TraceLayer;

use app::ssr::{SharedCommands, SharedPageData};

use crate::access::{origin, share};
use crate::admin;
use crate::error::AppError;
use crate::limits::MAX_BODY_BYTES;
use crate::rest::{
    boards, changes, commands, docs, health, history, lab, server_fns, signals, snapshots, traces, webhooks,
};
use crate::state::AppState;
use crate::transports::{self, long_poll, poll, sse, ws};

pub fn router(app: AppState) -> Router {
    let api = Router::new()
        .route("/api/boards", get(boards::list).post(boards::create))
        .route("/api/ice-servers", get(signals::ice_servers))
        // The fault lab (`FAULTS=1`): replica-wide, so outside any board.
        .route("/api/lab", get(lab::get).post(lab::post))
        .route("/api/boards/{board}", get(boards::state))
        .route("/api/boards/{board}/commands", post(commands::post))
        .route("/api/boards/{board}/access", get(boards::viewer))
        .route("/api/boards/{board}/keys", post(boards::rotate_keys))
        .route("/api/boards/{board}/changes", get(changes::get))
        .route("/api/boards/{board}/snapshots/{seq}", get(snapshots::get))
        .route("/api/boards/{board}/history", get(history::at))
        .route("/api/boards/{board}/todos/{id}/history", get(history::todo))
        .route("/api/admin/cluster", get(admin::api::cluster))
        .route("/api/admin/stream", get(admin::api::stream))
        .route("/api/admin/connections", get(admin::api::connections))
        .route("/api/admin/connections/{id}/disconnect", post(admin::api::disconnect))
        .route("/api/admin/replicas/{replica}/connections/{id}/disconnect", post(admin::api::disconnect_on))
        .route("/api/admin/boards/{board}/end", post(admin::api::end_board))
        .route("/api/admin/webhooks/{id}/pause", post(admin::api::pause_webhook))
        .route("/api/admin/webhooks/{id}/resume", post(admin::api::resume_webhook))
        .route("/api/boards/{board}/traces/{trace}", get(traces::get))
        .route("/api/boards/{board}/traces/{trace}/apply", post(traces::apply))
        .route("/api/boards/{board}/signal", post(signals::signal))
        .route("/api/boards/{board}/leave", post(signals::leave))
        .route("/api/boards/{board}/webhooks", get(webhooks::list).post(webhooks::create))
        .route("/api/boards/{board}/webhooks/{id}", axum::routing::delete(webhooks::delete))
        .route("/api/boards/{board}/webhooks/{id}/replay", post(webhooks::replay))
        .route("/api/boards/{board}/webhooks/{id}/secret", post(webhooks::rotate_secret))
        .route("/api/boards/{board}/webhooks/{id}/deliveries", get(webhooks::deliveries))
        .route("/api/boards/{board}/poll", get(poll::handler))
        .route("/api/boards/{board}/long-poll", get(long_poll::handler))
        .route("/api/boards/{board}/sse", get(sse::handler))
        .route("/api/boards/{board}/ws", get(ws::handler))
        .route("/api/boards/{board}/{transport}", get(transports::unknown))
        // Each server function has its own route (below, with the pages); any other name:
        .route("/api/fn/{*name}", any(server_fns::unknown))
        // Anything else under /api is a JSON 404, never the HTML app.
        .route("/api/{*rest}", any(|| async { AppError::NotFound("no such API route".into()) }))
        .route("/boards", post(boards::create_from_form))
        // The console's sign-in form (the page is `/admin`, with the other pages).
        .route("/admin/login", post(admin::session::login))
        .route("/admin/logout", post(admin::session::logout))
        // The project's docs as plain text, which the page's legend links to.
        .route("/docs/{file}", get(docs::get))
        .route("/sw.js", get(crate::shell::get))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        // Metrics have their own listener (METRICS_BIND); here they do not exist.
        .route("/metrics", any(|| async { AppError::NotFound("no such route".into()) }));

    let page_data: SharedPageData = Arc::new(app.clone());
    // The command service behind the server functions (`app::server_fns`), which Leptos
    // routes with the pages' context.
    let commands: SharedCommands = Arc::new(app.clone());
    // The stylesheet's fingerprinted address, which the shell links on every page.
    let stylesheet = app::ssr::Stylesheet(app.assets.stylesheet.as_str().into());
    let outbox_max_age = app::ssr::OutboxMaxAge(app.outbox_max_age.as_secs());
    let not_found = leptos_axum::file_and_error_handler_with_context::<AppState, _>(
        {
            let stylesheet = stylesheet.clone();
            move || provide_context(stylesheet.clone())
        },
        app::shell,
    );
    let options = app.leptos.clone();
    let pages = Router::new()
        .leptos_routes_with_context(
            &app,
            generate_route_list(app::App),
            move || {
                provide_context(page_data.clone());
                provide_context(commands.clone());
                provide_context(stylesheet.clone());
                provide_context(outbox_max_age);
                // A fresh nonce per page: the hydration script carries it, the CSP names it.
                leptos::nonce::provide_nonce();
            },
            move || app::shell(options.clone()),
        )
        // A share link's `?key=` becomes a cookie and a redirect before the page renders.
        .route_layer(middleware::from_fn_with_state(app.clone(), share::key_to_cookie))
        .route_layer(middleware::from_fn(server_fns::refusal_status))
        // Render slots per client and per replica: a page of a big board is dear.
        .route_layer(middleware::from_fn_with_state(app.clone(), crate::pages::gate))
        // A file of the site (the bundle under /pkg, the stylesheet), or the app's 404 page.
        .fallback(move |State(app): State<AppState>, request: Request| {
            let not_found = not_found.clone();
            async move {
                match crate::assets::file(&app.assets, request).await {
                    Ok(file) => file,
                    Err(request) => not_found(request.uri().clone(), State(app), request).await,
                }
            }
        })
        // Pages are revalidated at every load: they show the board as it is now, and name
        // the bundle of the build the server runs. The site's files say their own.
        .layer(SetResponseHeaderLayer::if_not_present(header::CACHE_CONTROL, HeaderValue::from_static("no-cache")));

    let replica =
        HeaderValue::from_str(&app.replica).unwrap_or_else(|_| HeaderValue::from_static("invalid-replica-id"));
    api.merge(pages)
        // A known route with another method: a JSON refusal like every other.
        .method_not_allowed_fallback(|method: axum::http::Method| async move {
            AppError::MethodNotAllowed(format!("this route does not answer {method}"))
        })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        // A body that stalls is cut off like slow headers are (see `serve`); the extractors
        // also bound the whole body read (`rest::extract`).
        .layer(RequestBodyTimeoutLayer::new(app.header_timeout))
        // Cross-site posts and WebSockets, and foreign Host names, never reach a handler.
        .layer(middleware::from_fn_with_state(app.origins.clone(), origin::same_origin))
        .layer(SetResponseHeaderLayer::overriding(HeaderName::from_static("x-replica"), replica))
        // Every answer: never sniff a type other than the one sent; never send a Referer
        // (share links carry keys). Pages add their Content-Security-Policy (`app::ui`).
        .layer(SetResponseHeaderLayer::overriding(
            HeaderName::from_static("x-content-type-options"),
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            HeaderName::from_static("referrer-policy"),
            HeaderValue::from_static("no-referrer"),
        ))
        // gzip for pages and JSON; its default predicate leaves `text/event-stream` alone, so
        // SSE frames are never held back in a buffer. The site's files come compressed at
        // build time (`assets`): a response that has a `Content-Encoding` is never
        // compressed again.
        .layer(CompressionLayer::new())
        // Outside everything that can refuse, so every error response passes it.
        .layer(middleware::from_fn(crate::error::log_errors))
        .layer(TraceLayer::new_for_http())
        .with_state(app)
}
