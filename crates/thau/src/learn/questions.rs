//! Grounded question generation (the seed's `SelfQuestioningSystem.generate_questions`): from
//! the passages that mention a topic, wh-questions built from sentence patterns in Spanish and
//! English ("X nació en 1901" → "¿Cuándo nació X?", "X has 4 towers" → "How many towers does X
//! have?") and cloze questions (a name, date or number blanked out). Every question carries its
//! reference answer (a span of the passage) and the passage id it cites, so the model's answer
//! can be checked and the right answer can be taught.

use super::store::Passage;
use super::text::{mentions, normalize_answer, sentences};
use regex::Regex;
use serde::{Deserialize, Serialize};
use std::sync::OnceLock;

/// How a question was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QuestionKind {
    /// A wh-question from a sentence pattern.
    Wh,
    /// A sentence with its answer blanked out.
    Cloze,
    /// Written by the model itself, kept because its answer is a span of the passage.
    Model,
    /// From a conversation: a question the model could not answer, or a user's correction.
    Conversation,
    /// A restatement or another wording of a fact (knowledge augmentation, for training only).
    Variant,
}

/// A question with its grounded answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Question {
    pub question: String,
    /// The reference answer: a span of the cited passage.
    pub answer: String,
    /// The id of the passage the answer comes from.
    pub passage: String,
    /// The sentence the question was made from (the grounded answer a dataset teaches).
    pub evidence: String,
    pub kind: QuestionKind,
    /// `es` or `en`.
    pub lang: String,
}

/// Spanish and English month names, for date spans.
const MONTHS_ES: &str =
    "enero|febrero|marzo|abril|mayo|junio|julio|agosto|septiembre|setiembre|octubre|noviembre|diciembre";
const MONTHS_EN: &str = "January|February|March|April|May|June|July|August|September|October|November|December";

/// One sentence pattern: a regex with groups `x` (subject) and `y` (answer), and a question
/// template where `{x}` is the subject (and `{n}` the noun counted, for "how many").
struct Pattern {
    lang: &'static str,
    /// What the pattern states about `x` (a key of [`super::augment`]'s templates).
    relation: &'static str,
    re: Regex,
    template: &'static str,
}

fn patterns() -> &'static [Pattern] {
    static P: OnceLock<Vec<Pattern>> = OnceLock::new();
    P.get_or_init(|| {
        // Subject: up to six words from the start of the sentence (lazy, so the verb ends it).
        let x = r"^(?P<x>[\p{Lu}\d][\p{L}\d'’\-]*(?:\s+[\p{L}\d'’\-]+){0,5}?)";
        let year = r"(?P<y>\d{3,4})";
        let date_es = format!(r"(?P<y>\d{{1,2}} de (?:{MONTHS_ES})(?: de \d{{3,4}})?)");
        let date_en =
            format!(r"(?P<y>(?:{MONTHS_EN}) \d{{1,2}}(?:, \d{{3,4}})?|\d{{1,2}} (?:{MONTHS_EN})(?: \d{{3,4}})?)");
        let obj = r"(?P<y>[^,;:.!?]{1,80}?)";
        let end = r"\s*(?:[,;:.!?]|$| y | and | que | which | who | where | donde | por | by )";
        let place = r"(?P<y>\p{Lu}[\p{L}'’\-]*(?:\s+(?:de |del |la |el |los |las |of |the )?\p{Lu}[\p{L}'’\-]*)*)";
        let num = r"(?P<y>\d[\d.,]*)";
        let noun = r"(?P<n>\p{Ll}[\p{L}\s]{1,40}?)";
        let table: Vec<(&'static str, &'static str, String, &'static str)> = vec![
            // ---- Spanish -----------------------------------------------------------------
            ("es", "born_year", format!(r"{x} nació (?:en el año |en ){year}{end}"), "¿En qué año nació {x}?"),
            ("es", "born_date", format!(r"{x} nació el {date_es}"), "¿Cuándo nació {x}?"),
            ("es", "born_place", format!(r"{x} nació en {place}"), "¿Dónde nació {x}?"),
            ("es", "died_year", format!(r"{x} murió (?:en el año |en ){year}{end}"), "¿En qué año murió {x}?"),
            ("es", "died_place", format!(r"{x} murió en {place}"), "¿Dónde murió {x}?"),
            (
                "es",
                "founded_year",
                format!(r"{x} fue fundad[oa] (?:en el año |en ){year}{end}"),
                "¿Cuándo fue fundada {x}?",
            ),
            ("es", "founded_by", format!(r"{x} fue fundad[oa] (?:en \d+ )?por {place}"), "¿Quién fundó {x}?"),
            (
                "es",
                "celebrated",
                format!(r"{x} (?:se celebra|es) (?:cada año )?el {date_es}"),
                "¿Cuándo se celebra {x}?",
            ),
            ("es", "count", format!(r"{x} tiene {num} {noun}{end}"), "¿Cuántos {n} tiene {x}?"),
            ("es", "lives_in", format!(r"{x} vive en {place}"), "¿Dónde vive {x}?"),
            ("es", "works_as", format!(r"{x} trabaja como {obj}{end}"), "¿En qué trabaja {x}?"),
            ("es", "called", format!(r"{x} se llama {place}"), "¿Cómo se llama {x}?"),
            ("es", "located_in", format!(r"{x} (?:está|se encuentra) en {place}"), "¿Dónde está {x}?"),
            ("es", "is_a", format!(r"{x} es (?:un |una |el |la )?{obj}{end}"), "¿Qué es {x}?"),
            // ---- English -----------------------------------------------------------------
            ("en", "born_year", format!(r"{x} was born in {year}{end}"), "When was {x} born?"),
            ("en", "born_date", format!(r"{x} was born on {date_en}"), "When was {x} born?"),
            ("en", "born_place", format!(r"{x} was born in {place}"), "Where was {x} born?"),
            ("en", "died_year", format!(r"{x} died in {year}{end}"), "When did {x} die?"),
            ("en", "died_place", format!(r"{x} died in {place}"), "Where did {x} die?"),
            ("en", "founded_year", format!(r"{x} was founded in {year}{end}"), "When was {x} founded?"),
            ("en", "founded_by", format!(r"{x} was founded (?:in \d+ )?by {place}"), "Who founded {x}?"),
            (
                "en",
                "celebrated",
                format!(r"{x} (?:is celebrated|is held|takes place) (?:every year )?on {date_en}"),
                "When is {x} celebrated?",
            ),
            ("en", "count", format!(r"{x} has {num} {noun}{end}"), "How many {n} does {x} have?"),
            ("en", "lives_in", format!(r"{x} lives in {place}"), "Where does {x} live?"),
            ("en", "works_as", format!(r"{x} works as (?:a |an )?{obj}{end}"), "What does {x} work as?"),
            ("en", "called", format!(r"{x} is (?:called|named) {place}"), "What is {x} called?"),
            ("en", "located_in", format!(r"{x} is (?:located )?in {place}"), "Where is {x}?"),
            ("en", "is_a", format!(r"{x} is (?:a |an |the )?{obj}{end}"), "What is {x}?"),
        ];
        table
            .into_iter()
            .map(|(lang, relation, re, template)| Pattern {
                lang,
                relation,
                re: Regex::new(&re).expect("valid question pattern"),
                template,
            })
            .collect()
    })
}

/// Spans a cloze question can blank out: dates, years and other numbers, and capitalised
/// names that do not open the sentence.
fn cloze_spans() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    R.get_or_init(|| {
        Regex::new(&format!(
            r"\d{{1,2}} de (?:{MONTHS_ES})(?: de \d{{3,4}})?|(?:{MONTHS_EN}) \d{{1,2}}(?:, \d{{3,4}})?|\d[\d.,]*\d|\d|\p{{Lu}}[\p{{L}}'’\-]+(?:\s+(?:de |del )?\p{{Lu}}[\p{{L}}'’\-]+)*"
        ))
        .expect("valid cloze pattern")
    })
}

/// Words that start a Spanish/English sentence with a capital without being a name.
fn is_common_capitalised(w: &str) -> bool {
    const COMMON: &[&str] = &[
        "El", "La", "Los", "Las", "Un", "Una", "En", "The", "A", "An", "In", "On", "It", "He", "She", "They", "Él",
        "Ella", "Ellos", "Es", "Este", "Esta", "This", "That", "Cada", "Every", "Su", "His", "Her", "Their", "Y",
        "And",
    ];
    COMMON.contains(&w)
}

/// The sentence's language: the passage's, else guessed from the sentence.
pub(crate) fn sentence_lang(sentence: &str, passage_lang: Option<&str>) -> String {
    passage_lang
        .map(str::to_string)
        .or_else(|| crate::data::clean::detect_language(sentence).map(|l| l.code().to_string()))
        .unwrap_or_else(|| {
            if sentence.contains(" the ") || sentence.contains(" was ") {
                "en".into()
            } else {
                "es".into()
            }
        })
}

/// Trim a captured answer: no trailing punctuation or spaces, at most 8 words.
fn clean_span(s: &str) -> Option<String> {
    let s = s.trim().trim_end_matches(['.', ',', ';', ':', '!', '?']).trim();
    let words = s.split_whitespace().count();
    (words > 0 && words <= 8 && !normalize_answer(s).is_empty()).then(|| s.to_string())
}

/// One fact a sentence pattern read off a sentence: `subject` `relation` `answer`
/// ("Aldo Ferrán" born_place "Velmora"). The knowledge augmentation of [`super::augment`]
/// restates and asks it in many forms.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Fact {
    pub subject: String,
    /// The pattern's relation: born_year, born_date, born_place, works_as, …
    pub relation: String,
    pub answer: String,
    /// The noun counted, for `count` facts ("towers").
    pub noun: Option<String>,
    /// `es` or `en`: the sentence's language.
    pub lang: String,
}

/// Each matching pattern with its fact, most specific pattern first, one per answer.
fn matches(sentence: &str, lang: &str) -> Vec<(&'static Pattern, Fact)> {
    let body = sentence.trim_start_matches(['¿', '¡', '"', '«']);
    let mut out: Vec<(&'static Pattern, Fact)> = Vec::new();
    for p in patterns().iter().filter(|p| p.lang == lang) {
        let Some(c) = p.re.captures(body) else { continue };
        let (Some(x), Some(y)) = (c.name("x"), c.name("y")) else { continue };
        let x = x.as_str().trim();
        let Some(answer) = clean_span(y.as_str()) else { continue };
        // The answer must not be (part of) the subject, and a "what is" must not restate it.
        if normalize_answer(x).contains(&normalize_answer(&answer)) {
            continue;
        }
        // More specific patterns come first: one question per (sentence, answer).
        if out.iter().any(|(_, f)| normalize_answer(&f.answer) == normalize_answer(&answer)) {
            continue;
        }
        let fact = Fact {
            subject: x.to_string(),
            relation: p.relation.to_string(),
            answer,
            noun: c.name("n").map(|n| n.as_str().trim().to_string()),
            lang: lang.to_string(),
        };
        out.push((p, fact));
    }
    out
}

/// The facts sentence patterns read off one sentence.
pub fn facts(sentence: &str, lang: Option<&str>) -> Vec<Fact> {
    let lang = sentence_lang(sentence, lang);
    matches(sentence, &lang).into_iter().map(|(_, f)| f).collect()
}

/// Wh-questions from one sentence.
pub fn wh_questions(sentence: &str, passage_id: &str, lang: Option<&str>) -> Vec<Question> {
    let lang = sentence_lang(sentence, lang);
    let mut out: Vec<Question> = Vec::new();
    for (p, fact) in matches(sentence, &lang) {
        let mut q = p.template.replace("{x}", &fact.subject);
        if let Some(noun) = &fact.noun {
            q = q.replace("{n}", noun);
            if lang == "es" && noun.split_whitespace().next().is_some_and(|w| w.ends_with("as")) {
                q = q.replace("¿Cuántos ", "¿Cuántas ");
            }
        }
        out.push(Question {
            question: q,
            answer: fact.answer,
            passage: passage_id.to_string(),
            evidence: sentence.to_string(),
            kind: QuestionKind::Wh,
            lang: lang.clone(),
        });
    }
    out
}

/// A cloze question from one sentence: its last name, date or number blanked out.
pub fn cloze_question(sentence: &str, passage_id: &str, lang: Option<&str>) -> Option<Question> {
    let lang = sentence_lang(sentence, lang);
    if sentence.split_whitespace().count() < 4 {
        return None;
    }
    let span =
        cloze_spans().find_iter(sentence).filter(|m| m.start() > 0 && !is_common_capitalised(m.as_str())).last()?;
    let answer = clean_span(span.as_str())?;
    let blanked = format!("{}____{}", &sentence[..span.start()], &sentence[span.end()..]);
    let question =
        if lang == "es" { format!("Completa: «{blanked}»") } else { format!("Fill in the blank: \"{blanked}\"") };
    Some(Question {
        question,
        answer,
        passage: passage_id.to_string(),
        evidence: sentence.to_string(),
        kind: QuestionKind::Cloze,
        lang,
    })
}

/// Options of [`generate`].
#[derive(Debug, Clone)]
pub struct GenerateQuestions {
    /// Only passages that mention this (all of its content words); empty = every passage.
    pub topic: String,
    /// At most this many questions (spread over the passages).
    pub limit: usize,
    pub wh: bool,
    pub cloze: bool,
}

impl Default for GenerateQuestions {
    fn default() -> Self {
        Self { topic: String::new(), limit: 20, wh: true, cloze: true }
    }
}

/// Questions about `opts.topic` from `passages`: wh-questions first, then cloze ones, taken
/// round-robin over the passages so a few long passages do not take every slot. Sentences of
/// a passage that do not themselves mention the topic are still used when the passage does
/// (a paragraph about a person says "she" after the first sentence).
pub fn generate(passages: &[Passage], opts: &GenerateQuestions) -> Vec<Question> {
    let topical: Vec<&Passage> =
        passages.iter().filter(|p| opts.topic.trim().is_empty() || mentions(&p.text, &opts.topic)).collect();
    let mut per_passage: Vec<Vec<Question>> = Vec::new();
    for p in topical {
        let mut qs = Vec::new();
        let mut clozes = Vec::new();
        for s in sentences(&p.text) {
            if opts.wh {
                qs.extend(wh_questions(&s, &p.id, p.lang.as_deref()));
            }
            if opts.cloze {
                clozes.extend(cloze_question(&s, &p.id, p.lang.as_deref()));
            }
        }
        qs.extend(clozes);
        per_passage.push(qs);
    }
    let mut out: Vec<Question> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut round = 0;
    while out.len() < opts.limit {
        let mut any = false;
        for qs in &per_passage {
            if let Some(q) = qs.get(round) {
                any = true;
                if out.len() < opts.limit && seen.insert(normalize_answer(&q.question)) {
                    out.push(q.clone());
                }
            }
        }
        if !any {
            break;
        }
        round += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn qa(qs: &[Question]) -> Vec<(String, String)> {
        qs.iter().map(|q| (q.question.clone(), q.answer.clone())).collect()
    }

    #[test]
    fn spanish_patterns() {
        let q = wh_questions("Aldo Ferrán nació en Velmora.", "d1:p1", Some("es"));
        assert_eq!(qa(&q), vec![("¿Dónde nació Aldo Ferrán?".into(), "Velmora".into())]);
        let q = wh_questions("Aldo Ferrán nació en 1873 y murió en Tarsis.", "d1:p1", Some("es"));
        assert_eq!(q[0].question, "¿En qué año nació Aldo Ferrán?");
        assert_eq!(q[0].answer, "1873");
        let q = wh_questions("La torre de Velmora tiene 212 escalones.", "d1:p2", Some("es"));
        assert_eq!(qa(&q), vec![("¿Cuántos escalones tiene La torre de Velmora?".into(), "212".into())]);
        let q = wh_questions("Velmora fue fundada en 1642 por Inés Calvo.", "d1:p2", Some("es"));
        assert_eq!(q[0].answer, "1642");
        assert_eq!(q[1].question, "¿Quién fundó Velmora?");
        assert_eq!(q[1].answer, "Inés Calvo");
        let q = wh_questions("Marta Ibáñez nació el 3 de mayo de 1910.", "d1:p3", Some("es"));
        assert_eq!(qa(&q), vec![("¿Cuándo nació Marta Ibáñez?".into(), "3 de mayo de 1910".into())]);
    }

    #[test]
    fn english_patterns() {
        let q = wh_questions("Aldo Ferran was born in Velmora, a river town.", "d2:p1", Some("en"));
        assert_eq!(qa(&q)[0], ("Where was Aldo Ferran born?".into(), "Velmora".into()));
        let q = wh_questions("The old bridge has 7 arches.", "d2:p1", Some("en"));
        assert_eq!(qa(&q), vec![("How many arches does The old bridge have?".into(), "7".into())]);
        let q = wh_questions("Velmora was founded in 1642.", "d2:p1", Some("en"));
        assert_eq!(qa(&q), vec![("When was Velmora founded?".into(), "1642".into())]);
        let q = wh_questions("Marta Ibanez is a clockmaker.", "d2:p1", Some("en"));
        assert_eq!(qa(&q), vec![("What is Marta Ibanez?".into(), "clockmaker".into())]);
    }

    #[test]
    fn cloze_blanks_the_last_entity() {
        let q = cloze_question("El puente de Velmora se construyó en 1788.", "d1:p1", Some("es")).unwrap();
        assert_eq!(q.question, "Completa: «El puente de Velmora se construyó en ____.»");
        assert_eq!(q.answer, "1788");
        let q = cloze_question("The mayor of the town is Lucia Berr.", "p", Some("en")).unwrap();
        assert_eq!(q.answer, "Lucia Berr");
        assert!(cloze_question("no entities at all here", "p", Some("en")).is_none());
    }

    #[test]
    fn generate_filters_by_topic_and_cites() {
        let ps = vec![
            Passage {
                id: "d1:p1".into(),
                text: "Velmora fue fundada en 1642. Tiene un río.".into(),
                lang: Some("es".into()),
            },
            Passage { id: "d1:p2".into(), text: "Tarsis fue fundada en 1700.".into(), lang: Some("es".into()) },
        ];
        let qs = generate(&ps, &GenerateQuestions { topic: "velmora".into(), limit: 10, ..Default::default() });
        assert!(!qs.is_empty());
        assert!(qs.iter().all(|q| q.passage == "d1:p1"), "{qs:?}");
        assert!(qs.iter().any(|q| q.question == "¿Cuándo fue fundada Velmora?" && q.answer == "1642"));
        let all = generate(&ps, &GenerateQuestions { limit: 1, ..Default::default() });
        assert_eq!(all.len(), 1);
    }
}
