//! The remote-write 1.0 messages, written out by hand from the published protocol buffer
//! definitions, so that building the crate needs no `protoc`:
//!
//! - `WriteRequest` from `prompb/remote.proto`:
//!   <https://github.com/prometheus/prometheus/blob/v2.42.0/prompb/remote.proto>;
//! - `TimeSeries`, `Label` and `Sample` from `prompb/types.proto`:
//!   <https://github.com/prometheus/prometheus/blob/v2.42.0/prompb/types.proto>.
//!
//! The specification quotes the same messages:
//! <https://prometheus.io/docs/concepts/remote_write_spec/#protocol>. Only what it requires
//! of a sender is here. The tag numbers are the wire format and must stay those of the
//! `.proto`; a field that is left out (metadata, exemplars, native histograms) is simply
//! never written, which protobuf readers treat as empty.

/// `message WriteRequest` of `remote.proto`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct WriteRequest {
    /// `repeated prometheus.TimeSeries timeseries = 1;`. Field 2 is reserved (Cortex used
    /// it) and field 3 carries metadata, which remote write 1.0 leaves out.
    #[prost(message, repeated, tag = "1")]
    pub(crate) timeseries: Vec<TimeSeries>,
}

/// `message TimeSeries` of `types.proto`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct TimeSeries {
    /// `repeated Label labels = 1;`: sorted by name, no name twice, `__name__` among them.
    #[prost(message, repeated, tag = "1")]
    pub(crate) labels: Vec<Label>,
    /// `repeated Sample samples = 2;`, in timestamp order. Fields 3 (exemplars) and 4
    /// (native histograms) are not sent.
    #[prost(message, repeated, tag = "2")]
    pub(crate) samples: Vec<Sample>,
}

/// `message Label` of `types.proto`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Label {
    /// `string name = 1;`
    #[prost(string, tag = "1")]
    pub(crate) name: String,
    /// `string value = 2;`
    #[prost(string, tag = "2")]
    pub(crate) value: String,
}

/// `message Sample` of `types.proto`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Sample {
    /// `double value = 1;`
    #[prost(double, tag = "1")]
    pub(crate) value: f64,
    /// `int64 timestamp = 2;`: milliseconds since the Unix epoch.
    #[prost(int64, tag = "2")]
    pub(crate) timestamp: i64,
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;

    // The expected bytes follow the protobuf encoding rules
    // (<https://protobuf.dev/programming-guides/encoding/>): each field starts with the key
    // `(field_number << 3) | wire_type`, where 0 is a varint, 1 a 64-bit value and 2 a
    // length-delimited one.
    #[test]
    fn messages_encode_with_the_field_numbers_of_the_published_proto() {
        let request = WriteRequest {
            timeseries: vec![TimeSeries {
                labels: vec![Label {
                    name: "a".into(),
                    value: "b".into(),
                }],
                samples: vec![Sample {
                    value: 1.0,
                    timestamp: 2,
                }],
            }],
        };
        let label = [0x0a, 1, b'a', 0x12, 1, b'b'];
        // Field 1, 64-bit: 1.0 is 0x3ff0000000000000, little-endian; field 2, varint 2.
        let sample = [0x09, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f, 0x10, 2];
        let mut series = vec![0x0a, label.len() as u8];
        series.extend_from_slice(&label);
        series.extend_from_slice(&[0x12, sample.len() as u8]);
        series.extend_from_slice(&sample);
        let mut expected = vec![0x0a, series.len() as u8];
        expected.extend_from_slice(&series);
        assert_eq!(request.encode_to_vec(), expected);
    }

    #[test]
    fn a_float_keeps_its_exact_bits_on_the_wire() {
        let bits = 0x7ff8_0000_0000_0001u64;
        let sample = Sample {
            value: f64::from_bits(bits),
            timestamp: 0,
        };
        let mut expected = vec![0x09];
        expected.extend_from_slice(&bits.to_le_bytes());
        assert_eq!(sample.encode_to_vec(), expected);
    }
}
