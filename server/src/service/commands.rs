//! The command service: the one way a board changes, whoever asks (`POST .../commands`,
//! a command up a WebSocket, a Leptos server function, the demo board's seeding). It checks
//! what only a client's request can get wrong (its role, its command rate, its
//! Idempotency-Key), commits through the store's one write transaction, announces the
//! change, and keeps a column's position keys short (re-spacing, a change of its own).

use std::net::IpAddr;

use board_core::api::CommandAnswer;
use board_core::domain::{Command, DomainError};

use crate::access::{Grant, Role};
use crate::error::AppError;
use crate::state::AppState;
use crate::store::{Cached, CommitError, Envelope, Outcome, Write};
use crate::telemetry::CommandTrace;

/// Idempotency keys longer than this are refused: they are stored per board.
const MAX_KEY_LEN: usize = 200;

/// Runs a command for a client, over HTTP or a WebSocket alike: the grant must allow
/// writing (`403` for a read key), the client's command rate must allow it (`429`), the
/// Idempotency-Key and the actor must be valid (`400`); then [`run`].
pub async fn execute(
    app: &AppState,
    grant: &Grant,
    ip: IpAddr,
    command: &Command,
    envelope: Envelope<'_>,
    via: Via<'_>,
) -> Result<CommandAnswer, AppError> {
    let trace = app.telemetry.command(&grant.board, command.kind(), via.transport, via.traceparent);
    let answer = async {
        if grant.role < Role::Write {
            return Err(AppError::Forbidden("this key can read the board but not change it".into()));
        }
        app.limits.command(ip)?;
        let actor = envelope.actor.map(actor).transpose()?;
        let envelope = Envelope { key: envelope.key.map(idempotency_key).transpose()?, actor: actor.as_deref() };
        run(app, &grant.board, command, envelope, Some(&trace)).await
    }
    .await;
    if let Err(err) = &answer {
        trace.refused(err.status().as_u16(), &err.to_string());
    }
    answer
}

/// How a command came in: the way (`board.transport` of its span) and the W3C
/// `traceparent` it brought, if any (its trace continues the sender's).
#[derive(Clone, Copy, Debug)]
pub struct Via<'a> {
    pub transport: &'static str,
    pub traceparent: Option<&'a str>,
}

/// The one rule for an actor, whichever way it came (`Board-Actor`, a field beside a
/// command on a socket, the server function's argument): a presence name as the page shows
/// it (`presence::clean_name`: trimmed, without control or invisible characters, 1 to 40
/// characters). It is what the sender says it is called, as on the presence list: history
/// shows it as a name, not as proof of who sent the change.
fn actor(name: &str) -> Result<String, AppError> {
    board_core::presence::clean_name(name).ok_or_else(|| {
        AppError::BadRequest(format!(
            "the actor must be a name of 1 to {} visible characters",
            board_core::presence::MAX_NAME_CHARS
        ))
    })
}

/// The one rule for an Idempotency-Key, whichever way it came (an HTTP header, a field of
/// a WebSocket message): 1 to [`MAX_KEY_LEN`] visible ASCII characters once trimmed. A
/// header cannot carry anything else, so a socket may not store a key HTTP could never
/// send again.
fn idempotency_key(key: &str) -> Result<&str, AppError> {
    let key = key.trim();
    let visible = key.bytes().all(|b| (b' '..=b'~').contains(&b));
    if key.is_empty() || key.len() > MAX_KEY_LEN || !visible {
        return Err(bad_key());
    }
    Ok(key)
}

/// Commits a command and announces it (the gate and the limits are the caller's).
///
/// A move between two todos that share a position key (a store written before keys were
/// kept strictly increasing) has no key to take: the column is re-spaced first, as a
/// change of its own, and the command decided again on the re-spaced column, so the move
/// lands exactly where it asked.
pub async fn run(
    app: &AppState,
    board: &str,
    command: &Command,
    envelope: Envelope<'_>,
    trace: Option<&CommandTrace>,
) -> Result<CommandAnswer, AppError> {
    match commit(app, board, command, envelope, trace).await {
        Err(CommitError::Domain(DomainError::NoRoom { sprint_id })) => {
            respace(app, board, sprint_id, cached(app, board)).await?;
            answer(app, board, commit(app, board, command, envelope, trace).await, trace).await
        }
        outcome => answer(app, board, outcome, trace).await,
    }
}

/// One attempt at the command, counted and timed (and traced: the commit's span).
async fn commit(
    app: &AppState,
    board: &str,
    command: &Command,
    envelope: Envelope<'_>,
    trace: Option<&CommandTrace>,
) -> Result<Outcome, CommitError> {
    let started = std::time::Instant::now();
    let span = trace.map(|trace| trace.commit(board));
    let outcome = app.store.commit(board, Write::Command(command.clone()), envelope, cached(app, board)).await;
    if let (Some(trace), Some(span), Ok(Outcome::Committed(committed))) = (trace, span, &outcome) {
        trace.committed(span, committed.record.seq);
    }
    let label = match &outcome {
        Ok(Outcome::Committed(_)) => "committed",
        Ok(Outcome::Replayed(_)) => "replayed",
        Err(CommitError::Domain(DomainError::NoRoom { .. })) => "respace-first",
        Err(_) => "refused",
    };
    metrics::counter!("board_commands_total", "type" => command.kind(), "outcome" => label).increment(1);
    metrics::histogram!("board_command_seconds").record(started.elapsed().as_secs_f64());
    outcome
}

/// What the client is answered, once the change (if any) is announced.
async fn answer(
    app: &AppState,
    board: &str,
    outcome: Result<Outcome, CommitError>,
    trace: Option<&CommandTrace>,
) -> Result<CommandAnswer, AppError> {
    match outcome {
        Ok(Outcome::Committed(mut committed)) => {
            // Its data frames carry the trace id, when there is one to follow.
            committed.record.trace = trace.and_then(CommandTrace::frames_id);
            app.publish(board, &committed, trace).await;
            if let Some(sprint_id) = committed.respace {
                let after = committed.state.clone();
                let cached: Cached = Box::new(move |seq| (after.seq == seq).then(|| after.clone()));
                // The command has committed either way: if this fails (the database went
                // away), the next long key asks again.
                if let Err(err) = respace(app, board, sprint_id, cached).await {
                    tracing::warn!(%board, error = %err, "could not re-space a column; the next long key retries");
                }
            }
            Ok(committed.answer)
        }
        Ok(Outcome::Replayed(answer)) => Ok(answer),
        Err(CommitError::NoBoard(board)) => Err(AppError::no_board(&board)),
        Err(CommitError::Domain(err)) => Err(err.into()),
        Err(err @ CommitError::KeyReused(_)) => Err(AppError::Unprocessable(err.to_string())),
        Err(CommitError::Db(err)) => Err(err.into()),
    }
}

/// Gives a column short, strictly increasing position keys again, as a change of its own
/// (after the one that made a long key, or before a move that found no room).
async fn respace(
    app: &AppState,
    board: &str,
    sprint_id: Option<board_core::domain::Id>,
    cached: Cached,
) -> Result<(), AppError> {
    match app.store.commit(board, Write::Respace { sprint_id }, Envelope::default(), cached).await {
        Ok(Outcome::Committed(committed)) => {
            metrics::counter!("board_respaces_total").increment(1);
            app.publish(board, &committed, None).await;
            Ok(())
        }
        Ok(Outcome::Replayed(_)) => unreachable!("a re-spacing carries no Idempotency-Key"),
        Err(CommitError::NoBoard(board)) => Err(AppError::no_board(&board)),
        Err(CommitError::Domain(err)) => Err(err.into()),
        Err(err @ CommitError::KeyReused(_)) => Err(AppError::internal(err)),
        Err(CommitError::Db(err)) => Err(err.into()),
    }
}

/// The snapshot cache as the store asks it: the board at exactly `seq`, if held.
fn cached(app: &AppState, board: &str) -> Cached {
    let (freshness, board) = (app.freshness.clone(), board.to_owned());
    Box::new(move |seq| freshness.cached(&board).filter(|s| s.seq() == seq).map(|s| s.state.clone()))
}

/// The refusal of an Idempotency-Key that breaks [`idempotency_key`]'s rule (a header that
/// is not text breaks it too).
pub fn bad_key() -> AppError {
    AppError::BadRequest(format!("Idempotency-Key must be 1 to {MAX_KEY_LEN} visible characters"))
}
