//! Saving a [`Collection`] to bytes and loading it back.
//!
//! Layout (version 4), all integers little-endian:
//!
//! | bytes | content |
//! |---|---|
//! | 8 | magic `CLIPSCOL` |
//! | 4 | format version (`u32`, currently 4) |
//! | 8 | payload length (`u64`) |
//! | 32 | SHA-256 of the payload |
//! | n | payload |
//!
//! The payload is two [postcard](https://docs.rs/postcard) sections: the head (length-prefixed:
//! space info, the policy as JSON text, live items in insertion order with ids, metadata as JSON
//! text, and either their `f32` vector or their graph point) and, if a graph exists,
//! instant-distance's own serde form of each segment's `Hnsw`, one after the other (their points
//! hold the indexed vectors, so each vector is stored once; graph point numbers run on across
//! segments).
//!
//! Version 4 is version 3, except that a collection whose policy stores `f16` vectors
//! ([`VectorType::F16`](super::VectorType)) writes its graph sections' points as their `f16` bits
//! (postcard bytes, 2 per value, little-endian) instead of `f32` values: half the bytes. Its tail
//! items' vectors stay `f32` (the widened values), and an `f32` collection's file is laid out as
//! in version 3.
//!
//! Version 3 is version 2 with any number of graph sections (versions 1 and 2 have at most one,
//! and read the same way); an older clipsearch refuses it by its version number.
//!
//! Version 2 stores the policy as JSON text because postcard is not self-describing: version 1
//! stored it as postcard fields, so adding a policy field changed the layout without changing
//! the version. Both version 1 layouts are still read (the one before `keep_pruned_from`
//! existed, and the one with it; see `tests/fixtures/collections/`), and a policy field added
//! later takes its default when an older file is loaded.
//!
//! Loading checks the magic, version, length and checksum, then checks the graph's structure
//! (every neighbour id in range, layer sizes consistent) before handing it to instant-distance,
//! so corrupt, truncated or foreign bytes give [`Error::InvalidData`], never a panic.

use std::fmt;

use instant_distance::Hnsw;
use serde::de::{self, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use sha2::{Digest, Sha256};

use super::collection::{
    check_policy, Collection, Graph, IndexPolicy, Segment, Slot, Vector, VectorType, NONE,
};
use super::ids::IdMap;
use super::simd::{f16_to_f32, f32_to_f16};
use crate::{Error, Metadata, Result, SpaceInfo};

/// The first eight bytes of a saved collection.
pub const MAGIC: &[u8; 8] = b"CLIPSCOL";
/// The format version this build writes. It also reads versions 1 to 3.
pub const FORMAT_VERSION: u32 = 4;
const HEADER: usize = 8 + 4 + 8 + 32;

/// The head section; `P` is how the policy is stored: JSON text in version 2, postcard fields
/// (one of the [`PolicyV1`] layouts) in version 1.
#[derive(Serialize, Deserialize)]
struct Head<P> {
    space: SpaceInfo,
    policy: P,
    items: Vec<SavedItem>,
    /// `(ef_search, points)` of the graph (all segments), if any.
    graph: Option<(usize, u32)>,
}

/// `IndexPolicy` as version 1 wrote it until 2026-12-02 (postcard, fields in this order).
#[derive(Deserialize)]
struct PolicyV1 {
    min_index_size: usize,
    max_tail_fraction: f32,
    min_tail: usize,
    max_tombstone_fraction: f32,
    ef_construction: usize,
    ef_search: usize,
    heuristic: bool,
    seed: u64,
}

/// `IndexPolicy` as version 1 wrote it from 2026-12-02, when `keep_pruned_from` was added.
#[derive(Deserialize)]
struct PolicyV1KeepPruned {
    min_index_size: usize,
    max_tail_fraction: f32,
    min_tail: usize,
    max_tombstone_fraction: f32,
    ef_construction: usize,
    ef_search: usize,
    heuristic: bool,
    keep_pruned_from: usize,
    seed: u64,
}

impl From<PolicyV1> for IndexPolicy {
    fn from(p: PolicyV1) -> Self {
        IndexPolicy {
            min_index_size: p.min_index_size,
            max_tail_fraction: p.max_tail_fraction,
            min_tail: p.min_tail,
            max_tombstone_fraction: p.max_tombstone_fraction,
            ef_construction: p.ef_construction,
            ef_search: p.ef_search,
            heuristic: p.heuristic,
            seed: p.seed,
            ..IndexPolicy::default()
        }
    }
}

impl From<PolicyV1KeepPruned> for IndexPolicy {
    fn from(p: PolicyV1KeepPruned) -> Self {
        IndexPolicy {
            min_index_size: p.min_index_size,
            max_tail_fraction: p.max_tail_fraction,
            min_tail: p.min_tail,
            max_tombstone_fraction: p.max_tombstone_fraction,
            ef_construction: p.ef_construction,
            ef_search: p.ef_search,
            heuristic: p.heuristic,
            keep_pruned_from: p.keep_pruned_from,
            seed: p.seed,
            ..IndexPolicy::default()
        }
    }
}

impl<P> Head<P> {
    fn with_policy<Q>(self, policy: impl FnOnce(P) -> Q) -> Head<Q> {
        Head {
            space: self.space,
            policy: policy(self.policy),
            items: self.items,
            graph: self.graph,
        }
    }
}

/// Parses a head section whose policy is stored as `P`; the whole section must be consumed.
fn take_head<'a, P: Deserialize<'a>>(
    bytes: &'a [u8],
) -> std::result::Result<Head<P>, postcard::Error> {
    match postcard::take_from_bytes::<Head<P>>(bytes)? {
        (h, []) => Ok(h),
        _ => Err(postcard::Error::DeserializeBadEncoding),
    }
}

/// Reads a head section of format `version` (1 or 2).
fn read_head(version: u32, bytes: &[u8]) -> Result<Head<IndexPolicy>> {
    if version == 1 {
        // Two layouts share version 1; only the right one consumes the section exactly.
        return take_head::<PolicyV1KeepPruned>(bytes)
            .map(|h| h.with_policy(IndexPolicy::from))
            .or_else(|_| take_head::<PolicyV1>(bytes).map(|h| h.with_policy(IndexPolicy::from)))
            .map_err(invalid);
    }
    let h = take_head::<String>(bytes).map_err(invalid)?;
    let policy: IndexPolicy =
        serde_json::from_str(&h.policy).map_err(|e| invalid(format!("policy: {e}")))?;
    Ok(h.with_policy(|_| policy))
}

#[derive(Serialize, Deserialize)]
struct SavedItem {
    id: String,
    /// Metadata as JSON text (postcard is not self-describing); empty for no metadata.
    metadata: String,
    /// Graph point, or `u32::MAX` for a tail item.
    pid: u32,
    /// The vector of a tail item; empty for a graph item.
    vector: Vec<f32>,
}

fn invalid(msg: impl fmt::Display) -> Error {
    Error::InvalidData(format!("not a readable clipsearch collection: {msg}"))
}

impl Collection {
    /// Serialises the whole collection (space, policy, items, tombstone-free graph) to bytes.
    ///
    /// # Errors
    /// [`Error::InvalidData`] if serialisation fails (not expected).
    ///
    /// # Example
    /// ```
    /// # use clipsearch::{Item, SpaceInfo, index::Collection};
    /// let space = SpaceInfo { model_key: "m".into(), model_name: "toy".into(), dim: 2,
    ///                         quantization: "f32".into() };
    /// let mut c = Collection::new(space).unwrap();
    /// c.upsert(Item { id: "a".into(), embedding: vec![1.0, 2.0], metadata: Default::default() }).unwrap();
    /// let back = Collection::from_bytes(&c.to_bytes().unwrap()).unwrap();
    /// assert_eq!(back.get("a").unwrap().embedding, c.get("a").unwrap().embedding);
    /// ```
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let items = self
            .slots
            .iter()
            .filter(|s| s.vector.is_some())
            .map(|s| SavedItem {
                id: s.id.clone(),
                metadata: if s.metadata.is_empty() {
                    String::new()
                } else {
                    serde_json::Value::Object(s.metadata.clone()).to_string()
                },
                pid: s.pid,
                vector: if s.pid == NONE {
                    s.vector
                        .as_ref()
                        .map(|v| v.values().into_owned())
                        .unwrap_or_default()
                } else {
                    Vec::new()
                },
            })
            .collect();
        let head = Head {
            space: self.space.clone(),
            policy: serde_json::to_string(&self.policy).map_err(invalid)?,
            items,
            graph: self
                .graph
                .as_ref()
                .map(|g| (g.ef_search, g.slot_of.len() as u32)),
        };
        let head = postcard::to_allocvec(&head).map_err(invalid)?;
        let mut payload = Vec::with_capacity(head.len() + 16);
        payload.extend_from_slice(&(head.len() as u64).to_le_bytes());
        payload.extend_from_slice(&head);
        if let Some(g) = &self.graph {
            for seg in &g.segments {
                payload = match self.policy.vector_type {
                    VectorType::F32 => postcard::to_extend(&seg.hnsw, payload),
                    VectorType::F16 => {
                        // instant-distance writes `f32` points: read its section back in the
                        // mirror's shape, each point rounded to its `f16` bits as it is read,
                        // and write those.
                        let full: MirrorHnsw<Half> = postcard::from_bytes(
                            &postcard::to_allocvec(&seg.hnsw).map_err(invalid)?,
                        )
                        .map_err(invalid)?;
                        postcard::to_extend(&full, payload)
                    }
                }
                .map_err(invalid)?;
            }
        }
        let mut out = Vec::with_capacity(HEADER + payload.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        out.extend_from_slice(&Sha256::digest(&payload));
        out.extend_from_slice(&payload);
        Ok(out)
    }

    /// Loads a collection saved by [`to_bytes`](Self::to_bytes).
    ///
    /// # Errors
    /// [`Error::InvalidData`] if the bytes are not a saved collection, are truncated or
    /// corrupt, or come from an unknown format version (the message says which).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        if bytes.len() < HEADER || &bytes[..8] != MAGIC {
            return Err(invalid("missing the CLIPSCOL header"));
        }
        let u32_at = |i: usize| -> [u8; 4] {
            let mut b = [0; 4];
            b.copy_from_slice(&bytes[i..i + 4]);
            b
        };
        let version = u32::from_le_bytes(u32_at(8));
        if !(1..=FORMAT_VERSION).contains(&version) {
            return Err(Error::InvalidData(format!(
                "saved collection has format version {version}; this clipsearch reads versions \
                 1 to {FORMAT_VERSION}: load it with a newer clipsearch"
            )));
        }
        let mut len = [0; 8];
        len.copy_from_slice(&bytes[12..20]);
        let len = u64::from_le_bytes(len);
        let payload = &bytes[HEADER..];
        if payload.len() as u64 != len {
            return Err(invalid(format!(
                "payload is {} bytes but the header says {len} (truncated?)",
                payload.len()
            )));
        }
        if Sha256::digest(payload).as_slice() != &bytes[20..52] {
            return Err(invalid("checksum mismatch (the bytes are corrupt)"));
        }
        if payload.len() < 8 {
            return Err(invalid("payload too short"));
        }
        let mut hl = [0; 8];
        hl.copy_from_slice(&payload[..8]);
        let head_len = usize::try_from(u64::from_le_bytes(hl))
            .ok()
            .filter(|&n| n <= payload.len() - 8)
            .ok_or_else(|| invalid("head section length out of range"))?;
        let head = read_head(version, &payload[8..8 + head_len])?;
        let graph_bytes = &payload[8 + head_len..];
        check_policy(&head.policy).map_err(invalid)?;
        if head.space.dim == 0 {
            return Err(invalid("dimension 0"));
        }
        let dim = head.space.dim;

        // The graph: validate each segment's structure on a mirror first, then let
        // instant-distance load it.
        let ty = head.policy.vector_type;
        let mut graph_points: Vec<Vector> = Vec::new();
        let graph = match head.graph {
            None => {
                if !graph_bytes.is_empty() {
                    return Err(invalid("trailing bytes after the head"));
                }
                None
            }
            Some((ef_search, n)) => {
                let n = n as usize;
                let mut segments = Vec::new();
                let mut rest = graph_bytes;
                let half_points = version >= 4 && ty == VectorType::F16;
                while !rest.is_empty() || segments.is_empty() {
                    // An f16 section is read in the mirror's shape and written back with `f32`
                    // points for instant-distance (a segment's worth of bytes at a time).
                    let (mirror, widened, after) = if half_points {
                        let (m, after): (MirrorHnsw<SavedHalf>, _) =
                            postcard::take_from_bytes(rest).map_err(invalid)?;
                        let widened = postcard::to_allocvec(&m.map_points(|h| Widened(&h.0)))
                            .map_err(invalid)?;
                        (m.map_points(|h| PointLen(h.0.len())), Some(widened), after)
                    } else {
                        let (m, after): (MirrorHnsw, _) =
                            postcard::take_from_bytes(rest).map_err(invalid)?;
                        (m, None, after)
                    };
                    let len = mirror.points.len();
                    if len == 0 || graph_points.len() + len > n {
                        return Err(invalid("segment sizes disagree with the point count"));
                    }
                    mirror.validate(dim, ef_search, len)?;
                    let section = widened
                        .as_deref()
                        .unwrap_or(&rest[..rest.len() - after.len()]);
                    let mut hnsw: Hnsw<Vector> = postcard::from_bytes(section).map_err(invalid)?;
                    // Saved as `f32`; stored as the policy says (an `f16` collection's saved
                    // values are `f16` values, rounded back exactly).
                    for p in hnsw.points_mut() {
                        *p = p.to_type(ty);
                    }
                    let offset = graph_points.len() as u32;
                    graph_points.extend(hnsw.iter().map(|(_, p)| p.clone()));
                    if graph_points.len() != offset as usize + len {
                        return Err(invalid("graph point count changed between passes"));
                    }
                    segments.push(Segment {
                        hnsw,
                        offset,
                        len: len as u32,
                    });
                    rest = after;
                }
                if graph_points.len() != n {
                    return Err(invalid("segment sizes disagree with the point count"));
                }
                if version < 3 && segments.len() > 1 {
                    return Err(invalid("trailing bytes after the graph"));
                }
                Some((segments, ef_search))
            }
        };

        let mut slots = Vec::with_capacity(head.items.len());
        let mut by_id = IdMap::with_capacity(head.items.len());
        let mut tail = Vec::new();
        let mut slot_of = vec![NONE; graph_points.len()];
        for (s, it) in head.items.into_iter().enumerate() {
            let s = s as u32;
            let metadata: Metadata = if it.metadata.is_empty() {
                Metadata::new()
            } else {
                serde_json::from_str(&it.metadata)
                    .map_err(|e| invalid(format!("metadata of `{}`: {e}", it.id)))?
            };
            let vector = if it.pid == NONE {
                if it.vector.len() != dim || !it.vector.iter().all(|x| x.is_finite()) {
                    return Err(invalid(format!("vector of `{}` is malformed", it.id)));
                }
                tail.push(s);
                Vector::new(&it.vector, ty)
            } else {
                let p = slot_of
                    .get_mut(it.pid as usize)
                    .filter(|x| **x == NONE)
                    .ok_or_else(|| invalid(format!("graph point of `{}` is invalid", it.id)))?;
                *p = s;
                graph_points[it.pid as usize].clone()
            };
            slots.push(Slot {
                id: it.id,
                metadata,
                vector: Some(vector),
                pid: it.pid,
            });
            if !by_id.insert(&slots, s) {
                return Err(invalid(format!("duplicate id `{}`", slots[s as usize].id)));
            }
        }
        let graph = graph.map(|(segments, ef_search)| Graph {
            segments,
            tombstones: slot_of.iter().filter(|s| **s == NONE).count(),
            slot_of,
            ef_search,
        });
        let mut c = Collection {
            generation: 0,
            space: head.space,
            policy: head.policy,
            slots,
            by_id,
            tail,
            graph,
            codes: None,
        };
        c.sync_codes();
        Ok(c)
    }
}

/// Reads one segment's `Hnsw` (instant-distance's serde form, as in the payload above) of `n`
/// points of `dim` values built with `ef_search`, validating its structure first.
pub(crate) fn decode_segment(
    bytes: &[u8],
    dim: usize,
    ef_search: usize,
    n: usize,
) -> Result<Hnsw<Vector>> {
    let bad = |m: String| Error::InvalidData(format!("not a readable graph segment: {m}"));
    let mirror: MirrorHnsw = postcard::from_bytes(bytes).map_err(|e| bad(e.to_string()))?;
    mirror
        .validate(dim, ef_search, n)
        .map_err(|e| bad(e.to_string()))?;
    postcard::from_bytes(bytes).map_err(|e| bad(e.to_string()))
}

/// The serde shape of `instant_distance::Hnsw` (fields in declaration order: `ef_search`,
/// `points`, `zero`, `layers`; instant-distance 0.6.1 `src/lib.rs`), read to validate before
/// the real type (whose fields are private) is deserialised.
/// `P` is how its points are read: [`PointLen`] to validate; [`Half`] (from instant-distance's
/// form) and [`SavedHalf`] (from format 4's) to rewrite a section with other points.
#[derive(Serialize, Deserialize)]
struct MirrorHnsw<P = PointLen> {
    ef_search: usize,
    points: Vec<P>,
    zero: Vec<Links<64>>,
    layers: Vec<Vec<Links<32>>>,
}

impl<P> MirrorHnsw<P> {
    /// The same graph with each point mapped by `f`.
    fn map_points<'a, Q>(&'a self, f: impl FnMut(&'a P) -> Q) -> MirrorHnsw<Q> {
        MirrorHnsw {
            ef_search: self.ef_search,
            points: self.points.iter().map(f).collect(),
            zero: self.zero.iter().map(|l| Links(l.0)).collect(),
            layers: self
                .layers
                .iter()
                .map(|layer| layer.iter().map(|l| Links(l.0)).collect())
                .collect(),
        }
    }
}

/// An `f16` collection's graph point on its way to a file: read from instant-distance's `f32`
/// form, each value rounded to its `f16` bits as it is read (the values of an `f16` collection,
/// so exactly), and written as format 4 saves it: postcard bytes, 2 per value, little-endian.
struct Half(Vec<u16>);

impl Serialize for Half {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let bytes: Vec<u8> = self.0.iter().flat_map(|h| h.to_le_bytes()).collect();
        s.serialize_bytes(&bytes)
    }
}

impl<'de> Deserialize<'de> for Half {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Half;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a sequence of f32")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> std::result::Result<Half, A::Error> {
                let mut out = Vec::with_capacity(a.size_hint().unwrap_or(0));
                while let Some(x) = a.next_element::<f32>()? {
                    out.push(f32_to_f16(x));
                }
                Ok(Half(out))
            }
        }
        d.deserialize_seq(V)
    }
}

/// An `f16` collection's graph point read from a format 4 file: its `f16` bits. Reading
/// refuses an odd byte count and the bits of an infinity or NaN.
struct SavedHalf(Vec<u16>);

/// The `f32` values of `f16` bits (widened exactly, as they are written): a format 4 point
/// written back in instant-distance's form.
struct Widened<'a>(&'a [u16]);

impl Serialize for Widened<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(|&h| f16_to_f32(h)))
    }
}

impl<'de> Deserialize<'de> for SavedHalf {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = SavedHalf;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("the f16 bits of a vector, 2 bytes each")
            }
            fn visit_bytes<E: de::Error>(self, b: &[u8]) -> std::result::Result<SavedHalf, E> {
                if b.len() % 2 != 0 {
                    return Err(E::custom("an odd number of bytes for f16 values"));
                }
                let h: Vec<u16> = b
                    .chunks_exact(2)
                    .map(|c| u16::from_le_bytes([c[0], c[1]]))
                    .collect();
                if h.iter().any(|&x| x & 0x7c00 == 0x7c00) {
                    return Err(E::custom("non-finite vector value"));
                }
                Ok(SavedHalf(h))
            }
        }
        d.deserialize_bytes(V)
    }
}

/// A point's length (its values are read and dropped).
struct PointLen(usize);

impl<'de> Deserialize<'de> for PointLen {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = PointLen;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a sequence of f32")
            }
            fn visit_seq<A: SeqAccess<'de>>(
                self,
                mut a: A,
            ) -> std::result::Result<PointLen, A::Error> {
                let mut n = 0;
                while let Some(x) = a.next_element::<f32>()? {
                    if !x.is_finite() {
                        return Err(de::Error::custom("non-finite vector value"));
                    }
                    n += 1;
                }
                Ok(PointLen(n))
            }
        }
        d.deserialize_seq(V)
    }
}

/// A fixed-size neighbour list (`ZeroNode` has 64, `UpperNode` 32 `PointId`s, each a `u32`).
struct Links<const N: usize>([u32; N]);

impl<const N: usize> Serialize for Links<N> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeTuple;
        let mut t = s.serialize_tuple(N)?;
        for p in &self.0 {
            t.serialize_element(p)?;
        }
        t.end()
    }
}

impl<'de, const N: usize> Deserialize<'de> for Links<N> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V<const N: usize>;
        impl<'de, const N: usize> Visitor<'de> for V<N> {
            type Value = Links<N>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{N} point ids")
            }
            fn visit_seq<A: SeqAccess<'de>>(
                self,
                mut a: A,
            ) -> std::result::Result<Links<N>, A::Error> {
                let mut out = [0u32; N];
                for (i, slot) in out.iter_mut().enumerate() {
                    *slot = a
                        .next_element::<u32>()?
                        .ok_or_else(|| de::Error::invalid_length(i, &self))?;
                }
                Ok(Links(out))
            }
        }
        d.deserialize_tuple(N, V::<N>)
    }
}

impl MirrorHnsw {
    fn validate(&self, dim: usize, ef_search: usize, n: usize) -> Result<()> {
        let bad = |m: &str| Err(invalid(format!("graph: {m}")));
        if self.ef_search != ef_search || ef_search == 0 || ef_search > 100_000 {
            return bad("ef_search out of range");
        }
        if self.points.len() != n || self.zero.len() != n {
            return bad("point and node counts disagree");
        }
        if self.points.iter().any(|p| p.0 != dim) {
            return bad("a point has the wrong dimension");
        }
        let in_range =
            |links: &[u32], len: usize| links.iter().all(|&p| p == NONE || (p as usize) < len);
        if !self.zero.iter().all(|z| in_range(&z.0, n)) {
            return bad("a neighbour id is out of range");
        }
        let mut below = n;
        for layer in &self.layers {
            if layer.is_empty() || layer.len() > below {
                return bad("layer sizes are inconsistent");
            }
            if !layer.iter().all(|z| in_range(&z.0, layer.len())) {
                return bad("an upper-layer neighbour id is out of range");
            }
            below = layer.len();
        }
        if n == 0 && !self.layers.is_empty() {
            return bad("layers without points");
        }
        Ok(())
    }
}
