//! The order of a column is an invariant: a move lands exactly where it asked, and the keys
//! of a column are strictly increasing after every command. Held against a plain `Vec` per
//! column through thousands of moves to the front, the back and between neighbours, which
//! is where the keys grow deep (about 256 moves to the front made keys begin `00 00`, where
//! the position crate's `between` failed and a move landed elsewhere while answering 200).

use board_core::domain::{
    apply, decide::respace_due, execute, BoardState, Command, DomainError, Event, Id, Position, Todo,
};
use proptest::prelude::*;

/// Runs a command as the server's command service does: a move that finds no room (two
/// neighbours sharing a key) re-spaces the column and is decided again; a change that
/// leaves a long key, or a column with a shared key, is followed by the column's
/// re-spacing. Returns whether the command was applied.
fn serve(state: &mut BoardState, command: &Command) -> Result<(), DomainError> {
    let done = match execute(state, command) {
        Err(DomainError::NoRoom { sprint_id }) => {
            *state = apply(state, Event::ColumnRespaced { sprint_id }).state;
            execute(state, command)?
        }
        other => other?,
    };
    let respace = respace_due(&done.state, &done.event);
    *state = done.state;
    if let Some(sprint_id) = respace {
        *state = apply(state, Event::ColumnRespaced { sprint_id }).state;
    }
    Ok(())
}

/// Where a move goes, as a test chooses it.
#[derive(Clone, Debug)]
enum Place {
    Front,
    Back,
    Second,
    At(u32),
}

#[derive(Clone, Debug)]
enum Step {
    Add { sprint: bool },
    Move { which: usize, sprint: bool, to: Place },
    Delete { which: usize },
}

fn step() -> impl Strategy<Value = Step> {
    let place = prop_oneof![
        4 => Just(Place::Front),
        2 => Just(Place::Back),
        3 => Just(Place::Second),
        2 => (0..40u32).prop_map(Place::At),
    ];
    prop_oneof![
        1 => any::<bool>().prop_map(|sprint| Step::Add { sprint }),
        30 => (any::<usize>(), proptest::bool::weighted(0.2), place)
            .prop_map(|(which, sprint, to)| Step::Move { which, sprint, to }),
        1 => any::<usize>().prop_map(|which| Step::Delete { which }),
    ]
}

/// The board and, beside it, each column kept as a plain list.
struct Model {
    state: BoardState,
    /// The backlog and sprint 1, in display order.
    lists: [Vec<Id>; 2],
}

const SPRINT: Id = 1;

impl Model {
    fn new(todos: usize) -> Model {
        let mut model = Model { state: BoardState::empty("b", "Board"), lists: [Vec::new(), Vec::new()] };
        serve(&mut model.state, &Command::AddSprint { name: "S".into() }).unwrap();
        for _ in 0..todos {
            model.step(&Step::Add { sprint: false });
        }
        model
    }

    fn column(sprint: bool) -> Option<Id> {
        sprint.then_some(SPRINT)
    }

    fn list(&mut self, sprint: bool) -> &mut Vec<Id> {
        &mut self.lists[usize::from(sprint)]
    }

    fn all(&self) -> Vec<Id> {
        self.lists.iter().flatten().copied().collect()
    }

    fn step(&mut self, step: &Step) {
        match step {
            Step::Add { sprint } => {
                let id = self.state.seq as Id + 1;
                serve(&mut self.state, &Command::AddTodo { title: "t".into(), sprint_id: Model::column(*sprint) })
                    .unwrap();
                // The respacing after it may have taken a seq too; the todo's id is its own.
                self.list(*sprint).push(id);
            }
            Step::Move { which, sprint, to } => {
                let all = self.all();
                if all.is_empty() {
                    return;
                }
                let id = all[which % all.len()];
                let target_len = self.lists[usize::from(*sprint)].iter().filter(|t| **t != id).count();
                let position = match to {
                    Place::Front => Some(0),
                    Place::Back => None,
                    Place::Second => Some(1),
                    Place::At(at) => Some(*at),
                };
                let command =
                    Command::MoveTodo { id, sprint_id: Model::column(*sprint), position, expected_version: None };
                serve(&mut self.state, &command).unwrap_or_else(|err| panic!("{command:?} refused: {err}"));
                for list in &mut self.lists {
                    list.retain(|t| *t != id);
                }
                let at = position.map_or(target_len, |p| (p as usize).min(target_len));
                self.list(*sprint).insert(at, id);
            }
            Step::Delete { which } => {
                let all = self.all();
                if all.len() <= 2 {
                    return;
                }
                let id = all[which % all.len()];
                serve(&mut self.state, &Command::DeleteTodo { id, expected_version: None }).unwrap();
                for list in &mut self.lists {
                    list.retain(|t| *t != id);
                }
            }
        }
    }

    /// Each column shows exactly its list, with strictly increasing keys.
    fn check(&self) -> Result<(), String> {
        for sprint in [false, true] {
            let column = self.state.column(Model::column(sprint));
            let shown: Vec<Id> = column.iter().map(|t| t.id).collect();
            let expected = &self.lists[usize::from(sprint)];
            if &shown != expected {
                return Err(format!("column {sprint}: shows {shown:?}, expected {expected:?}"));
            }
            if let Some(pair) = column.windows(2).find(|pair| pair[0].position >= pair[1].position) {
                return Err(format!("keys not strictly increasing: {} then {}", pair[0].position, pair[1].position));
            }
        }
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Thousands of moves, most of them to the front or to the second place (where keys
    /// grow fastest), some across columns and to arbitrary places: after every one, each
    /// column is exactly the plain list's.
    #[test]
    fn columns_follow_a_plain_list_through_thousands_of_moves(
        todos in 2..12usize,
        steps in proptest::collection::vec(step(), 1000..3000),
    ) {
        let mut model = Model::new(todos);
        for step in &steps {
            model.step(step);
            if let Err(wrong) = model.check() {
                prop_assert!(false, "after {step:?}: {wrong}");
            }
        }
    }
}

/// The reproduction from the report: four todos, 400 moves of the first two to the front,
/// then the fourth to place 1. It must end second (it ended third, answered 200).
#[test]
fn a_move_after_hundreds_of_moves_to_the_front_lands_where_it_asked() {
    let mut model = Model::new(4);
    let [a, b, _, d] = [model.lists[0][0], model.lists[0][1], model.lists[0][2], model.lists[0][3]];
    for i in 0..400 {
        let which = model.all().iter().position(|t| *t == if i % 2 == 0 { a } else { b }).unwrap();
        model.step(&Step::Move { which, sprint: false, to: Place::Front });
    }
    let which = model.all().iter().position(|t| *t == d).unwrap();
    model.step(&Step::Move { which, sprint: false, to: Place::Second });
    model.check().unwrap();
    assert_eq!(model.state.column(None)[1].id, d);
}

/// Straight at the front, thousands deep: every key stays strictly increasing, keys stay
/// short (re-spaced now and then), and nothing needs more than one change per move but
/// the rare re-spacing.
#[test]
fn five_thousand_moves_to_the_front() {
    let mut model = Model::new(3);
    for i in 0..5000usize {
        model.step(&Step::Move { which: 2, sprint: false, to: Place::Front });
        if i % 100 == 0 {
            model.check().unwrap();
        }
    }
    model.check().unwrap();
    let longest = model.state.todos.iter().map(|t| t.position.as_str().len()).max().unwrap();
    assert!(longest <= Position::LONGEST + 2, "a key of {longest} characters");
    // 5000 moves and the re-spacings: every re-spacing is one change.
    let respacings = model.state.seq as usize - 1 - 3 - 5000;
    assert!(respacings > 0 && respacings < 5000 / 50, "{respacings} re-spacings");
}

/// A column whose todos share a key (what a store written by the old rule holds): the first
/// move into the middle of it re-spaces the column, then lands where it asked; the first
/// add re-spaces it too.
#[test]
fn a_column_with_shared_keys_is_respaced_before_a_move_into_it() {
    let mut state = BoardState::empty("b", "Board");
    let shared = Position::first();
    for id in 1..=5 {
        state.put_todo(Todo {
            id,
            title: format!("t{id}"),
            status: board_core::domain::TodoStatus::Todo,
            sprint_id: None,
            position: shared.clone(),
            version: 1,
        });
    }
    state.seq = 5;
    // Shown by id, as equal keys fall back to: 1 2 3 4 5. Move 5 between 2 and 3.
    let command = Command::MoveTodo { id: 5, sprint_id: None, position: Some(2), expected_version: None };
    assert!(matches!(execute(&state, &command), Err(DomainError::NoRoom { sprint_id: None })));
    serve(&mut state, &command).unwrap();
    let order: Vec<Id> = state.column(None).iter().map(|t| t.id).collect();
    assert_eq!(order, [1, 2, 5, 3, 4]);
    let keys: Vec<&Position> = state.column(None).iter().map(|t| &t.position).collect();
    assert!(keys.windows(2).all(|w| w[0] < w[1]), "{keys:?}");

    // Shared keys again, and an add: the column is re-spaced after it.
    for todo in &mut state.todos {
        todo.position = shared.clone();
    }
    let before = state.seq;
    serve(&mut state, &Command::AddTodo { title: "new".into(), sprint_id: None }).unwrap();
    assert_eq!(state.seq, before + 2, "the add, then the re-spacing");
    let keys: Vec<&Position> = state.column(None).iter().map(|t| &t.position).collect();
    assert!(keys.windows(2).all(|w| w[0] < w[1]), "{keys:?}");
}
