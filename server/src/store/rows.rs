//! Rows to domain values and back. Statuses are stored as their contract names.

use sqlx::any::AnyRow;
use sqlx::Row;

use board_core::domain::{Position, Sprint, SprintStatus, Todo, TodoStatus};

pub fn sprint(row: &AnyRow) -> Result<Sprint, sqlx::Error> {
    let status: String = row.try_get("status")?;
    Ok(Sprint {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        status: SprintStatus::parse(&status).ok_or_else(|| corrupt(format!("sprint status `{status}`")))?,
    })
}

pub fn todo(row: &AnyRow) -> Result<Todo, sqlx::Error> {
    let status: String = row.try_get("status")?;
    Ok(Todo {
        id: row.try_get("id")?,
        title: row.try_get("title")?,
        status: TodoStatus::parse(&status).ok_or_else(|| corrupt(format!("todo status `{status}`")))?,
        sprint_id: row.try_get("sprint_id")?,
        position: {
            let key: String = row.try_get("position")?;
            Position::try_from(key).map_err(corrupt)?
        },
        version: row.try_get::<i64, _>("version")? as u64,
    })
}

/// A JSON column that no longer parses: the schema and the code disagree.
pub fn json<T: serde::de::DeserializeOwned>(row: &AnyRow, column: &str) -> Result<T, sqlx::Error> {
    let text: String = row.try_get(column)?;
    serde_json::from_str(&text).map_err(|e| corrupt(format!("column {column}: {e}")))
}

pub fn corrupt(what: String) -> sqlx::Error {
    sqlx::Error::Decode(format!("unexpected stored value: {what}").into())
}
