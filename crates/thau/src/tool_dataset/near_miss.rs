//! No-tool requests that use a tool's words without asking for the tool, for the training
//! split: people who paint, draw or take photos ("Mi tío pinta {x} los domingos"), questions
//! about famous paintings ("When did Dalí paint The Persistence of Memory?"), talk about other
//! people's memory and time, and requests that turn a tool down ("No need to draw anything").
//!
//! A small model learns "paint/pinta → generate_image" from the imperatives it trains on and
//! then calls a tool for any sentence with the verb. These examples put the same verbs in other
//! persons, tenses and questions, answered in text; the same statements also open some real
//! requests ([`statement`]), which still get their call. They are built from parts (who × what
//! they do × subject, work × question) so that no single wording dominates, and none of them is
//! a held-out wording: the held-out set stays the measure of phrasings never trained on (test
//! `near_misses_never_use_a_heldout_wording`).

use super::lexicon;
use super::{upper_first, Rng};
use crate::data::Lang;

/// A no-tool request before [`super::wrap`]: the template (its words may get typos), the values
/// of its slots (kept exact), and the answer.
pub(super) struct NearMiss {
    pub template: String,
    pub slots: Vec<(&'static str, String)>,
    pub answer: String,
}

impl NearMiss {
    /// The request as written, slots filled, without typos or politeness.
    fn filled(&self) -> String {
        self.slots.iter().fold(self.template.clone(), |s, (slot, value)| s.replace(slot, value))
    }
}

/// One near miss in `lang`.
pub(super) fn near_miss(r: &mut Rng, lang: Lang) -> NearMiss {
    match r.below(20) {
        0..=7 => maker(r, lang),
        8..=13 => artwork(r, lang),
        14..=16 => habit(r, lang),
        _ => decline(r, lang),
    }
}

/// A statement about someone's pictures or habits, slots filled, without its answer: the
/// context a real request may follow.
pub(super) fn statement(r: &mut Rng, lang: Lang) -> String {
    let m = if r.below(3) == 0 { habit(r, lang) } else { maker(r, lang) };
    m.filled()
}

/// Someone who makes pictures: "{who} dibuja {x} todo el rato", or the user's own past or
/// habit: "De pequeño dibujaba {x}".
fn maker(r: &mut Rng, lang: Lang) -> NearMiss {
    let s = lexicon::subject(r);
    let (x, who, does, own, answers) = match lang {
        Lang::Es => (s.es, PEOPLE_ES, MAKES_ES, OWN_ES, MAKER_ANSWERS_ES),
        Lang::En => (s.en, PEOPLE_EN, MAKES_EN, OWN_EN, MAKER_ANSWERS_EN),
    };
    let template = match r.below(8) {
        0 | 1 => r.pick(own).to_string(),
        2..=4 => format!("{} {}", r.pick(who), r.pick(does)),
        _ => composed_make(r, lang, who),
    };
    NearMiss { template, slots: vec![("{x}", x)], answer: r.pick(answers).to_string() }
}

/// "{who} {kind of picture} {x}{when}": a present-tense habit that can end with the subject,
/// as a request does ("Mi vecino pinta murales de {x}"), with or without a time after it.
fn composed_make(r: &mut Rng, lang: Lang, who: &[&str]) -> String {
    let (verbs, tails) = match lang {
        Lang::Es => (HABIT_VERBS_ES, HABIT_TAILS_ES),
        Lang::En => (HABIT_VERBS_EN, HABIT_TAILS_EN),
    };
    format!("{} {}{}", r.pick(who), r.pick(verbs), r.pick(tails))
}

/// A question or remark about a famous painting, answered with its facts.
fn artwork(r: &mut Rng, lang: Lang) -> NearMiss {
    let w = r.pick(ARTWORKS);
    let (title, museum, qa) = match lang {
        Lang::Es => (w.es, w.museum_es, ARTWORK_QA_ES),
        Lang::En => (w.en, w.museum_en, ARTWORK_QA_EN),
    };
    let (question, answer) = *r.pick(qa);
    // The title opens the answer (and some questions): capitalize it there only.
    let title_cap = upper_first(title);
    let year = w.year.to_string();
    let fill = |s: &str| {
        s.replace("{W}", &title_cap)
            .replace("{w}", title)
            .replace("{a}", w.artist)
            .replace("{y}", &year)
            .replace("{m}", museum)
    };
    NearMiss {
        template: question.to_string(),
        slots: vec![("{W}", title_cap.clone()), ("{w}", title.to_string()), ("{a}", w.artist.to_string())],
        answer: fill(answer),
    }
}

/// Someone else's memory, punctuality or head for numbers: "{who} nunca recuerda los
/// cumpleaños".
fn habit(r: &mut Rng, lang: Lang) -> NearMiss {
    let (who, habits) = match lang {
        Lang::Es => (PEOPLE_ES, HABITS_ES),
        Lang::En => (PEOPLE_EN, HABITS_EN),
    };
    let (does, answer) = *r.pick(habits);
    NearMiss { template: format!("{} {does}", r.pick(who)), slots: Vec::new(), answer: answer.to_string() }
}

/// A request that turns a tool down.
fn decline(r: &mut Rng, lang: Lang) -> NearMiss {
    let (user, answer) = *r.pick(match lang {
        Lang::Es => DECLINES_ES,
        Lang::En => DECLINES_EN,
    });
    NearMiss { template: user.to_string(), slots: Vec::new(), answer: answer.to_string() }
}

/// People the user talks about. (No grandmother: a held-out wording is about one.)
const PEOPLE_ES: &[&str] = &[
    "Mi abuelo",
    "Mi tía",
    "Mi vecino",
    "Mi mejor amiga",
    "Mi hija",
    "Mi profesor de arte",
    "Un amigo mío",
    "Mi tío",
    "Mi prima",
    "Mi novia",
    "Mi compañero de trabajo",
    "Mi hermano pequeño",
    "Mi padre",
    "Mi sobrino",
];
const PEOPLE_EN: &[&str] = &[
    "My grandpa",
    "My aunt",
    "My neighbor",
    "My best friend",
    "My daughter",
    "My art teacher",
    "A friend of mine",
    "My uncle",
    "My cousin",
    "My girlfriend",
    "My coworker",
    "My little brother",
    "My dad",
    "My nephew",
];

/// What they do with pictures, in the third person; `{x}` is a subject.
const MAKES_ES: &[&str] = &[
    "dibuja {x} todo el rato",
    "pintó {x} el año pasado",
    "está pintando {x} para un concurso",
    "sabe dibujar {x} de memoria",
    "hace fotos de {x} cada fin de semana",
    "hizo un boceto de {x} en una servilleta",
    "pintaba {x} cuando era joven",
    "me regaló un dibujo de {x}",
    "vende láminas de {x} en el mercado",
    "pinta {x} los domingos",
    "fotografió {x} en su viaje",
    "quiere aprender a dibujar {x}",
    "ganó un premio con una foto de {x}",
    "colgó un cuadro de {x} en el salón",
    "dibujó {x} en la pizarra",
    "tiene un tatuaje de {x}",
];
const MAKES_EN: &[&str] = &[
    "draws {x} all the time",
    "painted {x} last year",
    "is painting {x} for a contest",
    "can draw {x} from memory",
    "takes photos of {x} every weekend",
    "sketched {x} on a napkin",
    "used to paint {x} years ago",
    "gave me a drawing of {x}",
    "sells prints of {x} at the market",
    "paints {x} on Sundays",
    "photographed {x} on a trip",
    "wants to learn to draw {x}",
    "won a prize with a photo of {x}",
    "hung a painting of {x} in the living room",
    "drew {x} on the whiteboard",
    "has a tattoo of {x}",
];

/// Present-tense picture habits ending in the subject, for [`composed_make`].
const HABIT_VERBS_ES: &[&str] = &[
    "pinta {x}",
    "dibuja {x}",
    "fotografía {x}",
    "pinta retratos de {x}",
    "pinta murales de {x}",
    "dibuja cómics de {x}",
    "hace fotos de {x}",
    "hace bocetos de {x}",
    "vende láminas de {x}",
    "tiene un póster de {x}",
    "guarda dibujos de {x}",
    "borda {x}",
    "hace esculturas de {x}",
    "imprime camisetas con {x}",
];
const HABIT_VERBS_EN: &[&str] = &[
    "paints {x}",
    "draws {x}",
    "photographs {x}",
    "paints portraits of {x}",
    "paints murals of {x}",
    "draws comics of {x}",
    "takes pictures of {x}",
    "makes sketches of {x}",
    "sells prints of {x}",
    "has a poster of {x}",
    "keeps drawings of {x}",
    "embroiders {x}",
    "makes sculptures of {x}",
    "prints T-shirts with {x}",
];
/// Nothing (the subject ends the sentence) half of the time, or when and why.
const HABIT_TAILS_ES: &[&str] = &[
    "",
    "",
    "",
    "",
    "",
    " en su tiempo libre",
    " desde hace años",
    " para su tienda",
    " para ganarse la vida",
    " muy bien",
];
const HABIT_TAILS_EN: &[&str] =
    &["", "", "", "", "", " on weekends", " for years now", " for a living", " as a hobby", " really well"];

/// The user's own pictures, past or habitual.
const OWN_ES: &[&str] = &[
    "El verano pasado pinté {x}",
    "De pequeño dibujaba {x}",
    "Esta mañana hice una foto de {x}",
    "Estoy aprendiendo a pintar {x}",
    "Nunca he sabido dibujar {x}",
    "Me cuesta mucho dibujar {x}",
    "Tengo en mi cuarto un póster de {x}",
];
const OWN_EN: &[&str] = &[
    "Last summer I painted {x}",
    "As a kid I used to draw {x}",
    "I took a photo of {x} this morning",
    "I'm learning to paint {x}",
    "I've never been able to draw {x}",
    "Drawing {x} is really hard for me",
    "There is a poster of {x} in my room",
];

const MAKER_ANSWERS_ES: &[&str] = &[
    "¡Qué bonito!",
    "¡Me encantaría verlo!",
    "¡Suena precioso!",
    "¡Qué buena afición!",
    "¡Eso tiene mucho mérito!",
    "¡Qué original!",
];
const MAKER_ANSWERS_EN: &[&str] = &[
    "That's lovely!",
    "I'd love to see it!",
    "That sounds beautiful!",
    "What a great hobby!",
    "That takes real skill!",
    "How original!",
];

/// A famous painting: Spanish and English titles, painter, year, where it hangs.
struct Artwork {
    es: &'static str,
    en: &'static str,
    artist: &'static str,
    year: u32,
    museum_es: &'static str,
    museum_en: &'static str,
}

const fn w(
    es: &'static str,
    en: &'static str,
    artist: &'static str,
    year: u32,
    museum_es: &'static str,
    museum_en: &'static str,
) -> Artwork {
    Artwork { es, en, artist, year, museum_es, museum_en }
}

/// No Mona Lisa or Leonardo: a held-out wording asks about it.
const ARTWORKS: &[Artwork] = &[
    w("Las meninas", "Las Meninas", "Velázquez", 1656, "el Museo del Prado", "the Prado Museum"),
    w("el Guernica", "Guernica", "Picasso", 1937, "el Museo Reina Sofía", "the Reina Sofía Museum"),
    w("La noche estrellada", "The Starry Night", "Van Gogh", 1889, "el MoMA de Nueva York", "MoMA in New York"),
    w("El grito", "The Scream", "Edvard Munch", 1893, "la Galería Nacional de Oslo", "the National Gallery in Oslo"),
    w(
        "La joven de la perla",
        "Girl with a Pearl Earring",
        "Vermeer",
        1665,
        "el Mauritshuis de La Haya",
        "the Mauritshuis in The Hague",
    ),
    w(
        "La persistencia de la memoria",
        "The Persistence of Memory",
        "Dalí",
        1931,
        "el MoMA de Nueva York",
        "MoMA in New York",
    ),
    w(
        "El nacimiento de Venus",
        "The Birth of Venus",
        "Botticelli",
        1485,
        "la Galería Uffizi de Florencia",
        "the Uffizi Gallery in Florence",
    ),
    w(
        "La ronda de noche",
        "The Night Watch",
        "Rembrandt",
        1642,
        "el Rijksmuseum de Ámsterdam",
        "the Rijksmuseum in Amsterdam",
    ),
    w("El beso", "The Kiss", "Klimt", 1908, "el Belvedere de Viena", "the Belvedere in Vienna"),
    w(
        "Las dos Fridas",
        "The Two Fridas",
        "Frida Kahlo",
        1939,
        "el Museo de Arte Moderno de México",
        "the Museum of Modern Art in Mexico City",
    ),
    w("El tres de mayo", "The Third of May 1808", "Goya", 1814, "el Museo del Prado", "the Prado Museum"),
    w(
        "Los girasoles",
        "Sunflowers",
        "Van Gogh",
        1888,
        "la National Gallery de Londres",
        "the National Gallery in London",
    ),
    w(
        "Impresión, sol naciente",
        "Impression, Sunrise",
        "Monet",
        1872,
        "el Museo Marmottan de París",
        "the Marmottan Museum in Paris",
    ),
];

/// Questions and remarks about a painting (`{w}` title, `{W}` capitalized, `{a}` painter) and
/// their answers (also `{y}` year, `{m}` museum).
const ARTWORK_QA_ES: &[(&str, &str)] = &[
    ("¿Qué artista hizo {w}?", "{W} es obra de {a}."),
    ("¿Cuándo pintó {a} {w}?", "{a} lo pintó en {y}."),
    ("¿Dónde se puede ver {w}?", "Está en {m}."),
    ("¿{W} es de {a}?", "Sí, {w} es obra de {a}."),
    ("{a} pintó {w}, ¿verdad?", "Sí, lo pintó en {y}."),
    ("Vi {w} en el museo", "¡Qué suerte! Es una obra maestra de {a}."),
    ("{W} es mi cuadro favorito", "¡Buena elección! {a} lo pintó en {y}."),
    ("¿En qué año se pintó {w}?", "{W} se pintó en {y}."),
    ("¿De quién es {w}?", "{W} es de {a}."),
    ("Háblame de {w}", "{W} es una obra de {a}, de {y}; está en {m}."),
];
const ARTWORK_QA_EN: &[(&str, &str)] = &[
    ("Which artist made {w}?", "{W} is by {a}."),
    ("When did {a} paint {w}?", "{a} painted it in {y}."),
    ("Where can I see {w}?", "It hangs in {m}."),
    ("Is {w} by {a}?", "Yes, {w} is by {a}."),
    ("{a} painted {w}, right?", "Yes, {a} painted it in {y}."),
    ("I saw {w} at the museum", "Lucky you! It's a masterpiece by {a}."),
    ("{W} is my favorite painting", "Great choice! {a} painted it in {y}."),
    ("What year was {w} painted?", "{W} was painted in {y}."),
    ("Whose painting is {w}?", "{W} is by {a}."),
    ("Tell me about {w}", "{W} is a work by {a} from {y}; it hangs in {m}."),
];

/// Someone's memory, time or numbers (after a person), and the answer.
const HABITS_ES: &[(&str, &str)] = &[
    ("nunca recuerda los cumpleaños", "¡Les pasa a muchos!"),
    ("siempre llega tarde", "Quizá le ayude poner alarmas."),
    ("tiene una memoria increíble", "¡Qué envidia!"),
    ("colecciona relojes antiguos", "¡Qué colección tan curiosa!"),
    ("se sabe de memoria todas las capitales", "¡Impresionante!"),
    ("hace cálculos de cabeza muy rápido", "¡Qué agilidad mental!"),
    ("olvida dónde deja las llaves", "¡Es de lo más común!"),
    ("madruga todos los días", "¡Qué disciplina!"),
];
const HABITS_EN: &[(&str, &str)] = &[
    ("never remembers birthdays", "That happens to a lot of people!"),
    ("is always late", "Setting alarms might help."),
    ("has an amazing memory", "Lucky them!"),
    ("collects old clocks", "What a curious collection!"),
    ("knows every capital by heart", "Impressive!"),
    ("does sums in their head really fast", "What a quick mind!"),
    ("keeps forgetting where the keys are", "That's very common!"),
    ("gets up early every day", "That's discipline!"),
];

/// Requests that turn a tool down, and the answer.
const DECLINES_ES: &[(&str, &str)] = &[
    ("No hace falta que dibujes nada, solo quería charlar", "¡Claro! Charlemos."),
    ("Ya no necesito la imagen, gracias", "¡De acuerdo!"),
    ("No hagas ninguna cuenta, ya la hice yo", "¡Perfecto!"),
    ("No apuntes eso, era broma", "Entendido, no lo guardo."),
    ("Antes de hacer ninguna imagen, dime cómo estás", "¡Muy bien, gracias! ¿Qué te gustaría hacer?"),
    ("No quiero fotos, prefiero que me cuentes algo", "¡Claro! ¿Sobre qué tema?"),
];
const DECLINES_EN: &[(&str, &str)] = &[
    ("No need to draw anything, I just wanted to chat", "Sure! Let's chat."),
    ("I don't need the picture anymore, thanks", "Okay!"),
    ("Don't calculate anything, I already did it", "Perfect!"),
    ("Don't save that, I was joking", "Got it, I won't save it."),
    ("Before making any image, tell me how you are", "I'm great, thanks! What would you like to do?"),
    ("I don't want photos, just tell me something", "Sure! About what?"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_and_language_fills_its_slots() {
        let mut r = Rng(3);
        for _ in 0..400 {
            for lang in [Lang::Es, Lang::En] {
                let m = near_miss(&mut r, lang);
                let user = m.filled();
                assert!(!user.contains('{') && !m.answer.contains('{'), "unfilled slot: {user} → {}", m.answer);
                assert!(!m.answer.is_empty());
            }
        }
    }

    /// No near miss contains a held-out no-tool wording's fixed words (three or more in a
    /// row), compared without case, accents or punctuation.
    #[test]
    fn near_misses_never_use_a_heldout_wording() {
        use super::super::corpus_chat::normalize;
        use super::super::phrasings::{CHAT_EN_HELDOUT, CHAT_ES_HELDOUT};
        let held: Vec<String> = CHAT_ES_HELDOUT
            .iter()
            .chain(CHAT_EN_HELDOUT)
            .flat_map(|c| c.user.split("{x}"))
            .map(normalize)
            .filter(|part| part.split(' ').count() >= 3)
            .collect();
        assert!(held.iter().any(|h| h == "who painted the mona lisa"), "{held:?}");
        let mut r = Rng(17);
        for _ in 0..3000 {
            for lang in [Lang::Es, Lang::En] {
                let user = format!(" {} ", normalize(&near_miss(&mut r, lang).filled()));
                for h in &held {
                    assert!(!user.contains(&format!(" {h} ")), "near miss {user:?} uses held-out {h:?}");
                }
                assert!(!user.contains("mona lisa") && !user.contains("leonardo"), "{user}");
            }
        }
    }

    #[test]
    fn artwork_answers_state_the_painting_facts() {
        let mut r = Rng(9);
        let mut seen = 0;
        for _ in 0..300 {
            let m = artwork(&mut r, Lang::En);
            if m.template == "Where can I see {w}?" {
                let title = &m.slots.iter().find(|(s, _)| *s == "{w}").unwrap().1;
                let work = ARTWORKS.iter().find(|a| a.en == title).unwrap();
                assert_eq!(m.answer, format!("It hangs in {}.", work.museum_en));
                seen += 1;
            }
        }
        assert!(seen > 0);
    }
}
