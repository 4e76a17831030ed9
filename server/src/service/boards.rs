//! Boards as the API and the pages both need them: the list a client may see, creation
//! (with its two keys, shown once), and what a grant lets its holder do.

use board_core::api::{BoardCreated, BoardKeys, BoardSummary, CreateBoard, Viewer};
use board_core::domain::decide::valid_name;

use crate::access::keys::{self, KeyPair};
use crate::access::{self, share, Grant, Presented, Role};
use crate::error::AppError;
use crate::state::AppState;
use crate::store::{NewBoard, Visibility};

/// The boards this client may see, newest first: every public board, and the private
/// boards whose keys its cookies hold (each checked by the gate). Never the others. The
/// list `GET /api/boards` answers and `/` renders.
pub async fn visible(app: &AppState, presented: &Presented) -> Result<Vec<BoardSummary>, AppError> {
    let mut private = Vec::new();
    for board in presented.cookie_boards() {
        match access::authorize(app, board, presented, Role::Read).await {
            Ok(grant) if grant.visibility == Visibility::Private => private.push(grant.board),
            Ok(_) | Err(AppError::NotFound(_)) => {}
            Err(err) => return Err(err),
        }
    }
    Ok(app.store.list_boards(&private, 200).await?)
}

/// Creates an empty board at seq 0, private unless asked otherwise, with an unguessable id
/// and two keys shown this once: for the API and the home page's form alike.
pub async fn create(app: &AppState, ip: std::net::IpAddr, body: CreateBoard) -> Result<BoardCreated, AppError> {
    let name = valid_name(&body.name)?;
    let visibility = match body.visibility.as_deref() {
        None | Some("private") => Visibility::Private,
        Some("public") => Visibility::Public,
        Some(other) => {
            return Err(AppError::BadRequest(format!("unknown visibility `{other}`; valid: private, public")))
        }
    };
    app.limits.create_board(ip)?;
    let pair = KeyPair::generate();
    // A collision of 128 random bits does not happen; the loop says what would be done.
    for _ in 0..3 {
        let id = keys::board_id(&name);
        let new = NewBoard {
            id: &id,
            name: &name,
            visibility,
            key_hashes: Some((keys::hash(&pair.read), keys::hash(&pair.write))),
        };
        if app.store.create_board(&new).await? {
            metrics::counter!("board_boards_created_total").increment(1);
            return Ok(BoardCreated {
                id,
                name,
                visibility: format!("{visibility:?}").to_lowercase(),
                keys: BoardKeys { read: pair.read, write: pair.write },
            });
        }
    }
    Err(AppError::internal(std::io::Error::other("could not find a free board id")))
}

/// What the holder of `grant` may do with the board, and, for a holder of the write key,
/// both share links: the page reads it to show or hide its editing controls.
pub fn viewer(grant: &Grant) -> Viewer {
    Viewer {
        can_write: grant.role >= Role::Write,
        admin: grant.role >= Role::Admin,
        private: grant.visibility == Visibility::Private,
        share: share::links(grant),
    }
}
