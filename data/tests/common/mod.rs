//! Helpers shared by the integration tests: a minimal JSON reader for the numpy fixtures
//! (the crate has no serde dependency), IDX byte builders and a self-cleaning temp dir.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};

/// A parsed JSON value; numbers are kept as their text and converted on request.
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Number(String),
    Str(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl Json {
    /// Parses a whole document; panics with a position on malformed input (test helper).
    pub fn parse(text: &str) -> Json {
        let mut parser = Parser {
            bytes: text.as_bytes(),
            at: 0,
        };
        let value = parser.value();
        parser.skip_space();
        assert_eq!(parser.at, parser.bytes.len(), "trailing JSON text");
        value
    }

    /// Field `key` of an object.
    pub fn get(&self, key: &str) -> &Json {
        match self {
            Json::Object(fields) => {
                &fields
                    .iter()
                    .find(|(name, _)| name == key)
                    .unwrap_or_else(|| panic!("no field {key}"))
                    .1
            }
            other => panic!("not an object: {other:?}"),
        }
    }

    pub fn as_u64(&self) -> u64 {
        match self {
            Json::Number(text) => text.parse().unwrap(),
            other => panic!("not a number: {other:?}"),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Json::Str(text) => text,
            other => panic!("not a string: {other:?}"),
        }
    }

    pub fn as_array(&self) -> &[Json] {
        match self {
            Json::Array(items) => items,
            other => panic!("not an array: {other:?}"),
        }
    }

    pub fn as_usize_vec(&self) -> Vec<usize> {
        self.as_array()
            .iter()
            .map(|item| usize::try_from(item.as_u64()).unwrap())
            .collect()
    }
}

struct Parser<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Parser<'_> {
    fn skip_space(&mut self) {
        while self.at < self.bytes.len() && self.bytes[self.at].is_ascii_whitespace() {
            self.at += 1;
        }
    }

    fn expect(&mut self, byte: u8) {
        self.skip_space();
        assert_eq!(
            self.bytes[self.at], byte,
            "JSON: expected {} at {}",
            byte as char, self.at
        );
        self.at += 1;
    }

    fn value(&mut self) -> Json {
        self.skip_space();
        match self.bytes[self.at] {
            b'{' => {
                self.at += 1;
                let mut fields = Vec::new();
                self.skip_space();
                if self.bytes[self.at] == b'}' {
                    self.at += 1;
                    return Json::Object(fields);
                }
                loop {
                    self.skip_space();
                    let Json::Str(key) = self.value() else {
                        panic!("JSON: object key must be a string at {}", self.at)
                    };
                    self.expect(b':');
                    fields.push((key, self.value()));
                    self.skip_space();
                    self.at += 1;
                    match self.bytes[self.at - 1] {
                        b',' => continue,
                        b'}' => return Json::Object(fields),
                        other => panic!("JSON: unexpected {} at {}", other as char, self.at),
                    }
                }
            }
            b'[' => {
                self.at += 1;
                let mut items = Vec::new();
                self.skip_space();
                if self.bytes[self.at] == b']' {
                    self.at += 1;
                    return Json::Array(items);
                }
                loop {
                    items.push(self.value());
                    self.skip_space();
                    self.at += 1;
                    match self.bytes[self.at - 1] {
                        b',' => continue,
                        b']' => return Json::Array(items),
                        other => panic!("JSON: unexpected {} at {}", other as char, self.at),
                    }
                }
            }
            b'"' => {
                // The fixtures hold plain ASCII strings without escapes.
                let start = self.at + 1;
                let end = start
                    + self.bytes[start..]
                        .iter()
                        .position(|&byte| byte == b'"')
                        .unwrap();
                assert!(
                    !self.bytes[start..end].contains(&b'\\'),
                    "JSON escapes unsupported"
                );
                self.at = end + 1;
                Json::Str(String::from_utf8(self.bytes[start..end].to_vec()).unwrap())
            }
            b't' => self.literal("true", Json::Bool(true)),
            b'f' => self.literal("false", Json::Bool(false)),
            b'n' => self.literal("null", Json::Null),
            _ => {
                let start = self.at;
                while self.at < self.bytes.len()
                    && matches!(
                        self.bytes[self.at],
                        b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9'
                    )
                {
                    self.at += 1;
                }
                assert!(self.at > start, "JSON: unexpected byte at {start}");
                Json::Number(String::from_utf8(self.bytes[start..self.at].to_vec()).unwrap())
            }
        }
    }

    fn literal(&mut self, word: &str, value: Json) -> Json {
        assert!(self.bytes[self.at..].starts_with(word.as_bytes()));
        self.at += word.len();
        value
    }
}

/// Reads a fixture from `data/tests/fixtures/`.
pub fn fixture(name: &str) -> Json {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    Json::parse(&std::fs::read_to_string(&path).unwrap())
}

/// An IDX file: the 4-byte big-endian magic, the big-endian dimensions, then the payload.
pub fn idx_bytes(magic: u32, dims: &[u32], payload: &[u8]) -> Vec<u8> {
    let mut bytes = magic.to_be_bytes().to_vec();
    for dim in dims {
        bytes.extend_from_slice(&dim.to_be_bytes());
    }
    bytes.extend_from_slice(payload);
    bytes
}

/// A valid image file of `count` 28 x 28 images; pixel k of image i is (i + k) mod 256.
pub fn image_file(count: u32) -> Vec<u8> {
    let payload: Vec<u8> = (0..count as usize)
        .flat_map(|image| (0..784).map(move |pixel| ((image + pixel) % 256) as u8))
        .collect();
    idx_bytes(0x0000_0803, &[count, 28, 28], &payload)
}

/// A valid label file holding `labels`.
pub fn label_file(labels: &[u8]) -> Vec<u8> {
    idx_bytes(0x0000_0801, &[labels.len() as u32], labels)
}

/// Gzips `bytes`.
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// A fresh directory under the system temp dir, removed when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let path = std::env::temp_dir().join(format!("hsnn-data-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
