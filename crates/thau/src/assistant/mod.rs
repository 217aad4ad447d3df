//! The assistant: one session per person and conversation that every front-end (`thau chat`,
//! `thau serve`, the web page) drives. A turn is logged as it happens, what the person asks
//! to be remembered is kept, the memories and earlier conversations that matter are put into
//! the prompt (and reported), the model answers with its tools, and feedback attaches to the
//! answer's turn id in the same database.
//!
//! ```text
//!  message ─► log turn ─► "recuerda que…"? store ─► retrieve (hybrid, threshold; episodes for
//!  "ayer") ─► ContextWindow (system+tools │ earlier turns │ memories │ message) ─► tool loop
//!  ─► log answer, calls, results ─► Reply { answer, turn_id, memory report }
//! ```

mod client;
mod clock;
mod context;
mod remember;
mod session;

pub use client::{begin_client_turn, finish_client_turn, ClientOptions, ClientTurn, API_SOURCE};
pub use clock::Clock;
pub use context::{
    assemble, candidates, is_relevant, Candidates, ContextOptions, MemoryReport, UsedEpisode, UsedMemory,
};
pub use remember::{explicit_memory, remember_request, ExplicitMemory, EXPLICIT_IMPORTANCE, STRESSED_IMPORTANCE};
pub use session::{Assistant, AssistantEvent, AssistantOptions, Reply, Session, Toolbox, CHAT_SOURCE, DEFAULT_SYSTEM};
