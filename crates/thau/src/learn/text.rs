//! Text helpers shared by question generation, scoring and gap grouping: sentence splitting,
//! SQuAD-style answer normalisation (Rajpurkar et al. 2016: lower case, no punctuation, no
//! articles, single spaces; here also no Spanish accents and Spanish articles), and content
//! words for keyword overlap.

use crate::memory::fold;

/// Split a passage into sentences at `.`, `!`, `?` (and `¡`/`¿` openers stay with their
/// sentence). A period between digits ("3.5") or after a single capital ("J. Smith") does not
/// end a sentence.
pub fn sentences(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut cur = String::new();
    for i in 0..chars.len() {
        let c = chars[i];
        cur.push(c);
        if matches!(c, '.' | '!' | '?') {
            let next = chars.get(i + 1).copied();
            let prev = if i > 0 { chars.get(i - 1).copied() } else { None };
            let prev2 = if i > 1 { chars.get(i - 2).copied() } else { None };
            let decimal =
                c == '.' && prev.is_some_and(|p| p.is_ascii_digit()) && next.is_some_and(|n| n.is_ascii_digit());
            let initial = c == '.' && prev.is_some_and(|p| p.is_uppercase()) && prev2.is_none_or(|p| p.is_whitespace());
            let at_end = next.is_none_or(|n| n.is_whitespace() || n == '"' || n == '»' || n == ')');
            if !decimal && !initial && at_end {
                let s = cur.trim().to_string();
                if !s.is_empty() {
                    out.push(s);
                }
                cur.clear();
            }
        }
    }
    let s = cur.trim().to_string();
    if !s.is_empty() {
        out.push(s);
    }
    out
}

/// Articles dropped by [`normalize_answer`] (accent-folded).
const ARTICLES: &[&str] = &["a", "an", "the", "el", "la", "los", "las", "un", "una", "unos", "unas", "lo"];

/// SQuAD normalisation, bilingual: fold case and accents, drop punctuation and articles,
/// collapse whitespace.
pub fn normalize_answer(s: &str) -> String {
    let folded = fold(s);
    let cleaned: String = folded.chars().map(|c| if c.is_alphanumeric() { c } else { ' ' }).collect();
    cleaned.split_whitespace().filter(|w| !ARTICLES.contains(w)).collect::<Vec<_>>().join(" ")
}

/// Words of a normalised answer.
pub fn answer_tokens(s: &str) -> Vec<String> {
    normalize_answer(s).split_whitespace().map(str::to_string).collect()
}

/// 1.0 when both normalise to the same string.
pub fn exact_match(prediction: &str, reference: &str) -> f64 {
    f64::from(u8::from(normalize_answer(prediction) == normalize_answer(reference)))
}

/// Token-level F1 between prediction and reference (bag of normalised words).
pub fn token_f1(prediction: &str, reference: &str) -> f64 {
    let p = answer_tokens(prediction);
    let r = answer_tokens(reference);
    if p.is_empty() || r.is_empty() {
        return f64::from(u8::from(p.is_empty() && r.is_empty()));
    }
    let mut remaining = r.clone();
    let mut common = 0usize;
    for w in &p {
        if let Some(i) = remaining.iter().position(|x| x == w) {
            remaining.swap_remove(i);
            common += 1;
        }
    }
    if common == 0 {
        return 0.0;
    }
    let precision = common as f64 / p.len() as f64;
    let recall = common as f64 / r.len() as f64;
    2.0 * precision * recall / (precision + recall)
}

/// True when the normalised reference occurs in the normalised prediction as whole words
/// (a generated answer may say "Nació en Velmora." for the reference "Velmora").
pub fn contains_answer(prediction: &str, reference: &str) -> bool {
    let p = format!(" {} ", normalize_answer(prediction));
    let r = normalize_answer(reference);
    !r.is_empty() && p.contains(&format!(" {r} "))
}

/// Function words (es + en, accent-folded) that carry no topic: question words, articles,
/// prepositions, pronouns, auxiliaries.
const STOPWORDS: &[&str] = &[
    "a", "al", "algo", "and", "are", "as", "at", "be", "by", "como", "con", "cual", "cuales", "cuando", "cuanto",
    "cuantos", "cuantas", "de", "del", "did", "do", "does", "donde", "el", "ella", "ellos", "en", "era", "es", "esa",
    "ese", "eso", "esta", "este", "esto", "for", "fue", "from", "ha", "han", "has", "have", "he", "her", "his", "how",
    "i", "in", "is", "it", "its", "la", "las", "le", "lo", "los", "me", "mi", "my", "no", "not", "o", "of", "on", "or",
    "para", "pero", "por", "que", "quien", "se", "she", "si", "sin", "sobre", "su", "sus", "that", "the", "their",
    "they", "this", "to", "tu", "un", "una", "uno", "unos", "was", "were", "what", "when", "where", "which", "who",
    "whom", "why", "with", "y", "ya", "yo", "you", "your", "sabes", "know", "tell", "dime", "dont", "se", "soy", "am",
];

/// True for a function word (accent-folded, lower case).
pub fn is_stopword(w: &str) -> bool {
    STOPWORDS.contains(&w)
}

/// Content words of a text: accent-folded, lower case, at least 3 characters or a number,
/// without function words, in order of first appearance, each once.
pub fn content_words(text: &str) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    fold(text)
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| (w.chars().count() >= 3 || w.chars().all(|c| c.is_ascii_digit())) && !w.is_empty())
        .filter(|w| !is_stopword(w))
        .filter(|w| seen.insert(w.to_string()))
        .map(str::to_string)
        .collect()
}

/// Whether `text` mentions `topic`: every content word of the topic appears in the text
/// (accent- and case-insensitive, whole words).
pub fn mentions(text: &str, topic: &str) -> bool {
    let words: std::collections::HashSet<String> = content_words(text).into_iter().collect();
    let t = content_words(topic);
    !t.is_empty() && t.iter().all(|w| words.contains(w))
}

/// Jaccard overlap of two sets of content words.
pub fn jaccard(a: &[String], b: &[String]) -> f64 {
    let sa: std::collections::HashSet<&String> = a.iter().collect();
    let sb: std::collections::HashSet<&String> = b.iter().collect();
    let union = sa.union(&sb).count();
    if union == 0 {
        return 0.0;
    }
    sa.intersection(&sb).count() as f64 / union as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentences_keep_decimals_and_initials() {
        let s = sentences("Velmora tiene 3.5 km. J. Ortiz nació allí! ¿Y tú? Fin");
        assert_eq!(s, vec!["Velmora tiene 3.5 km.", "J. Ortiz nació allí!", "¿Y tú?", "Fin"]);
    }

    #[test]
    fn normalisation_and_scores() {
        assert_eq!(normalize_answer("  La Ciudad  de Álamo! "), "ciudad de alamo");
        assert_eq!(exact_match("the River Sor.", "river sor"), 1.0);
        assert_eq!(exact_match("Sor", "river sor"), 0.0);
        let f1 = token_f1("en la ciudad de Velmora", "Velmora");
        assert!((f1 - 2.0 * (1.0 / 4.0) / (1.0 / 4.0 + 1.0)).abs() < 1e-9, "{f1}");
        assert_eq!(token_f1("", ""), 1.0);
        assert_eq!(token_f1("x", ""), 0.0);
        assert!(contains_answer("Nació en Velmóra.", "velmora"));
        assert!(!contains_answer("Nació en Velmoral.", "velmora"));
    }

    #[test]
    fn topic_mentions_fold_accents() {
        assert!(mentions("El río Sorén cruza Velmora.", "rio soren"));
        assert!(!mentions("El río Sorén cruza Velmora.", "Tarsis"));
        assert_eq!(content_words("¿Dónde nació Ana Ruiz en 1901?"), vec!["nacio", "ana", "ruiz", "1901"]);
    }
}
