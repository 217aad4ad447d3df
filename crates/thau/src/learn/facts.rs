//! Invented facts for measuring learning: people of a fictional valley (Velmora and its
//! villages), with a birthplace, a birth year and a trade, written as Spanish and English
//! documents from templates. No model can know them beforehand, so closed-book accuracy before
//! a learning cycle is chance and after it is what was learnt. Each fact also has held-out
//! paraphrased questions (worded unlike anything the question generator writes) for checking
//! that the model learnt the fact, not the question.

use super::questions::{Question, QuestionKind};
use serde::{Deserialize, Serialize};

/// SplitMix64, fixed forever (the fact set must not change between THAU versions).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const VILLAGES: &[&str] = &["Velmora", "Tarsis", "Quelbe", "Orvián", "Sendra", "Balmuz", "Irgonda", "Peñafrel"];
/// Trades: (Spanish, English).
const TRADES: &[(&str, &str)] = &[
    ("herrero", "blacksmith"),
    ("panadera", "baker"),
    ("pescador", "fisherman"),
    ("relojera", "clockmaker"),
    ("maestro", "teacher"),
    ("alfarera", "potter"),
    ("carpintero", "carpenter"),
    ("tejedora", "weaver"),
];
const FIRST: &[&str] =
    &["Ald", "Ber", "Cal", "Dor", "Em", "Fel", "Gar", "Hil", "Ix", "Jov", "Kel", "Lum", "Mir", "Nor"];
const FIRST_END: &[&str] = &["o", "a", "ino", "ena", "ur", "is"];
const LAST: &[&str] = &["Ferr", "Quint", "Sarv", "Olm", "Brec", "Tavel", "Urd", "Zamb", "Plas", "Gorr"];
const LAST_END: &[&str] = &["án", "ela", "oz", "ino", "edo", "ás"];

/// One invented person.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Person {
    pub name: String,
    pub village: String,
    pub year: u32,
    pub trade_es: String,
    pub trade_en: String,
}

/// `n` people with distinct names (deterministic for a seed).
pub fn people(n: usize, seed: u64) -> Vec<Person> {
    let mut rng = Rng(seed);
    let mut out: Vec<Person> = Vec::new();
    let mut tries = 0;
    while out.len() < n && tries < n * 100 {
        tries += 1;
        let name = format!(
            "{}{} {}{}",
            FIRST[rng.below(FIRST.len())],
            FIRST_END[rng.below(FIRST_END.len())],
            LAST[rng.below(LAST.len())],
            LAST_END[rng.below(LAST_END.len())]
        );
        if out.iter().any(|p| p.name == name) {
            continue;
        }
        let (es, en) = TRADES[rng.below(TRADES.len())];
        out.push(Person {
            name,
            village: VILLAGES[rng.below(VILLAGES.len())].to_string(),
            year: 1800 + rng.below(200) as u32,
            trade_es: es.into(),
            trade_en: en.into(),
        });
    }
    out
}

/// The Spanish and English documents about `people`, one paragraph per person.
pub fn documents(people: &[Person]) -> (String, String) {
    let mut es = String::from("# Gente del valle de Velmora\n\n");
    let mut en = String::from("# People of the Velmora valley\n\n");
    for p in people {
        es += &format!(
            "{n} nació en {v}. {n} nació en el año {y}. {n} trabaja como {t}.\n\n",
            n = p.name,
            v = p.village,
            y = p.year,
            t = p.trade_es
        );
        en += &format!(
            "{n} was born in {v}. {n} was born in {y}. {n} works as a {t}.\n\n",
            n = p.name,
            v = p.village,
            y = p.year,
            t = p.trade_en
        );
    }
    (es, en)
}

/// Held-out paraphrases: each fact asked in words the question generator never uses.
pub fn paraphrases(people: &[Person]) -> Vec<Question> {
    let mut out = Vec::new();
    let q = |question: String, answer: String, lang: &str| Question {
        question,
        answer,
        passage: "facts".into(),
        evidence: String::new(),
        kind: QuestionKind::Wh,
        lang: lang.into(),
    };
    for p in people {
        out.push(q(format!("¿De qué pueblo es {}?", p.name), p.village.clone(), "es"));
        out.push(q(format!("¿Cuándo vino al mundo {}?", p.name), p.year.to_string(), "es"));
        out.push(q(format!("¿Cuál es el oficio de {}?", p.name), p.trade_es.clone(), "es"));
        out.push(q(format!("Which village is {} from?", p.name), p.village.clone(), "en"));
        out.push(q(format!("In what year was {} born?", p.name), p.year.to_string(), "en"));
        out.push(q(format!("What is the job of {}?", p.name), p.trade_en.clone(), "en"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facts_are_deterministic_and_distinct() {
        let a = people(60, 1);
        assert_eq!(a, people(60, 1));
        assert_eq!(a.len(), 60);
        let names: std::collections::HashSet<_> = a.iter().map(|p| &p.name).collect();
        assert_eq!(names.len(), 60);
        let (es, en) = documents(&a[..2]);
        assert!(es.contains(&format!("{} nació en {}.", a[0].name, a[0].village)));
        assert!(en.contains(&format!("{} works as a {}.", a[1].name, a[1].trade_en)));
        assert_eq!(paraphrases(&a).len(), 360);
    }
}
