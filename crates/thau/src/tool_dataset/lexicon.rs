//! Word lists for the tool-calling dataset: image subjects built from Spanish and English parts
//! that translate word by word (so a Spanish request gets an English `prompt`, which is what
//! Stable Diffusion 1.5 understands), styles, sizes, numbers, facts to remember, times to
//! recall, topics to search, and the facts the no-tool answers state.

use crate::data::synthetic::Rng;
use crate::data::Lang;

/// Grammatical gender of a Spanish noun (for articles and adjective agreement).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Gender {
    M,
    F,
}

/// A noun an image can show: Spanish, its gender, English, and whether it is a creature (which
/// can take a role such as "astronauta" and adjectives such as "dormido").
pub(super) struct Noun {
    pub es: &'static str,
    pub g: Gender,
    pub en: &'static str,
    pub animate: bool,
}

const fn n(es: &'static str, g: Gender, en: &'static str, animate: bool) -> Noun {
    Noun { es, g, en, animate }
}

use Gender::{F, M};

pub(super) const NOUNS: &[Noun] = &[
    n("perro", M, "dog", true),
    n("gato", M, "cat", true),
    n("zorro", M, "fox", true),
    n("dragón", M, "dragon", true),
    n("caballo", M, "horse", true),
    n("búho", M, "owl", true),
    n("pingüino", M, "penguin", true),
    n("tortuga", F, "turtle", true),
    n("oso", M, "bear", true),
    n("conejo", M, "rabbit", true),
    n("león", M, "lion", true),
    n("elefante", M, "elephant", true),
    n("mono", M, "monkey", true),
    n("ballena", F, "whale", true),
    n("jirafa", F, "giraffe", true),
    n("rana", F, "frog", true),
    n("vaca", F, "cow", true),
    n("pulpo", M, "octopus", true),
    n("robot", M, "robot", true),
    n("niña", F, "girl", true),
    n("niño", M, "boy", true),
    n("abuela", F, "grandmother", true),
    n("caballero", M, "knight", true),
    n("unicornio", M, "unicorn", true),
    n("castillo", M, "castle", false),
    n("casa", F, "house", false),
    n("barco", M, "ship", false),
    n("tren", M, "train", false),
    n("coche", M, "car", false),
    n("árbol", M, "tree", false),
    n("flor", F, "flower", false),
    n("montaña", F, "mountain", false),
    n("ciudad", F, "city", false),
    n("faro", M, "lighthouse", false),
    n("bicicleta", F, "bicycle", false),
    n("guitarra", F, "guitar", false),
];

/// A role a creature plays, invariant in Spanish: "un perro astronauta" = "an astronaut dog".
pub(super) const ROLES: &[(&str, &str)] = &[
    ("astronauta", "astronaut"),
    ("pirata", "pirate"),
    ("detective", "detective"),
    ("chef", "chef"),
    ("espía", "spy"),
    ("samurái", "samurai"),
    ("vikingo", "viking"),
    ("ninja", "ninja"),
    ("guerrero", "warrior"),
    ("bombero", "firefighter"),
];

/// Adjectives: Spanish masculine, feminine, English, and whether they only suit creatures.
pub(super) const ADJECTIVES: &[(&str, &str, &str, bool)] = &[
    ("rojo", "roja", "red", false),
    ("azul", "azul", "blue", false),
    ("verde", "verde", "green", false),
    ("dorado", "dorada", "golden", false),
    ("gigante", "gigante", "giant", false),
    ("pequeño", "pequeña", "tiny", false),
    ("antiguo", "antigua", "ancient", false),
    ("mágico", "mágica", "magical", false),
    ("mecánico", "mecánica", "mechanical", false),
    ("brillante", "brillante", "glowing", false),
    ("feliz", "feliz", "happy", true),
    ("dormido", "dormida", "sleeping", true),
    ("enfadado", "enfadada", "angry", true),
    ("volador", "voladora", "flying", true),
];

/// Where the subject is.
pub(super) const SETTINGS: &[(&str, &str)] = &[
    ("en la luna", "on the moon"),
    ("en el espacio", "in space"),
    ("en el bosque", "in the forest"),
    ("en la playa", "on the beach"),
    ("bajo la lluvia", "in the rain"),
    ("en la nieve", "in the snow"),
    ("en una ciudad futurista", "in a futuristic city"),
    ("en el fondo del mar", "at the bottom of the sea"),
    ("sobre una nube", "on a cloud"),
    ("al atardecer", "at sunset"),
    ("en el desierto", "in the desert"),
    ("en Marte", "on Mars"),
    ("en la selva", "in the jungle"),
    ("de noche", "at night"),
];

/// Whole subjects that do not decompose into noun + modifiers.
pub(super) const PHRASES: &[(&str, &str)] = &[
    ("un atardecer en la playa", "a sunset on the beach"),
    ("una taza de café humeante", "a steaming cup of coffee"),
    ("un paisaje de montaña", "a mountain landscape"),
    ("un mercado medieval", "a medieval market"),
    ("una pizza de pepperoni", "a pepperoni pizza"),
    ("un pulpo tocando la guitarra", "an octopus playing the guitar"),
    ("un panda comiendo bambú", "a panda eating bamboo"),
    ("un astronauta montando a caballo", "an astronaut riding a horse"),
    ("una biblioteca llena de libros", "a library full of books"),
    ("un jardín japonés", "a japanese garden"),
    ("un volcán en erupción", "an erupting volcano"),
    ("un tren de vapor cruzando un puente", "a steam train crossing a bridge"),
    ("una ballena saltando en el océano", "a whale jumping in the ocean"),
    ("un bosque encantado", "an enchanted forest"),
    ("una nave espacial aterrizando", "a spaceship landing"),
    ("un gato leyendo un libro", "a cat reading a book"),
    ("un perro jugando con una pelota", "a dog playing with a ball"),
    ("una cabaña junto a un lago", "a cabin by a lake"),
];

/// Styles: Spanish phrase (said after the subject), English phrase (said after it too), and
/// what the prompt gets appended after a comma.
pub(super) const STYLES: &[(&str, &str, &str)] = &[
    ("en acuarela", "in watercolor", "watercolor painting"),
    ("al estilo acuarela", "as a watercolor", "watercolor painting"),
    ("estilo anime", "anime style", "anime style"),
    ("al óleo", "as an oil painting", "oil painting"),
    ("fotorrealista", "photorealistic", "photorealistic"),
    ("en blanco y negro", "in black and white", "black and white"),
    ("estilo pixel art", "in pixel art", "pixel art"),
    ("como un dibujo a lápiz", "as a pencil sketch", "pencil sketch"),
    ("en 3D", "in 3D", "3d render"),
    ("estilo cómic", "comic book style", "comic book style"),
    ("estilo dibujo animado", "cartoon style", "cartoon style"),
    ("estilo minimalista", "in a minimalist style", "minimalist"),
];

/// Things not to show: Spanish clause, English clause, `negative_prompt`.
pub(super) const NEGATIVES: &[(&str, &str, &str)] = &[
    ("sin personas", "without people", "people"),
    ("sin texto", "with no text", "text"),
    ("sin letras", "without letters", "text"),
    ("que no salga borrosa", "not blurry", "blurry"),
    ("sin árboles", "without trees", "trees"),
    ("sin nubes", "with no clouds", "clouds"),
];

/// Image sizes (multiples of 64) that requests name as WxH.
pub(super) const SIZES: &[u32] = &[256, 384, 512, 640, 768, 1024];

/// Orientation words: Spanish, English, (width, height).
pub(super) const ORIENTATIONS: &[(&str, &str, (u32, u32))] = &[
    ("horizontal", "landscape", (768, 512)),
    ("apaisada", "wide", (768, 512)),
    ("vertical", "portrait", (512, 768)),
    ("cuadrada", "square", (512, 512)),
];

/// Cardinal numbers 0..=20 in each language: the synthetic corpus's words.
pub(super) use crate::data::synthetic::{NUM_EN, NUM_ES};
const TENS_ES: [&str; 10] =
    ["", "", "veinte", "treinta", "cuarenta", "cincuenta", "sesenta", "setenta", "ochenta", "noventa"];
const TENS_EN: [&str; 10] = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"];

/// `n` (0..=100) in words: "treinta y dos", "thirty-two", "cien", "one hundred".
pub(super) fn number_words(lang: Lang, n: u32) -> String {
    let (units, tens) = match lang {
        Lang::Es => (&NUM_ES, &TENS_ES),
        Lang::En => (&NUM_EN, &TENS_EN),
    };
    match n {
        0..=20 => units[n as usize].to_string(),
        100 => if lang == Lang::Es { "cien" } else { "one hundred" }.to_string(),
        21..=29 if lang == Lang::Es => {
            // veintiuno, veintidós, ... are written as one word.
            const V: [&str; 9] = [
                "veintiuno",
                "veintidós",
                "veintitrés",
                "veinticuatro",
                "veinticinco",
                "veintiséis",
                "veintisiete",
                "veintiocho",
                "veintinueve",
            ];
            V[(n - 21) as usize].to_string()
        }
        21..=99 => {
            let (t, u) = ((n / 10) as usize, (n % 10) as usize);
            match (u, lang) {
                (0, _) => tens[t].to_string(),
                (_, Lang::Es) => format!("{} y {}", tens[t], units[u]),
                (_, Lang::En) => format!("{}-{}", tens[t], units[u]),
            }
        }
        _ => n.to_string(),
    }
}

/// An image subject in both languages: `es` with its article ("un perro astronauta"), `en`
/// with its article ("an astronaut dog"), the latter being the `prompt`.
pub(super) struct Subject {
    pub es: String,
    pub en: String,
}

/// "a"/"an" before an English phrase.
fn en_article(phrase: &str) -> &'static str {
    match phrase.chars().next() {
        Some('a' | 'e' | 'i' | 'o' | 'u') => "an",
        _ => "a",
    }
}

/// A random subject: a fixed phrase, or a noun with up to two of role, adjective and setting.
pub(super) fn subject(r: &mut Rng) -> Subject {
    if r.below(6) == 0 {
        let (es, en) = *r.pick(PHRASES);
        return Subject { es: es.into(), en: en.into() };
    }
    let noun = r.pick(NOUNS);
    let role = (noun.animate && r.below(2) == 0).then(|| *r.pick(ROLES));
    let adjectives: Vec<_> = ADJECTIVES.iter().filter(|a| noun.animate || !a.3).collect();
    let adjective = (r.below(if role.is_some() { 4 } else { 2 }) == 0).then(|| *r.pick(&adjectives));
    let setting = (r.below(if role.is_some() && adjective.is_some() { 5 } else { 3 }) == 0).then(|| *r.pick(SETTINGS));
    // Spanish: article noun role adjective setting. English: article adjective role noun setting.
    let mut es = format!("{} {}", if noun.g == M { "un" } else { "una" }, noun.es);
    let mut en_words = Vec::new();
    if let Some((r_es, _)) = role {
        es.push(' ');
        es.push_str(r_es);
    }
    if let Some((m, f, a_en, _)) = adjective {
        es.push(' ');
        es.push_str(if noun.g == M { m } else { f });
        en_words.push(a_en.to_string());
    }
    if let Some((_, r_en)) = role {
        en_words.push(r_en.to_string());
    }
    en_words.push(noun.en.to_string());
    let mut en = en_words.join(" ");
    if let Some((s_es, s_en)) = setting {
        es.push(' ');
        es.push_str(s_es);
        en.push(' ');
        en.push_str(s_en);
    }
    Subject { es, en: format!("{} {en}", en_article(&en)) }
}

/// Facts a user asks THAU to remember, in the first person: Spanish, English.
pub(super) fn fact(r: &mut Rng, lang: Lang) -> String {
    const NAMES: &[&str] = &["Rocky", "Luna", "Toby", "Lucía", "Marta", "Pablo", "Sam", "Kira", "Max", "Olivia"];
    const CITIES: &[&str] = &["Valencia", "Sevilla", "Bilbao", "Lima", "Bogotá", "Boston", "Dublin", "Toronto"];
    let name = *r.pick(NAMES);
    let city = *r.pick(CITIES);
    let day = r.range(1, 28);
    let age = r.range(18, 80);
    match lang {
        Lang::Es => {
            const REL: &[&str] = &["perro", "gato", "hermano", "jefe", "vecino", "médico", "profesor"];
            const REL_F: &[&str] = &["hermana", "jefa", "vecina", "tortuga", "profesora", "sobrina"];
            const MONTHS: &[&str] = &["enero", "marzo", "mayo", "junio", "agosto", "octubre", "diciembre"];
            const LIKES: &[(&str, &str)] = &[
                ("color", "el verde"),
                ("color", "el azul"),
                ("libro", "El Quijote"),
                ("deporte", "el tenis"),
                ("plato", "la paella"),
                ("grupo", "Queen"),
            ];
            const ALLERGY: &[&str] = &["las nueces", "el polen", "la penicilina", "los gatos", "el marisco"];
            const JOBS: &[&str] = &["enfermera", "programador", "profesora", "carpintero", "abogada", "cocinero"];
            const PLANS: &[(&str, &str)] = &[
                ("el viernes", "una reunión a las diez"),
                ("el lunes", "cita con el dentista"),
                ("mañana", "que llamar a mi madre"),
                ("el sábado", "la boda de mi prima"),
                ("el martes", "examen de inglés"),
            ];
            match r.below(8) {
                0 => format!("mi {} se llama {name}", r.pick(REL)),
                1 => format!("mi {} se llama {name}", r.pick(REL_F)),
                2 => format!("mi cumpleaños es el {day} de {}", r.pick(MONTHS)),
                3 => {
                    let (what, v) = *r.pick(LIKES);
                    format!("mi {what} favorito es {v}")
                }
                4 => format!("soy alérgico a {}", r.pick(ALLERGY)),
                5 => format!("trabajo de {} en {city}", r.pick(JOBS)),
                6 => {
                    let (when, what) = *r.pick(PLANS);
                    format!("{when} tengo {what}")
                }
                _ => format!("tengo {age} años y vivo en {city}"),
            }
        }
        Lang::En => {
            const REL: &[&str] = &["dog", "cat", "brother", "sister", "boss", "neighbor", "doctor", "teacher"];
            const MONTHS: &[&str] = &["January", "March", "May", "June", "August", "October", "December"];
            const LIKES: &[(&str, &str)] = &[
                ("color", "green"),
                ("color", "blue"),
                ("book", "Moby Dick"),
                ("sport", "tennis"),
                ("food", "sushi"),
                ("band", "Queen"),
            ];
            const ALLERGY: &[&str] = &["peanuts", "pollen", "penicillin", "cats", "shellfish"];
            const JOBS: &[&str] = &["a nurse", "a programmer", "a teacher", "a carpenter", "a lawyer", "a cook"];
            const PLANS: &[(&str, &str)] = &[
                ("on Friday", "a meeting at ten"),
                ("on Monday", "a dentist appointment"),
                ("tomorrow", "to call my mother"),
                ("on Saturday", "my cousin's wedding"),
                ("on Tuesday", "an English exam"),
            ];
            match r.below(7) {
                0 => format!("my {}'s name is {name}", r.pick(REL)),
                1 => format!("my birthday is on {} {day}", r.pick(MONTHS)),
                2 => {
                    let (what, v) = *r.pick(LIKES);
                    format!("my favorite {what} is {v}")
                }
                3 => format!("I am allergic to {}", r.pick(ALLERGY)),
                4 => format!("I work as {} in {city}", r.pick(JOBS)),
                5 => {
                    let (when, what) = *r.pick(PLANS);
                    format!("I have {what} {when}")
                }
                _ => format!("I am {age} years old and I live in {city}"),
            }
        }
    }
}

/// Time expressions the memory's episodic recall understands.
pub(super) fn when(r: &mut Rng, lang: Lang) -> String {
    let k = r.range(2, 6);
    match lang {
        Lang::Es => {
            const FIXED: &[&str] = &[
                "ayer",
                "anteayer",
                "anoche",
                "esta mañana",
                "esta tarde",
                "la semana pasada",
                "el mes pasado",
                "el lunes",
                "el martes pasado",
                "el viernes",
                "ayer por la tarde",
                "hace un rato",
            ];
            match r.below(5) {
                0 => format!("hace {} días", if r.below(2) == 0 { k.to_string() } else { NUM_ES[k].into() }),
                1 => format!("hace {} semanas", if r.below(2) == 0 { k.to_string() } else { NUM_ES[k].into() }),
                _ => r.pick(FIXED).to_string(),
            }
        }
        Lang::En => {
            const FIXED: &[&str] = &[
                "yesterday",
                "the day before yesterday",
                "last night",
                "this morning",
                "this afternoon",
                "last week",
                "last month",
                "on Monday",
                "last Tuesday",
                "on Friday",
                "yesterday afternoon",
                "a while ago",
            ];
            match r.below(5) {
                0 => format!("{} days ago", if r.below(2) == 0 { k.to_string() } else { NUM_EN[k].into() }),
                1 => format!("{} weeks ago", if r.below(2) == 0 { k.to_string() } else { NUM_EN[k].into() }),
                _ => r.pick(FIXED).to_string(),
            }
        }
    }
}

/// Personal topics a user searches the memory for.
pub(super) fn topic(r: &mut Rng, lang: Lang) -> &'static str {
    match lang {
        Lang::Es => r.pick::<&str>(&[
            "mi perro",
            "mi trabajo",
            "el viaje a Roma",
            "mi hermana",
            "la reunión del viernes",
            "mis alergias",
            "mi cumpleaños",
            "el proyecto nuevo",
            "mi dieta",
            "la mudanza",
            "mis vacaciones",
            "el coche",
        ]),
        Lang::En => r.pick::<&str>(&[
            "my dog",
            "my job",
            "the trip to Rome",
            "my sister",
            "the Friday meeting",
            "my allergies",
            "my birthday",
            "the new project",
            "my diet",
            "the move",
            "my holidays",
            "the car",
        ]),
    }
}

/// Countries and capitals, for factual questions that need no tool.
pub(super) const CAPITALS: &[(&str, &str, &str)] = &[
    ("Francia", "France", "París"),
    ("Italia", "Italy", "Roma"),
    ("Alemania", "Germany", "Berlín"),
    ("Portugal", "Portugal", "Lisboa"),
    ("Japón", "Japan", "Tokio"),
    ("Perú", "Peru", "Lima"),
    ("Argentina", "Argentina", "Buenos Aires"),
    ("México", "Mexico", "Ciudad de México"),
    ("Egipto", "Egypt", "El Cairo"),
    ("Canadá", "Canada", "Ottawa"),
    ("Chile", "Chile", "Santiago"),
    ("Noruega", "Norway", "Oslo"),
];

/// Capital names in English where they differ.
pub(super) fn capital_en(es: &str) -> &str {
    match es {
        "París" => "Paris",
        "Roma" => "Rome",
        "Berlín" => "Berlin",
        "Lisboa" => "Lisbon",
        "Tokio" => "Tokyo",
        "Ciudad de México" => "Mexico City",
        "El Cairo" => "Cairo",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_in_words() {
        assert_eq!(number_words(Lang::Es, 7), "siete");
        assert_eq!(number_words(Lang::Es, 22), "veintidós");
        assert_eq!(number_words(Lang::Es, 45), "cuarenta y cinco");
        assert_eq!(number_words(Lang::En, 45), "forty-five");
        assert_eq!(number_words(Lang::En, 30), "thirty");
        assert_eq!(number_words(Lang::Es, 100), "cien");
    }

    #[test]
    fn subjects_translate_with_articles() {
        let mut r = Rng(3);
        for _ in 0..500 {
            let s = subject(&mut r);
            assert!(s.es.starts_with("un ") || s.es.starts_with("una "), "{}", s.es);
            assert!(s.en.starts_with("a ") || s.en.starts_with("an "), "{}", s.en);
            let second = s.en.split(' ').nth(1).unwrap();
            let vowel = "aeiou".contains(second.chars().next().unwrap());
            assert_eq!(s.en.starts_with("an "), vowel, "{}", s.en);
        }
    }
}
