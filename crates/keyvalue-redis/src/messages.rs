//! Short messages between the store's clients: Redis pub/sub on `{prefix}:ch:{name}`.

use super::{Error, Store};
use redis::{RedisError, Value};
use std::time::Duration;

/// How long [`Store::listen`] waits without a message before it checks the connection.
const LISTEN_PING_AFTER: Duration = Duration::from_secs(5);

impl Store {
    /// The Redis channel of messages named `name`.
    fn channel(&self, name: &str) -> String {
        format!("{}:ch:{}", self.prefix, name)
    }

    /// Sends `payload` to every client [`Store::listen`]ing to `name` now (with this store's
    /// prefix); returns how many received it.
    pub fn publish(&self, name: &str, payload: &[u8]) -> Result<u64, Error> {
        let channel = self.channel(name);
        self.with_connection(|c| redis::cmd("PUBLISH").arg(&channel).arg(payload).query(c))
    }

    /// Listens to messages named `name` on a connection of its own: calls `subscribed` once the
    /// server confirmed the subscription (from then on no message is missed), then `message`
    /// for each message, in the order published, until the connection fails or `keep_going`
    /// (asked at least every second) says to stop. Returns why it stopped: the connection's
    /// error (messages published from then on are missed until the caller listens again), or
    /// `Ok` when told to stop.
    pub fn listen(
        &self,
        name: &str,
        keep_going: &dyn Fn() -> bool,
        subscribed: &mut dyn FnMut(),
        message: &mut dyn FnMut(&[u8]),
    ) -> Result<(), Error> {
        let fail = |e: RedisError| Error::Redis(e.to_string());
        let mut conn = self.connect()?;
        let mut pubsub = conn.as_pubsub();
        // SUBSCRIBE returns once the server confirmed it.
        pubsub.subscribe(self.channel(name)).map_err(fail)?;
        pubsub.set_read_timeout(Some(Duration::from_secs(1))).map_err(fail)?;
        subscribed();
        // A connection that went silent (a server that vanished without closing it) is found
        // by a PING after a few quiet seconds: it fails or times out.
        let mut heard = std::time::Instant::now();
        while keep_going() {
            match pubsub.get_message() {
                Ok(msg) => {
                    heard = std::time::Instant::now();
                    message(msg.get_payload_bytes());
                }
                Err(e) if e.is_timeout() && heard.elapsed() < LISTEN_PING_AFTER => continue,
                Err(e) if e.is_timeout() => {
                    pubsub.ping::<Value>().map_err(fail)?;
                    heard = std::time::Instant::now();
                }
                Err(e) => return Err(fail(e)),
            }
        }
        Ok(())
    }
}
