//! A refused command as the server functions report it. Its own module because both sides
//! of the server functions name it: `server_fns` returns it and `ssr::Commands`, which the
//! server implements, produces it. It is not with the other bodies in `board_core::api`
//! because it is a Leptos server-function error (`FromServerFnError`), and the core knows no
//! Leptos.

use serde::{Deserialize, Serialize};

/// A refused command, as a server function reports it: the status the REST API would
/// answer, and its message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{error}")]
pub struct Refused {
    pub status: u16,
    pub error: String,
    /// How many seconds to wait before trying again, when waiting helps (a `429`): the
    /// server function's answer carries it as `Retry-After` too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
}

impl leptos::server_fn::error::FromServerFnError for Refused {
    type Encoder = leptos::server_fn::codec::JsonEncoding;

    /// What the server-function layer itself refuses (arguments that do not decode, a
    /// missing one) is the client's mistake; anything else is not.
    fn from_server_fn_error(value: leptos::server_fn::error::ServerFnErrorErr) -> Self {
        let status = match value {
            leptos::server_fn::error::ServerFnErrorErr::Args(_)
            | leptos::server_fn::error::ServerFnErrorErr::MissingArg(_)
            | leptos::server_fn::error::ServerFnErrorErr::Deserialization(_) => 400,
            _ => 500,
        };
        Refused { status, error: value.to_string(), retry_after: None }
    }
}
