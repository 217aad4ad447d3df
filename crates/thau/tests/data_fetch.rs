//! The corpus fetch without network: every extractor on a small fixture that the test builds
//! in the real format (a SWORD zText module, an R lazy-load database, gzipped roff, ...), the
//! cleaner and split, and a whole `fetch` served from a pre-filled package cache.

use flate2::write::{GzEncoder, ZlibEncoder};
use flate2::Compression;
use std::io::Write;
use std::path::Path;
use thau::data::fetch::{self, FetchOptions, Quiet};
use thau::data::{Lang, Manifest};

fn src(name: &str) -> &'static fetch::Source {
    fetch::source(name).unwrap()
}

fn zlib(bytes: &[u8]) -> Vec<u8> {
    let mut e = ZlibEncoder::new(Vec::new(), Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// Write a zText testament: `blocks` of entries; each entry is one verse-index slot (an empty
/// string is an empty slot).
fn write_ztext(dir: &Path, testament: &str, blocks: &[Vec<&str>]) {
    let (mut bzs, mut bzv, mut bzz) = (Vec::new(), Vec::new(), Vec::new());
    for (b, entries) in blocks.iter().enumerate() {
        let mut raw = Vec::new();
        for e in entries {
            if e.is_empty() {
                bzv.extend_from_slice(&[0u8; 10]);
                continue;
            }
            bzv.extend_from_slice(&(b as u32).to_le_bytes());
            bzv.extend_from_slice(&(raw.len() as u32).to_le_bytes());
            bzv.extend_from_slice(&(e.len() as u16).to_le_bytes());
            raw.extend_from_slice(e.as_bytes());
        }
        let z = zlib(&raw);
        bzs.extend_from_slice(&(bzz.len() as u32).to_le_bytes());
        bzs.extend_from_slice(&(z.len() as u32).to_le_bytes());
        bzs.extend_from_slice(&(raw.len() as u32).to_le_bytes());
        bzz.extend_from_slice(&z);
    }
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join(format!("{testament}.bzs")), bzs).unwrap();
    std::fs::write(dir.join(format!("{testament}.bzv")), bzv).unwrap();
    std::fs::write(dir.join(format!("{testament}.bzz")), bzz).unwrap();
}

#[test]
fn sword_ztext_module_to_chapters() {
    let dir = tempfile::tempdir().unwrap();
    let m = dir.path();
    write_ztext(
        m,
        "ot",
        &[
            vec!["", r#"<milestone type="x-importer" n="x"/>"#],
            vec![
                r#"<div osisID="Gen" sID="b1" type="book"/><milestone n="Génesis" type="x-usfm-h"/><title type="main">Génesis</title>"#,
                r#"<chapter n="1" osisID="Gen.1" sID="Gen.1"/>"#,
                r#"<w lemma="strong:H7225">EN el principio</w> crió Dios los cielos y la tierra.<note type="x-footnote">nota</note>"#,
                "",
                r#"<div sID="p1" type="x-p"/>Y dijo Dios: Sea la luz &amp; fué la luz."#,
                r#"<chapter eID="Gen.1"/><chapter n="2" osisID="Gen.2" sID="Gen.2"/>Y fueron acabados los cielos."#,
            ],
        ],
    );
    let docs = fetch::extract(src("bible-rv1909-es"), m).unwrap();
    let ids: Vec<_> = docs.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(ids, ["Gen.1", "Gen.2"]);
    assert_eq!(
        docs[0].text,
        "Génesis 1\n\nEN el principio crió Dios los cielos y la tierra.\n\nY dijo Dios: Sea la luz & fué la luz."
    );
    assert_eq!(docs[1].text, "Génesis 2\n\nY fueron acabados los cielos.");
    // A damaged index is refused with the file named.
    std::fs::write(m.join("ot.bzs"), [0u8; 12]).unwrap();
    let err = fetch::extract(src("bible-rv1909-es"), m).unwrap_err().to_string();
    assert!(err.contains("ot.bz"), "{err}");
}

#[test]
fn sotu_speeches_lose_reactions_and_gain_paragraphs() {
    let dir = tempfile::tempdir().unwrap();
    let long = "We met the challenge. ".repeat(40);
    std::fs::write(dir.path().join("1790_a_b.txt"), format!("Fellow citizens. [Applause] {long}And so we go on."))
        .unwrap();
    std::fs::write(dir.path().join("1790_a_b.json"), "{}").unwrap();
    let docs = fetch::extract(src("sotu"), dir.path()).unwrap();
    assert_eq!(docs.len(), 1);
    assert_eq!(docs[0].id, "1790_a_b");
    assert!(!docs[0].text.contains("Applause") && !docs[0].text.contains("  "));
    assert!(docs[0].text.contains("\n\n"), "{}", docs[0].text);
}

#[test]
fn fortunes_prefer_utf8_copies_and_skip_indexes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("amor"), b"El coraz\xf3n tiene razones.\n%\nOtra\n\nfrase.\n%\n").unwrap();
    std::fs::write(d.join("arte"), "viejo\n%\n").unwrap();
    std::fs::write(d.join("arte.u8"), "El arte es largo, la vida breve.\n\t\t-- Hipócrates\n%\n").unwrap();
    std::fs::write(d.join("arte.dat"), [0u8, 1, 2]).unwrap();
    std::fs::create_dir_all(d.join("off")).unwrap();
    std::fs::write(d.join("off/malas"), "no\n%\n").unwrap();
    let docs = fetch::extract(src("fortunes-es"), d).unwrap();
    let got: Vec<_> = docs.iter().map(|d| (d.id.as_str(), d.text.as_str())).collect();
    assert_eq!(
        got,
        [
            ("amor#0", "El corazón tiene razones.\n\nOtra\nfrase."),
            ("arte#0", "El arte es largo, la vida breve.\n\t\t-- Hipócrates")
        ]
    );
}

#[test]
fn debian_reference_sections_without_tables_or_transcripts() {
    let text = "Guía\n\nTabla de contenidos\n\n1. Tutoriales\n    1.1. Consola\n\n1. Tutoriales de GNU/Linux\n\n    Este capítulo explica cómo se usa\n    la consola del sistema.\n\n    |---+---|\n    |a  |b  |\n\n    $ ls -l\n    total 0\n\n1.1. Consola\n\n    La consola es una ventana de texto.\n";
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("debian-reference.es.txt.gz");
    std::fs::write(&f, gzip(text.as_bytes())).unwrap();
    let docs = fetch::extract(src("debian-reference-es"), &f).unwrap();
    let texts: Vec<_> = docs.iter().map(|d| d.text.as_str()).collect();
    assert_eq!(
        texts,
        [
            // The preface (title and contents heading) is left for the cleaner, which drops
            // documents made of headings only.
            "Guía\n\nTabla de contenidos",
            "Tutoriales de GNU/Linux\n\nEste capítulo explica cómo se usa la consola del sistema.",
            "Consola\n\nLa consola es una ventana de texto."
        ]
    );
}

#[test]
fn html_pages_without_navigation_or_code() {
    let dir = tempfile::tempdir().unwrap();
    let lo = r#"<!DOCTYPE html><html lang="es"><head><title>Abrir</title><script>x()</script></head><body>
<header id="TopLeftHeader"><p>Ayuda de LibreOffice 7.4</p><button>Módulo</button></header>
<aside class="rightside"><label>Contenido</label></aside>
<div id="DisplayArea"><h1 id="hd">Abrir documentos</h1>
<p class="paragraph">Siga uno de estos procedimientos para abrir un documento existente.</p>
<div class="bascode"><p>Sub Main</p></div>
<div class="relatedtopics"><p class="related">Temas relacionados</p><a href="x">Archivo ▸ Abrir</a></div></div>
<footer><div id="DEBUG" class="debug"><p>This page is: x.xhp</p></div></footer></body></html>"#;
    std::fs::create_dir_all(dir.path().join("text/shared")).unwrap();
    std::fs::write(dir.path().join("text/shared/doc_open.html"), lo).unwrap();
    let docs = fetch::extract(src("libreoffice-help-es"), dir.path()).unwrap();
    assert_eq!(docs.len(), 1);
    assert_eq!(docs[0].id, "text/shared/doc_open.html");
    assert_eq!(docs[0].text, "Abrir documentos\n\nSiga uno de estos procedimientos para abrir un documento existente.");

    let docbook = r#"<html><body><div class="navheader"><a>Anterior</a><a>Siguiente</a></div>
<div class="section"><h2 class="title">6.2. apt-get</h2><p>La orden <code class="command">apt-get</code> instala paquetes.</p>
<pre class="screen"><code class="computeroutput"># apt-get install x</code></pre></div><div class="navfooter">Inicio</div></body></html>"#;
    let d2 = dir.path().join("hb");
    std::fs::create_dir_all(&d2).unwrap();
    std::fs::write(d2.join("a.html"), docbook).unwrap();
    let docs = fetch::extract(src("debian-handbook-es"), &d2).unwrap();
    assert_eq!(docs[0].text, "6.2. apt-get\n\nLa orden apt-get instala paquetes.");
}

#[test]
fn man_pages_from_roff() {
    let page = r#".\" comentario
.TH LS 1 "Septiembre de 2022" "GNU coreutils 9.1" "Órdenes de usuario"
.SH NOMBRE
ls \- lista el contenido de un directorio
.SH SINOPSIS
\fBls\fP [\fI\,OPCIÓN\/\fP]...
.SH DESCRIPCIÓN
.PP
Por defecto, muestra información de los ARCHIVO
del directorio actual \(em ordenado.
.TP
\fB\-a\fP, \fB\-\-all\fP
no oculta las entradas que comienzan con .
.nf
$ ls -la
.fi
.SH "VÉASE TAMBIÉN"
.BR dir (1)
"#;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("man1");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("ls.1.gz"), gzip(page.as_bytes())).unwrap();
    std::fs::write(d.join("dir.1.gz"), gzip(b".so man1/ls.1\n")).unwrap();
    let docs = fetch::extract(src("manpages-es"), dir.path()).unwrap();
    let ls = docs.iter().find(|d| d.id == "man1/ls.1.gz").unwrap();
    assert_eq!(
        ls.text,
        "NOMBRE\n\nls - lista el contenido de un directorio\n\nDESCRIPCIÓN\n\nPor defecto, muestra información de los ARCHIVO del directorio actual — ordenado.\n\n-a, --all no oculta las entradas que comienzan con ."
    );
    assert_eq!(docs.iter().find(|d| d.id == "man1/dir.1.gz").unwrap().text, "");
}

#[test]
fn chatterbot_yaml_conversations() {
    let yaml = "categories:\n- saludos\nconversations:\n- - Hola\n  - \"¿Cómo estás?\"\n  - Bien, gracias,\n    ¿y tú?\n- - 'It''s code'\n  - |\n    Here:\n\n    ```\n    x = 1\n    ```\n- - Adiós\n  - Hasta luego\n";
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("saludos.yml"), yaml).unwrap();
    let docs = fetch::extract(src("chatterbot-es"), dir.path()).unwrap();
    assert_eq!(docs[0].id, "saludos");
    assert_eq!(docs[0].text, "— Hola\n— ¿Cómo estás?\n— Bien, gracias, ¿y tú?\n\n— Adiós\n— Hasta luego");
    let convs = fetch::conversations(yaml);
    assert_eq!(convs[1], ["It's code", "Here:\n\n```\nx = 1\n```"]);
}

/// A tiny XDR R serializer for the fixture (version 3 header).
struct RWriter(Vec<u8>);
impl RWriter {
    fn new() -> Self {
        let mut w = RWriter(b"X\n".to_vec());
        for v in [3i32, 0x40201, 0x30500, 5] {
            w.int(v);
        }
        w.0.extend_from_slice(b"UTF-8");
        w
    }
    fn int(&mut self, v: i32) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn charsxp(&mut self, s: &str) {
        self.int(0x40009);
        self.int(s.len() as i32);
        self.0.extend_from_slice(s.as_bytes());
    }
    fn strings(&mut self, v: &[&str], attr: bool) {
        self.int(16 | if attr { 1 << 9 } else { 0 });
        self.int(v.len() as i32);
        for s in v {
            self.charsxp(s);
        }
    }
    /// A pairlist `names = <names>` as attributes.
    fn names_attr(&mut self, names: &[&str]) {
        self.int(2 | 1 << 10);
        self.int(1);
        self.charsxp("names");
        self.strings(names, false);
        self.int(254);
    }
}

#[test]
fn r_lazy_load_database_of_novels() {
    let novels: [(&str, &[&str]); 2] = [
        (
            "emma",
            &[
                "EMMA",
                "",
                "CHAPTER I",
                "",
                "Emma Woodhouse, handsome, clever,",
                "and rich.",
                "",
                "She was the youngest.",
                "",
                "CHAPTER II",
                "",
                "Mr. Weston was a native.",
                "",
                "Of Highbury.",
            ],
        ),
        ("persuasion", &["Chapter 1", "", "Sir Walter Elliot,", "of Kellynch Hall.", "", "Vanity was the beginning."]),
    ];
    let mut rdb = Vec::new();
    let mut offsets = Vec::new();
    for (_, lines) in &novels {
        let mut w = RWriter::new();
        w.strings(lines, false);
        let z = zlib(&w.0);
        let start = rdb.len();
        rdb.extend_from_slice(&(w.0.len() as u32).to_be_bytes());
        rdb.extend_from_slice(&z);
        offsets.push((start as i32, (rdb.len() - start) as i32));
    }
    // rdx: list(variables = list(emma = c(off, len), ...), references = list(), compressed = TRUE)
    let mut w = RWriter::new();
    w.int(19 | 1 << 9);
    w.int(3);
    w.int(19 | 1 << 9);
    w.int(2);
    for (off, len) in &offsets {
        w.int(13);
        w.int(2);
        w.int(*off);
        w.int(*len);
    }
    w.names_attr(&["emma", "persuasion"]);
    w.int(19);
    w.int(0);
    w.int(10);
    w.int(1);
    w.int(1);
    w.names_attr(&["variables", "references", "compressed"]);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("Rdata.rdb"), rdb).unwrap();
    std::fs::write(dir.path().join("Rdata.rdx"), gzip(&w.0)).unwrap();
    let docs = fetch::extract(src("austen-en"), &dir.path().join("Rdata")).unwrap();
    let got: Vec<_> = docs.iter().map(|d| (d.id.as_str(), d.text.as_str())).collect();
    assert_eq!(
        got,
        [
            ("emma/1", "CHAPTER I\n\nEmma Woodhouse, handsome, clever, and rich.\n\nShe was the youngest."),
            ("emma/2", "CHAPTER II\n\nMr. Weston was a native.\n\nOf Highbury."),
            ("persuasion/1", "Chapter 1\n\nSir Walter Elliot, of Kellynch Hall.\n\nVanity was the beginning.")
        ]
    );
}

#[test]
fn split_is_deterministic_disjoint_and_never_empty() {
    let ids: Vec<String> = (0..500).map(|i| format!("doc{i}")).collect();
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let a = fetch::validation_set("x", &refs, 0.05);
    assert_eq!(a, fetch::validation_set("x", &refs, 0.05));
    let n = a.iter().filter(|&&v| v).count();
    assert!((10..=45).contains(&n), "{n} of 500 held out at 5%");
    // Reordering the documents does not move any of them between splits.
    let mut rev = refs.clone();
    rev.reverse();
    let b = fetch::validation_set("x", &rev, 0.05);
    for (i, id) in rev.iter().enumerate() {
        assert_eq!(b[i], a[refs.iter().position(|r| r == id).unwrap()]);
    }
    // A small source still holds one document out.
    assert_eq!(fetch::validation_set("x", &refs[..12], 0.001).iter().filter(|&&v| v).count(), 1);
}

/// Put a fake pip package in the cache the way `download` records it.
fn seed_pip_cache(out: &Path, yml: &str) -> String {
    let cache = out.join(".cache/packages");
    std::fs::create_dir_all(&cache).unwrap();
    let file = cache.join("chatterbot_corpus-1.3.3-py2.py3-none-any.whl");
    {
        let f = std::fs::File::create(&file).unwrap();
        let mut z = zip::ZipWriter::new(f);
        z.start_file("chatterbot_corpus/data/spanish/saludos.yml", zip::write::SimpleFileOptions::default()).unwrap();
        z.write_all(yml.as_bytes()).unwrap();
        z.start_file("chatterbot_corpus/data/english/greetings.yml", zip::write::SimpleFileOptions::default()).unwrap();
        z.write_all(b"conversations:\n- - Hello there, how are you doing today?\n  - I am fine, thank you.\n").unwrap();
        z.finish().unwrap();
    }
    let sha = fetch::sha256_file(&file).unwrap();
    let bytes = std::fs::metadata(&file).unwrap().len();
    let record = serde_json::json!({"file": file.file_name().unwrap().to_str().unwrap(), "version": "1.3.3", "sha256": sha, "bytes": bytes});
    std::fs::write(cache.join("pip-chatterbot-corpus-1.3.3.json"), record.to_string()).unwrap();
    sha
}

#[test]
fn fetch_from_cache_is_idempotent_and_writes_a_complete_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("corpus");
    let yml = "conversations:\n- - ¿Qué hora es en la ciudad de Lima?\n  - Son las siete de la tarde y el sol todavía está en el cielo.\n- - ¿Te gusta la música?\n  - Sí, escucho guitarra española cuando cocino los domingos por la mañana.\n- - ¿Dónde vive tu hermana?\n  - Vive en un pueblo pequeño cerca del mar, con dos perros y un gato.\n".to_string();
    let sha = seed_pip_cache(&out, &yml);
    let opts =
        FetchOptions { sources: vec!["chatterbot-es".into(), "chatterbot-en".into()], ..FetchOptions::new(&out) };
    let r1 = fetch::fetch(&opts, &mut Quiet).unwrap();
    assert_eq!(r1.fetched, ["chatterbot-en", "chatterbot-es"]);
    assert!(r1.skipped.is_empty(), "{:?}", r1.skipped);
    let m = Manifest::load(&out).unwrap();
    let es = &m.sources["chatterbot-es"];
    assert_eq!(
        (es.language, es.package.as_str(), es.version.as_str(), es.client.as_str()),
        (Lang::Es, "chatterbot-corpus", "1.3.3", "pip")
    );
    assert_eq!(es.package_sha256, sha);
    assert_eq!(es.documents, 1);
    assert!(es.bytes > 150 && es.text_sha256.len() == 64 && es.license.contains("BSD"), "{es:?}");
    let train = std::fs::read_to_string(out.join(&es.train.file)).unwrap();
    assert!(train.contains("— ¿Qué hora es en la ciudad de Lima?\\n— Son las siete"), "{train}");
    assert_eq!(fetch::sha256_file(&out.join(&es.train.file)).unwrap(), es.train.sha256);
    assert_eq!(m.totals[&Lang::Es].bytes, es.bytes);
    // The core corpus reader takes the train folder as it is.
    let files = thau::data::scan_corpus(&[out.join("train")]).unwrap();
    assert_eq!(thau::data::read_documents(&files).unwrap().len(), 2);
    // Second fetch: same package by sha256, nothing extracted again, same manifest.
    let r2 = fetch::fetch(&opts, &mut Quiet).unwrap();
    assert_eq!(r2.reused, ["chatterbot-en", "chatterbot-es"]);
    assert_eq!(Manifest::load(&out).unwrap().sources, m.sources);
}

#[test]
fn unknown_sources_are_refused_with_the_known_names() {
    let dir = tempfile::tempdir().unwrap();
    let opts = FetchOptions { sources: vec!["nope".into()], ..FetchOptions::new(dir.path()) };
    let err = fetch::fetch(&opts, &mut Quiet).unwrap_err().to_string();
    assert!(err.contains("nope") && err.contains("bible-rv1909-es"), "{err}");
}
