//! Constant-size moves: positions are sparse keys, so moving a todo writes that todo alone,
//! whatever the size of its board. (A test binary of its own: filling two 4000-todo boards
//! is heavy.)

mod common;

use common::{Backend, TestServer};
use futures::StreamExt;

use app::domain::Op;
use app::patterns::Frame;

/// Fills a board with `todos` short todos, eight commands at a time, each sent as a client
/// sends it: with an Idempotency-Key, and again after a `503` (eight writers on one SQLite
/// file can outwait its busy timeout on a loaded machine; the answer says "retry shortly").
async fn add_todos(srv: &TestServer, board: &str, todos: u64) {
    futures::stream::iter(0..todos)
        .map(|i| async move {
            for attempt in 1.. {
                let answer = srv
                    .http
                    .post(srv.url(&format!("/api/boards/{board}/commands")))
                    .header("Idempotency-Key", format!("fill-{i}"))
                    .json(&serde_json::json!({"type": "add_todo", "title": format!("todo {i}")}))
                    .send()
                    .await
                    .unwrap();
                match answer.status().as_u16() {
                    200 => return,
                    503 if attempt < 10 => tokio::time::sleep(std::time::Duration::from_millis(250)).await,
                    status => panic!("todo {i}: {status} {}", answer.text().await.unwrap_or_default()),
                }
            }
        })
        .buffer_unordered(8)
        .collect::<Vec<_>>()
        .await;
}

/// Moves `moves` todos to the top of the backlog; returns the largest frame any delta
/// pattern carried for one of them, after checking that each move's ops put the moved todo
/// and nothing else (no other todo renumbered, no re-spacing at the top).
async fn make_moves(srv: &TestServer, board: &str, moves: u64) -> usize {
    let state = srv.state(board).await;
    let ids: Vec<i64> = state.todos.iter().map(|t| t.id).collect();
    let mut moved = Vec::new();
    for i in 0..moves {
        let id = ids[(i as usize * 7919) % ids.len()];
        srv.ok(board, serde_json::json!({"type": "move_todo", "id": id, "sprint_id": null, "position": 0})).await;
        moved.push(id);
    }
    let head = state.seq + moves;
    let mut largest = 0;
    for pattern in ["push-ops", "push-events", "event-diff"] {
        let page = srv.frames(&format!("/api/boards/{board}/changes?since={}&pattern={pattern}", head - moves)).await;
        assert_eq!(page.frames.len() as u64, moves, "{pattern}: one frame per move (no re-spacing at the top)");
        largest = largest.max(page.frames.iter().map(|f| f.to_json().len()).max().unwrap());
        if let [Frame::Ops { .. }, ..] = page.frames.as_slice() {
            for (frame, id) in page.frames.iter().zip(&moved) {
                let Frame::Ops { ops, .. } = frame else { unreachable!() };
                assert!(
                    matches!(ops.as_slice(), [Op::PutTodo { todo }] if todo.id == *id),
                    "a move writes the moved todo alone: {ops:?}"
                );
            }
        }
    }
    largest
}

/// A move writes one todo: its frames in every delta pattern stay under 2 KB on a
/// 4000-todo board, and its ops put that todo alone (it used to renumber the column: a
/// 2.75 MB log row and ~200 ms). What that costs in time as a board grows is measured by
/// `cargo bench -p server --bench board_size`, not here: a timed test fails on a busy machine.
async fn a_move_costs_the_same_on_a_large_board(backend: Backend) {
    let srv = TestServer::start_with(backend, |c| c.commands_per_minute = 1_000_000).await;
    let small = srv.create_board("ten").await;
    add_todos(&srv, &small, 10).await;
    let large = srv.create_board("four thousand").await;
    add_todos(&srv, &large, 4000).await;

    let small_frame = make_moves(&srv, &small, 30).await;
    let large_frame = make_moves(&srv, &large, 30).await;
    assert!(large_frame < 2048, "a move's frame is {large_frame} bytes on a 4000-todo board");
    assert!(large_frame < small_frame + 64, "{large_frame} bytes at 4000 todos against {small_frame} at 10");
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_move_costs_the_same_on_a_large_board_on_sqlite() {
    a_move_costs_the_same_on_a_large_board(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_move_costs_the_same_on_a_large_board_on_postgres() {
    a_move_costs_the_same_on_a_large_board(Backend::Postgres).await;
}
