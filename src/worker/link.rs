//! The worker's link to the master: the one way its task threads send the
//! master a message, whether or not the master is reachable right now.
//!
//! OS idea: a queue in front of a connection that comes and goes. Task
//! threads never touch the socket: they hand a message to the link, which
//! queues it on the current connection's `Outbox` (a channel drained by a
//! writer thread), or, while the worker is between connections, keeps it
//! (up to `MAX_PENDING`) and sends it once the worker has registered again.

use std::sync::{Arc, Mutex};

use crate::event;
use crate::lock;
use crate::net::Outbox;
use crate::protocol::Message;

/// Most messages kept for the master while it is unreachable.
const MAX_PENDING: usize = 10_000;

/// The current connection to the master, replaced on every reconnect.
/// Task results produced while there is none wait here and go out as soon as
/// the worker has registered again: the master then decides (usually that
/// the attempt is stale, so its output is aborted and cleaned up).
#[derive(Clone, Default)]
pub struct MasterLink(Arc<Mutex<LinkState>>);

#[derive(Default)]
struct LinkState {
    outbox: Option<Outbox>,
    pending: Vec<Message>,
}

impl MasterLink {
    /// Installs a new connection (flushing what waited) or clears it.
    pub fn set(&self, outbox: Option<Outbox>) {
        let mut link = lock(&self.0);
        if let Some(o) = &outbox {
            for msg in link.pending.drain(..) {
                o.send(msg);
            }
        }
        link.outbox = outbox;
    }

    pub fn send(&self, msg: Message) {
        let mut link = lock(&self.0);
        let unsent = match &link.outbox {
            Some(o) => o.try_send(msg),
            None => Err(msg),
        };
        if let Err(msg) = unsent {
            if link.pending.len() < MAX_PENDING {
                link.pending.push(msg);
            } else {
                event!(
                    Warn,
                    "worker",
                    "message_dropped",
                    msg = msg.msg_type().name()
                );
            }
        }
    }
}
