//! The built-in demo corpus: grammatical Spanish and English paragraphs generated from
//! templates and word lists (arithmetic, days, months, animals and colours with gender
//! agreement, facts, translations, questions and answers, short stories). Regular enough for a
//! model of a few million parameters to learn in minutes, varied enough not to be one line.

use super::corpus::Document;

/// SplitMix64: a tiny generator whose output is fixed forever (unlike `rand`'s `StdRng`).
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    /// Next 64 random bits.
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// Uniform in `lo..=hi`.
    pub(crate) fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo + 1)
    }

    /// A random element.
    pub(crate) fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Numbers 0..=20 in Spanish.
pub(crate) const NUM_ES: [&str; 21] = [
    "cero",
    "uno",
    "dos",
    "tres",
    "cuatro",
    "cinco",
    "seis",
    "siete",
    "ocho",
    "nueve",
    "diez",
    "once",
    "doce",
    "trece",
    "catorce",
    "quince",
    "dieciséis",
    "diecisiete",
    "dieciocho",
    "diecinueve",
    "veinte",
];
/// Numbers 0..=20 in English.
pub(crate) const NUM_EN: [&str; 21] = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
    "twenty",
];
/// Days of the week, Monday first.
const DAYS_ES: [&str; 7] = ["lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo"];
const DAYS_EN: [&str; 7] = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];
/// Months, January first.
pub(crate) const MONTHS_ES: [&str; 12] = [
    "enero",
    "febrero",
    "marzo",
    "abril",
    "mayo",
    "junio",
    "julio",
    "agosto",
    "septiembre",
    "octubre",
    "noviembre",
    "diciembre",
];
pub(crate) const MONTHS_EN: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
/// Ordinals 1..=12 (Spanish in the apocopated form used before a masculine noun).
const ORD_ES: [&str; 12] = [
    "primer",
    "segundo",
    "tercer",
    "cuarto",
    "quinto",
    "sexto",
    "séptimo",
    "octavo",
    "noveno",
    "décimo",
    "undécimo",
    "duodécimo",
];
const ORD_EN: [&str; 12] = [
    "first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth", "eleventh",
    "twelfth",
];

/// A Spanish noun with its gender and plural, and its English singular and plural.
struct Noun {
    es: &'static str,
    es_pl: &'static str,
    fem: bool,
    en: &'static str,
    en_pl: &'static str,
}

/// Shorthand constructor for the tables.
const fn n(es: &'static str, es_pl: &'static str, fem: bool, en: &'static str, en_pl: &'static str) -> Noun {
    Noun { es, es_pl, fem, en, en_pl }
}

const ANIMALS: [Noun; 16] = [
    n("gato", "gatos", false, "cat", "cats"),
    n("perro", "perros", false, "dog", "dogs"),
    n("vaca", "vacas", true, "cow", "cows"),
    n("caballo", "caballos", false, "horse", "horses"),
    n("gallina", "gallinas", true, "hen", "hens"),
    n("pájaro", "pájaros", false, "bird", "birds"),
    n("oveja", "ovejas", true, "sheep", "sheep"),
    n("pez", "peces", false, "fish", "fish"),
    n("rana", "ranas", true, "frog", "frogs"),
    n("ratón", "ratones", false, "mouse", "mice"),
    n("tortuga", "tortugas", true, "turtle", "turtles"),
    n("conejo", "conejos", false, "rabbit", "rabbits"),
    n("abeja", "abejas", true, "bee", "bees"),
    n("león", "leones", false, "lion", "lions"),
    n("jirafa", "jirafas", true, "giraffe", "giraffes"),
    n("oso", "osos", false, "bear", "bears"),
];

/// A Spanish adjective in its four forms (m sg, f sg, m pl, f pl) and its English form.
struct Adj {
    forms: [&'static str; 4],
    en: &'static str,
}

impl Adj {
    /// The form agreeing with a noun of this gender and number.
    fn es(&self, fem: bool, plural: bool) -> &'static str {
        self.forms[usize::from(fem) + 2 * usize::from(plural)]
    }
}

/// Shorthand constructor for the tables.
const fn a(ms: &'static str, fs: &'static str, mp: &'static str, fp: &'static str, en: &'static str) -> Adj {
    Adj { forms: [ms, fs, mp, fp], en }
}

const COLOURS: [Adj; 8] = [
    a("rojo", "roja", "rojos", "rojas", "red"),
    a("blanco", "blanca", "blancos", "blancas", "white"),
    a("negro", "negra", "negros", "negras", "black"),
    a("amarillo", "amarilla", "amarillos", "amarillas", "yellow"),
    a("verde", "verde", "verdes", "verdes", "green"),
    a("azul", "azul", "azules", "azules", "blue"),
    a("gris", "gris", "grises", "grises", "grey"),
    a("marrón", "marrón", "marrones", "marrones", "brown"),
];
const SIZES: [Adj; 6] = [
    a("pequeño", "pequeña", "pequeños", "pequeñas", "small"),
    a("grande", "grande", "grandes", "grandes", "big"),
    a("rápido", "rápida", "rápidos", "rápidas", "fast"),
    a("lento", "lenta", "lentos", "lentas", "slow"),
    a("viejo", "vieja", "viejos", "viejas", "old"),
    a("joven", "joven", "jóvenes", "jóvenes", "young"),
];
const MOODS: [Adj; 5] = [
    a("contento", "contenta", "contentos", "contentas", "happy"),
    a("tranquilo", "tranquila", "tranquilos", "tranquilas", "calm"),
    a("asustado", "asustada", "asustados", "asustadas", "scared"),
    a("cansado", "cansada", "cansados", "cansadas", "tired"),
    a("curioso", "curiosa", "curiosos", "curiosas", "curious"),
];

/// Other everyday nouns for translations.
const WORDS: [Noun; 20] = [
    n("casa", "casas", true, "house", "houses"),
    n("libro", "libros", false, "book", "books"),
    n("mesa", "mesas", true, "table", "tables"),
    n("árbol", "árboles", false, "tree", "trees"),
    n("flor", "flores", true, "flower", "flowers"),
    n("manzana", "manzanas", true, "apple", "apples"),
    n("río", "ríos", false, "river", "rivers"),
    n("ciudad", "ciudades", true, "city", "cities"),
    n("amigo", "amigos", false, "friend", "friends"),
    n("madre", "madres", true, "mother", "mothers"),
    n("padre", "padres", false, "father", "fathers"),
    n("hermana", "hermanas", true, "sister", "sisters"),
    n("hermano", "hermanos", false, "brother", "brothers"),
    n("ventana", "ventanas", true, "window", "windows"),
    n("puerta", "puertas", true, "door", "doors"),
    n("zapato", "zapatos", false, "shoe", "shoes"),
    n("estrella", "estrellas", true, "star", "stars"),
    n("camino", "caminos", false, "road", "roads"),
    n("montaña", "montañas", true, "mountain", "mountains"),
    n("pan", "panes", false, "bread", "breads"),
];

/// Places a story can happen in (singular nouns).
const PLACES: [Noun; 7] = [
    n("parque", "parques", false, "park", "parks"),
    n("mercado", "mercados", false, "market", "markets"),
    n("playa", "playas", true, "beach", "beaches"),
    n("escuela", "escuelas", true, "school", "schools"),
    n("bosque", "bosques", false, "forest", "forests"),
    n("río", "ríos", false, "river", "rivers"),
    n("biblioteca", "bibliotecas", true, "library", "libraries"),
];

/// Story characters: (name, female).
const PEOPLE: [(&str, bool); 12] = [
    ("Ana", true),
    ("Luis", false),
    ("Marta", true),
    ("Pablo", false),
    ("Lucía", true),
    ("Diego", false),
    ("Emma", true),
    ("Tom", false),
    ("Sara", true),
    ("Jack", false),
    ("Lily", true),
    ("Sam", false),
];

/// Pet names for stories.
const PET_NAMES: [&str; 8] = ["Luna", "Max", "Coco", "Nube", "Toby", "Kira", "Bruno", "Pipo"];

/// What a character can give an animal: (Spanish, English).
const FOODS: [(&str, &str); 4] =
    [("agua", "water"), ("pan", "bread"), ("una manzana", "an apple"), ("un poco de leche", "some milk")];

/// Simple facts, Spanish and English.
const FACTS: [(&str, &str); 30] = [
    ("El sol sale por el este y se pone por el oeste.", "The sun rises in the east and sets in the west."),
    ("El agua hierve a cien grados.", "Water boils at one hundred degrees."),
    ("Una semana tiene siete días.", "A week has seven days."),
    ("Un año tiene doce meses.", "A year has twelve months."),
    ("Los peces viven en el agua.", "Fish live in water."),
    ("Las abejas hacen miel.", "Bees make honey."),
    ("Las vacas dan leche.", "Cows give milk."),
    ("La luna gira alrededor de la Tierra.", "The moon goes around the Earth."),
    ("La Tierra gira alrededor del sol.", "The Earth goes around the sun."),
    ("El hielo es agua fría y sólida.", "Ice is cold, solid water."),
    ("Los pájaros tienen alas y plumas.", "Birds have wings and feathers."),
    ("Un gato tiene cuatro patas.", "A cat has four legs."),
    ("Una araña tiene ocho patas.", "A spider has eight legs."),
    ("Las plantas necesitan agua y luz.", "Plants need water and light."),
    ("El cielo es azul durante el día.", "The sky is blue during the day."),
    ("De noche se ven las estrellas.", "At night you can see the stars."),
    ("En invierno hace frío y en verano hace calor.", "In winter it is cold and in summer it is hot."),
    ("La nieve es blanca.", "Snow is white."),
    ("Las hojas de los árboles son verdes.", "The leaves of the trees are green."),
    ("Los plátanos son amarillos.", "Bananas are yellow."),
    ("El fuego quema.", "Fire burns."),
    ("Una hora tiene sesenta minutos.", "An hour has sixty minutes."),
    ("Un día tiene veinticuatro horas.", "A day has twenty-four hours."),
    ("El corazón bombea la sangre.", "The heart pumps blood."),
    ("Cada mano tiene cinco dedos.", "Each hand has five fingers."),
    ("El mar es muy grande y su agua es salada.", "The sea is very big and its water is salty."),
    ("Los leones comen carne.", "Lions eat meat."),
    ("Los conejos comen zanahorias.", "Rabbits eat carrots."),
    ("Madrid es la capital de España.", "Madrid is the capital of Spain."),
    ("Londres es la capital del Reino Unido.", "London is the capital of the United Kingdom."),
];

/// First letter upper-cased.
fn cap(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// Spanish definite article.
fn el(fem: bool, plural: bool) -> &'static str {
    match (fem, plural) {
        (false, false) => "el",
        (true, false) => "la",
        (false, true) => "los",
        (true, true) => "las",
    }
}

/// Spanish indefinite article.
fn un(fem: bool) -> &'static str {
    if fem {
        "una"
    } else {
        "un"
    }
}

/// "son N" for N >= 2, "es N" for zero and one.
fn es_verb(c: usize) -> &'static str {
    if c == 1 || c == 0 {
        "es"
    } else {
        "son"
    }
}

/// A sentence pair: (Spanish, English).
type Pair = (String, String);

/// One arithmetic or counting sentence.
fn arithmetic(r: &mut Rng) -> Pair {
    match r.below(6) {
        0 | 1 => {
            let a = r.range(0, 10);
            let b = r.range(0, 10);
            let c = a + b;
            (
                format!("{} más {} {} {}.", cap(NUM_ES[a]), NUM_ES[b], es_verb(c), NUM_ES[c]),
                format!("{} plus {} is {}.", cap(NUM_EN[a]), NUM_EN[b], NUM_EN[c]),
            )
        }
        2 => {
            let a = r.range(1, 20);
            let b = r.range(0, a);
            let c = a - b;
            (
                format!("{} menos {} {} {}.", cap(NUM_ES[a]), NUM_ES[b], es_verb(c), NUM_ES[c]),
                format!("{} minus {} is {}.", cap(NUM_EN[a]), NUM_EN[b], NUM_EN[c]),
            )
        }
        3 => {
            let a = r.range(1, 5);
            let b = r.range(1, 20 / a);
            let c = a * b;
            (
                format!("{} por {} {} {}.", cap(NUM_ES[a]), NUM_ES[b], es_verb(c), NUM_ES[c]),
                format!("{} times {} is {}.", cap(NUM_EN[a]), NUM_EN[b], NUM_EN[c]),
            )
        }
        4 => {
            let a = r.range(0, 10);
            let b = r.range(0, 10);
            let c = a + b;
            (
                format!("¿Cuánto son {} más {}? {}.", NUM_ES[a], NUM_ES[b], cap(NUM_ES[c])),
                format!("What is {} plus {}? {}.", NUM_EN[a], NUM_EN[b], cap(NUM_EN[c])),
            )
        }
        _ => {
            let start = r.range(0, 14);
            let len = r.range(3, 6);
            let es: Vec<&str> = NUM_ES[start..start + len].to_vec();
            let en: Vec<&str> = NUM_EN[start..start + len].to_vec();
            (
                format!(
                    "{}. Después del {} viene el {}.",
                    cap(&es.join(", ")),
                    NUM_ES[start + len - 1],
                    NUM_ES[start + len]
                ),
                format!("{}. After {} comes {}.", cap(&en.join(", ")), NUM_EN[start + len - 1], NUM_EN[start + len]),
            )
        }
    }
}

/// One sentence about the days of the week.
fn days(r: &mut Rng) -> Pair {
    let d = r.below(7);
    let next = (d + 1) % 7;
    let prev = (d + 6) % 7;
    match r.below(6) {
        0 => (
            format!("Después del {} viene el {}.", DAYS_ES[d], DAYS_ES[next]),
            format!("After {} comes {}.", DAYS_EN[d], DAYS_EN[next]),
        ),
        1 => (
            format!("Antes del {} va el {}.", DAYS_ES[d], DAYS_ES[prev]),
            format!("Before {} comes {}.", DAYS_EN[d], DAYS_EN[prev]),
        ),
        2 => (
            format!("Hoy es {} y mañana será {}.", DAYS_ES[d], DAYS_ES[next]),
            format!("Today is {} and tomorrow will be {}.", DAYS_EN[d], DAYS_EN[next]),
        ),
        3 => (
            format!("¿Qué día viene después del {}? El {}.", DAYS_ES[d], DAYS_ES[next]),
            format!("What day comes after {}? {}.", DAYS_EN[d], DAYS_EN[next]),
        ),
        4 => (
            format!("Los días de la semana son {} y {}.", DAYS_ES[..6].join(", "), DAYS_ES[6]),
            format!("The days of the week are {} and {}.", DAYS_EN[..6].join(", "), DAYS_EN[6]),
        ),
        _ => (
            format!("Si hoy es {}, ayer fue {}.", DAYS_ES[d], DAYS_ES[prev]),
            format!("If today is {}, yesterday was {}.", DAYS_EN[d], DAYS_EN[prev]),
        ),
    }
}

/// One sentence about the months.
fn months(r: &mut Rng) -> Pair {
    let m = r.below(12);
    let next = (m + 1) % 12;
    match r.below(4) {
        0 => (
            format!("Después de {} viene {}.", MONTHS_ES[m], MONTHS_ES[next]),
            format!("After {} comes {}.", MONTHS_EN[m], MONTHS_EN[next]),
        ),
        1 => (
            format!("¿Qué mes viene después de {}? {}.", MONTHS_ES[m], cap(MONTHS_ES[next])),
            format!("What month comes after {}? {}.", MONTHS_EN[m], MONTHS_EN[next]),
        ),
        2 => (
            format!("{} es el {} mes del año.", cap(MONTHS_ES[m]), ORD_ES[m]),
            format!("{} is the {} month of the year.", MONTHS_EN[m], ORD_EN[m]),
        ),
        _ => {
            let len = r.range(3, 5);
            let es: Vec<&str> = (0..len).map(|i| MONTHS_ES[(m + i) % 12]).collect();
            let en: Vec<&str> = (0..len).map(|i| MONTHS_EN[(m + i) % 12]).collect();
            (
                format!("{} y {} van seguidos.", cap(&es[..len - 1].join(", ")), es[len - 1]),
                format!("{} and {} come one after another.", en[..len - 1].join(", "), en[len - 1]),
            )
        }
    }
}

/// One sentence about animals, with colours and sizes agreeing in Spanish.
fn animals(r: &mut Rng) -> Pair {
    let an = r.pick(&ANIMALS);
    let col = r.pick(&COLOURS);
    let size = r.pick(&SIZES);
    let f = an.fem;
    match r.below(5) {
        0 => (
            format!("{} {} es {}.", cap(el(f, false)), an.es, col.es(f, false)),
            format!("The {} is {}.", an.en, col.en),
        ),
        1 => (
            format!("{} {} {} es {}.", cap(el(f, false)), an.es, col.es(f, false), size.es(f, false)),
            format!("The {} {} is {}.", col.en, an.en, size.en),
        ),
        2 => (
            format!("{} {} {} son {}.", cap(el(f, true)), an.es_pl, col.es(f, true), size.es(f, true)),
            format!("The {} {} are {}.", col.en, an.en_pl, size.en),
        ),
        3 => (format!("Veo {} {} {}.", un(f), an.es, col.es(f, false)), format!("I see a {} {}.", col.en, an.en)),
        _ => {
            let k = r.range(2, 10);
            (
                format!("Tengo {} {} {}.", NUM_ES[k], an.es_pl, col.es(f, true)),
                format!("I have {} {} {}.", NUM_EN[k], col.en, an.en_pl),
            )
        }
    }
}

/// One translation sentence.
fn translation(r: &mut Rng) -> Pair {
    let (es, en): (String, String) = match r.below(6) {
        0 | 1 => {
            let w = r.pick(&ANIMALS);
            (w.es.into(), w.en.into())
        }
        2 => {
            let w = r.pick(&WORDS);
            (w.es.into(), w.en.into())
        }
        3 => {
            let c = r.pick(&COLOURS);
            (c.forms[0].into(), c.en.into())
        }
        4 => {
            let k = r.range(0, 20);
            (NUM_ES[k].into(), NUM_EN[k].into())
        }
        _ => {
            if r.below(2) == 0 {
                let d = r.below(7);
                (DAYS_ES[d].into(), DAYS_EN[d].into())
            } else {
                let m = r.below(12);
                (MONTHS_ES[m].into(), MONTHS_EN[m].into())
            }
        }
    };
    if r.below(3) == 0 {
        (
            format!("¿Cómo se dice «{en}» en español? Se dice «{es}»."),
            format!("How do you say «{es}» in English? You say «{en}»."),
        )
    } else {
        (format!("«{es}» en inglés es «{en}»."), format!("«{en}» in Spanish is «{es}»."))
    }
}

/// A fact from the list.
fn fact(r: &mut Rng) -> Pair {
    let (es, en) = r.pick(&FACTS);
    (es.to_string(), en.to_string())
}

/// A short story, as one multi-sentence pair.
fn story(r: &mut Rng) -> Pair {
    let &(name, she) = r.pick(&PEOPLE);
    let an = r.pick(&ANIMALS);
    let col = r.pick(&COLOURS);
    let f = an.fem;
    let (ella, she_en, her_en) = if she { ("ella", "she", "her") } else { ("él", "he", "him") };
    match r.below(3) {
        0 => {
            let d = r.below(7);
            let place = r.pick(&PLACES);
            let to_es = if place.fem { "a la" } else { "al" };
            let size = r.pick(&SIZES);
            let mood = r.pick(&MOODS);
            let &(food_es, food_en) = r.pick(&FOODS);
            let tired = MOODS[3].es(she, false);
            (
                format!(
                    "El {} por la mañana, {name} fue {to_es} {}. Allí vio {} {} {}. {} {} era {} y parecía {}. \
                     {name} le dio {food_es} y {} {} se quedó con {ella}. Por la tarde, {name} volvió a casa {tired} pero feliz.",
                    DAYS_ES[d], place.es, un(f), an.es, col.es(f, false), cap(el(f, false)), an.es,
                    size.es(f, false), mood.es(f, false), el(f, false), an.es
                ),
                format!(
                    "On {} morning, {name} went to the {}. There {she_en} saw a {} {}. The {} was {} and looked {}. \
                     {name} gave it {food_en} and the {} stayed with {her_en}. In the afternoon, {name} went home tired but happy.",
                    DAYS_EN[d], place.en, col.en, an.en, an.en, size.en, mood.en, an.en
                ),
            )
        }
        1 => {
            let pet = r.pick(&PET_NAMES);
            let place = r.pick(&PLACES);
            let mood = r.pick(&MOODS);
            let d = r.below(7);
            (
                format!(
                    "{name} tiene {} {} {} que se llama {pet}. Todos los días, {name} y {pet} pasean por {} {}. \
                     {pet} es muy {}. El {} no salieron porque llovía.",
                    un(f),
                    an.es,
                    col.es(f, false),
                    el(place.fem, false),
                    place.es,
                    mood.es(f, false),
                    DAYS_ES[d]
                ),
                format!(
                    "{name} has a {} {} called {pet}. Every day, {name} and {pet} walk in the {}. \
                     {pet} is very {}. On {} they did not go out because it was raining.",
                    col.en, an.en, place.en, mood.en, DAYS_EN[d]
                ),
            )
        }
        _ => {
            let a = r.range(2, 10);
            let b = r.range(2, 10);
            let her = if she { "Her" } else { "His" };
            (
                format!(
                    "{name} tenía {} manzanas. Su hermano le dio {} más. Ahora {name} tiene {} manzanas, \
                     porque {} más {} son {}.",
                    NUM_ES[a],
                    NUM_ES[b],
                    NUM_ES[a + b],
                    NUM_ES[a],
                    NUM_ES[b],
                    NUM_ES[a + b]
                ),
                format!(
                    "{name} had {} apples. {her} brother gave {her_en} {} more. Now {name} has {} apples, \
                     because {} plus {} is {}.",
                    NUM_EN[a],
                    NUM_EN[b],
                    NUM_EN[a + b],
                    NUM_EN[a],
                    NUM_EN[b],
                    NUM_EN[a + b]
                ),
            )
        }
    }
}

/// Generate about `approx_bytes` of bilingual text as paragraph documents; same seed, same text.
///
/// Each document is a paragraph of several sentences on one topic, in Spanish, in English, or
/// as a parallel pair (Spanish paragraph, blank line, English paragraph).
pub fn bilingual_corpus(seed: u64, approx_bytes: usize) -> Vec<Document> {
    let mut r = Rng(seed ^ 0x7448_4155_5f44_4154); // "tHAU_DAT"
    let mut docs = Vec::new();
    let mut total = 0;
    let topics: [fn(&mut Rng) -> Pair; 7] = [arithmetic, days, months, animals, translation, fact, story];
    while total < approx_bytes {
        let topic = r.below(topics.len() + 1);
        let count = if topic == 6 { r.range(1, 2) } else { r.range(3, 7) };
        let pairs: Vec<Pair> = (0..count)
            .map(|_| {
                // The extra slot mixes topics within a paragraph, like a short quiz.
                let t = if topic == topics.len() { r.below(topics.len() - 1) } else { topic };
                topics[t](&mut r)
            })
            .collect();
        let es = pairs.iter().map(|p| p.0.as_str()).collect::<Vec<_>>().join(" ");
        let en = pairs.iter().map(|p| p.1.as_str()).collect::<Vec<_>>().join(" ");
        let text = match r.below(5) {
            0 | 1 => es + "\n",
            2 | 3 => en + "\n",
            _ => format!("{es}\n\n{en}\n"),
        };
        total += text.len();
        docs.push(Document { source: format!("synthetic:{}", docs.len() + 1), text });
    }
    docs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_seed_dependent() {
        let a = bilingual_corpus(1, 20_000);
        let b = bilingual_corpus(1, 20_000);
        let c = bilingual_corpus(2, 20_000);
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn size_near_target_and_both_languages() {
        for target in [5_000usize, 100_000, 1_000_000] {
            let docs = bilingual_corpus(42, target);
            let total: usize = docs.iter().map(|d| d.text.len()).sum();
            assert!(total >= target && total < target + 3_000, "{target}: {total}");
            let all: String = docs.iter().map(|d| d.text.as_str()).collect();
            for w in ["más", "plus", "martes", "Tuesday", "¿", "«", "the", "el"] {
                assert!(all.contains(w), "{target}: missing {w}");
            }
            assert!(docs.iter().all(|d| !d.text.trim().is_empty()));
        }
        assert!(bilingual_corpus(0, 0).is_empty());
    }

    #[test]
    fn varied_not_one_repeated_line() {
        let docs = bilingual_corpus(3, 200_000);
        let sentences: std::collections::HashSet<&str> = docs.iter().flat_map(|d| d.text.split(". ")).collect();
        assert!(sentences.len() > 1_000, "{}", sentences.len());
    }

    #[test]
    fn spanish_agreement_examples() {
        let gata = &ANIMALS[2]; // vaca, feminine
        assert_eq!(COLOURS[1].es(gata.fem, false), "blanca");
        assert_eq!(COLOURS[1].es(gata.fem, true), "blancas");
        assert_eq!(SIZES[5].es(false, true), "jóvenes");
        assert_eq!(es_verb(1), "es");
        assert_eq!(es_verb(5), "son");
    }
}
