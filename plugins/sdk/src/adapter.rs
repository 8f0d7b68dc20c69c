//! Adapter plugins: implement [`Adapter`] and [`AdapterEncoder`], then call
//! [`adapter!`](crate::adapter).

use std::cell::RefCell;

pub use crate::bindings::exports::wasmux::plugin::event_adapter::{
    Chunk, Inbound, MessageOutcome, PermissionResolution, StreamEvent, StreamItem,
};
use crate::bindings::exports::wasmux::plugin::event_adapter::{Guest, GuestEncoder};
use crate::*;

/// An adapter: request decoding plus a per-stream encoder.
pub trait Adapter: 'static {
    /// Per-stream encoder state.
    type Encoder: AdapterEncoder;
    /// Parse a client request into the message to enqueue.
    fn decode_request(req: HttpRequest) -> Result<Inbound, PluginError>;
}

/// Encoding state for one response stream.
pub trait AdapterEncoder: 'static {
    /// Start a stream for `session`, answering `message_id` if set.
    fn new(session: String, message_id: Option<String>) -> Self;
    /// Response headers, including `content-type`.
    fn headers(&self) -> Vec<(String, String)>;
    /// Bytes before any event.
    fn begin(&mut self) -> Vec<u8> {
        Vec::new()
    }
    /// Encode one event.
    fn encode(&mut self, event: StreamEvent) -> Chunk;
    /// Bytes at the end.
    fn finish(&mut self, _error: Option<String>) -> Vec<u8> {
        Vec::new()
    }
}

#[doc(hidden)]
pub struct EncoderCell<E>(RefCell<E>);

impl<E: AdapterEncoder> GuestEncoder for EncoderCell<E> {
    fn new(session: String, message_id: Option<String>) -> Self {
        EncoderCell(RefCell::new(E::new(session, message_id)))
    }
    fn headers(&self) -> Vec<(String, String)> {
        self.0.borrow().headers()
    }
    fn begin(&self) -> Vec<u8> {
        self.0.borrow_mut().begin()
    }
    fn encode(&self, event: StreamEvent) -> Chunk {
        self.0.borrow_mut().encode(event)
    }
    fn finish(&self, error: Option<String>) -> Vec<u8> {
        self.0.borrow_mut().finish(error)
    }
}

#[doc(hidden)]
pub struct AdapterGlue<A>(std::marker::PhantomData<A>);

impl<A: Adapter> Guest for AdapterGlue<A> {
    type Encoder = EncoderCell<A::Encoder>;
    fn decode_request(req: HttpRequest) -> Result<Inbound, PluginError> {
        A::decode_request(req)
    }
}

/// Export `$adapter` (a type implementing [`Adapter`]) as this component's
/// `event-adapter`.
#[macro_export]
macro_rules! adapter {
    ($adapter:ty) => {
        type __WasmuxAdapterGlue = $crate::AdapterGlue<$adapter>;
        $crate::bindings::export_adapter!(__WasmuxAdapterGlue with_types_in $crate::bindings);
    };
}
