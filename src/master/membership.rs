//! The master's table of workers: who registered, who is alive, who is dead.
//!
//! OS idea: liveness in a distributed system is a guess made from silence. A
//! worker is ALIVE while its heartbeats keep arriving; it is DEAD when its
//! TCP connection closes (the kernel tells us at once: `read` returns 0 or
//! fails) or when no heartbeat came for the timeout (a hung process or a
//! lost network sends no FIN, so only a timer notices).
//!
//! Each worker also keeps its last `SAMPLES_KEPT` heartbeats (`Sample`s in
//! a `Ring`), which its web page draws as sparklines.
//!
//! This is plain data behind the master's `Mutex`: no method here does I/O,
//! so the lock is never held across a blocking socket call. Callers get back
//! the `TcpStream` handles they must shut down and do that after unlocking.

use std::collections::BTreeMap;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::master::ring::Ring;
use crate::net::Outbox;
use crate::protocol::{WorkerInfo, WorkerMetrics, WorkerState};

/// Heartbeats kept per worker: two minutes of them at the default
/// `--heartbeat-ms 1000`, whatever the worker's age.
pub const SAMPLES_KEPT: usize = 120;

/// What one heartbeat said, for the worker's sparklines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    /// When the master received it.
    pub at: Instant,
    pub cpu_permille: u32,
    pub rss_bytes: u64,
    /// Attempts running on the worker, as it counted them.
    pub running: u32,
}

/// What a worker says about itself when it registers.
#[derive(Debug, Clone)]
pub struct Registration {
    pub data_addr: String,
    pub slots: u32,
    pub memory_bytes: u64,
    /// The id the worker held before a reconnect, or 0.
    pub prev_id: u32,
}

/// One worker as the master knows it.
pub struct Member {
    pub id: u32,
    pub data_addr: String,
    pub slots: u32,
    pub memory_bytes: u64,
    pub state: WorkerState,
    pub last_heartbeat: Instant,
    /// Task attempts running on it, as counted by the scheduler.
    pub running: u32,
    /// What its last heartbeat said about itself.
    pub metrics: WorkerMetrics,
    /// Its last `SAMPLES_KEPT` heartbeats, oldest first; kept across a
    /// reconnect under the same id.
    pub samples: Ring<Sample>,
    /// Which connection currently speaks for this worker. A reconnect starts
    /// a new session; events from an older session are then ignored.
    session: u64,
    /// Queue of messages to the worker; `None` once it is dead.
    outbox: Option<Outbox>,
    /// A handle on the worker's connection, to shut it down when the worker
    /// is declared dead while the socket is still open.
    conn: Option<TcpStream>,
}

impl Member {
    pub fn info(&self, now: Instant) -> WorkerInfo {
        WorkerInfo {
            id: self.id,
            addr: self.data_addr.clone(),
            state: self.state,
            slots: self.slots,
            memory_bytes: self.memory_bytes,
            since_heartbeat_ms: now
                .saturating_duration_since(self.last_heartbeat)
                .as_millis() as u64,
            running: self.running,
            metrics: self.metrics.clone(),
        }
    }

    /// Queues a message for this worker; false if it is not reachable.
    pub fn send(&self, msg: crate::protocol::Message) -> bool {
        self.outbox.as_ref().is_some_and(|o| o.send(msg))
    }
}

/// The result of a registration.
pub struct Admitted {
    pub id: u32,
    pub session: u64,
    /// True when the worker got back an id it held before.
    pub rejoined: bool,
    /// An older connection of the same worker, to be shut down by the caller.
    pub replaced: Option<TcpStream>,
}

/// A worker newly declared dead by `expire`.
pub struct Expired {
    pub id: u32,
    pub data_addr: String,
    pub silent_for: Duration,
    /// Its still-open connection, to be shut down by the caller.
    pub conn: Option<TcpStream>,
}

#[derive(Default)]
pub struct Membership {
    workers: BTreeMap<u32, Member>,
    next_session: u64,
    /// Ids up to this one are not given to new workers (see `reserve_ids`).
    reserved: u32,
}

impl Membership {
    pub fn new() -> Membership {
        Membership::default()
    }

    /// Never hands out ids up to `max` to new workers: they belonged to
    /// workers of an earlier run of the master, which may come back.
    pub fn reserve_ids(&mut self, max: u32) {
        self.reserved = self.reserved.max(max);
    }

    /// Admits a worker. It keeps its previous id when it asks for one that is
    /// free, or that belongs to an entry with the same data address (a
    /// reconnect, including after being declared dead); otherwise it gets a
    /// new id.
    pub fn register(
        &mut self,
        reg: Registration,
        outbox: Outbox,
        conn: Option<TcpStream>,
        now: Instant,
    ) -> Admitted {
        self.next_session += 1;
        let session = self.next_session;
        let reusable = reg.prev_id != 0
            && self
                .workers
                .get(&reg.prev_id)
                .is_none_or(|m| m.data_addr == reg.data_addr);
        let id = if reusable {
            reg.prev_id
        } else {
            let last = self.workers.keys().next_back().copied().unwrap_or(0);
            last.max(self.reserved) + 1
        };
        let mut old = self.workers.remove(&id);
        let samples = match old.as_mut() {
            Some(m) => std::mem::replace(&mut m.samples, Ring::new(1)),
            None => Ring::new(SAMPLES_KEPT),
        };
        self.workers.insert(
            id,
            Member {
                id,
                data_addr: reg.data_addr,
                slots: reg.slots,
                memory_bytes: reg.memory_bytes,
                state: WorkerState::Alive,
                last_heartbeat: now,
                running: 0,
                metrics: WorkerMetrics::default(),
                samples,
                session,
                outbox: Some(outbox),
                conn,
            },
        );
        Admitted {
            id,
            session,
            rejoined: reusable,
            replaced: old.and_then(|m| m.conn),
        }
    }

    /// Records a heartbeat. False when `id` is not alive on this session.
    pub fn heartbeat(
        &mut self,
        id: u32,
        session: u64,
        metrics: WorkerMetrics,
        now: Instant,
    ) -> bool {
        match self.workers.get_mut(&id) {
            Some(m) if m.session == session && m.state == WorkerState::Alive => {
                m.last_heartbeat = now;
                m.samples.push(Sample {
                    at: now,
                    cpu_permille: metrics.cpu_permille,
                    rss_bytes: metrics.rss_bytes,
                    running: metrics.running,
                });
                m.metrics = metrics;
                true
            }
            _ => false,
        }
    }

    /// The connection of session `session` closed. Returns true when that
    /// made the worker DEAD (false if it was already dead or has since
    /// reconnected on a newer session).
    pub fn disconnected(&mut self, id: u32, session: u64) -> bool {
        match self.workers.get_mut(&id) {
            Some(m) if m.session == session && m.state == WorkerState::Alive => {
                m.state = WorkerState::Dead;
                m.outbox = None;
                m.conn = None;
                true
            }
            _ => false,
        }
    }

    /// Declares DEAD every alive worker silent for longer than `timeout`.
    pub fn expire(&mut self, now: Instant, timeout: Duration) -> Vec<Expired> {
        let mut expired = Vec::new();
        for m in self.workers.values_mut() {
            let silent_for = now.saturating_duration_since(m.last_heartbeat);
            if m.state == WorkerState::Alive && silent_for > timeout {
                m.state = WorkerState::Dead;
                m.outbox = None;
                expired.push(Expired {
                    id: m.id,
                    data_addr: m.data_addr.clone(),
                    silent_for,
                    conn: m.conn.take(),
                });
            }
        }
        expired
    }

    pub fn get(&self, id: u32) -> Option<&Member> {
        self.workers.get(&id)
    }

    pub fn get_mut(&mut self, id: u32) -> Option<&mut Member> {
        self.workers.get_mut(&id)
    }

    /// Every worker, in id order.
    pub fn members(&self) -> impl Iterator<Item = &Member> {
        self.workers.values()
    }

    pub fn alive(&self) -> impl Iterator<Item = &Member> {
        self.members().filter(|m| m.state == WorkerState::Alive)
    }

    /// A copy of the table, for replies built after the lock is released.
    pub fn snapshot(&self, now: Instant) -> Vec<WorkerInfo> {
        self.members().map(|m| m.info(now)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    /// A real outbox on a loopback socket pair (the writer thread needs one).
    fn outbox() -> Outbox {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let stream = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        Outbox::spawn(&stream, "test-out".into()).unwrap().0
    }

    fn reg(addr: &str, prev_id: u32) -> Registration {
        Registration {
            data_addr: addr.into(),
            slots: 2,
            memory_bytes: 1 << 20,
            prev_id,
        }
    }

    #[test]
    fn ids_are_assigned_and_reused_on_reconnect() {
        let mut m = Membership::new();
        let now = Instant::now();
        let a = m.register(reg("h:1", 0), outbox(), None, now);
        let b = m.register(reg("h:2", 0), outbox(), None, now);
        assert_eq!((a.id, b.id), (1, 2));
        assert!(m.disconnected(a.id, a.session));
        assert_eq!(m.get(1).unwrap().state, WorkerState::Dead);
        // Same address, previous id: same id back, alive again.
        let a2 = m.register(reg("h:1", 1), outbox(), None, now);
        assert_eq!(a2.id, 1);
        assert!(a2.rejoined);
        assert_eq!(m.get(1).unwrap().state, WorkerState::Alive);
        // Another address claiming id 2 gets a fresh id.
        let c = m.register(reg("h:3", 2), outbox(), None, now);
        assert_eq!(c.id, 3);
        // An unknown previous id (say, after a master restart) is honoured.
        let d = m.register(reg("h:4", 9), outbox(), None, now);
        assert_eq!(d.id, 9);
    }

    #[test]
    fn events_from_an_old_session_are_ignored() {
        let mut m = Membership::new();
        let now = Instant::now();
        let first = m.register(reg("h:1", 0), outbox(), None, now);
        let second = m.register(reg("h:1", first.id), outbox(), None, now);
        assert!(!m.heartbeat(first.id, first.session, WorkerMetrics::default(), now));
        assert!(!m.disconnected(first.id, first.session));
        assert_eq!(m.get(first.id).unwrap().state, WorkerState::Alive);
        assert!(m.heartbeat(second.id, second.session, WorkerMetrics::default(), now));
    }

    #[test]
    fn heartbeats_are_sampled_in_a_bounded_ring() {
        let mut m = Membership::new();
        let t0 = Instant::now();
        let a = m.register(reg("h:1", 0), outbox(), None, t0);
        let beats = SAMPLES_KEPT as u32 + 5;
        for i in 0..beats {
            let metrics = WorkerMetrics {
                cpu_permille: i,
                ..WorkerMetrics::default()
            };
            let at = t0 + Duration::from_millis(u64::from(i));
            assert!(m.heartbeat(a.id, a.session, metrics, at));
        }
        let cpu = |m: &Membership| -> Vec<u32> {
            m.get(a.id)
                .unwrap()
                .samples
                .iter()
                .map(|s| s.cpu_permille)
                .collect()
        };
        assert_eq!(cpu(&m), (5..beats).collect::<Vec<_>>());
        // A refused heartbeat is not sampled; a reconnect keeps the samples.
        assert!(!m.heartbeat(a.id, 99, WorkerMetrics::default(), t0));
        let again = m.register(reg("h:1", a.id), outbox(), None, t0);
        assert_eq!(again.id, a.id);
        assert_eq!(cpu(&m).len(), SAMPLES_KEPT);
    }

    #[test]
    fn silent_workers_expire_once() {
        let mut m = Membership::new();
        let t0 = Instant::now();
        let a = m.register(reg("h:1", 0), outbox(), None, t0);
        let b = m.register(reg("h:2", 0), outbox(), None, t0);
        let timeout = Duration::from_millis(100);
        assert!(m.expire(t0 + Duration::from_millis(50), timeout).is_empty());
        assert!(m.heartbeat(
            b.id,
            b.session,
            WorkerMetrics::default(),
            t0 + Duration::from_millis(90)
        ));
        let dead = m.expire(t0 + Duration::from_millis(150), timeout);
        assert_eq!(dead.iter().map(|e| e.id).collect::<Vec<_>>(), vec![a.id]);
        assert!(m
            .expire(t0 + Duration::from_millis(160), timeout)
            .is_empty());
        assert!(!m.heartbeat(
            a.id,
            a.session,
            WorkerMetrics::default(),
            t0 + Duration::from_millis(170)
        ));
    }
}
