//! gzip compression of response bodies, with state kept between scrapes.
//!
//! A gzip member (RFC 1952) is a 10-byte header, a raw DEFLATE stream and an 8-byte
//! trailer: the CRC-32 and the length of the uncompressed data. Writing the frame here
//! lets one compressor, and one output buffer, serve every scrape: `flate2`'s own gzip
//! writer would allocate its compressor's tables (hundreds of kilobytes) on each.

use flate2::{Compress, Compression, Crc, FlushCompress, Status};

/// The member header: magic, DEFLATE, no flags, no modification time, no extra flags,
/// operating system unknown.
const HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];

/// Compresses bodies into gzip members, reusing its compressor and output buffer.
pub(crate) struct Gzip {
    compress: Compress,
    out: Vec<u8>,
}

impl Gzip {
    pub(crate) fn new() -> Self {
        // The fastest level: an exposition's repeated names and labels compress several
        // times over even so, and a scrape should not wait on the compressor.
        Gzip {
            compress: Compress::new(Compression::fast(), false),
            out: Vec::new(),
        }
    }

    /// Compresses `body` into one gzip member and returns it. The buffer is kept, so once
    /// it has grown to the size of the compressed bodies this allocates nothing.
    ///
    /// `None` if the compressor fails, which it does only on misuse of its stream; the
    /// caller then answers uncompressed.
    pub(crate) fn compress(&mut self, body: &[u8]) -> Option<&[u8]> {
        self.compress.reset();
        self.out.clear();
        self.out.extend_from_slice(&HEADER);
        let start = self.compress.total_in();
        loop {
            let consumed = usize::try_from(self.compress.total_in() - start).unwrap_or(body.len());
            let input = body.get(consumed..).unwrap_or_default();
            // DEFLATE can grow incompressible data by a few bytes per block; leave room
            // for that, and more on each pass that finds the room too small.
            self.out.reserve(input.len() / 2 + 64);
            match self
                .compress
                .compress_vec(input, &mut self.out, FlushCompress::Finish)
            {
                Ok(Status::StreamEnd) => break,
                Ok(Status::Ok | Status::BufError) => continue,
                Err(_) => return None,
            }
        }
        let mut crc = Crc::new();
        crc.update(body);
        self.out.extend_from_slice(&crc.sum().to_le_bytes());
        // ISIZE is the length modulo 2^32, as the format defines it.
        self.out
            .extend_from_slice(&(body.len() as u32).to_le_bytes());
        Some(&self.out)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    fn gunzip(data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(data)
            .read_to_end(&mut out)
            .expect("a valid gzip member");
        out
    }

    #[test]
    fn members_decompress_to_the_input_across_reuses() {
        let mut gzip = Gzip::new();
        let big: Vec<u8> = (0..200_000u32).flat_map(|i| i.to_le_bytes()).collect();
        let inputs: [&[u8]; 4] = [b"", b"# EOF\n", &big, b"up 1\n"];
        for input in inputs {
            let member = gzip.compress(input).expect("compresses").to_vec();
            assert_eq!(&member[..3], &[0x1f, 0x8b, 8]);
            assert_eq!(gunzip(&member), input);
        }
    }
}
