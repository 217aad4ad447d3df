//! Memory-grounded conversations: the prompt carries the memory message a session injects
//! ([`crate::memory::memory_block`], right before the newest user message) and the answer uses
//! it, or knows not to.
//!
//! Three kinds ([`GroundingKind`]):
//! - **answer**: a memory holds what the question asks ("Mi perro se llama Rocky." →
//!   "¿Cómo se llama mi perro?" → "Tu perro se llama Rocky."), often among unrelated memories
//!   (another pet's name, the city, the job), so the model has to read the right line;
//! - **unrelated**: only unrelated memories are injected (the cat's name when the question is
//!   about the dog): the answer says it does not know and uses none of them;
//! - **episodes**: a time question ("¿qué hablamos ayer?") with the summaries of that time's
//!   conversations, written by [`crate::memory::episode_summary`]: the answer names their topics
//!   (the key holds the first one's value).
//!
//! Every example carries its key ([`Grounding`]): the value the answer must contain and the
//! values of the unrelated memories it must not. Questions are worded from training or
//! held-out phrasings (disjoint lists), as the rest of the dataset is.

use super::*;
use crate::data::synthetic::{MONTHS_EN, MONTHS_ES};
use crate::memory::{episode_summary, memory_block, memory_line, Episode, Turn};
use crate::train::sft::{Grounding, GroundingKind};

/// Where an example's values come from.
#[derive(Clone, Copy)]
enum Values {
    List(&'static [&'static str]),
    /// A day of the year, written the language's way.
    Date,
    /// An age in years.
    Age,
}

/// One kind of personal fact, in one language: how it is remembered, asked and answered.
struct FactKind {
    /// How the memory reads (`{r}`: the relation, `{v}`: the value).
    memory: &'static [&'static str],
    questions: &'static [&'static str],
    questions_heldout: &'static [&'static str],
    answer: &'static str,
    /// Whose fact it is ("perro", "hermana"); empty when the kind has no relation.
    relations: &'static [&'static str],
    values: Values,
}

const NAMES: &[&str] = &[
    "Rocky", "Luna", "Toby", "Lucía", "Marta", "Pablo", "Sam", "Kira", "Max", "Olivia", "Bruno", "Nala", "Simba",
    "Coco", "Lola", "Thor", "Carmen", "Javier", "Elena", "Diego", "Sofía", "Mateo", "Valeria", "Hugo", "Irene",
    "Óscar", "Nora", "Leo", "Julia", "Andrés", "Charlie", "Bella", "Daisy", "Oliver", "Emma", "Jack", "Grace", "Henry",
    "Milo", "Rita",
];
const CITIES: &[&str] = &[
    "Valencia", "Sevilla", "Bilbao", "Lima", "Bogotá", "Boston", "Dublin", "Toronto", "Madrid", "Quito", "Oporto",
    "Lisboa", "Granada", "Córdoba", "Rosario", "Cusco", "Chicago", "Denver", "Glasgow", "Berlín", "Málaga", "Vigo",
];
const KINDS_ES: &[FactKind] = &[
    FactKind {
        memory: &["Mi {r} se llama {v}.", "El nombre de mi {r} es {v}."],
        questions: &[
            "¿Cómo se llama mi {r}?",
            "¿Cuál es el nombre de mi {r}?",
            "¿Sabes cómo se llama mi {r}?",
            "Dime el nombre de mi {r}",
            "¿Te acuerdas de cómo se llama mi {r}?",
            "¿Qué nombre tiene mi {r}?",
        ],
        questions_heldout: &["¿Me recuerdas el nombre de mi {r}?", "Oye, ¿y mi {r} cómo se llamaba?"],
        answer: "Tu {r} se llama {v}.",
        relations: &["perro", "gato", "hermano", "hermana", "jefe", "vecino", "hijo", "hija", "loro", "sobrino"],
        values: Values::List(NAMES),
    },
    FactKind {
        memory: &["Vivo en {v}.", "Mi casa está en {v}."],
        questions: &["¿Dónde vivo?", "¿En qué ciudad vivo?", "¿Sabes dónde vivo?", "¿Dónde está mi casa?"],
        questions_heldout: &["¿Cuál es mi ciudad?", "¿Recuerdas en qué sitio tengo mi casa?"],
        answer: "Vives en {v}.",
        relations: &[],
        values: Values::List(CITIES),
    },
    FactKind {
        memory: &["Mi color favorito es el {v}.", "El color que más me gusta es el {v}."],
        questions: &["¿Cuál es mi color favorito?", "¿Qué color me gusta más?", "¿Sabes cuál es mi color preferido?"],
        questions_heldout: &["¿Te acuerdas de mi color favorito?", "¿De qué color me gustan más las cosas?"],
        answer: "Tu color favorito es el {v}.",
        relations: &[],
        values: Values::List(&[
            "rojo", "azul", "verde", "amarillo", "morado", "naranja", "negro", "blanco", "gris", "rosa", "turquesa",
        ]),
    },
    FactKind {
        memory: &["Trabajo de {v}.", "Soy {v} de profesión."],
        questions: &["¿En qué trabajo?", "¿Cuál es mi trabajo?", "¿A qué me dedico?", "¿Cuál es mi profesión?"],
        questions_heldout: &["¿Sabes de qué trabajo yo?", "¿Qué hago para ganarme la vida?"],
        answer: "Trabajas de {v}.",
        relations: &[],
        values: Values::List(&[
            "enfermera",
            "programador",
            "carpintero",
            "abogada",
            "cocinero",
            "panadera",
            "fontanero",
            "arquitecta",
            "periodista",
            "electricista",
            "veterinaria",
            "bombero",
        ]),
    },
    FactKind {
        memory: &["Mi cumpleaños es el {v}.", "Nací el {v}."],
        questions: &["¿Cuándo es mi cumpleaños?", "¿Qué día es mi cumpleaños?", "¿Cuándo nací?"],
        questions_heldout: &["¿En qué fecha celebro mi cumpleaños?", "¿Qué día cumplo años?"],
        answer: "Tu cumpleaños es el {v}.",
        relations: &[],
        values: Values::Date,
    },
    FactKind {
        memory: &["Mi comida favorita es {v}.", "Me encanta comer {v}."],
        questions: &["¿Cuál es mi comida favorita?", "¿Qué me gusta comer?", "¿Qué plato me gusta más?"],
        questions_heldout: &["¿Sabes qué comida me encanta?", "¿Cuál es mi plato preferido?"],
        answer: "Tu comida favorita es {v}.",
        relations: &[],
        values: Values::List(&[
            "la paella",
            "la pizza",
            "el sushi",
            "las lentejas",
            "la tortilla",
            "el gazpacho",
            "los tacos",
            "el ceviche",
            "la lasaña",
            "el cocido",
        ]),
    },
    FactKind {
        memory: &["Soy alérgico a {v}.", "Tengo alergia a {v}."],
        questions: &["¿A qué soy alérgico?", "¿Qué alergias tengo?", "¿Tengo alguna alergia?"],
        questions_heldout: &["¿Qué cosas me dan alergia?", "¿Recuerdas mi alergia?"],
        answer: "Eres alérgico a {v}.",
        relations: &[],
        values: Values::List(&[
            "las nueces",
            "las gramíneas",
            "la penicilina",
            "los gatos",
            "los mariscos",
            "los cacahuetes",
            "la lactosa",
            "las fresas",
        ]),
    },
    FactKind {
        memory: &["Tengo {v} años.", "Mi edad es {v} años."],
        questions: &["¿Cuántos años tengo?", "¿Qué edad tengo?"],
        questions_heldout: &["¿Sabes mi edad?", "¿Cuántos años te dije que tenía?"],
        answer: "Tienes {v} años.",
        relations: &[],
        values: Values::Age,
    },
];

const KINDS_EN: &[FactKind] = &[
    FactKind {
        memory: &["My {r}'s name is {v}.", "My {r} is called {v}."],
        questions: &[
            "What's my {r}'s name?",
            "What is my {r} called?",
            "Do you know my {r}'s name?",
            "Tell me my {r}'s name",
            "Do you remember what my {r} is called?",
            "What name does my {r} have?",
        ],
        questions_heldout: &["Can you remind me of my {r}'s name?", "Hey, what was my {r} called again?"],
        answer: "Your {r}'s name is {v}.",
        relations: &["dog", "cat", "brother", "sister", "boss", "neighbor", "son", "daughter", "parrot", "nephew"],
        values: Values::List(NAMES),
    },
    FactKind {
        memory: &["I live in {v}.", "My home is in {v}."],
        questions: &["Where do I live?", "Which city do I live in?", "Do you know where I live?", "Where is my home?"],
        questions_heldout: &["What's my city?", "Do you recall where my house is?"],
        answer: "You live in {v}.",
        relations: &[],
        values: Values::List(CITIES),
    },
    FactKind {
        memory: &["My favorite color is {v}.", "The color I like most is {v}."],
        questions: &["What's my favorite color?", "Which color do I like best?", "Do you know my favourite colour?"],
        questions_heldout: &["Do you remember my favorite color?", "What color do I like the most?"],
        answer: "Your favorite color is {v}.",
        relations: &[],
        values: Values::List(&[
            "red",
            "blue",
            "green",
            "yellow",
            "purple",
            "orange",
            "black",
            "white",
            "grey",
            "pink",
            "turquoise",
        ]),
    },
    FactKind {
        memory: &["I work as a {v}.", "I'm a {v} by profession."],
        questions: &[
            "What do I do for work?",
            "What's my job?",
            "What is my profession?",
            "What kind of work do I do?",
        ],
        questions_heldout: &["Do you know what my job is?", "What do I do for a living?"],
        answer: "You work as a {v}.",
        relations: &[],
        values: Values::List(&[
            "nurse",
            "programmer",
            "carpenter",
            "lawyer",
            "cook",
            "baker",
            "plumber",
            "builder",
            "journalist",
            "mechanic",
            "vet",
            "firefighter",
        ]),
    },
    FactKind {
        memory: &["My birthday is on {v}.", "I was born on {v}."],
        questions: &["When is my birthday?", "What day is my birthday?", "When was I born?"],
        questions_heldout: &["On what date do I celebrate my birthday?", "Which day do I turn a year older?"],
        answer: "Your birthday is on {v}.",
        relations: &[],
        values: Values::Date,
    },
    FactKind {
        memory: &["My favorite food is {v}.", "I love eating {v}."],
        questions: &["What's my favorite food?", "What do I like to eat?", "Which dish do I like most?"],
        questions_heldout: &["Do you know which food I love?", "What is my preferred dish?"],
        answer: "Your favorite food is {v}.",
        relations: &[],
        values: Values::List(&[
            "paella",
            "pizza",
            "sushi",
            "lentil soup",
            "omelette",
            "gazpacho",
            "tacos",
            "ceviche",
            "lasagna",
            "curry",
        ]),
    },
    FactKind {
        memory: &["I'm allergic to {v}.", "I have an allergy to {v}."],
        questions: &["What am I allergic to?", "What allergies do I have?", "Do I have any allergies?"],
        questions_heldout: &["What things give me an allergy?", "Do you recall my allergy?"],
        answer: "You are allergic to {v}.",
        relations: &[],
        values: Values::List(&[
            "nuts",
            "pollen",
            "penicillin",
            "cats",
            "shellfish",
            "gluten",
            "lactose",
            "strawberries",
        ]),
    },
    FactKind {
        memory: &["I am {v} years old.", "My age is {v}."],
        questions: &["How old am I?", "What's my age?"],
        questions_heldout: &["Do you know my age?", "How old did I tell you I was?"],
        answer: "You are {v} years old.",
        relations: &[],
        values: Values::Age,
    },
];

/// What a conversation about earlier conversations was about: the user's first message and
/// the topic as an answer names it (`{v}`: the value the answer must contain).
struct Topic {
    message: &'static str,
    topic: &'static str,
    values: &'static [&'static str],
}

const TOPICS_ES: &[Topic] = &[
    Topic { message: "¿Qué tiempo hace en {v}?", topic: "el tiempo en {v}", values: CITIES },
    Topic { message: "Ayúdame a planear un viaje a {v}", topic: "un viaje a {v}", values: CITIES },
    Topic {
        message: "Dame una receta de {v}",
        topic: "una receta de {v}",
        values: &["paella", "gazpacho", "croquetas", "tortilla", "lentejas", "flan", "churros"],
    },
    Topic {
        message: "Quiero aprender a tocar {v}",
        topic: "aprender a tocar {v}",
        values: &["la guitarra", "el piano", "la batería", "el violín", "la flauta", "el ukelele"],
    },
    Topic {
        message: "Recomiéndame libros sobre {v}",
        topic: "libros sobre {v}",
        values: &["astronomía", "dinosaurios", "historia", "jardinería", "ajedrez", "fotografía"],
    },
];

const TOPICS_EN: &[Topic] = &[
    Topic { message: "What's the weather like in {v}?", topic: "the weather in {v}", values: CITIES },
    Topic { message: "Help me plan a trip to {v}", topic: "a trip to {v}", values: CITIES },
    Topic {
        message: "Give me a recipe for {v}",
        topic: "a recipe for {v}",
        values: &["paella", "pancakes", "lasagna", "brownies", "risotto", "curry", "hummus"],
    },
    Topic {
        message: "I want to learn to play the {v}",
        topic: "learning to play the {v}",
        values: &["guitar", "piano", "drums", "violin", "flute", "ukulele"],
    },
    Topic {
        message: "Recommend me books about {v}",
        topic: "books about {v}",
        values: &["astronomy", "dinosaurs", "history", "gardening", "chess", "photography"],
    },
];

/// A fact drawn for one memory line.
struct Fact {
    kind: usize,
    relation: &'static str,
    value: String,
    memory: String,
}

fn kinds(lang: Lang) -> &'static [FactKind] {
    match lang {
        Lang::Es => KINDS_ES,
        Lang::En => KINDS_EN,
    }
}

fn value(r: &mut Rng, lang: Lang, values: Values) -> String {
    match values {
        Values::List(l) => r.pick(l).to_string(),
        Values::Date => {
            let day = r.range(1, 28);
            match lang {
                Lang::Es => format!("{day} de {}", r.pick(&MONTHS_ES)),
                Lang::En => format!("{} {day}", r.pick(&MONTHS_EN)),
            }
        }
        Values::Age => r.range(16, 90).to_string(),
    }
}

/// A fact of `kind` (with a relation when the kind has them).
fn fact(r: &mut Rng, lang: Lang, kind: usize) -> Fact {
    let k = &kinds(lang)[kind];
    let relation = if k.relations.is_empty() { "" } else { *r.pick(k.relations) };
    let value = value(r, lang, k.values);
    let memory = r.pick(k.memory).replace("{r}", relation).replace("{v}", &value);
    Fact { kind, relation, value, memory }
}

/// Whether `value` occurs in `text` as whole words, ignoring case, accents and a leading
/// article of the value ("la paella" is found in "es paella", "los gatos" in "a gatos").
pub fn contains_value(text: &str, value: &str) -> bool {
    let (text, value) = (crate::memory::fold(text), crate::memory::fold(value));
    let value = value.trim();
    let value = ["el ", "la ", "los ", "las ", "the "].iter().find_map(|a| value.strip_prefix(a)).unwrap_or(value);
    if value.is_empty() {
        return false;
    }
    text.match_indices(value).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = text[i + value.len()..].chars().next();
        !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
    })
}

/// Up to `n` facts unlike `asked` (another kind, or the same kind about someone else) and
/// unlike each other, whose values appear in none of `avoid` and whose lines hold none of
/// `answers` (the values the answer must contain).
fn others(r: &mut Rng, lang: Lang, asked: (usize, &str), n: usize, avoid: &[&str], answers: &[&str]) -> Vec<Fact> {
    let mut out: Vec<Fact> = Vec::new();
    for _ in 0..n * 20 {
        if out.len() == n {
            break;
        }
        // Half of the time, the same kind about someone else when the kind has relations:
        // the line that looks most like the answer and is not it.
        let has_relations = kinds(lang).get(asked.0).is_some_and(|k| !k.relations.is_empty());
        let kind = if has_relations && r.below(2) == 0 { asked.0 } else { r.below(kinds(lang).len()) };
        let f = fact(r, lang, kind);
        let same_as = |k: usize, rel: &str| f.kind == k && f.relation == rel;
        let clash = same_as(asked.0, asked.1)
            || out.iter().any(|o| same_as(o.kind, o.relation))
            || avoid.iter().any(|a| contains_value(a, &f.value))
            || answers.iter().any(|v| contains_value(&f.memory, v))
            || out.iter().any(|o| contains_value(&o.memory, &f.value) || contains_value(&f.memory, &o.value));
        if !clash {
            out.push(f);
        }
    }
    out
}

/// A date in 2026 (ms), for when a memory was learnt or a conversation happened.
fn some_time(r: &mut Rng) -> i64 {
    const START: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z
    START + r.below(330) as i64 * 86_400_000 + r.range(8 * 60, 22 * 60) as i64 * 60_000
}

/// The memory lines of `facts`, each learnt on some day.
fn lines(r: &mut Rng, facts: &[&Fact]) -> Vec<String> {
    facts.iter().map(|f| memory_line(some_time(r), &f.memory)).collect()
}

/// A grounded question about a fact: the memory that answers it among 0–2 others (kind
/// `answer`), or only others (kind `unrelated`).
fn fact_question(r: &mut Rng, split: Split, lang: Lang, answerable: bool) -> (String, String, String, Grounding) {
    let kind = r.below(kinds(lang).len());
    let asked = fact(r, lang, kind);
    let k = &kinds(lang)[kind];
    let questions = match split {
        Split::Train => k.questions,
        Split::Heldout => k.questions_heldout,
    };
    let template = *r.pick(questions);
    let question = wrap(r, lang, template, &[("{r}", asked.relation)]);
    let answer_text = k.answer.replace("{r}", asked.relation).replace("{v}", &asked.value);
    let n_others = if answerable { r.below(3) } else { r.range(1, 3) };
    let avoid = [question.as_str(), answer_text.as_str(), asked.memory.as_str()];
    let others = others(r, lang, (asked.kind, asked.relation), n_others, &avoid, &[&asked.value]);
    let unrelated: Vec<String> = others.iter().map(|f| f.value.clone()).collect();
    let (block, value, answer) = if answerable {
        // The memory that answers comes first two times in three (as retrieval ranks it),
        // else anywhere.
        let mut facts: Vec<&Fact> = others.iter().collect();
        let at = if r.below(3) == 0 { r.below(facts.len() + 1) } else { 0 };
        facts.insert(at, &asked);
        let l = lines(r, &facts);
        (memory_block(&l, &[]), Some(asked.value.clone()), answer_text)
    } else {
        let facts: Vec<&Fact> = others.iter().collect();
        let l = lines(r, &facts);
        let unknown = match lang {
            Lang::Es => *r.pick(&["No lo sé: todavía no me lo has contado.", "No lo sé; no me lo has dicho."]),
            Lang::En => *r.pick(&["I don't know: you haven't told me yet.", "I don't know; you never told me."]),
        };
        (memory_block(&l, &[]), None, unknown.to_string())
    };
    let kind = if answerable { GroundingKind::Answer } else { GroundingKind::Unrelated };
    (block, question, answer, Grounding { kind, value, unrelated })
}

/// One or two earlier conversations as [`episode_summary`] writes them, and the topic each
/// was about with its value.
fn episodes(r: &mut Rng, lang: Lang) -> Vec<(String, String, String)> {
    let topics = match lang {
        Lang::Es => TOPICS_ES,
        Lang::En => TOPICS_EN,
    };
    let n = r.range(1, 2);
    let mut start = some_time(r);
    let mut out: Vec<(String, String, String)> = Vec::new();
    while out.len() < n {
        let t = r.pick(topics);
        let v = r.pick(t.values).to_string();
        if out.iter().any(|(_, _, o)| contains_value(o, &v) || contains_value(&v, o)) {
            continue;
        }
        let thanks = match lang {
            Lang::Es => *r.pick(&["Gracias", "Perfecto, gracias", "Vale"]),
            Lang::En => *r.pick(&["Thanks", "Great, thank you", "OK"]),
        };
        let reply = match lang {
            Lang::Es => "Claro, aquí tienes algunas ideas.",
            Lang::En => "Sure, here are a few ideas.",
        };
        let said = [t.message.replace("{v}", &v), reply.to_string(), thanks.to_string(), reply.to_string()];
        let turns: Vec<Turn> = said
            .iter()
            .enumerate()
            .map(|(i, text)| Turn {
                id: i as i64 + 1,
                episode_id: 1,
                user: "u".into(),
                role: if i % 2 == 0 { "user" } else { "assistant" }.into(),
                text: text.clone(),
                created_at: start + i as i64 * 120_000,
            })
            .collect();
        let episode = Episode {
            id: 1,
            user: "u".into(),
            session: None,
            title: None,
            started_at: start,
            ended_at: start + (said.len() as i64 - 1) * 120_000,
        };
        let offset = chrono::FixedOffset::east_opt(0).expect("UTC is a valid offset");
        out.push((episode_summary(&episode, &turns, &offset), t.topic.replace("{v}", &v), v));
        start += r.range(2, 9) as i64 * 3_600_000;
    }
    out
}

/// A time question answered from the summaries of that time's conversations, with 0–2
/// unrelated memories listed before them.
fn episode_question(r: &mut Rng, split: Split, lang: Lang) -> (String, String, String, Grounding) {
    let when = lexicon::when(r, lang);
    let question = fill(r, split, lang, &phrasings::RECALL, &when);
    let eps = episodes(r, lang);
    let summaries: Vec<String> = eps.iter().map(|(s, _, _)| s.clone()).collect();
    let avoid: Vec<&str> = summaries.iter().map(String::as_str).chain([question.as_str()]).collect();
    let n_others = r.below(3);
    let values: Vec<&str> = eps.iter().map(|(_, _, v)| v.as_str()).collect();
    let others = others(r, lang, (usize::MAX, ""), n_others, &avoid, &values);
    let facts: Vec<&Fact> = others.iter().collect();
    let l = lines(r, &facts);
    let topics: Vec<&str> = eps.iter().map(|(_, t, _)| t.as_str()).collect();
    let answer = match (lang, &topics[..]) {
        (Lang::Es, [a]) => format!("Hablamos sobre {a}."),
        (Lang::Es, [a, b, ..]) => format!("Hablamos sobre {a} y sobre {b}."),
        (Lang::En, [a]) => format!("We talked about {a}."),
        (Lang::En, [a, b, ..]) => format!("We talked about {a} and about {b}."),
        (_, []) => unreachable!("episodes() gives at least one"),
    };
    let grounding = Grounding {
        kind: GroundingKind::Episodes,
        value: Some(eps[0].2.clone()),
        unrelated: others.iter().map(|f| f.value.clone()).collect(),
    };
    (memory_block(&l, &summaries), question, answer, grounding)
}

/// One memory-grounded conversation: maybe a system prompt, the memory message, the question
/// and the answer, with the tools offered as elsewhere. Answerable questions are about half,
/// unanswerable a fifth, time questions the rest.
pub(super) fn example(r: &mut Rng, split: Split, specs: &[ToolSpec]) -> (SftExample, Lang) {
    let lang = if r.below(2) == 0 { Lang::Es } else { Lang::En };
    // A system message always leads, as in a session: the tools join it (`with_tools` adds
    // them to the first system message, which must not be the memory block).
    let system = match (r.below(4), lang) {
        (0, Lang::Es) => *r.pick(&["Eres THAU, un asistente útil.", "Eres THAU. Responde en español."]),
        (0, Lang::En) => *r.pick(&["You are THAU, a helpful assistant.", "You are THAU."]),
        _ => "",
    };
    let mut messages = vec![Message::system(system)];
    let (block, question, answer, grounding) = match r.below(20) {
        0..=10 => fact_question(r, split, lang, true),
        11..=14 => fact_question(r, split, lang, false),
        _ => episode_question(r, split, lang),
    };
    messages.push(Message::system(block));
    messages.push(Message::user(question));
    messages.push(Message::assistant(answer));
    let tools = conversation::offered_tools(r, specs, &[]);
    (SftExample { tools, messages, grounding: Some(grounding) }, lang)
}

/// Every question phrasing of the grounded examples: (training, held out).
pub(super) fn phrasing_counts() -> (usize, usize) {
    let mut counts = (0, 0);
    for k in KINDS_ES.iter().chain(KINDS_EN) {
        counts.0 += k.questions.len();
        counts.1 += k.questions_heldout.len();
    }
    counts
}

/// The held-out question wordings, to check none reaches training.
#[cfg(test)]
pub(super) fn heldout_questions() -> Vec<&'static str> {
    KINDS_ES.iter().chain(KINDS_EN).flat_map(|k| k.questions_heldout.iter().copied()).collect()
}
