//! Growth between ages: a trained model becomes the start of a bigger one, keeping what it
//! knows. Width (`width`: residual stream, heads, SwiGLU units) and depth (`depth`: identity
//! blocks as in LLaMA Pro, or G_stack stacking) operators, a `plan` that applies them to any
//! pair of presets (weights and AdamW moments), `grow` for a run folder, and the age
//! `schedule` that trains age by age and grows when an age's budget is spent or its
//! validation loss stops improving.

pub mod compare;
pub mod depth;
pub mod grow;
pub mod plan;
pub mod schedule;
pub mod width;

pub use crate::checkpoint::GrowthMethod;
pub use compare::{CurvePoint, RunCurve};
pub use depth::LayerSource;
pub use grow::{grow_run, GrowOutcome, GrowRequest};
pub use plan::GrowthPlan;
pub use schedule::{run_schedule, Plateau, Schedule, ScheduleOutcome, ScheduleRequest, Stage};
