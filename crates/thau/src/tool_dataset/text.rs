//! How a request is worded: a template picked for the split and language, its slots filled,
//! wrapped in politeness, and roughened (typos, missing accents and punctuation) the way
//! people type.

use super::*;

/// The phrasings of `set` for `lang` and `split`.
pub(super) fn templates(split: Split, lang: Lang, set: &Phrasings) -> &'static [&'static str] {
    match (split, lang) {
        (Split::Train, Lang::Es) => set.es,
        (Split::Train, Lang::En) => set.en,
        (Split::Heldout, Lang::Es) => set.es_heldout,
        (Split::Heldout, Lang::En) => set.en_heldout,
    }
}

/// A phrasing of `set`: in training, half of them composed from parts ([`frames`]) when the
/// set has frames; otherwise one of its fixed wordings.
pub(super) fn pick_template(r: &mut Rng, split: Split, lang: Lang, set: &Phrasings) -> String {
    if let (Split::Train, Some(frame)) = (split, set.frame) {
        if r.below(2) == 0 {
            return frames::compose(r, lang, frame);
        }
    }
    r.pick::<&str>(templates(split, lang, set)).to_string()
}

/// A phrasing of `set` with `x` in its slot, wrapped and roughened.
pub(super) fn fill(r: &mut Rng, split: Split, lang: Lang, set: &Phrasings, x: &str) -> String {
    let template = pick_template(r, split, lang, set);
    wrap(r, lang, &template, &[("{x}", x)])
}

/// Roughen the template's own words (typos, accents, case, punctuation), add politeness, then
/// fill the slots: the arguments themselves stay exactly as the call has them.
pub(super) fn wrap(r: &mut Rng, lang: Lang, template: &str, slots: &[(&str, &str)]) -> String {
    let mut t = roughen(r, lang, template);
    if r.below(4) == 0 {
        let prefix = *r.pick(match lang {
            Lang::Es => phrasings::PREFIX_ES,
            Lang::En => phrasings::PREFIX_EN,
        });
        t = format!("{prefix}{}", lower_first(&t));
    }
    if r.below(5) == 0 {
        let suffix = *r.pick(match lang {
            Lang::Es => phrasings::SUFFIX_ES,
            Lang::En => phrasings::SUFFIX_EN,
        });
        t = match t.strip_suffix('?') {
            Some(body) => format!("{body}{suffix}?"),
            None => format!("{}{suffix}", t.trim_end_matches('.')),
        };
    }
    for (slot, value) in slots {
        t = t.replace(slot, value);
    }
    t
}

/// Lowercase the first letter (after any ¿ or ¡), except the English pronoun "I".
pub(super) fn lower_first(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut done = false;
    for (i, ch) in s.char_indices() {
        if !done && ch.is_alphabetic() {
            done = true;
            let is_i = ch == 'I' && s[i + 1..].starts_with([' ', '\'']);
            if !is_i && !s[i..].starts_with("THAU") {
                out.extend(ch.to_lowercase());
                continue;
            }
        }
        out.push(ch);
    }
    out
}

/// Typos and sloppiness people type: missing accents and opening marks, lowercase, a swapped,
/// dropped or doubled letter in one word of the template (never inside a slot).
pub(super) fn roughen(r: &mut Rng, lang: Lang, template: &str) -> String {
    let mut t = template.to_string();
    if lang == Lang::Es && r.below(5) == 0 {
        t = strip_accents(&t);
    }
    if r.below(6) == 0 {
        t = t.replace(['¿', '¡'], "");
        t = lower_first(&t);
    }
    if r.below(8) == 0 {
        t = t.trim_end_matches(['?', '!', '.']).to_string();
    }
    if r.below(8) == 0 {
        t = typo(r, &t);
    }
    t
}

pub(super) fn strip_accents(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            'á' => 'a',
            'é' => 'e',
            'í' => 'i',
            'ó' => 'o',
            'ú' => 'u',
            'Á' => 'A',
            'É' => 'E',
            'Í' => 'I',
            'Ó' => 'O',
            'Ú' => 'U',
            other => other,
        })
        .collect()
}

/// One typo in one word of at least four letters outside the slots.
pub(super) fn typo(r: &mut Rng, s: &str) -> String {
    let words: Vec<&str> = s.split(' ').collect();
    let candidates: Vec<usize> = (0..words.len())
        .filter(|&i| !words[i].contains('{') && words[i].chars().filter(|c| c.is_alphabetic()).count() >= 4)
        .collect();
    if candidates.is_empty() {
        return s.to_string();
    }
    let i = *r.pick(&candidates);
    let mut chars: Vec<char> = words[i].chars().collect();
    let letters: Vec<usize> = (0..chars.len()).filter(|&k| chars[k].is_alphabetic()).collect();
    let k = letters[r.below(letters.len() - 1)];
    match r.below(3) {
        0 if chars.get(k + 1).is_some_and(|c| c.is_alphabetic()) => chars.swap(k, k + 1),
        1 => {
            chars.remove(k);
        }
        _ => chars.insert(k, chars[k]),
    }
    let typed: String = chars.into_iter().collect();
    words.iter().enumerate().map(|(j, w)| if j == i { typed.as_str() } else { w }).collect::<Vec<_>>().join(" ")
}

pub(super) fn upper_first(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
}
