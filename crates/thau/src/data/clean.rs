//! Cleaning extracted text the way a careful data engineer would: Unicode NFC and whitespace
//! normalisation, boilerplate filters, exact and near-duplicate removal at paragraph level
//! (64-bit simhash over word 3-shingles, Charikar 2002, as in Manku et al. 2007), and a
//! Spanish/English check per document and per long paragraph (stopword counts).
//!
//! A paragraph is a run of non-blank lines; documents are paragraphs separated by one blank line.

use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use unicode_normalization::UnicodeNormalization;

/// The two languages THAU grows in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    Es,
    En,
}

impl Lang {
    /// `"es"` or `"en"`.
    pub fn code(self) -> &'static str {
        match self {
            Lang::Es => "es",
            Lang::En => "en",
        }
    }

    /// Parse `"es"`/`"en"` (also `"spanish"`, `"english"`, any case).
    pub fn parse(s: &str) -> Option<Lang> {
        match s.trim().to_ascii_lowercase().as_str() {
            "es" | "spa" | "spanish" | "español" => Some(Lang::Es),
            "en" | "eng" | "english" => Some(Lang::En),
            _ => None,
        }
    }

    fn other(self) -> Lang {
        match self {
            Lang::Es => Lang::En,
            Lang::En => Lang::Es,
        }
    }
}

impl std::fmt::Display for Lang {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

/// Frequent Spanish words that are not also English words.
const ES_STOPWORDS: &[&str] = &[
    "de", "la", "que", "el", "en", "y", "los", "se", "del", "las", "un", "por", "con", "una", "su", "para", "es", "al",
    "lo", "como", "más", "pero", "sus", "le", "ya", "fue", "este", "sí", "porque", "esta", "entre", "está", "cuando",
    "muy", "sobre", "ser", "tiene", "también", "hasta", "hay", "donde", "han", "quien", "están", "desde", "todo",
    "nos", "durante", "todos", "uno", "les", "ni", "contra", "otros", "ese", "eso", "ellos", "esto", "antes",
    "algunos", "qué", "unos", "yo", "otro", "otras", "otra", "él", "tanto", "esa", "estos", "mucho", "quienes", "nada",
    "muchos", "cual", "poco", "ella", "estar", "estas", "algunas", "algo", "nosotros", "mi", "mis", "tú", "te", "ti",
    "tu", "tus", "ellas", "puede", "cómo", "usted", "dijo", "pues", "será", "cada", "hacer", "según", "así", "aquí",
    "vosotros", "había", "porque", "después", "entonces", "sino", "donde", "aunque", "hace",
];

/// Frequent English words that are not also Spanish words.
const EN_STOPWORDS: &[&str] = &[
    "the", "of", "and", "to", "in", "is", "that", "it", "was", "for", "on", "are", "as", "with", "his", "they", "at",
    "be", "this", "have", "from", "or", "one", "had", "by", "but", "not", "what", "all", "were", "we", "when", "your",
    "can", "said", "there", "an", "each", "which", "she", "do", "how", "their", "if", "will", "up", "other", "about",
    "out", "many", "then", "them", "these", "so", "some", "her", "would", "make", "like", "him", "into", "time", "has",
    "two", "more", "could", "people", "my", "than", "first", "been", "who", "its", "now", "our", "you", "i", "shall",
    "unto", "those", "should", "may", "any", "only", "upon", "very", "such", "must", "also", "after", "where", "here",
    "because", "does", "it's", "don't", "i'm", "which", "while",
];

/// Stopword counts of a text.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LangScore {
    pub es: usize,
    pub en: usize,
    /// Words seen.
    pub words: usize,
}

impl LangScore {
    fn of(self, lang: Lang) -> usize {
        match lang {
            Lang::Es => self.es,
            Lang::En => self.en,
        }
    }
}

fn stopword_sets() -> &'static (HashSet<&'static str>, HashSet<&'static str>) {
    static SETS: std::sync::OnceLock<(HashSet<&'static str>, HashSet<&'static str>)> = std::sync::OnceLock::new();
    SETS.get_or_init(|| (ES_STOPWORDS.iter().copied().collect(), EN_STOPWORDS.iter().copied().collect()))
}

/// Lower-cased words of a text (letters and apostrophes).
fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !(c.is_alphabetic() || c == '\'')).filter(|w| !w.is_empty()).map(|w| w.to_lowercase())
}

/// Count Spanish and English stopwords in `text`; `¿`, `¡` and `ñ` count for Spanish too.
pub fn language_score(text: &str) -> LangScore {
    let (es_set, en_set) = stopword_sets();
    let mut s = LangScore::default();
    for w in words(text) {
        s.words += 1;
        if es_set.contains(w.as_str()) {
            s.es += 1;
        }
        if en_set.contains(w.as_str()) {
            s.en += 1;
        }
    }
    s.es += text.chars().filter(|c| matches!(c, '¿' | '¡' | 'ñ' | 'Ñ')).count();
    s
}

/// The language of `text`, or `None` when there are too few stopwords to tell or neither
/// language clearly wins (at least 3 stopwords and twice the other's count).
pub fn detect_language(text: &str) -> Option<Lang> {
    let s = language_score(text);
    if s.es + s.en < 3 {
        None
    } else if s.es >= 2 * s.en {
        Some(Lang::Es)
    } else if s.en >= 2 * s.es {
        Some(Lang::En)
    } else {
        None
    }
}

/// Unicode NFC, one kind of newline, no control characters, tabs and odd spaces as plain spaces,
/// runs of spaces collapsed, lines trimmed at the end, at most one blank line in a row, and no
/// leading or trailing blank lines.
pub fn normalize(text: &str) -> String {
    let nfc: String = text.replace("\r\n", "\n").replace('\r', "\n").nfc().collect();
    let mut out = String::with_capacity(nfc.len());
    let mut blank_run = 0usize;
    for line in nfc.split('\n') {
        let mut clean = String::with_capacity(line.len());
        let mut prev_space = false;
        for c in line.chars() {
            let c = match c {
                '\t' | '\u{a0}' | '\u{2000}'..='\u{200a}' | '\u{202f}' | '\u{205f}' | '\u{3000}' => ' ',
                '\u{ad}' | '\u{200b}'..='\u{200d}' | '\u{2060}' | '\u{feff}' => continue,
                c if c.is_control() => continue,
                c => c,
            };
            if c == ' ' {
                if prev_space {
                    continue;
                }
                prev_space = true;
            } else {
                prev_space = false;
            }
            clean.push(c);
        }
        let clean = clean.trim_end();
        if clean.trim().is_empty() {
            blank_run += 1;
            continue;
        }
        if !out.is_empty() {
            out.push_str(if blank_run > 0 { "\n\n" } else { "\n" });
        }
        blank_run = 0;
        out.push_str(clean);
    }
    out
}

/// Paragraphs of a normalised text (split on blank lines).
pub fn paragraphs(text: &str) -> impl Iterator<Item = &str> {
    text.split("\n\n").map(str::trim).filter(|p| !p.is_empty())
}

/// Generic boilerplate and non-prose: no letters, mostly symbols or digits (tables, code,
/// hex dumps), a bare URL or path, or a run of dots/dashes (tables of contents, rules).
pub fn is_boilerplate(paragraph: &str) -> bool {
    let chars = paragraph.chars().filter(|c| !c.is_whitespace()).count();
    if chars == 0 {
        return true;
    }
    let letters = paragraph.chars().filter(|c| c.is_alphabetic()).count();
    if letters * 10 < chars * 6 {
        return true;
    }
    let t = paragraph.trim();
    if !t.contains(' ') && (t.contains("://") || t.starts_with('/') || t.starts_with("www.")) {
        return true;
    }
    t.contains("....") || t.contains("----") || t.contains("____") || t.contains("====")
}

/// What the cleaner removed and kept, summed over a source.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CleanStats {
    pub documents_in: usize,
    pub documents_kept: usize,
    /// Whole documents dropped because they are not in the source's language.
    pub documents_wrong_language: usize,
    /// Documents left with no text after paragraph filtering.
    pub documents_empty: usize,
    pub paragraphs_in: usize,
    pub paragraphs_kept: usize,
    pub boilerplate: usize,
    pub exact_duplicates: usize,
    pub near_duplicates: usize,
    /// Long paragraphs clearly in the other language.
    pub wrong_language: usize,
    pub bytes_in: u64,
    pub bytes_kept: u64,
}

/// Words a paragraph needs before near-duplicate detection applies (shorter ones only
/// take part in exact deduplication).
const NEAR_MIN_WORDS: usize = 8;
/// Paragraphs of at most this many words (headings) are exempt from deduplication.
const HEADING_MAX_WORDS: usize = 3;
/// Simhashes at most this many bits apart are near-duplicates (of 64). Unrelated paragraphs
/// are about 32 bits apart (sd 4): at most 7 apart happens about once in 10^10 pairs. One word
/// changed in a 60-word paragraph moves about 7 bits.
const NEAR_MAX_BITS: u32 = 7;
/// The simhash is indexed by this many bands of 64/BANDS bits: two hashes within
/// `BANDS - 1` bits agree on at least one band (pigeonhole), so only those are compared.
const BANDS: u32 = 8;
/// Paragraphs need this many words before the per-paragraph language check applies.
const PARA_LANG_MIN_WORDS: usize = 12;

/// 64-bit FNV-1a, then a splitmix64 finaliser so nearby inputs spread over all bits.
fn hash64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// Simhash of a word sequence over its 3-word shingles.
pub fn simhash(words: &[String]) -> u64 {
    let mut acc = [0i32; 64];
    for shingle in words.windows(3) {
        let h = hash64(shingle.join(" ").as_bytes());
        for (bit, a) in acc.iter_mut().enumerate() {
            *a += if h >> bit & 1 == 1 { 1 } else { -1 };
        }
    }
    acc.iter().enumerate().fold(0u64, |h, (bit, &a)| if a > 0 { h | 1 << bit } else { h })
}

/// Seen paragraphs: exact hashes, and simhashes indexed by their [`BANDS`] bands.
#[derive(Default)]
pub struct Dedup {
    exact: HashSet<u64>,
    bands: HashMap<(u8, u16), Vec<u64>>,
}

/// What [`Dedup::check`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    New,
    Exact,
    Near,
}

impl Dedup {
    /// Check a paragraph against everything seen, and remember it if it is new.
    pub fn check(&mut self, paragraph: &str) -> Seen {
        let ws: Vec<String> = words(paragraph).collect();
        let key = if ws.is_empty() { paragraph.to_lowercase() } else { ws.join(" ") };
        if !self.exact.insert(hash64(key.as_bytes())) {
            return Seen::Exact;
        }
        if ws.len() < NEAR_MIN_WORDS {
            return Seen::New;
        }
        let sh = simhash(&ws);
        let width = 64 / BANDS;
        let band = |i: u8| (i, ((sh >> (width * u32::from(i))) & ((1 << width) - 1)) as u16);
        for i in 0..BANDS as u8 {
            if let Some(list) = self.bands.get(&band(i)) {
                if list.iter().any(|&o| (o ^ sh).count_ones() <= NEAR_MAX_BITS) {
                    return Seen::Near;
                }
            }
        }
        for i in 0..BANDS as u8 {
            self.bands.entry(band(i)).or_default().push(sh);
        }
        Seen::New
    }
}

/// Cleans the documents of one source, in order, deduplicating across all of them.
pub struct Cleaner {
    lang: Lang,
    dedup: Dedup,
    pub stats: CleanStats,
}

impl Cleaner {
    pub fn new(lang: Lang) -> Self {
        Self { lang, dedup: Dedup::default(), stats: CleanStats::default() }
    }

    /// The cleaned document, or `None` when nothing worth training on is left. `keep` is
    /// the source's own boilerplate filter (false drops a paragraph).
    pub fn clean(&mut self, text: &str, keep: &dyn Fn(&str) -> bool) -> Option<String> {
        self.stats.documents_in += 1;
        self.stats.bytes_in += text.len() as u64;
        let text = normalize(text);
        let score = language_score(&text);
        // A document is in the wrong language when the other language's stopwords outnumber
        // its own; one too short to tell is kept. Its long paragraphs are checked one by one
        // below, so a translated page with some English left keeps only its Spanish.
        if score.es + score.en >= 3 && score.of(self.lang.other()) > score.of(self.lang) {
            self.stats.documents_wrong_language += 1;
            self.stats.paragraphs_in += paragraphs(&text).count();
            return None;
        }
        let mut kept: Vec<&str> = Vec::new();
        for p in paragraphs(&text) {
            self.stats.paragraphs_in += 1;
            if is_boilerplate(p) || !keep(p) {
                self.stats.boilerplate += 1;
                continue;
            }
            let ps = language_score(p);
            if ps.words >= PARA_LANG_MIN_WORDS && ps.of(self.lang.other()) >= 3.max(2 * ps.of(self.lang)) {
                self.stats.wrong_language += 1;
                continue;
            }
            if ps.words > HEADING_MAX_WORDS {
                match self.dedup.check(p) {
                    Seen::New => {}
                    Seen::Exact => {
                        self.stats.exact_duplicates += 1;
                        continue;
                    }
                    Seen::Near => {
                        self.stats.near_duplicates += 1;
                        continue;
                    }
                }
            }
            kept.push(p);
        }
        // Headings alone (every paragraph short) are not a document.
        if !kept.iter().any(|p| language_score(p).words > HEADING_MAX_WORDS) {
            self.stats.documents_empty += 1;
            return None;
        }
        let out = kept.join("\n\n");
        self.stats.paragraphs_kept += kept.len();
        self.stats.documents_kept += 1;
        self.stats.bytes_kept += out.len() as u64;
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_nfc_spaces_and_blank_lines() {
        // "e" + combining acute becomes one "é"; tabs, NBSP and runs of spaces become one space.
        let t = normalize("\n\n  Caf\u{65}\u{301}\t\u{a0} con  leche  \r\n\r\n\r\n\nsegundo\u{200b} párrafo\n");
        assert_eq!(t, " Café con leche\n\nsegundo párrafo");
        assert_eq!(normalize("a\x07b\n\n"), "ab");
    }

    #[test]
    fn language_detection() {
        assert_eq!(detect_language("El perro de la casa come en el jardín con los niños."), Some(Lang::Es));
        assert_eq!(detect_language("The dog of the house eats in the garden with the children."), Some(Lang::En));
        assert_eq!(detect_language("42 17"), None);
    }

    #[test]
    fn boilerplate() {
        assert!(is_boilerplate("| 1 | 2 | 3 |"));
        assert!(is_boilerplate("https://example.org/x"));
        assert!(is_boilerplate("Capítulo 1 ........ 3"));
        assert!(!is_boilerplate("Una frase normal."));
    }

    #[test]
    fn dedup_exact_and_near() {
        let mut d = Dedup::default();
        // One word changed in a long paragraph: a few shingles of many differ.
        let a = "the quick brown fox jumps over the lazy dog near the river bank today while birds sing \
                 in the tall trees and the farmers walk slowly home from the fields carrying baskets of \
                 apples and pears that they picked during the long warm afternoon under a clear blue sky \
                 before the evening bells rang out across the quiet valley and the old stone bridge";
        assert_eq!(d.check(a), Seen::New);
        assert_eq!(d.check(&a.to_uppercase()), Seen::Exact);
        let near = a.replace("today", "tonight");
        assert_eq!(d.check(&near), Seen::Near);
        assert_eq!(
            d.check("something completely different about cooking rice with beans and onions slowly"),
            Seen::New
        );
    }

    #[test]
    fn cleaner_drops_duplicates_wrong_language_and_boilerplate() {
        let mut c = Cleaner::new(Lang::Es);
        let doc1 =
            "Título\n\nEl perro de la casa come en el jardín con los niños todos los días de la semana.\n\n| a | b |";
        let doc2 = "El perro de la casa come en el jardín con los niños todos los días de la semana.\n\nLa casa es grande y tiene un jardín con muchos árboles que dan sombra en verano.";
        let english = "The dog of the house eats in the garden with the children every day of the week.";
        assert_eq!(
            c.clean(doc1, &|_| true).unwrap(),
            "Título\n\nEl perro de la casa come en el jardín con los niños todos los días de la semana."
        );
        assert_eq!(
            c.clean(doc2, &|_| true).unwrap(),
            "La casa es grande y tiene un jardín con muchos árboles que dan sombra en verano."
        );
        assert!(c.clean(english, &|_| true).is_none());
        assert!(c.clean("Solo un título", &|_| true).is_none());
        let s = &c.stats;
        assert_eq!((s.documents_in, s.documents_kept, s.documents_wrong_language, s.documents_empty), (4, 2, 1, 1));
        assert_eq!((s.exact_duplicates, s.boilerplate), (1, 1));
    }
}
