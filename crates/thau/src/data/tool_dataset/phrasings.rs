//! The request phrasings, per intent and language, each list split into phrasings for training
//! and held-out phrasings that only the evaluation set uses (so `thau eval tools` measures
//! requests worded in ways the model never saw). `{x}` is where the argument goes.

use super::frames::Frame;

/// Phrasings of one intent: training and held-out, Spanish and English.
pub(super) struct Phrasings {
    pub es: &'static [&'static str],
    pub en: &'static [&'static str],
    pub es_heldout: &'static [&'static str],
    pub en_heldout: &'static [&'static str],
    /// Composed training wordings, used for half of the training requests when present.
    pub frame: Option<Frame>,
}

/// "Make an image of {x}"; `{x}` is the subject with its style, size and other clauses.
pub(super) const IMAGE: Phrasings = Phrasings {
    es: &[
        "Genera una imagen de {x}",
        "Crea una imagen de {x}",
        "Dibuja {x}",
        "Hazme un dibujo de {x}",
        "Quiero una imagen de {x}",
        "¿Puedes generar una imagen de {x}?",
        "¿Me haces una ilustración de {x}?",
        "Pinta {x}",
        "Necesito una imagen de {x}",
        "Me gustaría ver una imagen de {x}",
        "Genera una foto de {x}",
        "Hazme una imagen con {x}",
        "Quiero ver {x}, ¿me lo dibujas?",
        "Imagina {x} y hazme una imagen",
        "¿Podrías dibujar {x}?",
        "Crea un dibujo de {x}",
        "Genérame una imagen de {x}",
        "Haz una ilustración de {x}",
        "Me haces un dibujo de {x}?",
        "Quiero un póster de {x}",
        "Quisiera una imagen de {x}",
        "Muéstrame {x} en una imagen",
        "Dame una imagen de {x}",
        "¿Me creas una imagen de {x}?",
        "Visualiza {x}",
        "Me apetece ver una imagen de {x}",
        "Hazme un retrato de {x}",
        "¿Puedes hacerme un dibujo de {x}?",
        "Una imagen de {x}",
    ],
    en: &[
        "Generate an image of {x}",
        "Create a picture of {x}",
        "Draw {x}",
        "Make me an image of {x}",
        "I want an image of {x}",
        "Can you generate a picture of {x}?",
        "Paint {x}",
        "I need an illustration of {x}",
        "Show me a picture of {x}",
        "I'd like to see an image of {x}",
        "Could you draw {x} for me?",
        "Render {x}",
        "Make a drawing of {x}",
        "Create an image showing {x}",
        "Can you make a picture of {x}?",
        "Generate a photo of {x}",
        "Draw me {x}",
        "I want a poster of {x}",
        "Picture {x} for me",
        "Sketch {x}",
        "Show me {x}",
        "Could you create an image of {x}?",
        "Produce an image of {x}",
        "I'd like a picture of {x}",
        "Let me see {x}",
        "Can I get a picture of {x}?",
        "Visualize {x}",
        "Please create a drawing of {x}",
    ],
    es_heldout: &[
        "¿Serías capaz de crear una imagen de {x}?",
        "Me encantaría tener un dibujo de {x}",
        "Ilustra {x}",
        "Mi hijo quiere ver {x}, ¿se lo dibujas?",
        "¿Me generas una ilustración que muestre {x}?",
        "Diseña una imagen de {x}",
    ],
    en_heldout: &[
        "Would you be able to make an image of {x}?",
        "I'd love a drawing of {x}",
        "Illustrate {x}",
        "My kid wants to see {x}, can you draw it?",
        "How about generating art of {x}?",
        "Design an image of {x}",
    ],
    frame: Some(Frame::Image),
};

/// "Make {n} images of {x}" (`count`); `{n}` is the number in words or digits.
pub(super) const IMAGE_COUNT: Phrasings = Phrasings {
    es: &[
        "Genera {n} imágenes de {x}",
        "Hazme {n} dibujos de {x}",
        "Quiero {n} imágenes de {x}",
        "Crea {n} versiones de {x}",
    ],
    en: &[
        "Generate {n} images of {x}",
        "Make {n} pictures of {x}",
        "I want {n} drawings of {x}",
        "Create {n} versions of {x}",
    ],
    es_heldout: &["Dame {n} ilustraciones distintas de {x}"],
    en_heldout: &["Give me {n} different illustrations of {x}"],
    frame: None,
};

/// Calculations; `{x}` is the spoken expression ("12 por 7", "doce más tres").
pub(super) const CALC: Phrasings = Phrasings {
    es: &[
        "¿Cuánto es {x}?",
        "Calcula {x}",
        "¿Cuánto da {x}?",
        "¿Me calculas {x}?",
        "¿Cuál es el resultado de {x}?",
        "Haz la cuenta: {x}",
        "Resuelve {x}",
        "{x} =",
        "¿Cuánto son {x}?",
        "Necesito saber cuánto es {x}",
        "¿Puedes calcular {x}?",
        "Opera {x}",
        "¿Cuál es el total de {x}?",
        "Dime cuánto es {x}",
        "Hazme esta operación: {x}",
        "¿Qué resultado da {x}?",
        "Calcúlame {x}",
    ],
    en: &[
        "What is {x}?",
        "Calculate {x}",
        "Compute {x}",
        "How much is {x}?",
        "What's the result of {x}?",
        "Can you work out {x}?",
        "Solve {x}",
        "{x} =",
        "Quick math: {x}",
        "I need to know what {x} is",
        "Evaluate {x}",
        "Tell me what {x} is",
        "What does {x} equal?",
        "Figure out {x}",
        "Do the math: {x}",
        "Work out {x} for me",
        "Can you calculate {x}?",
    ],
    es_heldout: &["Échame una mano con esta cuenta: {x}", "¿Sabrías decirme cuánto sale {x}?", "Saca la cuenta de {x}"],
    en_heldout: &["Help me with this sum: {x}", "Do you know what {x} comes to?", "Crunch the numbers: {x}"],
    frame: None,
};

/// Word problems: text with `{a}` and `{b}`, and the operator the expression uses.
pub(super) struct Problem {
    pub text: &'static str,
    pub op: char,
}

const fn p(text: &'static str, op: char) -> Problem {
    Problem { text, op }
}

pub(super) const PROBLEMS_ES: &[Problem] = &[
    p("Si tengo {a} manzanas y compro {b} más, ¿cuántas tengo?", '+'),
    p("Tenía {a} euros y gasté {b}, ¿cuánto me queda?", '-'),
    p("Hay {a} cajas con {b} lápices cada una, ¿cuántos lápices hay?", '*'),
    p("Reparto {a} caramelos entre {b} niños, ¿cuántos le tocan a cada uno?", '/'),
    p("Un libro cuesta {a} euros, ¿cuánto cuestan {b}?", '*'),
    p("En la clase hay {a} chicas y {b} chicos, ¿cuántos alumnos hay en total?", '+'),
];
pub(super) const PROBLEMS_EN: &[Problem] = &[
    p("If I have {a} apples and buy {b} more, how many do I have?", '+'),
    p("I had {a} dollars and spent {b}, how much is left?", '-'),
    p("There are {a} boxes with {b} pencils each, how many pencils are there?", '*'),
    p("I split {a} candies among {b} kids, how many does each get?", '/'),
    p("A ticket costs {a} dollars, how much do {b} tickets cost?", '*'),
    p("A class has {a} girls and {b} boys, how many students in total?", '+'),
];
pub(super) const PROBLEMS_ES_HELDOUT: &[Problem] = &[
    p("Camino {a} kilómetros al día durante {b} días, ¿cuántos kilómetros son?", '*'),
    p("De {a} invitados se fueron {b}, ¿cuántos quedan?", '-'),
];
pub(super) const PROBLEMS_EN_HELDOUT: &[Problem] = &[
    p("I walk {a} miles a day for {b} days, how many miles is that?", '*'),
    p("Of {a} guests, {b} left early, how many stayed?", '-'),
];

/// "Remember that {x}"; `{x}` is the fact, stored verbatim as `text`.
pub(super) const REMEMBER: Phrasings = Phrasings {
    es: &[
        "Recuerda que {x}",
        "Acuérdate de que {x}",
        "Apunta que {x}",
        "No olvides que {x}",
        "Guarda esto: {x}",
        "Quiero que recuerdes que {x}",
        "Toma nota: {x}",
        "Memoriza que {x}",
        "Guárdalo en tu memoria: {x}",
        "Que no se te olvide: {x}",
        "Recuerda esto: {x}",
        "Tienes que recordar que {x}",
        "Registra que {x}",
        "Quédate con esto: {x}",
        "Aprende esto: {x}",
    ],
    en: &[
        "Remember that {x}",
        "Please remember: {x}",
        "Don't forget that {x}",
        "Save this: {x}",
        "Keep in mind that {x}",
        "Make a note that {x}",
        "Store this in your memory: {x}",
        "I want you to remember that {x}",
        "Write down that {x}",
        "Remember this: {x}",
        "Note that {x}",
        "Keep this in mind: {x}",
        "Record that {x}",
        "Log that {x}",
    ],
    es_heldout: &["Para que lo tengas presente: {x}", "Graba en tu memoria que {x}", "Anótate que {x}"],
    en_heldout: &["For future reference, {x}", "Commit this to memory: {x}", "Jot down that {x}"],
    frame: Some(Frame::Remember),
};

/// "What did we talk about {x}?"; `{x}` is the time expression, passed as `when`.
pub(super) const RECALL: Phrasings = Phrasings {
    es: &[
        "¿Qué hablamos {x}?",
        "¿De qué hablamos {x}?",
        "¿Qué te conté {x}?",
        "Recuérdame qué te dije {x}",
        "¿Te acuerdas de lo que hablamos {x}?",
        "¿Sobre qué conversamos {x}?",
        "¿Qué me dijiste {x}?",
        "Resúmeme lo que hablamos {x}",
        "¿Qué comentamos {x}?",
        "Cuéntame qué hablamos {x}",
        "¿Qué me contaste {x}?",
        "¿Qué dijimos {x}?",
    ],
    en: &[
        "What did we talk about {x}?",
        "What did I tell you {x}?",
        "Remind me what we discussed {x}",
        "Do you remember what we talked about {x}?",
        "What was our conversation about {x}?",
        "Summarize what we said {x}",
        "What did you tell me {x}?",
        "What did we discuss {x}?",
        "Tell me what we talked about {x}",
        "What came up in our conversation {x}?",
        "What did we say {x}?",
    ],
    es_heldout: &["¿Cuál fue el tema de nuestra charla {x}?", "Refréscame la memoria sobre lo de {x}"],
    en_heldout: &["What was the topic of our chat {x}?", "Jog my memory about our talk {x}"],
    frame: Some(Frame::Recall),
};

/// "What did I tell you about {x}?"; `{x}` is the topic, passed as `query`.
pub(super) const SEARCH: Phrasings = Phrasings {
    es: &[
        "¿Qué te dije sobre {x}?",
        "Busca en tu memoria {x}",
        "¿Recuerdas algo sobre {x}?",
        "¿Qué sabes de {x}? Te lo conté hace tiempo",
        "Busca lo que te conté de {x}",
        "¿Tienes guardado algo sobre {x}?",
        "Mira en tus recuerdos qué hay de {x}",
        "¿Qué recuerdas de {x}?",
        "¿Qué tienes sobre {x}?",
        "Búscame lo de {x}",
        "Encuentra lo que te dije de {x}",
        "¿Te conté algo de {x}?",
    ],
    en: &[
        "What did I tell you about {x}?",
        "Search your memory for {x}",
        "Do you remember anything about {x}?",
        "Look up what I told you about {x}",
        "What do you have saved about {x}?",
        "Check your memories for {x}",
        "What do you remember about {x}?",
        "Find what I said about {x}",
        "Anything saved on {x}?",
        "Look for {x} in your memory",
        "Did I mention {x} before?",
    ],
    es_heldout: &["¿Hay algo en tu memoria acerca de {x}?", "Rescata lo que sepas de {x}"],
    en_heldout: &["Is there anything in your memory regarding {x}?", "Dig up what you know about {x}"],
    frame: Some(Frame::Search),
};

/// Searching with a `limit`: `{n}` is the number of results.
pub(super) const SEARCH_LIMIT: Phrasings = Phrasings {
    es: &["Dame los {n} recuerdos más relevantes sobre {x}", "Busca {n} recuerdos sobre {x}"],
    en: &["Give me the top {n} memories about {x}", "Find {n} memories about {x}"],
    es_heldout: &["Enséñame {n} cosas que recuerdes de {x}"],
    en_heldout: &["Show me {n} things you remember about {x}"],
    frame: None,
};

/// Asking for the time (`current_datetime`, no arguments).
pub(super) const TIME: Phrasings = Phrasings {
    es: &[
        "¿Qué hora es?",
        "¿Me dices la hora?",
        "¿Sabes qué hora es?",
        "Dime la hora",
        "¿Qué hora tienes?",
        "¿Qué hora es ahora mismo?",
        "¿Tienes hora?",
        "¿Qué horas son?",
        "Dime qué hora es",
        "¿Podrías decirme la hora?",
    ],
    en: &[
        "What time is it?",
        "Tell me the time",
        "Do you know what time it is?",
        "What's the time right now?",
        "Got the time?",
        "Can you tell me the current time?",
        "What's the time?",
        "Could you tell me the time?",
        "What time do you have?",
    ],
    es_heldout: &["¿Me podrías decir qué hora marca el reloj?", "¿A qué hora estamos?"],
    en_heldout: &["What does the clock say right now?", "Any idea what hour it is?"],
    frame: Some(Frame::Time),
};

/// Asking for the date (`current_datetime`, no arguments).
pub(super) const DATE: Phrasings = Phrasings {
    es: &[
        "¿Qué día es hoy?",
        "¿A qué fecha estamos?",
        "¿Qué fecha es hoy?",
        "Dime la fecha de hoy",
        "¿En qué día estamos?",
        "¿Hoy qué día es?",
        "¿Qué día es?",
        "¿Cuál es la fecha de hoy?",
        "¿Sabes qué día es hoy?",
    ],
    en: &[
        "What day is it today?",
        "What's today's date?",
        "Tell me today's date",
        "What is the date?",
        "Which day is it?",
        "What's the date today?",
        "Do you know today's date?",
        "What date is it?",
    ],
    es_heldout: &["¿Me recuerdas qué día del calendario es hoy?"],
    en_heldout: &["Remind me what the date is today"],
    frame: Some(Frame::Date),
};

/// Things said that need no tool, with the answer; `{x}` (when present) is filled the same way
/// in both.
pub(super) struct Chat {
    pub user: &'static str,
    pub answer: &'static str,
}

const fn c(user: &'static str, answer: &'static str) -> Chat {
    Chat { user, answer }
}

pub(super) const CHAT_ES: &[Chat] = &[
    c("Hola", "¡Hola! ¿En qué puedo ayudarte?"),
    c("Buenos días", "¡Buenos días! ¿Qué necesitas?"),
    c("Buenas tardes", "¡Buenas tardes! ¿En qué te ayudo?"),
    c("¿Qué tal?", "Muy bien, gracias. ¿Y tú?"),
    c("¿Cómo estás?", "Estoy bien, gracias por preguntar. ¿En qué te ayudo?"),
    c("Gracias", "¡De nada!"),
    c("Muchas gracias", "¡De nada! Aquí estoy para lo que necesites."),
    c("Adiós", "¡Hasta luego!"),
    c("¿Quién eres?", "Soy THAU, un asistente que puede generar imágenes, hacer cálculos y recordar cosas."),
    c("¿Qué puedes hacer?", "Puedo generar imágenes, hacer cálculos, recordar lo que me cuentes y decirte la hora."),
    c("Cuéntame un chiste", "¿Qué le dice un techo a otro? Techo de menos."),
    c("Me gustan las matemáticas", "¡A mí también! Son muy útiles."),
    c("¿Qué es una multiplicación?", "Una multiplicación es sumar un número varias veces."),
    c("¿Qué es un número primo?", "Un número primo solo se divide entre uno y entre sí mismo."),
    c("¿Qué es una imagen PNG?", "PNG es un formato de imagen sin pérdida."),
    c("¿Qué es Stable Diffusion?", "Stable Diffusion es un modelo que genera imágenes a partir de texto."),
    c("¿Qué ves en esta foto?", "No puedo ver fotos, pero puedo generar una imagen si me la describes."),
    c("Me encantan los dibujos de {x}", "¡Suena precioso!"),
    c("Ayer vi {x} en un sueño", "¡Qué sueño tan curioso!"),
    c("¿Te gustan las fotos de {x}?", "Me parecen muy bonitas."),
    c("Me recuerdas a un amigo", "¡Espero que sea un buen amigo!"),
    c("Tengo muy mala memoria", "Les pasa a todos. Si quieres, puedo recordar cosas por ti."),
    c("Llego tarde a todo", "Quizá te ayude poner alarmas."),
    c("El tiempo vuela", "¡Es verdad!"),
    c("¿Cuál es la capital de {x}?", "La capital de {x} es {y}."),
    c("¿De qué color es el cielo?", "El cielo suele ser azul."),
    c("¿Cuántas patas tiene una araña?", "Una araña tiene ocho patas."),
    c("¿Por qué el mar es salado?", "Porque los ríos llevan sales minerales al mar."),
    c("Traduce 'gato' al inglés", "'Gato' en inglés es 'cat'."),
    c("Estoy cansado", "Descansa un poco, te lo mereces."),
    c("¿Cuál es tu color favorito?", "Me gusta el azul."),
    c("Hoy hace buen día", "¡Qué bien! Aprovecha para salir."),
    // Near misses: pictures, memory, numbers and days talked about, nothing asked of a tool.
    c("Buenas noches", "¡Buenas noches! Que descanses."),
    c("Hola de nuevo", "¡Hola otra vez! ¿Qué necesitas?"),
    c("¿Qué tal va tu día?", "¡Muy bien, gracias! ¿Y el tuyo?"),
    c("Eres muy amable", "¡Gracias, tú también!"),
    c("Perfecto, gracias por todo", "¡Un placer ayudarte!"),
    c("Vale, entendido", "¡Genial! Aquí sigo si necesitas algo."),
    c("¿Te gusta el arte moderno?", "Me parece muy interesante."),
    c("¿Qué piensas de los cuadros de Picasso?", "Picasso tiene un estilo único."),
    c("Mi hermana dibuja {x} muy bien", "¡Qué talento tiene tu hermana!"),
    c("Ayer dibujé {x}", "¡Me encantaría verlo!"),
    c("Mi hijo quiere ser pintor", "¡Qué bonita vocación!"),
    c("Me encanta la fotografía", "¡Es un arte precioso!"),
    c("¿Sabes quién inventó la fotografía?", "La inventaron Niépce y Daguerre en el siglo XIX."),
    c("¿Quién escribió Don Quijote?", "Lo escribió Miguel de Cervantes."),
    c("¿Cuántos meses tiene un año?", "Un año tiene doce meses."),
    c("¿Cuántas horas tiene un día?", "Un día tiene veinticuatro horas."),
    c("Los lunes son difíciles", "¡Ánimo, la semana pasa rápido!"),
    c("¿Qué es la memoria?", "La memoria es la capacidad de guardar y recordar lo vivido."),
    c("¿Qué es una calculadora?", "Es una máquina que hace operaciones con números."),
    c("Las matemáticas se me dan fatal", "Con práctica se aprenden, ¡y yo puedo ayudarte con las cuentas!"),
    c("¿Cuál es el planeta más grande?", "Júpiter es el planeta más grande del sistema solar."),
    c("Qué bonito día", "¡Sí, disfrútalo!"),
    c("¿Cuál es tu animal favorito?", "Me encantan los gatos."),
    // Weeks, days, words and pictures talked about: a calendar word or a tool's verb in a
    // question that only needs an answer.
    c("¿Cuál es tu día favorito de la semana?", "¡Me gustan los viernes!"),
    c("Los fines de semana pasan volando", "¡Es verdad!"),
    c("He tenido una semana muy larga", "¡Descansa, te lo has ganado!"),
    c("¿Cuántos días tiene un año bisiesto?", "Un año bisiesto tiene trescientos sesenta y seis días."),
    c("¿Qué día va después del lunes?", "Después del lunes viene el martes."),
    c("¿Cuál es el mes más corto?", "Febrero es el mes más corto."),
    c("¿Cuántos minutos tiene una hora?", "Una hora tiene sesenta minutos."),
    c("¿Qué significa la palabra dibujar?", "Dibujar es hacer una figura con líneas."),
    c("Define la palabra memoria", "La memoria es la capacidad de guardar y recordar."),
    c("¿Prefieres las fotos o los cuadros?", "Las dos cosas tienen su encanto."),
    c("¿La fotografía es un arte?", "Sí, para mucha gente lo es."),
    c("¿Te gusta el grafiti?", "Algunos grafitis son auténtico arte."),
    c("Me acuerdo de mi primera bici", "¡Qué bonito recuerdo!"),
    c("Siempre olvido dónde dejo las llaves", "Prueba a dejarlas siempre en el mismo sitio."),
    c("Los números me parecen fascinantes", "¡Lo son! Las matemáticas están en todas partes."),
    c("¿Cuánto dura un partido de fútbol?", "Un partido dura noventa minutos."),
];

pub(super) const CHAT_EN: &[Chat] = &[
    c("Hi", "Hello! How can I help you?"),
    c("Good morning", "Good morning! What do you need?"),
    c("Hello there", "Hi! What can I do for you?"),
    c("How are you?", "I'm fine, thanks. And you?"),
    c("What's up?", "Not much. How can I help?"),
    c("Thanks", "You're welcome!"),
    c("Thank you so much", "You're welcome! I'm here if you need anything."),
    c("Bye", "See you later!"),
    c("Who are you?", "I'm THAU, an assistant that can generate images, do math and remember things."),
    c("What can you do?", "I can generate images, do calculations, remember what you tell me and tell you the time."),
    c("Tell me a joke", "Why did the scarecrow win an award? He was outstanding in his field."),
    c("I like math", "Me too! It's very useful."),
    c("What is multiplication?", "Multiplication is adding a number to itself several times."),
    c("What is a prime number?", "A prime number is only divisible by one and itself."),
    c("What is a PNG image?", "PNG is a lossless image format."),
    c("What is Stable Diffusion?", "Stable Diffusion is a model that generates images from text."),
    c("What do you see in this photo?", "I can't see photos, but I can generate an image if you describe it."),
    c("I love drawings of {x}", "That sounds lovely!"),
    c("Yesterday I dreamed of {x}", "What a curious dream!"),
    c("Do you like photos of {x}?", "I think they are very nice."),
    c("You remind me of a friend", "I hope it's a good friend!"),
    c("My memory is terrible", "It happens to everyone. I can remember things for you if you want."),
    c("I'm always late", "Setting alarms might help."),
    c("Time flies", "It really does!"),
    c("What is the capital of {x}?", "The capital of {x} is {y}."),
    c("What color is the sky?", "The sky is usually blue."),
    c("How many legs does a spider have?", "A spider has eight legs."),
    c("Why is the sea salty?", "Because rivers carry mineral salts into the sea."),
    c("Translate 'perro' to English", "'Perro' in English is 'dog'."),
    c("I'm tired", "Get some rest, you deserve it."),
    c("What's your favorite color?", "I like blue."),
    c("Nice weather today", "Great! Enjoy it outside."),
    // Near misses: pictures, memory, numbers and days talked about, nothing asked of a tool.
    c("Good night", "Good night! Sleep well."),
    c("Hi again", "Hi again! What do you need?"),
    c("How is your day going?", "Great, thanks! How about yours?"),
    c("You're very kind", "Thanks, so are you!"),
    c("Perfect, thanks for everything", "Happy to help!"),
    c("OK, got it", "Great! I'm here if you need anything else."),
    c("Do you like modern art?", "I find it very interesting."),
    c("What do you think about Picasso's paintings?", "Picasso has a unique style."),
    c("My sister draws {x} really well", "Your sister is talented!"),
    c("Yesterday I drew {x}", "I'd love to see it!"),
    c("My son wants to be a painter", "What a lovely calling!"),
    c("I love photography", "It's a beautiful art!"),
    c("Do you know who invented photography?", "Niépce and Daguerre invented it in the 19th century."),
    c("Who wrote Don Quixote?", "Miguel de Cervantes wrote it."),
    c("How many months are in a year?", "A year has twelve months."),
    c("How many hours are in a day?", "A day has twenty-four hours."),
    c("Mondays are hard", "Hang in there, the week goes by fast!"),
    c("What is memory?", "Memory is the ability to store and recall what we have lived."),
    c("What is a calculator?", "It's a machine that does arithmetic."),
    c("I'm terrible at math", "Practice helps, and I can do the sums for you!"),
    c("What is the largest planet?", "Jupiter is the largest planet in the solar system."),
    c("What a lovely day", "Yes, enjoy it!"),
    c("What's your favorite animal?", "I love cats."),
    // Weeks, days, words and pictures talked about: a calendar word or a tool's verb in a
    // question that only needs an answer.
    c("What's your favorite day of the week?", "I like Fridays!"),
    c("Weekends go by too fast", "They really do!"),
    c("I had a really long week", "Rest up, you've earned it!"),
    c("How many days does a leap year have?", "A leap year has three hundred sixty-six days."),
    c("What day comes after Monday?", "Tuesday comes after Monday."),
    c("Which month is the shortest?", "February is the shortest month."),
    c("How many minutes are in an hour?", "An hour has sixty minutes."),
    c("What is the meaning of the word sketch?", "A sketch is a quick, rough drawing."),
    c("Define the word memory", "Memory is the ability to store and recall things."),
    c("Do you prefer photos or paintings?", "Both have their charm."),
    c("Is photography an art?", "Yes, many people consider it one."),
    c("Do you like graffiti?", "Some graffiti is real art."),
    c("I remember my first bike", "What a nice memory!"),
    c("I always forget where I leave my keys", "Try leaving them in the same place every day."),
    c("Numbers are fascinating to me", "They are! Math is everywhere."),
    c("How long is a soccer match?", "A match lasts ninety minutes."),
];

pub(super) const CHAT_ES_HELDOUT: &[Chat] = &[
    c("¡Hola, THAU! ¿Cómo va todo?", "¡Todo bien! ¿En qué te ayudo?"),
    c("Te agradezco mucho la ayuda", "¡Un placer!"),
    c("¿Qué opinas de las fotos en blanco y negro?", "Tienen mucho encanto."),
    c("Mi abuela pinta cuadros de {x}", "¡Qué talento!"),
    c("¿Quién pintó la Mona Lisa?", "La pintó Leonardo da Vinci."),
    c("¿Cuántos días tiene una semana?", "Una semana tiene siete días."),
    c("¿Qué significa recordar?", "Recordar es traer algo a la memoria."),
];

pub(super) const CHAT_EN_HELDOUT: &[Chat] = &[
    c("Hey THAU, how's it going?", "All good! How can I help?"),
    c("I really appreciate your help", "My pleasure!"),
    c("What do you think of black and white photos?", "They have a lot of charm."),
    c("My grandma paints pictures of {x}", "What a talent!"),
    c("Who painted the Mona Lisa?", "Leonardo da Vinci painted it."),
    c("How many days are in a week?", "A week has seven days."),
    c("What does it mean to remember?", "To remember is to bring something back to mind."),
];

/// Polite or casual openings and closings wrapped around a request.
pub(super) const PREFIX_ES: &[&str] = &["Por favor, ", "Oye, ", "Hola, ", "THAU, ", "Porfa, ", "Hola THAU, "];
pub(super) const SUFFIX_ES: &[&str] = &[" por favor", ", gracias", " porfa", ", por fa", ". ¡Gracias!"];
pub(super) const PREFIX_EN: &[&str] = &["Please, ", "Hey, ", "Hi! ", "THAU, ", "Hey THAU, ", "Hello, "];
pub(super) const SUFFIX_EN: &[&str] = &[" please", ", thanks", " pls", ". Thank you!", ", thank you"];
