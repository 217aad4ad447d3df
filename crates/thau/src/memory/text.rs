//! Text as the memory's full-text search sees it: words split at anything that is not a
//! letter or digit, lower-cased and accent-folded (what FTS5's `unicode61 remove_diacritics 2`
//! does for Spanish and English), without the function words that only add noise to BM25.

/// Turn free text into an FTS5 query: its words (letters and digits), each quoted, joined by
/// OR, without common Spanish/English function words. `None` when no word is left.
pub fn fts_query(text: &str) -> Option<String> {
    let terms: Vec<String> = query_terms(text).into_iter().map(|w| format!("\"{w}\"")).collect();
    (!terms.is_empty()).then(|| terms.join(" OR "))
}

/// The words of `text` as the full-text index sees them: split at anything that is not a
/// letter or digit, lower-cased, accents folded (what FTS5's `unicode61 remove_diacritics 2`
/// does for Spanish and English text).
pub(crate) fn index_terms(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(fold)
}

/// The distinct words of a query worth searching for: no function words, and no lone letters
/// (the "s" of "Lucía's", the "l" of "l'eau"), which match half of all memories.
pub(crate) fn query_terms(text: &str) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    index_terms(text)
        .filter(|w| !is_stopword(w))
        .filter(|w| w.chars().count() > 1 || w.chars().all(|c| c.is_numeric()))
        .filter(|w| seen.insert(w.clone()))
        .collect()
}

/// Lower-case and strip Spanish accents (á→a, ñ→n, ü→u), as FTS5's `remove_diacritics` does.
pub fn fold(s: &str) -> String {
    s.chars()
        .flat_map(|c| c.to_lowercase())
        .map(|c| match c {
            'á' | 'à' | 'â' | 'ä' | 'ã' => 'a',
            'é' | 'è' | 'ê' | 'ë' => 'e',
            'í' | 'ì' | 'î' | 'ï' => 'i',
            'ó' | 'ò' | 'ô' | 'ö' | 'õ' => 'o',
            'ú' | 'ù' | 'û' | 'ü' => 'u',
            'ñ' => 'n',
            'ç' => 'c',
            c => c,
        })
        .collect()
}

/// Spanish and English function words that only add noise to a BM25 query (accent-folded).
pub fn is_stopword(w: &str) -> bool {
    const STOP: &[&str] = &[
        // es
        "a",
        "al",
        "algo",
        "como",
        "con",
        "cual",
        "cuales",
        "cuando",
        "de",
        "del",
        "donde",
        "el",
        "ella",
        "en",
        "es",
        "esa",
        "ese",
        "eso",
        "esta",
        "este",
        "esto",
        "fue",
        "ha",
        "hay",
        "la",
        "las",
        "le",
        "les",
        "lo",
        "los",
        "me",
        "mi",
        "mis",
        "muy",
        "no",
        "nos",
        "o",
        "para",
        "pero",
        "por",
        "que",
        "quien",
        "se",
        "si",
        "sobre",
        "su",
        "sus",
        "te",
        "tu",
        "tus",
        "un",
        "una",
        "uno",
        "unos",
        "unas",
        "y",
        "ya",
        "yo",
        "son",
        "era",
        "soy",
        "estoy",
        "tengo",
        "tiene",
        "tienes",
        "sabes",
        "dime",
        "recuerdas",
        // en
        "about",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "did",
        "do",
        "does",
        "for",
        "from",
        "has",
        "have",
        "how",
        "i",
        "in",
        "is",
        "it",
        "its",
        "me",
        "my",
        "of",
        "on",
        "or",
        "our",
        "so",
        "that",
        "the",
        "their",
        "this",
        "to",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "who",
        "whom",
        "why",
        "with",
        "you",
        "your",
        "know",
        "tell",
        "remember",
        "can",
        "could",
        "would",
        "any",
    ];
    STOP.contains(&w)
}

/// The first `n` words of `text` on one line, with "…" when some were left out: the one
/// extractive rule behind every summary made without the model (dropped turns, episodes).
pub fn first_words(text: &str, n: usize) -> String {
    let words: Vec<&str> = text.split_whitespace().collect();
    let mut s = words.iter().take(n).copied().collect::<Vec<_>>().join(" ");
    if words.len() > n {
        s.push('…');
    }
    s
}
