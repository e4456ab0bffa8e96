//! Live streams fed from memory: the connections open on this host, each
//! with a bounded buffer, and the queue that hands them durable events in
//! id order. The store stays the resume path (`Last-Event-ID`) and the
//! path for events written by other hosts.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use superapp_core::messaging::LiveEvent;
use tokio::sync::mpsc;

/// How many events a connection may have waiting. A client that reads
/// slower than its events come is cut off once this is full and resumes
/// from the store when it reconnects, so it cannot hold memory without
/// bound.
pub const LIVE_BUFFER: usize = 512;

/// One live event as every connection it is for shares it: encoded once,
/// by the first connection that sends it.
#[derive(Debug)]
pub struct SharedEvent {
    pub event: LiveEvent,
    encoded: OnceLock<bytes::Bytes>,
}

impl SharedEvent {
    pub fn new(event: LiveEvent) -> SharedEvent {
        SharedEvent {
            event,
            encoded: OnceLock::new(),
        }
    }

    /// The event as the edge sends it, made by `encode` the first time.
    pub fn encoded(&self, encode: impl FnOnce(&LiveEvent) -> bytes::Bytes) -> bytes::Bytes {
        self.encoded.get_or_init(|| encode(&self.event)).clone()
    }
}

/// What a connection is handed.
#[derive(Debug, Clone)]
pub enum Live {
    /// An event of this host's, durable, in id order.
    Event(Arc<SharedEvent>),
    /// Something newer is in the store (written by another host): read it
    /// from there, after the last event sent.
    Wake,
    /// Nothing came for a while: send a comment, so proxies keep the
    /// connection open (and a client that went away is noticed).
    KeepAlive,
}

/// How often idle connections are told to send a keep-alive comment. One
/// ticker for all of them: a timer per connection armed on every receive
/// cost 500 timer inserts and removals per message to a 500-member group.
pub const KEEP_ALIVE: std::time::Duration = std::time::Duration::from_secs(15);

/// Figures for the operator (`/metrics`).
#[derive(Debug, Default)]
pub struct LiveCounters {
    /// Events handed to connections.
    pub delivered: AtomicU64,
    /// Connections cut off because their buffer was full.
    pub cut_off: AtomicU64,
}

/// One connection as the hub holds it.
struct Conn {
    tx: mpsc::Sender<Live>,
    /// A wake-up is queued and not yet taken: another would say nothing new.
    woken: Arc<AtomicBool>,
}

/// A connection's receiving end: what the hub hands it, in order.
pub struct LiveReceiver {
    rx: mpsc::Receiver<Live>,
    woken: Arc<AtomicBool>,
}

impl LiveReceiver {
    /// The next item; `None` once the connection was cut off (or the host
    /// is stopping).
    pub async fn recv(&mut self) -> Option<Live> {
        let item = self.rx.recv().await;
        self.taken(item.as_ref());
        item
    }

    /// The next item if one is waiting.
    pub fn try_recv(&mut self) -> Result<Live, mpsc::error::TryRecvError> {
        let item = self.rx.try_recv();
        self.taken(item.as_ref().ok());
        item
    }

    /// A wake-up taken: the next one must be queued again.
    fn taken(&self, item: Option<&Live>) {
        if let Some(Live::Wake) = item {
            self.woken.store(false, Ordering::SeqCst);
        }
    }
}

/// The open connections, by person.
#[derive(Default)]
pub(super) struct Hub {
    conns: Mutex<HashMap<String, Vec<Conn>>>,
    pub(super) counters: LiveCounters,
    /// Whether the keep-alive ticker runs.
    ticking: AtomicBool,
}

impl Hub {
    /// A new connection for `user`.
    pub(super) fn connect(&self, user: &str) -> LiveReceiver {
        let (tx, rx) = mpsc::channel(LIVE_BUFFER);
        let woken = Arc::new(AtomicBool::new(false));
        let mut conns = self.conns.lock().unwrap_or_else(|p| p.into_inner());
        let list = conns.entry(user.to_string()).or_default();
        // Connections that went away since.
        list.retain(|c| !c.tx.is_closed());
        list.push(Conn {
            tx,
            woken: woken.clone(),
        });
        drop(conns);
        LiveReceiver { rx, woken }
    }

    /// How many connections are open.
    pub(super) fn open(&self) -> usize {
        let conns = self.conns.lock().unwrap_or_else(|p| p.into_inner());
        conns
            .values()
            .map(|l| l.iter().filter(|c| !c.tx.is_closed()).count())
            .sum()
    }

    /// Hands `item` to each of the person's connections; one whose buffer
    /// is full is dropped (its stream ends; the client resumes).
    fn send(
        conns: &mut HashMap<String, Vec<Conn>>,
        user: &str,
        item: &Live,
        counters: &LiveCounters,
    ) {
        let Some(list) = conns.get_mut(user) else {
            return;
        };
        list.retain(|c| {
            if matches!(item, Live::Wake) && c.woken.swap(true, Ordering::SeqCst) {
                // One wake-up waiting is enough: it reads everything new.
                return true;
            }
            match c.tx.try_send(item.clone()) {
                Ok(()) => {
                    counters.delivered.fetch_add(1, Ordering::Relaxed);
                    true
                }
                Err(mpsc::error::TrySendError::Full(_)) => {
                    counters.cut_off.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(
                        user,
                        "a live stream fell too far behind; cut off (it resumes from the store)"
                    );
                    false
                }
                Err(mpsc::error::TrySendError::Closed(_)) => false,
            }
        });
        if list.is_empty() {
            conns.remove(user);
        }
    }

    /// Hands durable events (and wake-ups) out.
    fn publish(&self, items: &[(String, Live)]) {
        let mut conns = self.conns.lock().unwrap_or_else(|p| p.into_inner());
        for (user, item) in items {
            Hub::send(&mut conns, user, item, &self.counters);
        }
    }

    /// Hands a keep-alive to each connection with nothing waiting (a busy
    /// one is sending anyway).
    pub(super) fn keep_alive(&self) {
        let conns = self.conns.lock().unwrap_or_else(|p| p.into_inner());
        for c in conns.values().flatten() {
            if c.tx.capacity() == c.tx.max_capacity() {
                let _ = c.tx.try_send(Live::KeepAlive);
            }
        }
    }

    /// Keeps idle connections alive every [`KEEP_ALIVE`] while the hub
    /// lives; started with the first connection.
    pub(super) fn start_keep_alive(hub: &Arc<Hub>) {
        if hub.ticking.swap(true, Ordering::SeqCst) {
            return;
        }
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            hub.ticking.store(false, Ordering::SeqCst);
            return;
        };
        let hub = Arc::downgrade(hub);
        rt.spawn(async move {
            let mut every = tokio::time::interval(KEEP_ALIVE);
            every.tick().await;
            loop {
                every.tick().await;
                match hub.upgrade() {
                    Some(hub) => hub.keep_alive(),
                    None => return,
                }
            }
        });
    }

    /// Tells the person's connections to read the store.
    pub(super) fn wake<'a>(&self, users: impl IntoIterator<Item = &'a str>) {
        let mut conns = self.conns.lock().unwrap_or_else(|p| p.into_inner());
        for user in users {
            Hub::send(&mut conns, user, &Live::Wake, &self.counters);
        }
    }
}

/// A write's events waiting for their write to be durable, in id order.
enum Slot {
    Waiting(Vec<(String, Live)>),
    Durable(Vec<(String, Live)>),
    Lost,
}

/// The writes applied and not yet handed out, in the order they were
/// applied (id order), so connections get events in id order even when
/// the writers' flushes return in another.
#[derive(Default)]
pub(super) struct Outgoing {
    inner: Mutex<OutgoingInner>,
}

#[derive(Default)]
struct OutgoingInner {
    /// The sequence number of `slots[0]`.
    first: u64,
    slots: VecDeque<Slot>,
}

impl Outgoing {
    /// Queues a write's events (called under the store's order), one
    /// shared copy per event id (a message's events for its members are
    /// one event), after wake-ups for the people other hosts wrote to
    /// before it (`others`), so those streams read the store first;
    /// returns their place.
    pub(super) fn queue(&self, stream: &[(String, LiveEvent)], others: &[(String, u64)]) -> u64 {
        let mut events = Vec::with_capacity(others.len() + stream.len());
        events.extend(others.iter().map(|(user, _)| (user.clone(), Live::Wake)));
        let mut shared: Option<Arc<SharedEvent>> = None;
        for (user, e) in stream {
            let s = match &shared {
                Some(s) if s.event.id == e.id => s.clone(),
                _ => {
                    let s = Arc::new(SharedEvent::new(e.clone()));
                    shared = Some(s.clone());
                    s
                }
            };
            events.push((user.clone(), Live::Event(s)));
        }
        let mut o = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        o.slots.push_back(Slot::Waiting(events));
        o.first + o.slots.len() as u64 - 1
    }

    /// Marks the write at `place` durable (or lost), then hands out every
    /// event at the front that is no longer waiting.
    pub(super) fn settle(&self, place: u64, durable: bool, hub: &Hub) {
        let mut o = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let Some(i) = place.checked_sub(o.first) else {
            return;
        };
        if let Some(slot) = o.slots.get_mut(i as usize) {
            let events = match std::mem::replace(slot, Slot::Lost) {
                Slot::Waiting(e) | Slot::Durable(e) => e,
                Slot::Lost => Vec::new(),
            };
            if durable {
                *slot = Slot::Durable(events);
            }
        }
        // Under the lock: another settle cannot hand out later events first.
        while let Some(front) = o.slots.front() {
            if matches!(front, Slot::Waiting(_)) {
                break;
            }
            if let Some(Slot::Durable(events)) = o.slots.pop_front() {
                hub.publish(&events);
            }
            o.first += 1;
        }
    }
}

/// The event ids this host wrote lately, at most [`Recent::KEEP`] of them.
#[derive(Default)]
pub(super) struct Recent {
    ids: std::collections::HashSet<u64>,
    order: VecDeque<u64>,
}

impl Recent {
    const KEEP: usize = 1 << 16;

    pub(super) fn add(&mut self, id: u64) {
        if self.ids.insert(id) {
            self.order.push_back(id);
            if self.order.len() > Self::KEEP
                && let Some(old) = self.order.pop_front()
            {
                self.ids.remove(&old);
            }
        }
    }

    pub(super) fn contains(&self, id: u64) -> bool {
        self.ids.contains(&id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use superapp_core::messaging::LiveBody;

    #[test]
    fn a_keep_alive_goes_only_to_connections_with_nothing_waiting() {
        let hub = Hub::default();
        let mut idle = hub.connect("ann");
        let mut busy = hub.connect("bob");
        let event = LiveEvent {
            id: 1,
            at: 0,
            body: LiveBody::PacketClaimed {
                packet: "rp".into(),
                by: superapp_core::messaging::Person {
                    user: "ann".into(),
                    handle: "ann".into(),
                    name: "Ann".into(),
                },
                amount: 1,
            },
        };
        hub.publish(&[("bob".into(), Live::Event(Arc::new(SharedEvent::new(event))))]);
        hub.keep_alive();
        assert!(matches!(idle.try_recv(), Ok(Live::KeepAlive)));
        assert!(matches!(busy.try_recv(), Ok(Live::Event(_))));
        assert!(
            busy.try_recv().is_err(),
            "a connection with events waiting sends those instead"
        );
    }
}
