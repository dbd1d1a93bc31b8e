//! Large response bodies as a list of fixed-size chunks.
//!
//! A 10,000-instance registry is ~10 MB of JSON. Built as one buffer, every rebuild asks the
//! allocator for a block that size; glibc then raises its mmap threshold and serves later
//! rebuilds from the heap, which it rarely gives back, so resident memory creeps up by several
//! payloads. Chunks of 64 KiB are reused block for block instead. A chunked payload is shared
//! (`Arc`) between the cache and every response streaming it.

use std::{
    convert::Infallible,
    io,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use axum::body::Body;
use bytes::{Bytes, BytesMut};
use http_body::{Frame, SizeHint};

const CHUNK: usize = 64 * 1024;

/// A serialized payload.
#[derive(Debug, Clone, Default)]
pub struct Payload {
    chunks: Arc<[Bytes]>,
    len: usize,
}

impl Payload {
    /// Its size in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The payload in one piece (tests, small payloads).
    pub fn to_bytes(&self) -> Bytes {
        match &*self.chunks {
            [] => Bytes::new(),
            [one] => one.clone(),
            many => {
                let mut all = BytesMut::with_capacity(self.len);
                for chunk in many {
                    all.extend_from_slice(chunk);
                }
                all.freeze()
            }
        }
    }

    /// The payload gzip-compressed (for clients that send `Accept-Encoding: gzip`).
    pub fn gzip(&self) -> Payload {
        use std::io::Write as _;
        let mut encoder =
            flate2::write::GzEncoder::new(ChunkWriter::default(), flate2::Compression::fast());
        for chunk in self.chunks.iter() {
            // Writing into memory cannot fail.
            let _ = encoder.write_all(chunk);
        }
        encoder
            .finish()
            .map(ChunkWriter::finish)
            .unwrap_or_default()
    }

    /// A response body streaming the chunks (with an exact length).
    pub fn into_body(self) -> Body {
        Body::new(ChunkedBody {
            payload: self,
            next: 0,
            sent: 0,
        })
    }
}

/// Collects written bytes into 64 KiB chunks.
#[derive(Debug, Default)]
pub struct ChunkWriter {
    done: Vec<Bytes>,
    current: Vec<u8>,
    len: usize,
}

impl ChunkWriter {
    /// The finished payload.
    pub fn finish(mut self) -> Payload {
        if !self.current.is_empty() {
            self.done
                .push(Bytes::from(std::mem::take(&mut self.current)));
        }
        Payload {
            chunks: self.done.into(),
            len: self.len,
        }
    }
}

impl io::Write for ChunkWriter {
    fn write(&mut self, mut buf: &[u8]) -> io::Result<usize> {
        let written = buf.len();
        self.len += written;
        // Fast path: serializers write many small pieces that fit the current chunk.
        if self.current.len() + written < CHUNK && self.current.capacity() >= CHUNK {
            self.current.extend_from_slice(buf);
            return Ok(written);
        }
        while !buf.is_empty() {
            if self.current.capacity() == 0 {
                self.current.reserve_exact(CHUNK);
            }
            let room = CHUNK - self.current.len();
            let take = room.min(buf.len());
            self.current.extend_from_slice(&buf[..take]);
            buf = &buf[take..];
            if self.current.len() == CHUNK {
                self.done
                    .push(Bytes::from(std::mem::take(&mut self.current)));
            }
        }
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

struct ChunkedBody {
    payload: Payload,
    next: usize,
    sent: usize,
}

impl http_body::Body for ChunkedBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let Some(chunk) = self.payload.chunks.get(self.next).cloned() else {
            return Poll::Ready(None);
        };
        self.next += 1;
        self.sent += chunk.len();
        Poll::Ready(Some(Ok(Frame::data(chunk))))
    }

    fn is_end_stream(&self) -> bool {
        self.next >= self.payload.chunks.len()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact((self.payload.len - self.sent) as u64)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;

    #[test]
    fn chunks_add_up() {
        let mut writer = ChunkWriter::default();
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        writer.write_all(&data[..10]).expect("write");
        writer.write_all(&data[10..]).expect("write");
        let payload = writer.finish();
        assert_eq!(payload.len(), data.len());
        assert_eq!(payload.chunks.len(), 4);
        assert_eq!(payload.to_bytes(), Bytes::from(data));
        assert!(ChunkWriter::default().finish().is_empty());
    }

    #[test]
    fn gzip_decodes_to_the_payload() {
        use std::io::Read as _;
        let mut writer = ChunkWriter::default();
        let data: Vec<u8> = (0..150_000u32).map(|i| (i % 7) as u8).collect();
        writer.write_all(&data).expect("write");
        let zipped = writer.finish().gzip().to_bytes();
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&zipped[..])
            .read_to_end(&mut out)
            .expect("gzip");
        assert_eq!(out, data);
    }
}
