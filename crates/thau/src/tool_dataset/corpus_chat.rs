//! Real conversation openers as no-tool examples: the ChatterBot dialogues of a fetched corpus
//! (`thau data fetch` writes them as `train/chatterbot-{es,en}.jsonl`, one paragraph per
//! dialogue, one "— " line per turn).
//!
//! The template phrasings give the no-tool class about fifty wordings per language, so a small
//! model learns "these sentences are chat, everything else is a request". Hundreds of real
//! exchanges (greetings, trivia, opinions, small talk) teach it that talk is the default and a
//! tool call needs a request. Turns that do ask for what a tool does (the time, a sum, a
//! picture, something to remember) are left out, since their answer here is text, and so are
//! turns equal to a held-out phrasing, which must stay unseen.

use super::phrasings;
use crate::data::Lang;
use crate::error::{Error, Result};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// A user turn and the answer it got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatPair {
    pub user: String,
    pub answer: String,
}

/// Exchanges by language, used only for the training split.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChatPool {
    pub es: Vec<ChatPair>,
    pub en: Vec<ChatPair>,
}

impl ChatPool {
    pub fn len(&self) -> usize {
        self.es.len() + self.en.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn of(&self, lang: Lang) -> &[ChatPair] {
        match lang {
            Lang::Es => &self.es,
            Lang::En => &self.en,
        }
    }

    /// The ChatterBot dialogues of the fetched corpus at `corpus` (its folder, or its `train/`).
    /// A language whose file is missing gets no exchanges; both missing is an error.
    pub fn from_corpus(corpus: &Path) -> Result<Self> {
        let train = if corpus.join("train").is_dir() { corpus.join("train") } else { corpus.to_path_buf() };
        let path = |lang: &str| -> PathBuf { train.join(format!("chatterbot-{lang}.jsonl")) };
        let (es, en) = (path("es"), path("en"));
        if !es.is_file() && !en.is_file() {
            return Err(Error::invalid(
                "chat corpus",
                format!(
                    "neither {} nor {} exists; fetch them with `thau data fetch --out {} --source chatterbot-es chatterbot-en`",
                    es.display(),
                    en.display(),
                    corpus.display()
                ),
            ));
        }
        Ok(Self { es: pairs(&read_docs(&es)?, Lang::Es), en: pairs(&read_docs(&en)?, Lang::En) })
    }
}

/// The `text` of every line of a corpus JSONL file (the corpus reader's documents); a missing
/// file has none.
fn read_docs(path: &Path) -> Result<Vec<String>> {
    if !path.exists() {
        return Ok(Vec::new());
    }
    Ok(crate::data::read_documents(&[path.to_path_buf()])?.into_iter().map(|d| d.text).collect())
}

/// The (user, answer) pairs of dialogues written one turn per "— " line, paragraphs apart:
/// turns 1-2, 3-4, … of each dialogue, filtered as the module says, without repeats.
fn pairs(docs: &[String], lang: Lang) -> Vec<ChatPair> {
    let held = heldout_users();
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for doc in docs {
        for para in doc.split("\n\n") {
            let turns: Vec<&str> = para.lines().filter_map(|l| l.trim().strip_prefix('—').map(str::trim)).collect();
            for pair in turns.chunks_exact(2) {
                let (user, answer) = (pair[0], pair[1]);
                if usable(user, answer, lang) && !held.contains(&normalize(user)) && seen.insert((user, answer)) {
                    out.push(ChatPair { user: user.to_string(), answer: answer.to_string() });
                }
            }
        }
    }
    out
}

/// Short, plain, and not a request a tool serves.
fn usable(user: &str, answer: &str, lang: Lang) -> bool {
    let (u, a) = (user.chars().count(), answer.chars().count());
    if !(2..=160).contains(&u) || !(1..=300).contains(&a) {
        return false;
    }
    if user.chars().any(|c| c.is_ascii_digit() || "+*/=<>{}|\\".contains(c)) {
        return false;
    }
    let text = format!(" {} ", normalize(user));
    let words: &[&str] = match lang {
        Lang::Es => TOOLISH_ES,
        Lang::En => TOOLISH_EN,
    };
    !words.iter().any(|w| text.contains(&format!(" {w}")))
}

/// Beginnings of words (normalized: lowercase, no accents) of requests that a built-in tool
/// serves: time and date, arithmetic, pictures, memory.
const TOOLISH_ES: &[&str] = &[
    "hora",
    "fecha",
    "que dia",
    "calcul",
    "cuanto es",
    "cuanto son",
    "suma",
    "resta",
    "multiplic",
    "divid",
    "dibuj",
    "pint",
    "imagen",
    "foto",
    "retrat",
    "genera",
    "recuerd",
    "acuerdate",
    "memoria",
    "apunta",
    "anota",
    "guarda",
];
const TOOLISH_EN: &[&str] = &[
    "time",
    "date",
    "what day",
    "calculat",
    "how much is",
    "plus",
    "minus",
    "times",
    "multipl",
    "divide",
    "draw",
    "drew",
    "paint",
    "picture",
    "image",
    "photo",
    "portrait",
    "generat",
    "remember",
    "recall",
    "memor",
    "note that",
    "save",
    "store",
];

/// Lowercase letters and digits only, words one space apart: "¿Quién pintó…?" ≈ "quien pinto…".
pub(super) fn normalize(s: &str) -> String {
    let folded: String =
        super::strip_accents(&s.to_lowercase()).chars().map(|c| if c.is_alphanumeric() { c } else { ' ' }).collect();
    folded.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Every held-out request wording without slots, normalized.
fn heldout_users() -> HashSet<String> {
    let mut held: HashSet<String> = HashSet::new();
    for c in phrasings::CHAT_ES_HELDOUT.iter().chain(phrasings::CHAT_EN_HELDOUT) {
        held.insert(normalize(c.user));
    }
    for s in super::REQUEST_SETS {
        held.extend(s.es_heldout.iter().chain(s.en_heldout).map(|t| normalize(t)));
    }
    held
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(s: &str) -> Vec<String> {
        vec![s.to_string()]
    }

    #[test]
    fn pairs_take_turns_two_by_two_and_skip_tool_requests_and_heldout_wordings() {
        let d = doc("— Hi\n— Hello!\n— How are you?\n— Fine.\n\n— What time is it?\n— Noon.\n\n\
                     — How many days are in a week?\n— Seven.\n\n— What is 2 and 2?\n— Four.\n\n\
                     — Who wrote Hamlet?\n— Shakespeare.\n— Odd turn left alone\n\n— Hi\n— Hello!");
        let p = pairs(&d, Lang::En);
        let users: Vec<&str> = p.iter().map(|c| c.user.as_str()).collect();
        assert_eq!(users, ["Hi", "How are you?", "Who wrote Hamlet?"]);
        assert_eq!(p[2].answer, "Shakespeare.");
    }

    #[test]
    fn spanish_heldout_wording_is_matched_without_accents_or_marks() {
        let d = doc("— cuantos dias tiene una semana\n— Siete.\n\n— ¿Te gusta el fútbol?\n— Sí.");
        let p = pairs(&d, Lang::Es);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].user, "¿Te gusta el fútbol?");
    }

    #[test]
    fn a_missing_corpus_names_the_file_and_the_fetch_command() {
        let dir = tempfile::tempdir().unwrap();
        let err = ChatPool::from_corpus(dir.path()).unwrap_err().to_string();
        assert!(err.contains("chatterbot-es.jsonl") && err.contains("thau data fetch"), "{err}");
        std::fs::write(dir.path().join("chatterbot-es.jsonl"), "{\"id\":\"x\",\"text\":\"— Hola\\n— ¡Hola!\"}\n")
            .unwrap();
        // One language alone is enough.
        let pool = ChatPool::from_corpus(dir.path()).unwrap();
        assert_eq!((pool.es.len(), pool.en.len()), (1, 0));
        std::fs::write(dir.path().join("chatterbot-en.jsonl"), "not json\n").unwrap();
        let err = ChatPool::from_corpus(dir.path()).unwrap_err().to_string();
        assert!(err.contains("chatterbot-en.jsonl:1"), "{err}");
        std::fs::write(dir.path().join("chatterbot-en.jsonl"), "{\"id\":\"x\",\"text\":\"— Hi\\n— Hello\"}\n").unwrap();
        let pool = ChatPool::from_corpus(dir.path()).unwrap();
        assert_eq!((pool.es.len(), pool.en.len()), (1, 1));
    }
}
