//! HTML (and OSIS/XML) to plain text, by hand: a small tag tokenizer, entity decoding, block
//! elements as paragraph breaks, and whole subtrees skipped for navigation, scripts, code
//! listings and the boilerplate classes of DocBook and LibreOffice help pages.

use super::sources::{HtmlStyle, RawDoc};
use crate::error::{Error, Result};
use std::path::Path;

/// One piece of markup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Token<'a> {
    /// Text between tags (entities not yet decoded).
    Text(&'a str),
    /// A start, end or self-closing tag.
    Tag(Tag),
}

/// A parsed tag: lower-cased name and attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag {
    pub name: String,
    pub end: bool,
    pub self_closing: bool,
    pub attrs: Vec<(String, String)>,
}

impl Tag {
    /// Value of attribute `name`.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// True when the `class` attribute has one of `classes` as a word.
    pub fn has_class(&self, classes: &[&str]) -> bool {
        self.attr("class").is_some_and(|c| c.split_whitespace().any(|w| classes.contains(&w)))
    }
}

/// Split markup into text and tags. Comments, doctypes and processing instructions vanish.
pub fn tokenize(s: &str) -> Vec<Token<'_>> {
    let mut out = Vec::new();
    let mut i = 0;
    let b = s.as_bytes();
    while i < b.len() {
        if b[i] != b'<' {
            let end = s[i..].find('<').map_or(s.len(), |j| i + j);
            out.push(Token::Text(&s[i..end]));
            i = end;
            continue;
        }
        let rest = &s[i..];
        if rest.starts_with("<!--") {
            i += rest.find("-->").map_or(rest.len(), |j| j + 3);
            continue;
        }
        if rest.starts_with("<![CDATA[") {
            let end = rest.find("]]>").unwrap_or(rest.len());
            out.push(Token::Text(&rest[9..end.max(9)]));
            i += (end + 3).min(rest.len());
            continue;
        }
        if rest.starts_with("<!") || rest.starts_with("<?") {
            i += rest.find('>').map_or(rest.len(), |j| j + 1);
            continue;
        }
        // A '<' not followed by a tag name is text.
        let next = rest[1..].chars().next();
        if !next.is_some_and(|c| c.is_ascii_alphabetic() || c == '/') {
            out.push(Token::Text("<"));
            i += 1;
            continue;
        }
        let end = tag_end(rest);
        out.push(Token::Tag(parse_tag(&rest[1..end.saturating_sub(1).max(1)])));
        i += end;
    }
    out
}

/// Length of the tag at the start of `s` (through its `>`), respecting quoted attributes.
fn tag_end(s: &str) -> usize {
    let mut quote: Option<char> = None;
    for (j, c) in s.char_indices().skip(1) {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '>') => return j + 1,
            _ => {}
        }
    }
    s.len()
}

/// Parse the inside of `<...>`.
fn parse_tag(inner: &str) -> Tag {
    let inner = inner.trim();
    let (end, inner) = match inner.strip_prefix('/') {
        Some(r) => (true, r),
        None => (false, inner),
    };
    let (self_closing, inner) = match inner.strip_suffix('/') {
        Some(r) => (true, r),
        None => (false, inner),
    };
    let name_len = inner.find(|c: char| c.is_whitespace()).unwrap_or(inner.len());
    let name = inner[..name_len].to_ascii_lowercase();
    let mut attrs = Vec::new();
    let mut rest = inner[name_len..].trim_start();
    while !rest.is_empty() {
        let key_len = rest.find(|c: char| c == '=' || c.is_whitespace()).unwrap_or(rest.len());
        let key = rest[..key_len].to_ascii_lowercase();
        rest = rest[key_len..].trim_start();
        let mut value = String::new();
        if let Some(r) = rest.strip_prefix('=') {
            let r = r.trim_start();
            if let Some(q) = r.chars().next().filter(|c| *c == '"' || *c == '\'') {
                let close = r[1..].find(q).map_or(r.len(), |j| j + 1);
                value = decode_entities(&r[1..close]);
                rest = r.get(close + 1..).unwrap_or("").trim_start();
            } else {
                let vlen = r.find(char::is_whitespace).unwrap_or(r.len());
                value = decode_entities(&r[..vlen]);
                rest = r[vlen..].trim_start();
            }
        }
        if !key.is_empty() {
            attrs.push((key, value));
        }
        if key_len == 0 && !rest.is_empty() && !rest.starts_with('=') {
            // Stray character: skip it so the loop always advances.
            let skip = rest.chars().next().map_or(1, char::len_utf8);
            rest = &rest[skip..];
        }
    }
    Tag { name, end, self_closing, attrs }
}

/// Decode `&amp;`-style named entities (the common HTML ones) and numeric references.
pub fn decode_entities(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let semi = rest[1..].find(';').map(|j| j + 1).filter(|&j| j <= 10);
        let decoded = semi.and_then(|j| entity(&rest[1..j]).map(|c| (c, j)));
        match decoded {
            Some((c, j)) => {
                out.push(c);
                rest = &rest[j + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn entity(name: &str) -> Option<char> {
    if let Some(num) = name.strip_prefix('#') {
        let code = match num.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok()?,
            None => num.parse().ok()?,
        };
        return char::from_u32(code);
    }
    Some(match name {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        "nbsp" => '\u{a0}',
        "copy" => '©',
        "reg" => '®',
        "trade" => '™',
        "hellip" => '…',
        "mdash" => '—',
        "ndash" => '–',
        "lsquo" => '‘',
        "rsquo" => '’',
        "ldquo" => '“',
        "rdquo" => '”',
        "laquo" => '«',
        "raquo" => '»',
        "iexcl" => '¡',
        "iquest" => '¿',
        "aacute" => 'á',
        "eacute" => 'é',
        "iacute" => 'í',
        "oacute" => 'ó',
        "uacute" => 'ú',
        "Aacute" => 'Á',
        "Eacute" => 'É',
        "Iacute" => 'Í',
        "Oacute" => 'Ó',
        "Uacute" => 'Ú',
        "ntilde" => 'ñ',
        "Ntilde" => 'Ñ',
        "uuml" => 'ü',
        "Uuml" => 'Ü',
        "ccedil" => 'ç',
        "middot" => '·',
        "bull" => '•',
        "times" => '×',
        "deg" => '°',
        "ordm" => 'º',
        "ordf" => 'ª',
        "euro" => '€',
        "rarr" => '→',
        "larr" => '←',
        _ => return None,
    })
}

/// Elements that never hold prose: skipped with everything inside. Inline code (`<code>`,
/// `<kbd>`) is kept: dropping it would leave holes in sentences; code blocks (`<pre>`) go.
const SKIP_ELEMENTS: &[&str] = &[
    "head", "script", "style", "noscript", "nav", "header", "footer", "aside", "pre", "button", "select", "textarea",
    "form", "svg", "math", "object", "iframe", "template", "figure",
    // Mallard (GNOME help): metadata, credits, code blocks, link lists
    "info", "credit", "screen", "media", "links", "comment", "synopsis",
];

/// Classes whose elements are navigation, code or debug boilerplate.
fn skip_classes(style: HtmlStyle) -> &'static [&'static str] {
    match style {
        HtmlStyle::DocBook => &[
            "navheader",
            "navfooter",
            "toc",
            "list-of-tables",
            "list-of-figures",
            "list-of-examples",
            "programlisting",
            "screen",
            "synopsis",
            "cmdsynopsis",
            "funcsynopsis",
            "literallayout",
            "docnav",
            "breadcrumbs",
            "legalnotice",
            "copyright",
            "revhistory",
            "authorgroup",
            "index",
            "indexdiv",
            "footnotes",
            "mediaobject",
            "informalfigure",
            "figure",
            "example",
            "informalexample",
            "listingblock",
            "literalblock",
            "toctitle",
            "imageblock",
            "sphinxsidebar",
            "related",
            "headerlink",
            "navigation",
            "header",
            "footer",
        ],
        HtmlStyle::Texinfo => &[
            "nav_table",
            "menu",
            "verbatim",
            "example",
            "contents",
            "shortcontents",
            "header",
            "footer",
            "contents-heading",
            "shortcontents-heading",
        ],
        HtmlStyle::Mallard => &[],
        HtmlStyle::LibreOffice => &[
            "relatedtopics",
            "related",
            "relatedbody",
            "debug",
            "bug",
            "contents-treeview",
            "index",
            "dropdowns",
            "modules",
            "logo",
            "symbol",
            "iconcell",
            "iconimage",
            "code",
            "bascode",
            "pycode",
            "example",
        ],
    }
}

/// Elements whose start or end breaks a paragraph.
const BLOCK_ELEMENTS: &[&str] = &[
    "p",
    "div",
    "br",
    "li",
    "ul",
    "ol",
    "dl",
    "dt",
    "dd",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "table",
    "tr",
    "td",
    "th",
    "caption",
    "blockquote",
    "section",
    "article",
    "main",
    "title",
    "body",
    "html",
    "hr",
    "tbody",
    "thead",
    // Mallard
    "page",
    "item",
    "note",
    "terms",
    "tree",
    "list",
    "steps",
    "desc",
    "subtitle",
];

/// Elements without content or end tag.
const VOID_ELEMENTS: &[&str] =
    &["br", "img", "meta", "link", "input", "hr", "area", "base", "col", "embed", "param", "source", "track", "wbr"];

/// The prose of an HTML page: paragraphs separated by blank lines, boilerplate left out.
pub fn html_to_text(html: &str, style: HtmlStyle) -> String {
    let classes = skip_classes(style);
    let mut out = String::new();
    let mut para = String::new();
    // Open elements: (name, skipped). Text counts only when no open element is skipped.
    let mut stack: Vec<(String, bool)> = Vec::new();
    let mut skipping = 0usize;
    let flush = |para: &mut String, out: &mut String| {
        let t = para.split_whitespace().collect::<Vec<_>>().join(" ");
        if !t.is_empty() {
            out.push_str(&t);
            out.push_str("\n\n");
        }
        para.clear();
    };
    for tok in tokenize(html) {
        match tok {
            Token::Text(t) => {
                if skipping == 0 {
                    para.push_str(&decode_entities(t));
                }
            }
            Token::Tag(tag) => {
                let block = BLOCK_ELEMENTS.contains(&tag.name.as_str());
                if block && skipping == 0 {
                    flush(&mut para, &mut out);
                }
                if tag.end {
                    if let Some(pos) = stack.iter().rposition(|(n, _)| *n == tag.name) {
                        for (_, skipped) in stack.drain(pos..) {
                            if skipped {
                                skipping -= 1;
                            }
                        }
                    }
                } else if !tag.self_closing && !VOID_ELEMENTS.contains(&tag.name.as_str()) {
                    let skip = SKIP_ELEMENTS.contains(&tag.name.as_str())
                        || tag.has_class(classes)
                        || tag.attr("id").is_some_and(|id| matches!(id, "DEBUG" | "SearchFrame" | "DonationFrame"));
                    if skip {
                        skipping += 1;
                    }
                    stack.push((tag.name, skip));
                } else if skipping == 0 && tag.name == "img" {
                    // Inline icons carry their meaning in alt text only rarely: leave them out.
                }
            }
        }
    }
    flush(&mut para, &mut out);
    out.trim_end().to_string()
}

/// Lines LibreOffice help repeats on every page around the content.
fn libreoffice_boilerplate(p: &str) -> bool {
    const LINES: &[&str] = &[
        "Temas relacionados",
        "Related Topics",
        "Módulo",
        "Module",
        "Contenido",
        "Contents",
        "Índice",
        "Index",
        "Icono",
        "Icon",
        "Icono Nota",
        "Note Icon",
        "Icono Sugerencia",
        "Tip Icon",
        "Icono Advertencia",
        "Warning Icon",
        "Ayuda de LibreOffice",
        "LibreOffice Help",
    ];
    let t = p.trim();
    LINES.iter().any(|l| t == *l || t.starts_with("Ayuda de LibreOffice ") || t.starts_with("LibreOffice Help "))
        || t.starts_with("Por favor, apoye")
        || t.starts_with("Please support us")
}

/// The source's own boilerplate filter: true keeps the paragraph.
pub fn keep_paragraph(style: HtmlStyle, p: &str) -> bool {
    match style {
        HtmlStyle::LibreOffice => !libreoffice_boilerplate(p),
        HtmlStyle::Texinfo => {
            let t = p.trim();
            !(t.starts_with('[') && (t.contains(">> ]") || t.contains("<< ]") || t.contains("[ Subir")))
        }
        HtmlStyle::DocBook | HtmlStyle::Mallard => {
            let t = p.trim();
            !(t.starts_with("Anterior") || t.starts_with("Siguiente") || t.starts_with("Prev") || t.starts_with("Next"))
                || t.split_whitespace().count() > 6
        }
    }
}

/// Every `.html`/`.htm` page under `dir`, in path order, as one document each (id: the path
/// relative to `dir`).
pub fn extract(dir: &Path, style: HtmlStyle) -> Result<Vec<RawDoc>> {
    let mut files = Vec::new();
    walk(dir, style, &mut files)?;
    files.sort();
    let mut docs = Vec::new();
    for f in files {
        let bytes = std::fs::read(&f).map_err(|e| Error::io(&f, e))?;
        let html = String::from_utf8_lossy(&bytes);
        let id = f.strip_prefix(dir).unwrap_or(&f).to_string_lossy().into_owned();
        docs.push(RawDoc { id, text: html_to_text(&html, style) });
    }
    Ok(docs)
}

/// True for the pages of a style worth reading (Texinfo: the big pages only).
fn wanted(style: HtmlStyle, path: &Path) -> bool {
    match style {
        HtmlStyle::Texinfo => path.file_name().is_some_and(|n| n.to_string_lossy().contains("big-page.es.html")),
        HtmlStyle::Mallard => path.extension().is_some_and(|x| x == "page"),
        HtmlStyle::DocBook | HtmlStyle::LibreOffice => path.extension().is_some_and(|x| x == "html" || x == "htm"),
    }
}

/// Files ending in .html/.htm under `dir`, recursively (symlinks not followed).
fn walk(dir: &Path, style: HtmlStyle, out: &mut Vec<std::path::PathBuf>) -> Result<()> {
    for e in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?.flatten() {
        let p = e.path();
        let ft = e.file_type().map_err(|e| Error::io(&p, e))?;
        if ft.is_dir() {
            walk(&p, style, out)?;
        } else if ft.is_file() && wanted(style, &p) {
            out.push(p);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_attributes_entities() {
        let t = tokenize(r#"<p class="a b" id=x>Hola &amp; adi&oacute;s&#33;</p><br/><!-- no -->"#);
        assert_eq!(t.len(), 4);
        match &t[0] {
            Token::Tag(tag) => {
                assert_eq!(tag.name, "p");
                assert!(tag.has_class(&["b"]));
                assert_eq!(tag.attr("id"), Some("x"));
            }
            _ => panic!(),
        }
        assert_eq!(decode_entities("Hola &amp; adi&oacute;s&#33; &bogus; &#x41;"), "Hola & adiós! &bogus; A");
    }

    #[test]
    fn boilerplate_and_code_are_skipped() {
        let html = r#"<html><head><title>T</title><script>var x = "<p>";</script></head><body>
            <div class="navheader"><a href="x">Anterior</a></div>
            <h1>Título</h1><p>Un párrafo <b>con</b> negrita.</p><pre>$ ls -l</pre>
            <div class="relatedtopics"><p>Temas</p></div><p>Otro<br>más</p></body></html>"#;
        // DocBook pages have no "related topics" box: only LibreOffice's style drops it.
        assert_eq!(html_to_text(html, HtmlStyle::DocBook), "Título\n\nUn párrafo con negrita.\n\nTemas\n\nOtro\n\nmás");
        let lo = html_to_text(html, HtmlStyle::LibreOffice);
        assert!(!lo.contains("Temas"), "{lo}");
    }
}
