//! The OpenTelemetry `MetricsData` protobuf a client pushes (KIP-714), read into samples:
//! each gauge and sum data point with its metric's name, the resource's attributes (the
//! client's identity) and its own. Histograms and summaries, which Kafka's clients do not
//! send, are skipped, as are fields this reader does not know.

/// One data point.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    /// The resource's attributes (for a Kafka client: its id, software, ...), then the point's.
    pub labels: Vec<(String, String)>,
    pub value: f64,
    pub kind: Kind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Gauge,
    /// A sum whose points are changes since the last push (delta temporality), or totals.
    Sum {
        delta: bool,
    },
}

/// Why a push's metrics could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed(pub &'static str);

/// Reads a `MetricsData` message.
pub fn decode(bytes: &[u8]) -> Result<Vec<Sample>, Malformed> {
    let mut samples = Vec::new();
    for field in Fields(bytes) {
        if let (1, Value::Bytes(resource_metrics)) = field? {
            resource_metrics_into(resource_metrics, &mut samples)?;
        }
    }
    Ok(samples)
}

fn resource_metrics_into(bytes: &[u8], samples: &mut Vec<Sample>) -> Result<(), Malformed> {
    let mut resource = Vec::new();
    let mut scopes = Vec::new();
    for field in Fields(bytes) {
        match field? {
            (1, Value::Bytes(r)) => {
                for f in Fields(r) {
                    if let (1, Value::Bytes(kv)) = f? {
                        resource.push(key_value(kv)?);
                    }
                }
            }
            (2, Value::Bytes(scope)) => scopes.push(scope),
            _ => {}
        }
    }
    for scope in scopes {
        for field in Fields(scope) {
            if let (2, Value::Bytes(metric)) = field? {
                metric_into(metric, &resource, samples)?;
            }
        }
    }
    Ok(())
}

fn metric_into(bytes: &[u8], resource: &[(String, String)], samples: &mut Vec<Sample>) -> Result<(), Malformed> {
    let mut name = String::new();
    let mut data = None;
    for field in Fields(bytes) {
        match field? {
            (1, Value::Bytes(n)) => name = text(n)?,
            (5, Value::Bytes(gauge)) => data = Some((gauge, None)),
            (7, Value::Bytes(sum)) => data = Some((sum, Some(()))),
            _ => {}
        }
    }
    let Some((data, sum)) = data else { return Ok(()) };
    let mut points = Vec::new();
    let mut delta = false;
    for field in Fields(data) {
        match field? {
            (1, Value::Bytes(point)) => points.push(point),
            // AggregationTemporality: 1 delta, 2 cumulative.
            (2, Value::Varint(temporality)) => delta = temporality == 1,
            _ => {}
        }
    }
    let kind = if sum.is_some() { Kind::Sum { delta } } else { Kind::Gauge };
    for point in points {
        let mut labels = resource.to_vec();
        let mut value = None;
        for field in Fields(point) {
            match field? {
                (7, Value::Bytes(kv)) => labels.push(key_value(kv)?),
                (4, Value::Fixed64(bits)) => value = Some(f64::from_bits(bits)),
                (6, Value::Fixed64(bits)) => value = Some(bits as i64 as f64),
                _ => {}
            }
        }
        if let Some(value) = value {
            samples.push(Sample { name: name.clone(), labels, value, kind });
        }
    }
    Ok(())
}

/// A `KeyValue`, its value shown as text.
fn key_value(bytes: &[u8]) -> Result<(String, String), Malformed> {
    let (mut key, mut value) = (String::new(), String::new());
    for field in Fields(bytes) {
        match field? {
            (1, Value::Bytes(k)) => key = text(k)?,
            (2, Value::Bytes(any)) => {
                for f in Fields(any) {
                    value = match f? {
                        (1, Value::Bytes(s)) => text(s)?,
                        (2, Value::Varint(b)) => (b != 0).to_string(),
                        (3, Value::Varint(i)) => (i as i64).to_string(),
                        (4, Value::Fixed64(bits)) => f64::from_bits(bits).to_string(),
                        _ => continue,
                    };
                }
            }
            _ => {}
        }
    }
    Ok((key, value))
}

fn text(bytes: &[u8]) -> Result<String, Malformed> {
    String::from_utf8(bytes.to_vec()).map_err(|_| Malformed("a string is not UTF-8"))
}

/// A field's value by wire type.
enum Value<'a> {
    Varint(u64),
    Fixed64(u64),
    Bytes(&'a [u8]),
    Fixed32,
}

/// The fields of one message: (field number, value).
struct Fields<'a>(&'a [u8]);

impl<'a> Iterator for Fields<'a> {
    type Item = Result<(u64, Value<'a>), Malformed>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.0.is_empty() {
            return None;
        }
        let field = self.read();
        if field.is_err() {
            // Nothing after a malformed field is read.
            self.0 = &[];
        }
        Some(field)
    }
}

impl<'a> Fields<'a> {
    fn read(&mut self) -> Result<(u64, Value<'a>), Malformed> {
        let key = self.varint()?;
        let value = match key & 7 {
            0 => Value::Varint(self.varint()?),
            1 => Value::Fixed64(u64::from_le_bytes(self.take(8)?.try_into().expect("8 bytes"))),
            2 => {
                let len = usize::try_from(self.varint()?).map_err(|_| Malformed("a length overflows"))?;
                Value::Bytes(self.take(len)?)
            }
            5 => {
                self.take(4)?;
                Value::Fixed32
            }
            _ => return Err(Malformed("an unknown wire type")),
        };
        Ok((key >> 3, value))
    }

    fn varint(&mut self) -> Result<u64, Malformed> {
        let mut value = 0u64;
        for i in 0..10 {
            let (&byte, rest) = self.0.split_first().ok_or(Malformed("a varint is cut short"))?;
            self.0 = rest;
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(Malformed("a varint is too long"))
    }

    fn take(&mut self, len: usize) -> Result<&'a [u8], Malformed> {
        if len > self.0.len() {
            return Err(Malformed("a field is cut short"));
        }
        let (taken, rest) = self.0.split_at(len);
        self.0 = rest;
        Ok(taken)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Protobuf encoding, for building test messages.
    fn field(number: u64, wire: u64, payload: &[u8]) -> Vec<u8> {
        let mut out = varint((number << 3) | wire);
        if wire == 2 {
            out.extend(varint(payload.len() as u64));
        }
        out.extend_from_slice(payload);
        out
    }

    fn varint(mut v: u64) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            let byte = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(byte);
                return out;
            }
            out.push(byte | 0x80);
        }
    }

    fn kv(key: &str, value: &str) -> Vec<u8> {
        [field(1, 2, key.as_bytes()), field(2, 2, &field(1, 2, value.as_bytes()))].concat()
    }

    #[test]
    fn gauges_and_sums_with_their_labels() {
        let gauge_point = [field(7, 2, &kv("topic", "orders")), field(4, 1, &2.5f64.to_bits().to_le_bytes())].concat();
        let gauge =
            [field(1, 2, b"org.apache.kafka.producer.record.queue.time.avg"), field(5, 2, &field(1, 2, &gauge_point))]
                .concat();
        let sum_point = field(6, 1, &7i64.to_le_bytes());
        let sum_data = [field(1, 2, &sum_point), field(2, 0, &varint(1)), field(3, 0, &varint(1))].concat();
        let sum = [field(1, 2, b"org.apache.kafka.producer.record.error.total"), field(7, 2, &sum_data)].concat();
        let scope = [field(2, 2, &gauge), field(2, 2, &sum)].concat();
        let resource = field(1, 2, &kv("client_id", "shop"));
        let data = field(1, 2, &[field(1, 2, &resource), field(2, 2, &scope)].concat());
        let samples = decode(&data).unwrap();
        assert_eq!(samples.len(), 2);
        assert_eq!(samples[0].name, "org.apache.kafka.producer.record.queue.time.avg");
        assert_eq!(samples[0].labels, [("client_id".into(), "shop".into()), ("topic".into(), "orders".into())]);
        assert_eq!((samples[0].value, samples[0].kind), (2.5, Kind::Gauge));
        assert_eq!((samples[1].value, samples[1].kind), (7.0, Kind::Sum { delta: true }));
        assert!(decode(&data[..data.len() - 3]).is_err(), "cut short");
        assert!(decode(&[0xff; 11]).is_err(), "a varint too long");
    }
}
