//! Knowledge augmentation (Allen-Zhu & Li 2023, "Physics of Language Models, Part 3.1"): a
//! fact a model saw in one wording is rarely extractable with another; presenting it in many
//! forms — several question templates per attribute, restatements of the sentence, and the
//! subject's facts in permuted order — is what makes it answerable by new wordings. From each
//! fact the sentence patterns of [`super::questions`] read off a gap's evidence sentence
//! ("Aldo Ferrán" born_place "Velmora"), this writes training-only variants: questions in other
//! wordings (also in the other language when the answer is language-neutral: a place, a year,
//! a name), cloze restatements, and clozes of the subject's facts in shuffled order.
//!
//! Restatements never use the bare "X nació en ___" / "X was born in ___", which a year and a
//! place would share (one prompt, two answers). The templates are generic, per relation; they deliberately share no three-word phrase with
//! the held-out paraphrases of [`super::facts`] (a test checks it), so accuracy on those still
//! measures transfer to wordings never trained on.

use super::questions::{facts, Fact, Question, QuestionKind};
use super::store::Passage;
use super::text::{normalize_answer, sentences};
use crate::train::batch::splitmix64;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};

/// How many variants of each fact to write.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AugmentOptions {
    /// Question wordings per fact (its language's first, then the other language's).
    pub questions: usize,
    /// Cloze restatements per fact.
    pub restatements: usize,
    /// Clozes of the subject's facts in a shuffled order, per fact.
    pub permutations: usize,
    pub seed: u64,
}

impl Default for AugmentOptions {
    fn default() -> Self {
        Self { questions: 16, restatements: 4, permutations: 2, seed: 1337 }
    }
}

impl AugmentOptions {
    /// No variants at all.
    pub fn off() -> Self {
        Self { questions: 0, restatements: 0, permutations: 0, seed: 0 }
    }

    pub fn is_off(&self) -> bool {
        self.questions == 0 && self.restatements == 0 && self.permutations == 0
    }
}

/// Templates of one relation in one language: `{x}` subject, `{y}` answer, `{n}` the noun
/// counted, `{a}` the English article before the answer.
struct Templates {
    questions: &'static [&'static str],
    statements: &'static [&'static str],
}

/// Relations whose answers read the same in both languages (places, years, names).
fn language_neutral(relation: &str) -> bool {
    matches!(
        relation,
        "born_year"
            | "born_place"
            | "died_year"
            | "died_place"
            | "founded_year"
            | "founded_by"
            | "lives_in"
            | "located_in"
    )
}

fn templates(relation: &str, lang: &str) -> Option<Templates> {
    let t = |questions, statements| Some(Templates { questions, statements });
    match (relation, lang) {
        ("born_year", "es") => t(
            &[
                "¿En qué año nació {x}?",
                "¿Cuándo nació {x}?",
                "¿Qué año nació {x}?",
                "Año de nacimiento de {x}:",
                "¿Sabes cuándo nació {x}?",
                "Dime el año en que nació {x}.",
                "¿{x} nació en qué año?",
            ],
            &[
                "{x} nació en el año {y}.",
                "El año de nacimiento de {x} es {y}.",
                "En {y} nació {x}.",
                "{x} vio la luz en el año {y}.",
            ],
        ),
        ("born_year", "en") => t(
            &[
                "When was {x} born?",
                "Which year was {x} born in?",
                "What is {x}'s year of birth?",
                "Birth year of {x}:",
                "Do you know when {x} was born?",
                "Tell me the year {x} was born.",
                "{x} was born in which year?",
            ],
            &[
                "{x} was born in the year {y}.",
                "The birth year of {x} is {y}.",
                "In {y}, {x} was born.",
                "{x}'s year of birth is {y}.",
            ],
        ),
        ("born_date", "es") => t(
            &["¿Cuándo nació {x}?", "¿Qué día nació {x}?", "Fecha de nacimiento de {x}:", "¿Sabes cuándo nació {x}?"],
            &["{x} nació el {y}.", "La fecha de nacimiento de {x} es el {y}."],
        ),
        ("born_date", "en") => t(
            &[
                "When was {x} born?",
                "On which date was {x} born?",
                "Date of birth of {x}:",
                "Do you know when {x} was born?",
            ],
            &["{x} was born on {y}.", "{x}'s date of birth is {y}."],
        ),
        ("born_place", "es") => t(
            &[
                "¿Dónde nació {x}?",
                "¿En qué lugar nació {x}?",
                "¿De dónde es {x}?",
                "¿De dónde viene {x}?",
                "Lugar de nacimiento de {x}:",
                "¿Sabes dónde nació {x}?",
                "¿{x} nació en qué lugar?",
            ],
            &[
                "El lugar de nacimiento de {x} es {y}.",
                "{x} es natural de {y}.",
                "{x} viene de {y}.",
                "{x} nació en la localidad de {y}.",
            ],
        ),
        ("born_place", "en") => t(
            &[
                "Where was {x} born?",
                "Where is {x} from?",
                "Where does {x} come from?",
                "What is {x}'s birthplace?",
                "Birthplace of {x}:",
                "Do you know where {x} was born?",
                "{x} was born where?",
            ],
            &[
                "The birthplace of {x} is {y}.",
                "{x} comes from {y}.",
                "{x} is a native of {y}.",
                "{x} was born in the town of {y}.",
            ],
        ),
        ("works_as", "es") => t(
            &[
                "¿En qué trabaja {x}?",
                "¿A qué se dedica {x}?",
                "¿Qué profesión tiene {x}?",
                "¿De qué trabaja {x}?",
                "Profesión de {x}:",
                "¿Qué hace {x} para ganarse la vida?",
                "¿Sabes en qué trabaja {x}?",
            ],
            &[
                "{x} trabaja como {y}.",
                "La profesión de {x} es {y}.",
                "{x} se gana la vida como {y}.",
                "{x} se dedica a trabajar de {y}.",
            ],
        ),
        ("works_as", "en") => t(
            &[
                "What does {x} work as?",
                "What does {x} do for a living?",
                "What profession does {x} have?",
                "What is {x}'s occupation?",
                "Occupation of {x}:",
                "What work does {x} do?",
                "Do you know what {x} works as?",
            ],
            &[
                "{x} works as {a} {y}.",
                "The profession of {x} is {y}.",
                "{x} earns a living as {a} {y}.",
                "By trade, {x} is {a} {y}.",
            ],
        ),
        ("lives_in", "es") => t(
            &["¿Dónde vive {x}?", "¿Dónde reside {x}?", "¿En qué lugar vive {x}?"],
            &["{x} vive en {y}.", "{x} reside en {y}."],
        ),
        ("lives_in", "en") => t(
            &["Where does {x} live?", "Where does {x} reside?", "In which place does {x} live?"],
            &["{x} lives in {y}.", "{x} resides in {y}."],
        ),
        ("died_year", "es") => t(
            &["¿En qué año murió {x}?", "¿Cuándo murió {x}?", "¿Cuándo falleció {x}?"],
            &["{x} murió en {y}.", "{x} falleció en el año {y}."],
        ),
        ("died_year", "en") => t(
            &["When did {x} die?", "Which year did {x} die in?", "When did {x} pass away?"],
            &["{x} died in {y}.", "{x} passed away in {y}."],
        ),
        ("died_place", "es") => t(
            &["¿Dónde murió {x}?", "¿Dónde falleció {x}?", "¿En qué lugar murió {x}?"],
            &["{x} murió en {y}.", "{x} falleció en {y}."],
        ),
        ("died_place", "en") => t(
            &["Where did {x} die?", "Where did {x} pass away?", "In which place did {x} die?"],
            &["{x} died in {y}.", "{x} passed away in {y}."],
        ),
        ("founded_year", "es") => t(
            &["¿Cuándo fue fundada {x}?", "¿En qué año se fundó {x}?", "¿Cuándo se fundó {x}?"],
            &["{x} fue fundada en {y}.", "{x} se fundó en el año {y}."],
        ),
        ("founded_year", "en") => t(
            &["When was {x} founded?", "Which year was {x} founded in?", "When did the founding of {x} happen?"],
            &["{x} was founded in {y}.", "The founding year of {x} is {y}."],
        ),
        ("founded_by", "es") => t(
            &["¿Quién fundó {x}?", "¿Quién fue el fundador de {x}?", "¿Por quién fue fundada {x}?"],
            &["{x} fue fundada por {y}.", "{y} fundó {x}."],
        ),
        ("founded_by", "en") => t(
            &["Who founded {x}?", "Who was the founder of {x}?", "By whom was {x} founded?"],
            &["{x} was founded by {y}.", "{y} founded {x}."],
        ),
        ("celebrated", "es") => t(
            &["¿Cuándo se celebra {x}?", "¿Qué día se celebra {x}?", "¿En qué fecha se celebra {x}?"],
            &["{x} se celebra el {y}.", "La fecha de {x} es el {y}."],
        ),
        ("celebrated", "en") => t(
            &["When is {x} celebrated?", "On which date is {x} held?", "Which day is {x} celebrated?"],
            &["{x} is celebrated on {y}.", "{x} takes place on {y}."],
        ),
        ("count", "es") => t(
            &["¿Cuántos {n} tiene {x}?", "¿Cuántos {n} hay en {x}?", "Número de {n} de {x}:"],
            &["{x} tiene {y} {n}.", "En {x} hay {y} {n}."],
        ),
        ("count", "en") => t(
            &["How many {n} does {x} have?", "How many {n} are there in {x}?", "Number of {n} of {x}:"],
            &["{x} has {y} {n}.", "There are {y} {n} in {x}."],
        ),
        ("called", "es") => t(&["¿Cómo se llama {x}?", "¿Qué nombre tiene {x}?"], &["{x} se llama {y}."]),
        ("called", "en") => t(&["What is {x} called?", "What name does {x} have?"], &["{x} is called {y}."]),
        ("located_in", "es") => t(
            &["¿Dónde está {x}?", "¿Dónde se encuentra {x}?", "¿En qué lugar está {x}?"],
            &["{x} está en {y}.", "{x} se encuentra en {y}."],
        ),
        ("located_in", "en") => t(
            &["Where is {x}?", "Where is {x} located?", "In which place is {x}?"],
            &["{x} is in {y}.", "{x} is located in {y}."],
        ),
        ("is_a", "es") => t(&["¿Qué es {x}?", "Dime qué es {x}."], &["{x} es {y}."]),
        ("is_a", "en") => t(&["What is {x}?", "Tell me what {x} is."], &["{x} is {a} {y}."]),
        _ => None,
    }
}

fn other_lang(lang: &str) -> &'static str {
    if lang == "es" {
        "en"
    } else {
        "es"
    }
}

/// Fill a template with a fact (`{y}` left as is when `answer` is None).
fn fill(template: &str, f: &Fact, answer: Option<&str>) -> String {
    let article = if f.answer.starts_with(['a', 'e', 'i', 'o', 'u', 'A', 'E', 'I', 'O', 'U']) { "an" } else { "a" };
    let mut s = template.replace("{x}", &f.subject).replace("{a}", article);
    if let Some(n) = &f.noun {
        s = s.replace("{n}", n);
        if f.lang == "es" && n.split_whitespace().next().is_some_and(|w| w.ends_with("as")) {
            s = s.replace("Cuántos ", "Cuántas ");
        }
    }
    match answer {
        Some(a) => s.replace("{y}", a),
        None => s,
    }
}

/// Capitalise the first letter (a restatement may start with the subject's lowercase word).
fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

fn cloze(text: &str, lang: &str) -> String {
    if lang == "es" {
        format!("Completa: «{text}»")
    } else {
        format!("Fill in the blank: \"{text}\"")
    }
}

/// Question wordings of `f` (its language first; the other language's too when the answer
/// is language-neutral), at most `limit`.
pub fn question_wordings(f: &Fact, limit: usize) -> Vec<(String, String)> {
    let mut langs = vec![f.lang.as_str()];
    if language_neutral(&f.relation) {
        langs.push(other_lang(&f.lang));
    }
    let mut out = Vec::new();
    for lang in langs {
        let Some(t) = templates(&f.relation, lang) else { continue };
        for q in t.questions {
            out.push((fill(q, f, None), lang.to_string()));
        }
    }
    out.truncate(limit);
    out
}

/// Restatements of `f` in its language with the answer blanked, as cloze prompts.
fn restatement_clozes(f: &Fact, limit: usize) -> Vec<String> {
    let Some(t) = templates(&f.relation, &f.lang) else { return Vec::new() };
    t.statements.iter().take(limit).map(|s| cloze(&capitalise(&fill(s, f, Some("____"))), &f.lang)).collect()
}

/// Variants of the facts in `gaps`' evidence sentences (see the module docs), each a
/// [`QuestionKind::Variant`] question citing the gap's passage and evidence. `passages` gives
/// the subject's other facts for the permuted clozes. Variants identical to a question in
/// `existing` are left out.
pub fn variants(
    gaps: &[Question],
    passages: &[Passage],
    existing: &[Question],
    opts: &AugmentOptions,
) -> Vec<Question> {
    if opts.is_off() {
        return Vec::new();
    }
    let by_id: HashMap<&str, &Passage> = passages.iter().map(|p| (p.id.as_str(), p)).collect();
    let mut seen: HashSet<(String, String)> =
        existing.iter().map(|q| (normalize_answer(&q.question), normalize_answer(&q.answer))).collect();
    let mut done_evidence = HashSet::new();
    let mut out = Vec::new();
    for (gi, g) in gaps.iter().enumerate() {
        if !done_evidence.insert((g.passage.clone(), g.evidence.clone())) {
            continue;
        }
        let lang = (!g.lang.is_empty()).then_some(g.lang.as_str());
        // The other facts of the passage, for permutations.
        let passage_facts: Vec<Fact> = by_id
            .get(g.passage.as_str())
            .map(|p| sentences(&p.text).iter().flat_map(|s| facts(s, p.lang.as_deref().or(lang))).collect())
            .unwrap_or_default();
        for (fi, f) in facts(&g.evidence, lang).into_iter().enumerate() {
            let mut push = |question: String, qlang: String| {
                if seen.insert((normalize_answer(&question), normalize_answer(&f.answer))) {
                    out.push(Question {
                        question,
                        answer: f.answer.clone(),
                        passage: g.passage.clone(),
                        evidence: g.evidence.clone(),
                        kind: QuestionKind::Variant,
                        lang: qlang,
                    });
                }
            };
            for c in restatement_clozes(&f, opts.restatements) {
                push(c, f.lang.clone());
            }
            // The subject's facts (this one blanked) in a shuffled order, each restated by a
            // template picked at random.
            let mates: Vec<&Fact> = passage_facts
                .iter()
                .filter(|o| {
                    normalize_answer(&o.subject) == normalize_answer(&f.subject)
                        && o.lang == f.lang
                        && templates(&o.relation, &o.lang).is_some()
                        && !(o.relation == f.relation && o.answer == f.answer)
                })
                .collect();
            let rounds = if mates.is_empty() { 0 } else { opts.permutations };
            for k in 0..rounds {
                let mut h = splitmix64(opts.seed ^ splitmix64(gi as u64 ^ splitmix64((fi as u64) << 8 | k as u64)));
                let mut next = || {
                    h = splitmix64(h);
                    h
                };
                let mut parts: Vec<(&Fact, bool)> = mates.iter().map(|m| (*m, false)).collect();
                parts.push((&f, true));
                // Fisher–Yates.
                for i in (1..parts.len()).rev() {
                    let j = (next() % (i as u64 + 1)) as usize;
                    parts.swap(i, j);
                }
                let text: Vec<String> = parts
                    .iter()
                    .filter_map(|(p, blank)| {
                        let t = templates(&p.relation, &p.lang)?;
                        let s = t.statements[(next() % t.statements.len() as u64) as usize];
                        Some(capitalise(&fill(s, p, Some(if *blank { "____" } else { &p.answer }))))
                    })
                    .collect();
                push(cloze(&text.join(" "), &f.lang), f.lang.clone());
            }
            // Question wordings last: the sweep holds out each fact's last example, and a new
            // wording is what it should measure.
            for (q, l) in question_wordings(&f, opts.questions) {
                push(q, l);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::learn::facts;

    /// Word sequences of a template with the subject slot as a break.
    fn trigrams(template: &str) -> HashSet<String> {
        let mut out = HashSet::new();
        for part in template.split("{x}") {
            let words: Vec<String> = normalize_answer(part).split_whitespace().map(str::to_string).collect();
            for w in words.windows(3) {
                out.insert(w.join(" "));
            }
        }
        out
    }

    #[test]
    fn templates_share_no_phrase_with_the_held_out_paraphrases() {
        // The held-out questions of one invented person, turned back into templates.
        let p = &facts::people(1, 7)[0];
        let held: Vec<String> =
            facts::paraphrases(std::slice::from_ref(p)).iter().map(|q| q.question.replace(&p.name, "{x}")).collect();
        let held_grams: HashSet<String> = held.iter().flat_map(|h| trigrams(h)).collect();
        let forbidden = ["pueblo", "oficio", "mundo", "village", "job"];
        let relations = [
            "born_year",
            "born_date",
            "born_place",
            "works_as",
            "lives_in",
            "died_year",
            "died_place",
            "founded_year",
            "founded_by",
            "celebrated",
            "count",
            "called",
            "located_in",
            "is_a",
        ];
        for r in relations {
            for lang in ["es", "en"] {
                let t = templates(r, lang).unwrap_or_else(|| panic!("no templates for {r}/{lang}"));
                for s in t.questions.iter().chain(t.statements) {
                    let shared: Vec<_> = trigrams(s).intersection(&held_grams).cloned().collect();
                    assert!(shared.is_empty(), "{s:?} shares {shared:?} with a held-out paraphrase");
                    assert!(!held.contains(&s.to_string()), "{s:?} is a held-out paraphrase");
                    let words = normalize_answer(s);
                    assert!(!forbidden.iter().any(|w| words.split(' ').any(|x| x == *w)), "{s:?}");
                }
            }
        }
    }

    #[test]
    fn variants_ask_restate_and_permute_each_fact() {
        let ps = vec![Passage {
            id: "d1:p1".into(),
            text: "Aldo Ferrán nació en Velmora. Aldo Ferrán nació en el año 1873. Aldo Ferrán trabaja como herrero."
                .into(),
            lang: Some("es".into()),
        }];
        let all =
            crate::learn::generate_questions(&ps, &crate::learn::GenerateQuestions { limit: 50, ..Default::default() });
        let gap = all.iter().find(|q| q.question == "¿Dónde nació Aldo Ferrán?").unwrap().clone();
        let v = variants(std::slice::from_ref(&gap), &ps, &all, &AugmentOptions::default());
        let qs: Vec<&str> = v.iter().map(|q| q.question.as_str()).collect();
        // Other wordings in Spanish, and English ones (a place reads the same in both).
        assert!(qs.contains(&"¿De dónde es Aldo Ferrán?"), "{qs:?}");
        assert!(qs.contains(&"Where is Aldo Ferrán from?"), "{qs:?}");
        // The generator's own question is not repeated.
        assert!(!qs.contains(&"¿Dónde nació Aldo Ferrán?"), "{qs:?}");
        assert!(qs.contains(&"Completa: «El lugar de nacimiento de Aldo Ferrán es ____.»"), "{qs:?}");
        // Permuted clozes carry the subject's other facts and blank this one.
        let perm: Vec<&&str> = qs.iter().filter(|q| q.contains("herrero") && q.contains("____")).collect();
        assert!(!perm.is_empty(), "{qs:?}");
        assert!(perm.iter().all(|q| q.contains("1873") && !q.contains("Velmora")), "{perm:?}");
        assert!(v.iter().all(|q| q.answer == "Velmora"
            && q.kind == QuestionKind::Variant
            && q.passage == "d1:p1"
            && q.evidence == "Aldo Ferrán nació en Velmora."));
        // A trade is asked only in its own language.
        let trade = all.iter().find(|q| q.answer == "herrero").unwrap().clone();
        let v = variants(&[trade], &ps, &all, &AugmentOptions::default());
        assert!(v.iter().all(|q| q.lang == "es"), "{v:?}");
        assert!(v.iter().any(|q| q.question == "¿A qué se dedica Aldo Ferrán?"));
        assert!(variants(&[gap], &ps, &all, &AugmentOptions::off()).is_empty());
    }
}
