//! Image requests: subjects translated to English from the lexicon, styles, sizes, seeds,
//! counts and negative prompts taken from what the request says.

use super::*;

/// An image request: subject, maybe a style, size, seed, count or things to leave out.
pub(super) fn image(r: &mut Rng, split: Split, lang: Lang) -> (String, Answer) {
    let Subject { es, en } = lexicon::subject(r);
    let mut said = match lang {
        Lang::Es => es,
        Lang::En => en.clone(),
    };
    let mut prompt = en;
    let mut args = Map::new();
    if r.below(3) == 0 {
        let (s_es, s_en, style) = *r.pick(lexicon::STYLES);
        said = format!("{said} {}", if lang == Lang::Es { s_es } else { s_en });
        prompt = format!("{prompt}, {style}");
    }
    match r.below(8) {
        0 | 1 => {
            let (w, h) = (*r.pick(lexicon::SIZES), *r.pick(lexicon::SIZES));
            let how = match (lang, r.below(3)) {
                (Lang::Es, 0) => format!("de {w}x{h}"),
                (Lang::Es, 1) => format!("de {w} por {h}"),
                (Lang::Es, _) => format!("en {w}x{h}"),
                (Lang::En, 0) => format!("at {w}x{h}"),
                (Lang::En, 1) => format!("{w} by {h}"),
                (Lang::En, _) => format!("in {w}x{h}"),
            };
            said = format!("{said} {how}");
            args.insert("width".into(), json!(w));
            args.insert("height".into(), json!(h));
        }
        2 => {
            let (o_es, o_en, (w, h)) = *r.pick(lexicon::ORIENTATIONS);
            said = match lang {
                Lang::Es => format!("{said}, {o_es}"),
                Lang::En => format!("{said}, {o_en}"),
            };
            args.insert("width".into(), json!(w));
            args.insert("height".into(), json!(h));
        }
        _ => {}
    }
    if r.below(8) == 0 {
        let (n_es, n_en, neg) = *r.pick(lexicon::NEGATIVES);
        said = format!("{said} {}", if lang == Lang::Es { n_es } else { n_en });
        args.insert("negative_prompt".into(), json!(neg));
    }
    if r.below(8) == 0 {
        let seed = if r.below(2) == 0 { r.range(1, 99) } else { r.range(100, 99_999) };
        said = match (lang, r.below(2)) {
            (Lang::Es, 0) => format!("{said} con semilla {seed}"),
            (Lang::Es, _) => format!("{said}, seed {seed}"),
            (Lang::En, 0) => format!("{said} with seed {seed}"),
            (Lang::En, _) => format!("{said}, seed {seed}"),
        };
        args.insert("seed".into(), json!(seed));
    }
    if r.below(12) == 0 {
        let steps = *r.pick(&[20, 25, 30, 40, 50]);
        said = match lang {
            Lang::Es => format!("{said} con {steps} pasos"),
            Lang::En => format!("{said} with {steps} steps"),
        };
        args.insert("steps".into(), json!(steps));
    }
    args.insert("prompt".into(), json!(prompt));
    let user = if r.below(8) == 0 {
        let n = r.range(2, 4);
        args.insert("count".into(), json!(n));
        let n = if r.below(2) == 0 { n.to_string() } else { number_words(lang, n as u32) };
        let template = pick_template(r, split, lang, &phrasings::IMAGE_COUNT);
        wrap(r, lang, &template, &[("{x}", &said), ("{n}", &n)])
    } else {
        fill(r, split, lang, &phrasings::IMAGE, &said)
    };
    (user, call("generate_image", args))
}
