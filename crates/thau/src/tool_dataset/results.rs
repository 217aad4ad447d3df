//! A plausible result of each tool call and the final answer that uses it.

use super::*;

/// A plausible result of `call` and the final answer that uses it.
pub(super) fn tool_result(r: &mut Rng, lang: Lang, call: &ToolCall) -> (String, String) {
    let arg = |k: &str| call.arguments.get(k).cloned().unwrap_or(Value::Null);
    match call.name.as_str() {
        "generate_image" => {
            let count = arg("count").as_u64().unwrap_or(1);
            let stamp = format!("20261129-{:02}{:02}{:02}", r.range(8, 22), r.below(60), r.below(60));
            let paths: Vec<String> = (1..=count).map(|i| format!("images/{stamp}-{i}.png")).collect();
            let list = paths.join(", ");
            let text = match (lang, count, r.below(2)) {
                (Lang::Es, 1, 0) => format!("Aquí tienes tu imagen: {list}"),
                (Lang::Es, 1, _) => format!("Listo, la imagen está en {list}"),
                (Lang::Es, _, _) => format!("Aquí tienes tus imágenes: {list}"),
                (Lang::En, 1, 0) => format!("Here is your image: {list}"),
                (Lang::En, 1, _) => format!("Done! The image is saved at {list}"),
                (Lang::En, _, _) => format!("Here are your images: {list}"),
            };
            (paths.join("\n"), text)
        }
        "calculator" => {
            let expr = arg("expression").as_str().unwrap_or_default().to_string();
            // What the calculator tool itself prints, so a target never disagrees with it.
            let v = crate::tools::evaluate(&expr)
                .map(|e| e.display())
                .unwrap_or_else(|e| panic!("the generator wrote `{expr}`, which the calculator refuses: {e}"));
            let text = match (lang, r.below(2)) {
                (Lang::Es, 0) => format!("El resultado es {}.", v.replace('.', ",")),
                (Lang::Es, _) => format!("{expr} = {v}"),
                (Lang::En, 0) => format!("The result is {v}."),
                (Lang::En, _) => format!("{expr} = {v}"),
            };
            (v, text)
        }
        "remember" => {
            let id = r.range(1, 400);
            let text = match lang {
                Lang::Es => r.pick::<&str>(&["Entendido, lo recordaré.", "Hecho, lo he guardado.", "Anotado."]),
                Lang::En => r.pick::<&str>(&["Got it, I'll remember that.", "Done, I saved it.", "Noted."]),
            };
            (format!("saved memory #{id}"), text.to_string())
        }
        "recall" => {
            let topic = lexicon::topic(r, lang);
            let when = arg("when").as_str().unwrap_or_default().to_string();
            let day = r.range(1, 28);
            let when = upper_first(&when);
            match lang {
                Lang::Es => (format!("2026-11-{day:02}: hablamos de {topic}"), format!("{when} hablamos de {topic}.")),
                Lang::En => {
                    (format!("2026-11-{day:02}: we talked about {topic}"), format!("{when} we talked about {topic}."))
                }
            }
        }
        "search_memory" => {
            let fact = lexicon::fact(r, lang);
            let text = match lang {
                Lang::Es => format!("Me dijiste que {fact}."),
                Lang::En => format!("You told me that {fact}."),
            };
            (format!("1. {fact}"), text)
        }
        _ => {
            let (h, m, d) = (r.range(0, 23), r.below(60), r.range(1, 30));
            let (result, text) = match lang {
                Lang::Es => {
                    (format!("2026-11-{d:02} {h:02}:{m:02}"), format!("Son las {h:02}:{m:02} del {d} de noviembre."))
                }
                Lang::En => (format!("2026-11-{d:02} {h:02}:{m:02}"), format!("It is {h:02}:{m:02} on November {d}.")),
            };
            (result, text)
        }
    }
}
