//! Feedback capture: thumbs up or down on an assistant turn of the memory store, with an
//! optional correction. The turn's text and the user message it answered are copied into the
//! learning store with the rating, so a later learning run can turn a correction into a
//! training example (question → corrected answer) and a thumbs-down into a gap.

use super::store::{Feedback, LearnStore, NewFeedback};
use crate::error::{Error, Result};
use crate::memory::MemoryStore;
use rusqlite::OptionalExtension;

/// A rating as the CLI and API spell it.
pub fn parse_rating(s: &str) -> Result<i8> {
    match s.trim().to_ascii_lowercase().as_str() {
        "up" | "+1" | "1" | "good" | "👍" => Ok(1),
        "down" | "-1" | "bad" | "👎" => Ok(-1),
        other => Err(Error::invalid("rating", format!("'{other}' is not up or down"))),
    }
}

/// The assistant turn `turn_id` of `user` and the user message before it.
pub fn turn_context(memory: &MemoryStore, user: &str, turn_id: i64) -> Result<(String, String)> {
    let row: Option<(i64, String)> = memory
        .conn()
        .query_row(
            "SELECT episode_id, role FROM turns WHERE id = ?1 AND user_id = ?2",
            rusqlite::params![turn_id, user],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .map_err(|e| memory.err(e))?;
    let Some((episode, role)) = row else {
        return Err(Error::unknown(
            "turn",
            turn_id,
            format!("user '{user}' has no such turn in {}: `thau memory log` shows turn ids", memory.path().display()),
        ));
    };
    if role != "assistant" {
        return Err(Error::invalid(
            "turn",
            format!("turn {turn_id} is a {role} turn: feedback rates the assistant's answers"),
        ));
    }
    let turns = memory.episode_turns(episode)?;
    let pos = turns.iter().position(|t| t.id == turn_id).unwrap_or(0);
    let question = turns[..pos].iter().rev().find(|t| t.role == "user").map(|t| t.text.clone()).unwrap_or_default();
    Ok((question, turns[pos].text.clone()))
}

/// Record feedback on `turn_id`. With a memory store the turn must exist and be the
/// assistant's; without one the rating is stored alone (a learning run can still count it).
pub fn record(
    store: &LearnStore,
    memory: Option<&MemoryStore>,
    user: &str,
    turn_id: i64,
    rating: i8,
    correction: Option<&str>,
) -> Result<Feedback> {
    let (question, answer) = match memory {
        Some(m) => {
            let (q, a) = turn_context(m, user, turn_id)?;
            (Some(q).filter(|q| !q.is_empty()), Some(a))
        }
        None => (None, None),
    };
    let f = store.add_feedback(&NewFeedback {
        turn_id,
        user: user.to_string(),
        rating,
        correction: correction.map(str::to_string),
        question,
        answer,
    })?;
    tracing::info!(turn = turn_id, rating, "feedback recorded");
    Ok(f)
}
