//! Self-learning: THAU asks itself questions about what it was given to read, finds what it
//! does not know (from those questions and from conversations), builds a fine-tuning dataset
//! with replay of its earlier training text, and fine-tunes itself behind an evaluation gate
//! that keeps new weights only when they are better and did not forget.
//!
//! ```text
//!  sources (documents, memories, episodes) ──► questions (wh, cloze, model) ──► score (closed-book)
//!  conversations (memory store) + feedback ──► gaps ─┐                              │ wrong = gap
//!                                                     ▼                              ▼
//!                                   dataset (chat-format SFT examples, source ids)
//!                                                     │
//!                                                     ▼
//!     run: LR/steps sweep → tune (full or LoRA, + replay of the run's shard) → gate → keep or roll back
//!                                                     │
//!                                                     ▼
//!                       history (runs/<name>/learn/runs/<id>.json) · undo · schedule
//! ```

pub mod augment;
pub mod dataset;
pub mod facts;
pub mod feedback;
pub mod gaps;
pub mod gate;
pub mod history;
pub mod lock;
pub mod lora;
pub mod questions;
pub mod run;
pub mod schedule;
pub mod score;
pub mod selfask;
pub mod sources;
pub mod status;
pub mod store;
pub mod text;
pub mod tune;

pub use augment::AugmentOptions;
pub use dataset::{Dataset, Example, Origin};
pub use gaps::{Gap, GapGroup, Signal};
pub use gate::{GatePolicy, GateResult};
pub use history::{LearnMethod, Outcome, RunRecord};
pub use lock::{LockInfo, RunLock};
pub use lora::{Lora, LoraConfig};
pub use questions::{generate as generate_questions, GenerateQuestions, Question, QuestionKind};
pub use run::{learn, LearnOptions, LearnProgress, MemorySource};
pub use schedule::{run_if_due, AutoOutcome, LearnSchedule, ScheduleStatus};
pub use score::{ScoreSummary, Scored};
pub use sources::{add_paths, add_text, all_passages, chunk, Added};
pub use status::{run_status, AgeStatus, RunStatus};
pub use store::{learn_dir, DocumentInfo, Feedback, LearnStore, NewFeedback, Passage};
