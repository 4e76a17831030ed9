//! The one test client: a board kept current the way the browser keeps it. For every
//! frame it asks the browser's own `board_core::step` what the frame means, and does what
//! the engine does: apply, skip, backfill from `/changes`, pull the state (`If-None-Match`),
//! or take a fresh snapshot after `reset`. Tests that expect a smooth stream assert on the
//! [`Step`] each frame took; none of them applies frames by hand.

use board_core::api::FramesPage;
use board_core::domain::BoardState;
use board_core::patterns::{Frame, PatternKind};
use board_core::step::{step, Step};

use super::TestServer;

pub struct TestClient {
    pub pattern: PatternKind,
    /// The board as this client has applied it.
    pub state: BoardState,
    board: String,
    base: String,
    http: reqwest::Client,
}

impl TestServer {
    /// A client of `board` in `pattern`, starting from the board as `GET` state answers now.
    pub async fn client(&self, board: &str, pattern: PatternKind) -> TestClient {
        let state = self.state(board).await;
        self.client_at(board, pattern, state)
    }

    /// A client of `board` in `pattern` that holds `state`.
    pub fn client_at(&self, board: &str, pattern: PatternKind, state: BoardState) -> TestClient {
        TestClient { pattern, state, board: board.to_owned(), base: self.base.clone(), http: self.http.clone() }
    }
}

impl TestClient {
    /// The seq this client holds.
    pub fn seq(&self) -> u64 {
        self.state.seq
    }

    /// Handles one frame as the browser's engine does; returns what it meant.
    pub async fn handle(&mut self, frame: &Frame) -> Step {
        let taken = step(&mut self.state, self.pattern, frame)
            .unwrap_or_else(|err| panic!("{}: a frame that does not apply ({err}): {frame:?}", self.pattern));
        match taken {
            Step::Applied | Step::Skip => {}
            Step::Backfill { since } => self.backfill(since).await,
            Step::Pull => self.pull().await,
            Step::Snapshot => self.state = self.get_state(None).await,
        }
        taken
    }

    /// Handles every frame of a batch; returns the steps they took, in order.
    pub async fn handle_all(&mut self, frames: &[Frame]) -> Vec<Step> {
        let mut steps = Vec::with_capacity(frames.len());
        for frame in frames {
            steps.push(self.handle(frame).await);
        }
        steps
    }

    /// The frames after `since` from the log, page after page, as the engine's backfill.
    async fn backfill(&mut self, mut since: u64) {
        loop {
            let url = format!("{}/api/boards/{}/changes?since={since}&pattern={}", self.base, self.board, self.pattern);
            let r = self.http.get(url).send().await.unwrap();
            if r.status() == 410 {
                self.state = self.get_state(None).await;
                return;
            }
            assert_eq!(r.status(), 200, "backfill from {since}");
            let page: FramesPage = r.json().await.unwrap();
            for frame in &page.frames {
                let taken = step(&mut self.state, self.pattern, frame).unwrap();
                assert!(matches!(taken, Step::Applied | Step::Skip), "{}: the log itself has a gap", self.pattern);
            }
            if self.state.seq >= page.head || self.state.seq == since {
                return;
            }
            since = self.state.seq;
        }
    }

    /// A pull: the state unless it is still the one held (`304`).
    async fn pull(&mut self) {
        let held = self.state.seq;
        let fresh = self.get_state(Some(held)).await;
        if fresh.seq >= held {
            self.state = fresh;
        }
    }

    async fn get_state(&self, if_none_match: Option<u64>) -> BoardState {
        let mut request = self.http.get(format!("{}/api/boards/{}", self.base, self.board));
        if let Some(seq) = if_none_match {
            request = request.header("if-none-match", format!("\"{seq}\""));
        }
        let r = request.send().await.unwrap();
        match r.status().as_u16() {
            304 => self.state.clone(),
            200 => r.json().await.unwrap(),
            other => panic!("GET state answered {other}"),
        }
    }
}
