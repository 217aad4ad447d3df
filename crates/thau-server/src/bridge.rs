//! From the engine's blocking event stream to an async one: a blocking task forwards each event
//! to a tokio channel. When the HTTP side goes away (client disconnected, response dropped),
//! the forward fails and the generation is cancelled, which also frees its queue slot.

use crate::api_memory::OnDone;
use crate::state::QueueSlot;
use std::sync::Arc;
use thau::infer::{Engine, Event, LogitsConstraint, Request};
use tokio::sync::mpsc;

/// Submit `req` and return its events as an async channel.
pub fn submit(engine: Arc<Engine>, req: Request, slot: QueueSlot) -> thau::Result<mpsc::Receiver<Event>> {
    submit_with(engine, req, None, None, slot)
}

/// [`submit`] with the tokens restricted by `constraint` (tool calls that must parse), and
/// `on_done` called with the finished generation before the client sees its end (so what it
/// does, such as logging the answer, is done when a non-streamed answer is sent).
pub fn submit_with(
    engine: Arc<Engine>,
    req: Request,
    constraint: Option<Box<dyn LogitsConstraint>>,
    on_done: Option<OnDone>,
    slot: QueueSlot,
) -> thau::Result<mpsc::Receiver<Event>> {
    let stream = match constraint {
        Some(c) => engine.submit_constrained(req, c)?,
        None => engine.submit(req)?,
    };
    let (tx, rx) = mpsc::channel(64);
    tokio::task::spawn_blocking(move || {
        // The request runs on this engine to its end, even if the server swaps in new weights
        // meanwhile: holding it keeps it serving.
        let _engine = engine;
        let mut slot = Some(slot);
        let mut on_done = on_done;
        while let Some(ev) = stream.next_event() {
            if let Event::Done(c) = &ev {
                if let Some(f) = on_done.take() {
                    f(c);
                }
            }
            let last = matches!(ev, Event::Done(_) | Event::Failed(_));
            if last {
                // Free the queue place before the client sees the end, so a client that sends
                // its next request at once never finds its own old place still taken (429).
                slot.take();
            }
            if tx.blocking_send(ev).is_err() {
                stream.cancel();
                // Drain so the engine is not left writing to a closed request.
                while let Some(ev) = stream.next_event() {
                    if matches!(ev, Event::Done(_) | Event::Failed(_)) {
                        break;
                    }
                }
                return;
            }
            if last {
                return;
            }
        }
    });
    Ok(rx)
}
