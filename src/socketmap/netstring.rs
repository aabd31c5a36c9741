//! Netstrings as socketmap_table(5) frames them: `[len]":"[data]","`, the length in decimal.
//!
//! The decoder is incremental and bounded: bytes go in as the socket delivers them (one byte at a
//! time or many requests at once), complete requests come out one by one. It never holds more
//! than one request's data plus the bytes pushed and not yet taken; a length prefix that is not
//! digits, longer than any allowed length needs, or larger than the request limit is refused as
//! soon as it is seen, not after reading what it announces.

use crate::error::SocketmapError;

/// socketmap_table(5): "The reply ... is limited to 100000 bytes" (Postfix's
/// `socketmap_max_reply_size` default); a longer reply is never sent.
pub const MAX_REPLY: usize = 100_000;

/// Spec: a request is `name key` where the key is a next-hop domain (at most 253 octets, or a
/// bracketed `[host]:port`); 2048 bytes leave room for any map name and key Postfix sends.
pub const DEFAULT_MAX_REQUEST: usize = 2048;

/// Interop: Postfix's own netstring reader accepts leading zeros in the length ("007:..."), so
/// this one does too, up to this many digits (enough for any length up to the limit, and then
/// some zeros); an endless run of digits is refused here.
const MAX_LENGTH_DIGITS: usize = 10;

enum State {
    /// Reading the length prefix: its value and digits so far.
    Length { value: u64, digits: usize },
    /// Reading the data: how many bytes are still missing.
    Data { remaining: usize },
    /// Waiting for the "," after the data.
    Comma,
}

/// One connection's incoming netstrings. After an error the decoder stays failed: the framing is
/// lost and the host closes the connection.
pub struct NetstringDecoder {
    max: usize,
    state: State,
    data: Vec<u8>,
    /// The data of the request being finished when it came whole in one push: its place in
    /// `input` (not copied); valid only until the next push, so it is copied into `data` when the
    /// "," has not come yet.
    span: Option<(usize, usize)>,
    input: Vec<u8>,
    at: usize,
    failed: Option<SocketmapError>,
}

/// Where the data of one complete request is, after [`NetstringDecoder::feed`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fed {
    /// `bytes[start..end]` of the bytes just fed (the request came whole in them: nothing copied).
    InChunk { start: usize, end: usize },
    /// The request began in earlier bytes: its data, copied.
    Held(Vec<u8>),
}

/// What one [`NetstringDecoder::feed`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Feed {
    /// The complete requests, in order.
    pub requests: Vec<Fed>,
    /// The framing error met after them, if any: answer the requests, then close.
    pub error: Option<SocketmapError>,
}

/// A complete request's data: in place in `input`, or copied.
enum Ready {
    Span(usize, usize),
    Owned(Vec<u8>),
}

impl NetstringDecoder {
    /// A decoder that accepts requests of at most `max_request` bytes of data.
    pub fn new(max_request: usize) -> NetstringDecoder {
        NetstringDecoder {
            max: max_request,
            state: State::Length {
                value: 0,
                digits: 0,
            },
            data: Vec::new(),
            span: None,
            input: Vec::new(),
            at: 0,
            failed: None,
        }
    }

    /// Adds bytes received from the peer; take the requests with [`NetstringDecoder::next_request`].
    pub fn push(&mut self, bytes: &[u8]) {
        if self.failed.is_some() {
            return;
        }
        if self.at > 0 && self.at == self.input.len() {
            self.input.clear();
            self.at = 0;
        } else if self.at > 4096 && self.at * 2 > self.input.len() {
            self.input.drain(..self.at);
            self.at = 0;
        }
        self.input.extend_from_slice(bytes);
    }

    /// Bytes pushed and not yet consumed, plus the data of the request being read.
    pub fn buffered(&self) -> usize {
        self.input.len() - self.at + self.data.len() + self.span.map_or(0, |(s, e)| e - s)
    }

    /// Whether a netstring has begun and not yet ended (the peer is in the middle of a request).
    pub fn in_request(&self) -> bool {
        !matches!(self.state, State::Length { digits: 0, .. }) || self.at < self.input.len()
    }

    /// The next complete request's data, `Ok(None)` when more bytes are needed, or the error that
    /// ends the connection.
    pub fn next_request(&mut self) -> Result<Option<Vec<u8>>, SocketmapError> {
        Ok(self.next_ready()?.map(|r| match r {
            Ready::Span(start, end) => self.input[start..end].to_vec(),
            Ready::Owned(data) => data,
        }))
    }

    /// Pushes `bytes` and takes every request they complete, in one call: the host's hot path (one
    /// crossing into the core per read, and a request that came whole in one read is not copied).
    /// The same framing as [`NetstringDecoder::push`] + [`NetstringDecoder::next_request`].
    pub fn feed(&mut self, bytes: &[u8]) -> Feed {
        let mut requests = Vec::new();
        if let Some(e) = &self.failed {
            return Feed {
                requests,
                error: Some(e.clone()),
            };
        }
        self.push(bytes);
        let base = self.input.len() - bytes.len();
        loop {
            match self.next_ready() {
                Ok(None) => {
                    return Feed {
                        requests,
                        error: None,
                    }
                }
                Ok(Some(Ready::Span(start, end))) if start >= base => requests.push(Fed::InChunk {
                    start: start - base,
                    end: end - base,
                }),
                Ok(Some(Ready::Span(start, end))) => {
                    requests.push(Fed::Held(self.input[start..end].to_vec()))
                }
                Ok(Some(Ready::Owned(data))) => requests.push(Fed::Held(data)),
                Err(e) => {
                    return Feed {
                        requests,
                        error: Some(e),
                    }
                }
            }
        }
    }

    fn next_ready(&mut self) -> Result<Option<Ready>, SocketmapError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        match self.step() {
            Ok(v) => Ok(v),
            Err(e) => {
                self.failed = Some(e.clone());
                self.input = Vec::new();
                self.data = Vec::new();
                self.span = None;
                self.at = 0;
                Err(e)
            }
        }
    }

    fn step(&mut self) -> Result<Option<Ready>, SocketmapError> {
        loop {
            match &mut self.state {
                State::Length { value, digits } => {
                    let Some(&b) = self.input.get(self.at) else {
                        return Ok(None);
                    };
                    self.at += 1;
                    match b {
                        b'0'..=b'9' => {
                            *digits += 1;
                            if *digits > MAX_LENGTH_DIGITS {
                                return Err(SocketmapError::NetstringLengthDigits {
                                    digits: *digits,
                                    limit: MAX_LENGTH_DIGITS,
                                });
                            }
                            *value = *value * 10 + u64::from(b - b'0');
                            // Refused at once: a huge length is never waited for.
                            if *value > self.max as u64 {
                                return Err(SocketmapError::RequestTooLarge {
                                    length: *value,
                                    limit: self.max,
                                });
                            }
                        }
                        // Spec: at least one digit (a bare ":" is no netstring).
                        b':' if *digits > 0 => {
                            let remaining = *value as usize;
                            self.data.clear();
                            self.state = if remaining == 0 {
                                State::Comma
                            } else {
                                State::Data { remaining }
                            };
                        }
                        _ => {
                            // The digits may have come in an earlier push, whose bytes are
                            // gone: show what is still buffered (found by fuzzing, "12" then "x").
                            let start = (self.at - 1).saturating_sub(*digits);
                            let end = (start + 16).min(self.input.len());
                            let found =
                                String::from_utf8_lossy(&self.input[start..end]).into_owned();
                            return Err(SocketmapError::NetstringLength { found });
                        }
                    }
                }
                State::Data { remaining } => {
                    let available = self.input.len() - self.at;
                    if available == 0 {
                        return Ok(None);
                    }
                    if self.data.is_empty() && available >= *remaining {
                        // The whole data is here: remember where instead of copying it.
                        self.span = Some((self.at, self.at + *remaining));
                        self.at += *remaining;
                        self.state = State::Comma;
                        continue;
                    }
                    self.data.reserve(*remaining);
                    let take = available.min(*remaining);
                    self.data
                        .extend_from_slice(&self.input[self.at..self.at + take]);
                    self.at += take;
                    *remaining -= take;
                    if *remaining == 0 {
                        self.state = State::Comma;
                    }
                }
                State::Comma => {
                    let Some(&b) = self.input.get(self.at) else {
                        if let Some((start, end)) = self.span.take() {
                            // The next push may move `input`: keep the data itself.
                            self.data = self.input[start..end].to_vec();
                        }
                        return Ok(None);
                    };
                    if b != b',' {
                        return Err(SocketmapError::NetstringComma { found: b });
                    }
                    self.at += 1;
                    self.state = State::Length {
                        value: 0,
                        digits: 0,
                    };
                    if let Some((start, end)) = self.span.take() {
                        return Ok(Some(Ready::Span(start, end)));
                    }
                    return Ok(Some(Ready::Owned(std::mem::take(&mut self.data))));
                }
            }
        }
    }

    /// The peer closed its side: an error when it did so inside a netstring.
    pub fn finish(&self) -> Result<(), SocketmapError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        if self.in_request() {
            return Err(SocketmapError::NetstringTruncated {
                buffered: self.buffered(),
            });
        }
        Ok(())
    }
}

/// Frames a reply as a netstring. socketmap_table(5): at most [`MAX_REPLY`] bytes of data.
pub fn encode(data: &[u8]) -> Result<Vec<u8>, SocketmapError> {
    if data.len() > MAX_REPLY {
        return Err(SocketmapError::ReplyTooLarge {
            size: data.len(),
            limit: MAX_REPLY,
        });
    }
    let mut out = Vec::with_capacity(data.len() + 8);
    out.extend_from_slice(data.len().to_string().as_bytes());
    out.push(b':');
    out.extend_from_slice(data);
    out.push(b',');
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every request `feed` found, as bytes, whichever way it was handed over.
    fn taken(chunk: &[u8], feed: &Feed) -> Vec<Vec<u8>> {
        feed.requests
            .iter()
            .map(|f| match f {
                Fed::InChunk { start, end } => chunk[*start..*end].to_vec(),
                Fed::Held(data) => data.clone(),
            })
            .collect()
    }

    #[test]
    fn consumed_bytes_are_dropped_and_unconsumed_ones_kept() {
        // The decoder holds one request's data plus what was pushed and not taken: consumed
        // input is cleared when all of it is taken, and moved out once more than 4 KiB of it
        // is more than half the buffer; bytes not yet taken survive both.
        let mut d = NetstringDecoder::new(DEFAULT_MAX_REQUEST);
        d.push(b"3:abc,3:de");
        assert_eq!(d.next_request().unwrap(), Some(b"abc".to_vec()));
        assert_eq!(d.next_request().unwrap(), None);
        d.push(b"f,");
        assert_eq!(
            d.next_request().unwrap(),
            Some(b"def".to_vec()),
            "unconsumed bytes kept"
        );
        d.push(b"1:g,");
        assert_eq!((d.at, d.input.len()), (0, 4), "all taken: cleared first");
        assert_eq!(d.next_request().unwrap(), Some(b"g".to_vec()));
        // 1,000 requests of 5 bytes each (5,000 bytes), then half a request.
        let many: Vec<u8> = b"2:hi,".repeat(1_000);
        d.push(&many);
        d.push(b"4:ab");
        for _ in 0..1_000 {
            assert_eq!(d.next_request().unwrap(), Some(b"hi".to_vec()));
        }
        assert_eq!(d.buffered(), 4, "the half request, not yet read");
        d.push(b"c");
        assert_eq!(
            (d.at, d.input.len()),
            (0, 5),
            "5,000 taken of 5,004: moved out, the rest kept"
        );
        d.push(b"d,");
        assert_eq!(d.next_request().unwrap(), Some(b"abcd".to_vec()));
        // Under 4 KiB taken, or not more than half: left in place.
        let mut d = NetstringDecoder::new(DEFAULT_MAX_REQUEST);
        d.push(&b"2:hi,".repeat(800));
        d.push(b"2:");
        for _ in 0..800 {
            d.next_request().unwrap().unwrap();
        }
        d.push(b"h");
        assert_eq!(d.input.len(), 4_003, "4,000 taken: kept");
        let mut d = NetstringDecoder::new(DEFAULT_MAX_REQUEST);
        d.push(&b"2:hi,".repeat(1_000));
        d.push(&b"x".repeat(6_000));
        for _ in 0..1_000 {
            d.next_request().unwrap().unwrap();
        }
        d.push(b"y");
        assert_eq!(d.input.len(), 11_001, "5,000 taken of 11,000: kept");
        // The bounds themselves: exactly 4,096 taken, and exactly half, are kept.
        for (requests, tail, len) in [(1_024, 2, 4_099), (1_250, 5_000, 10_001)] {
            let mut d = NetstringDecoder::new(DEFAULT_MAX_REQUEST);
            d.push(&b"1:a,".repeat(requests));
            d.push(&b"9".repeat(tail));
            for _ in 0..requests {
                d.next_request().unwrap().unwrap();
            }
            d.push(b"9");
            assert_eq!(d.input.len(), len, "{requests} taken, {tail} left");
        }
    }

    #[test]
    fn buffered_and_in_request_follow_the_frame() {
        let mut d = NetstringDecoder::new(DEFAULT_MAX_REQUEST);
        assert!(!d.in_request());
        assert_eq!(d.buffered(), 0);
        d.push(b"5:he");
        assert!(d.in_request(), "pushed, not yet read");
        assert_eq!(d.buffered(), 4);
        assert_eq!(d.next_request().unwrap(), None);
        assert!(d.in_request(), "inside the data");
        assert_eq!(d.buffered(), 2, "the data read so far");
        d.push(b"llo");
        assert_eq!(d.next_request().unwrap(), None);
        assert_eq!(d.buffered(), 5, "all the data, waiting for the comma");
        d.push(b",1:x,");
        assert_eq!(d.next_request().unwrap(), Some(b"hello".to_vec()));
        assert!(d.in_request(), "the next request's bytes are here");
        assert_eq!(d.buffered(), 4);
        assert_eq!(d.next_request().unwrap(), Some(b"x".to_vec()));
        assert!(!d.in_request());
        assert_eq!(d.buffered(), 0);
        assert_eq!(d.finish(), Ok(()));
        // A request that came whole but whose comma has not: its data is held.
        d.push(b"3:abc");
        assert_eq!(d.next_request().unwrap(), None);
        assert_eq!(d.buffered(), 3);
        assert_eq!(
            d.finish().unwrap_err().code(),
            "socketmap-netstring-truncated"
        );
    }

    #[test]
    fn feed_points_into_the_chunk_or_copies_what_began_earlier() {
        let mut d = NetstringDecoder::new(DEFAULT_MAX_REQUEST);
        let first = b"1:a,3:bc";
        let f = d.feed(first);
        assert_eq!(f.requests, [Fed::InChunk { start: 2, end: 3 }]);
        assert_eq!(f.error, None);
        let second = b"d,2:ef,3:gh";
        let f = d.feed(second);
        assert_eq!(
            f.requests,
            [
                Fed::Held(b"bcd".to_vec()),
                Fed::InChunk { start: 4, end: 6 }
            ]
        );
        assert_eq!(taken(second, &f), [b"bcd".to_vec(), b"ef".to_vec()]);
        // "3:gh" began in the second chunk; its last byte comes now.
        let third = b"i,0:,";
        let f = d.feed(third);
        assert_eq!(taken(third, &f), [b"ghi".to_vec(), b"".to_vec()]);
        assert!(matches!(f.requests[0], Fed::Held(_)));
        // A request whose data came whole in an earlier chunk and its comma in this one.
        let mut d = NetstringDecoder::new(DEFAULT_MAX_REQUEST);
        assert!(d.feed(b"3:abc").requests.is_empty());
        let f = d.feed(b",");
        assert_eq!(f.requests, [Fed::Held(b"abc".to_vec())]);
        // After a framing error, every later feed reports it again.
        let mut d = NetstringDecoder::new(DEFAULT_MAX_REQUEST);
        assert_eq!(
            d.feed(b"xx3:abc").error.unwrap().code(),
            "socketmap-netstring-length"
        );
        let f = d.feed(b",");
        assert!(f.error.is_some(), "the framing error stays");
        // push + next_request and feed mixed: requests left from an earlier push are copied,
        // the ones in this chunk are placed relative to it.
        let mut d = NetstringDecoder::new(DEFAULT_MAX_REQUEST);
        d.push(b"1:a,2:bc,");
        assert_eq!(d.next_request().unwrap(), Some(b"a".to_vec()));
        let chunk = b"3:def,";
        let f = d.feed(chunk);
        assert_eq!(
            f.requests,
            [Fed::Held(b"bc".to_vec()), Fed::InChunk { start: 2, end: 5 }]
        );
    }

    #[test]
    fn a_length_may_have_up_to_ten_digits_with_leading_zeros() {
        // Interop: Postfix's reader takes "007:"; ten digits are allowed, the eleventh refused
        // as soon as it is seen.
        let mut d = NetstringDecoder::new(DEFAULT_MAX_REQUEST);
        d.push(b"0000000003:abc,");
        assert_eq!(d.next_request().unwrap(), Some(b"abc".to_vec()));
        let mut d = NetstringDecoder::new(DEFAULT_MAX_REQUEST);
        d.push(b"00000000003");
        let e = d.next_request().unwrap_err();
        assert_eq!(e.code(), "socketmap-netstring-length-digits");
        // The request limit: exactly the limit is read, one more refused before its data.
        let mut d = NetstringDecoder::new(3);
        d.push(b"3:abc,4:");
        assert_eq!(d.next_request().unwrap(), Some(b"abc".to_vec()));
        assert_eq!(
            d.next_request().unwrap_err().code(),
            "socketmap-request-too-large"
        );
    }

    #[test]
    fn a_bad_length_is_named_however_the_bytes_were_split() {
        // (pushes, why): the bad byte after digits that came in an earlier push (fuzz/regressions/socketmap).
        let cases: [(&[&[u8]], &str, &str); 5] = [
            (
                &[b"12", b"x"],
                "digits in one push, the bad byte in the next",
                "x",
            ),
            (&[b"1", b"2", b"x"], "each digit its own push", "x"),
            (
                &[b"3:abc,12", b";"],
                "after a request, the buffer cleared",
                ";",
            ),
            (&[b"12x"], "all in one push", "12x"),
            (
                &[b"1:a,123x4567890123456789"],
                "sixteen bytes from the digits on",
                "123x456789012345",
            ),
        ];
        for (pushes, why, shown) in cases {
            let mut d = NetstringDecoder::new(DEFAULT_MAX_REQUEST);
            let mut result = Ok(None);
            for p in pushes {
                d.push(p);
                result = d.next_request();
                while let Ok(Some(_)) = result {
                    result = d.next_request();
                }
            }
            let e = result.expect_err(why);
            assert_eq!(e.code(), "socketmap-netstring-length", "{why}");
            let SocketmapError::NetstringLength { found } = &e else {
                unreachable!()
            };
            assert_eq!(
                found, shown,
                "{why}: what is still buffered, from the digits on"
            );
            assert!(d.finish().is_err(), "{why}: stays failed");
        }
    }
}
