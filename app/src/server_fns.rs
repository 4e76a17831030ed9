//! The command service as Leptos server functions, for Leptos users who expect mutations
//! to be `#[server]` functions. Both run the very service behind
//! `POST /api/boards/{board}/commands` (the server provides it as [`crate::ssr::Commands`]):
//! the same gate, limits, Idempotency-Key rule and refusals.
//!
//! * [`run_command`]: any command, JSON in and out (`POST /api/fn/run_command`).
//! * [`add_todo`]: the board's "add a todo" form (`POST /api/fn/add_todo`, form-encoded, as
//!   an HTML form posts). The page's `<ActionForm>` renders that form, so adding a todo
//!   works with JavaScript disabled: the browser posts the form and is sent back to the
//!   board. With the script running, the page sends the command through its sync engine
//!   instead (see `ui::board`).
//!
//! Refusals are [`Refused`] (`crate::refused`): the HTTP status of the refusal and the
//! message the REST API gives (`{"status":422,"error":"..."}`, answered with that status).

use board_core::api::CommandAnswer;
use board_core::domain::{Command, Id};
use leptos::prelude::*;
use leptos::server_fn::codec::Json;

pub use crate::refused::Refused;

/// Runs any command on `board` for this request's client, as
/// `POST /api/boards/{board}/commands` with an optional `Idempotency-Key` would.
#[server(name = RunCommand, prefix = "/api/fn", endpoint = "run_command", input = Json)]
pub async fn run_command(
    board: String,
    command: Command,
    idempotency_key: Option<String>,
) -> Result<CommandAnswer, Refused> {
    service::run(&board, command, idempotency_key).await
}

/// Adds a todo at the end of a column (the backlog without `sprint_id`). A plain form post
/// (no script) is answered with a redirect back to the board, with `?error=` when refused.
#[server(name = AddTodo, prefix = "/api/fn", endpoint = "add_todo")]
pub async fn add_todo(board: String, title: String, sprint_id: Option<Id>) -> Result<CommandAnswer, Refused> {
    let result = service::run(&board, Command::AddTodo { title, sprint_id }, None).await;
    service::back_to_board(&board, result.as_ref().err());
    result
}

/// Why the no-script add form was refused, as the page's URL carries it (`?error=`) and the
/// page words it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FormError {
    /// The title was empty or too long, or the column takes no todos (`422`).
    Refused,
    /// This browser may read the board, not change it (`403`).
    ReadOnly,
    /// Too many commands from this address (`429`).
    SlowDown,
    /// The server could not store it just now (`503`).
    Unavailable,
    /// Anything else.
    Failed,
}

impl FormError {
    pub fn of(status: u16) -> FormError {
        match status {
            400 | 413 | 415 | 422 => FormError::Refused,
            403 | 404 => FormError::ReadOnly,
            429 => FormError::SlowDown,
            503 => FormError::Unavailable,
            _ => FormError::Failed,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            FormError::Refused => "refused",
            FormError::ReadOnly => "read-only",
            FormError::SlowDown => "slow-down",
            FormError::Unavailable => "unavailable",
            FormError::Failed => "failed",
        }
    }

    /// The code in a page's URL; anything else is `Failed`.
    pub fn parse(code: &str) -> FormError {
        [FormError::Refused, FormError::ReadOnly, FormError::SlowDown, FormError::Unavailable]
            .into_iter()
            .find(|e| e.code() == code)
            .unwrap_or(FormError::Failed)
    }

    /// What the page says.
    pub fn words(self) -> &'static str {
        match self {
            FormError::Refused => {
                "The todo was not added: its title was empty or too long, or the column takes no more todos."
            }
            FormError::ReadOnly => "The todo was not added: this link lets you see the board, not change it.",
            FormError::SlowDown => "The todo was not added: too many changes from here at once. Try again in a moment.",
            FormError::Unavailable => {
                "The todo was not added: the server could not store it just now. Try again in a moment."
            }
            FormError::Failed => "The todo was not added.",
        }
    }
}

/// The server's half: find the service the server provided, run it, set the status.
#[cfg(feature = "ssr")]
mod service {
    use super::Refused;
    use board_core::api::CommandAnswer;
    use board_core::domain::Command;

    pub async fn run(board: &str, command: Command, key: Option<String>) -> Result<CommandAnswer, Refused> {
        let commands = leptos::prelude::use_context::<crate::ssr::SharedCommands>().ok_or_else(|| Refused {
            status: 500,
            error: "internal error".into(),
            retry_after: None,
        })?;
        let request = leptos::prelude::use_context::<http::request::Parts>().ok_or_else(|| Refused {
            status: 500,
            error: "internal error".into(),
            retry_after: None,
        })?;
        let result = commands.run(board, &request, command, key).await;
        if let Err(refused) = &result {
            // The refusal's own status, not the generic 500 of a failed server function.
            if let Some(response) = leptos::prelude::use_context::<leptos_axum::ResponseOptions>() {
                response.set_status(
                    http::StatusCode::from_u16(refused.status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR),
                );
                // A `429` says when to come back, as the REST API's does.
                if let Some(seconds) = refused.retry_after {
                    response.insert_header(http::header::RETRY_AFTER, http::HeaderValue::from(seconds.max(1)));
                }
            }
        }
        result
    }

    /// A plain HTML form post (it accepts `text/html`; the script's calls do not) goes back
    /// to the board, which then shows the new todo, or the refusal.
    pub fn back_to_board(board: &str, refused: Option<&Refused>) {
        let Some(request) = leptos::prelude::use_context::<http::request::Parts>() else { return };
        let accepts_html = request
            .headers
            .get(http::header::ACCEPT)
            .and_then(|accept| accept.to_str().ok())
            .is_some_and(|accept| accept.contains("text/html"));
        if !accepts_html {
            return;
        }
        let board_path = format!("/boards/{}", encode(board));
        match refused {
            None => leptos_axum::redirect(&board_path),
            // A code, not the words: the page says what each code means in its own words,
            // so a link cannot make a board page show text of a stranger's choosing.
            Some(refused) => {
                leptos_axum::redirect(&format!("{board_path}?error={}", super::FormError::of(refused.status).code()))
            }
        }
    }

    /// Percent-encodes everything but unreserved characters, for a path segment or a query value.
    fn encode(text: &str) -> String {
        text.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect()
    }
}
