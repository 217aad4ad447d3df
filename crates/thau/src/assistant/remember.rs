//! Explicit memory requests: "recuerda que mi perro se llama Rocky", "remember that I'm
//! vegetarian". They are stored as memories by the session itself, whether or not the model
//! calls its `remember` tool, so what a person asks THAU to keep is kept.

use crate::error::Result;
use crate::memory::{fold, Memory, NewMemory, Retriever};
use regex::Regex;
use std::sync::OnceLock;

/// Importance of something a person asked to be remembered (1–10).
pub const EXPLICIT_IMPORTANCE: u8 = 8;
/// …and of one they stressed ("es importante", "never forget").
pub const STRESSED_IMPORTANCE: u8 = 10;

/// A memory a message asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExplicitMemory {
    /// What to remember, in the person's words, as a sentence ("Mi perro se llama Rocky.").
    pub text: String,
    pub importance: u8,
}

fn request_re() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    // Matched on the folded text; the fact is cut from the original by char count.
    R.get_or_init(|| {
        Regex::new(
            r"^(?:(?:oye|thau|por favor|please|hey)[,!]?\s+)*(?:recuerda(?:\s+que|\s*:)|acuerdate\s+(?:de\s+)?que|no\s+olvides\s+(?:de\s+)?que|nunca\s+olvides\s+que|guarda\s+en\s+(?:tu\s+)?memoria(?:\s+que|\s*:)?|memoriza(?:\s+que|\s*:)|remember(?:\s+that|\s*:)|don'?t\s+forget(?:\s+that|\s*:)|never\s+forget(?:\s+that|\s*:)|keep\s+in\s+mind(?:\s+that|\s*:)|note\s+that)\s+",
        )
        .expect("valid regex")
    })
}

fn stressed_re() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    R.get_or_init(|| {
        Regex::new(r"(?:\bnunca olvides\b|\bes (?:muy )?importante\b|\bnever forget\b|\b(?:very )?important\b)")
            .expect("valid regex")
    })
}

/// The memory `message` explicitly asks for, if it does. A question ("¿recuerdas que…?")
/// asks for nothing.
pub fn explicit_memory(message: &str) -> Option<ExplicitMemory> {
    let trimmed = message.trim().trim_start_matches(['¡', '¿']);
    // Folded one char for one char (lower case, no accents), so offsets carry over.
    let folded: String = trimmed.chars().map(|c| fold(&c.to_string()).chars().next().unwrap_or(c)).collect();
    let m = request_re().find(&folded)?;
    let skip = folded[..m.end()].chars().count();
    let fact: String = trimmed.chars().skip(skip).collect();
    let fact = fact.trim().trim_end_matches(['.', '!', '?']).trim();
    if fact.chars().count() < 3 || trimmed.ends_with('?') {
        return None;
    }
    let mut chars = fact.chars();
    let first = chars.next()?;
    let text = format!("{}{}.", first.to_uppercase(), chars.as_str());
    let importance = if stressed_re().is_match(&folded) { STRESSED_IMPORTANCE } else { EXPLICIT_IMPORTANCE };
    Some(ExplicitMemory { text, importance })
}

/// Store what `message` of `user` explicitly asks to be remembered (in `conversation`, at
/// `at` ms, from `source`), if it asks for anything. Asked again (or resent by an API client),
/// the memory already stored is returned, not stored twice.
pub fn remember_request(
    r: &mut Retriever,
    user: &str,
    message: &str,
    conversation: Option<&str>,
    source: &str,
    at: i64,
) -> Result<Option<Memory>> {
    let Some(e) = explicit_memory(message) else { return Ok(None) };
    if let Some(m) = r.store().find_text(user, &e.text)? {
        return Ok(Some(m));
    }
    let mut new = NewMemory::new(user, e.text).importance(e.importance).created_at(at);
    new.source = Some(source.into());
    new.session = conversation.map(Into::into);
    Ok(Some(r.remember(&new)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_in_both_languages_are_found_and_questions_are_not() {
        let m = explicit_memory("Recuerda que mi perro se llama Rocky").unwrap();
        assert_eq!(m, ExplicitMemory { text: "Mi perro se llama Rocky.".into(), importance: EXPLICIT_IMPORTANCE });
        assert_eq!(
            explicit_memory("Oye, acuérdate de que mañana es el cumpleaños de Ana.").unwrap().text,
            "Mañana es el cumpleaños de Ana."
        );
        assert_eq!(explicit_memory("please remember that I'm vegetarian!").unwrap().text, "I'm vegetarian.");
        assert_eq!(explicit_memory("Nunca olvides que soy alérgico al maní").unwrap().importance, STRESSED_IMPORTANCE);
        assert_eq!(
            explicit_memory("Remember: the wifi password is on the fridge").unwrap().text,
            "The wifi password is on the fridge."
        );
        for no in [
            "¿Recuerdas que te hablé de Rocky?",
            "¿Cómo se llama mi perro?",
            "recuerda que",
            "I remember that day",
            "Recuerda que?",
            "¿Recuerda que mañana es lunes?",
        ] {
            assert_eq!(explicit_memory(no), None, "{no}");
        }
    }
}
