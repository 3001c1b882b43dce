//! The [`Collection`]: items (source of truth), instant-distance HNSW graphs (segments) over the
//! items present at the last build, and an exact scan over everything added since.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::sync::Arc;

use instant_distance::{Hnsw, Point, Search};
use serde::{Deserialize, Serialize};

use super::build::SegmentParams;
use super::codes::{ScanCodes, MAX_CODE_DIM};
use super::filter::Filter;
use super::ids::IdMap;
use super::simd::{dot, dot4, dot4_f16, dot_f16, f16_to_f32, f32_to_f16, normalized};
use crate::{Error, Item, Metadata, Result, SpaceInfo};

/// Marks "no point" / "no slot".
pub(crate) const NONE: u32 = u32::MAX;

/// How a collection stores its vectors ([`IndexPolicy::vector_type`], Qdrant's `datatype`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VectorType {
    /// 4 bytes per value: the L2-normalised embedding as given (2 KiB per 512-d item).
    #[default]
    F32,
    /// 2 bytes per value: the L2-normalised embedding rounded to the nearest `f16` (1 KiB per
    /// 512-d item). Each value moves by at most 2⁻¹¹ of itself (a cosine score by ~1e-4 at
    /// most, well below what a quantized model changes); items read back, exports and saved
    /// collections hold the rounded values (saved as `f16` bits: ~1.4 KB per 512-d item with
    /// its graph, instead of 2.4 KB). Scores are `f32` dot products with them.
    F16,
}

/// An L2-normalised vector shared between a collection's item and the HNSW graph (one copy in
/// memory), stored as the policy's [`VectorType`]. Its HNSW distance is `1 - dot`, i.e.
/// `1 - cosine`. Every score is the same `f32` dot product whatever the storage: an `f16`
/// vector scores exactly as its `f32` widening does.
#[derive(Clone, Debug)]
pub(crate) enum Vector {
    /// `f32` values.
    F32(Arc<[f32]>),
    /// `f16` bits.
    F16(Arc<[u16]>),
}

impl Vector {
    /// `v` stored as `ty` (rounded to `f16` for [`VectorType::F16`]).
    pub(crate) fn new(v: &[f32], ty: VectorType) -> Self {
        match ty {
            VectorType::F32 => Vector::F32(Arc::from(v)),
            VectorType::F16 => Vector::F16(v.iter().map(|&x| f32_to_f16(x)).collect()),
        }
    }

    /// This vector stored as `ty` (itself, shared, if it already is).
    pub(crate) fn to_type(&self, ty: VectorType) -> Self {
        match (self, ty) {
            (Vector::F32(_), VectorType::F32) | (Vector::F16(_), VectorType::F16) => self.clone(),
            _ => Vector::new(&self.values(), ty),
        }
    }

    /// The storage type.
    pub(crate) fn vector_type(&self) -> VectorType {
        match self {
            Vector::F32(_) => VectorType::F32,
            Vector::F16(_) => VectorType::F16,
        }
    }

    /// The `f32` values (borrowed, or widened exactly from `f16`).
    pub(crate) fn values(&self) -> Cow<'_, [f32]> {
        match self {
            Vector::F32(v) => Cow::Borrowed(v),
            Vector::F16(h) => Cow::Owned(h.iter().map(|&x| f16_to_f32(x)).collect()),
        }
    }

    /// Number of values.
    pub(crate) fn len(&self) -> usize {
        match self {
            Vector::F32(v) => v.len(),
            Vector::F16(h) => h.len(),
        }
    }

    /// `dot(q, self)`, to the bit what [`dot`] gives on [`values`](Self::values).
    #[inline]
    pub(crate) fn dot(&self, q: &[f32]) -> f32 {
        match self {
            Vector::F32(v) => dot(q, v),
            Vector::F16(h) => dot_f16(q, h),
        }
    }

    /// `dot(q, v)` for four vectors at once, each to the bit what [`dot`](Self::dot) gives
    /// (`dot4`/`dot4_f16` when all four share a storage: their loads overlap).
    #[inline]
    pub(crate) fn dot4(q: &[f32], vs: [&Vector; 4]) -> [f32; 4] {
        match vs {
            [Vector::F32(a), Vector::F32(b), Vector::F32(c), Vector::F32(d)] => {
                dot4(q, [a, b, c, d])
            }
            [Vector::F16(a), Vector::F16(b), Vector::F16(c), Vector::F16(d)] => {
                dot4_f16(q, [a, b, c, d])
            }
            _ => vs.map(|v| v.dot(q)),
        }
    }

    /// Whether both hold the same values, to the bit (whatever their storage).
    pub(crate) fn same_values(&self, o: &Vector) -> bool {
        self.len() == o.len()
            && self
                .values()
                .iter()
                .zip(o.values().iter())
                .all(|(a, b)| a.to_bits() == b.to_bits())
    }
}

impl Point for Vector {
    #[inline]
    fn distance(&self, other: &Self) -> f32 {
        1.0 - match self {
            Vector::F32(q) => other.dot(q),
            Vector::F16(_) => other.dot(&self.values()),
        }
    }

    /// Four distances at once (`dot4`, each bit-identical to `distance`): instant-distance's
    /// search (our vendored copy) calls this for the neighbours it visits, so the loads of four
    /// scattered vectors overlap.
    #[inline]
    fn distances4(&self, others: [&Self; 4]) -> [f32; 4] {
        match self {
            Vector::F32(q) => Vector::dot4(q, others).map(|x| 1.0 - x),
            Vector::F16(_) => others.map(|o| self.distance(o)),
        }
    }
}

/// Serialised as the `f32` values (an `f16` vector widened exactly): instant-distance's form,
/// in segments built for [`Collection::apply_index`]; read back as `f32` and stored as the
/// collection's [`VectorType`] once attached. (Saved files hold an `f16` collection's graph
/// points as `f16` bits: `persist.rs` rewrites its sections.)
impl Serialize for Vector {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            Vector::F32(v) => s.collect_seq(v.iter()),
            Vector::F16(h) => s.collect_seq(h.iter().map(|&x| f16_to_f32(x))),
        }
    }
}

impl<'de> Deserialize<'de> for Vector {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        Ok(Vector::F32(Vec::<f32>::deserialize(d)?.into()))
    }
}

/// When and how the HNSW graph is (re)built. All thresholds are on live items.
///
/// instant-distance builds a graph once and cannot insert into it, so items added after a build
/// sit in an exact-scan "tail" that every search also scans; removed or replaced items leave
/// tombstones in the graph that searches skip. [`Collection::needs_rebuild`] says when a rebuild
/// pays off; search results are correct (tail exact, tombstones skipped) whether or not it runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct IndexPolicy {
    /// Below this many live items there is no graph: an exact scan is as fast (measured crossover,
    /// see `benches/RESULTS-index.md`).
    pub min_index_size: usize,
    /// Rebuild when the unindexed tail exceeds this fraction of the indexed items ...
    pub max_tail_fraction: f32,
    /// ... and holds more than this many items.
    pub min_tail: usize,
    /// Rebuild when tombstones exceed this fraction of the graph's points.
    pub max_tombstone_fraction: f32,
    /// HNSW `ef_construction` (candidate list while building).
    pub ef_construction: usize,
    /// HNSW `ef_search`: the default candidate list of each segment's search (stored with the
    /// graphs it builds; a search may set its own, [`SearchOptions::ef`]). Searches asking for
    /// more than this many results fall back to an exact scan.
    pub ef_search: usize,
    /// Use instant-distance's neighbour-selection heuristic (better graphs on clustered data,
    /// slower builds).
    pub heuristic: bool,
    /// Graphs of at least this many items are built with the heuristic's `keep_pruned` (each
    /// node's neighbour list is filled back up to 64 links with the candidates the heuristic
    /// pruned); smaller graphs keep only the heuristic's picks, which builds several times
    /// faster at a small cost in recall (measured in `benches/RESULTS-index.md`).
    pub keep_pruned_from: usize,
    /// Largest graph segment. A build splits the items into `ceil(n / max_segment_size)` graphs
    /// of equal size (in insertion order) that every search visits, merging their candidates.
    /// instant-distance's build cost grows faster than linearly, so four graphs of 25k build
    /// several times faster than one of 100k (which also needs `keep_pruned_from` for recall);
    /// each search runs one graph search per segment (measured in `benches/RESULTS-index.md`).
    pub max_segment_size: usize,
    /// Seed of the layer assignment (builds are otherwise non-deterministic only through thread
    /// scheduling; saved graphs are loaded as they were).
    pub seed: u64,
    /// Keep an int8 copy of every vector (`dim + 8` bytes per item: about +570 B, +27 %, at
    /// 512-d) that exact scans read first, rescoring exactly only the items that can still reach
    /// the top `k`. Results are identical (ids, order, scores to the bit); an exact scan of 100k
    /// 512-d items took 2.9 ms instead of 9.1 ms in Chromium (`benches/RESULTS-index.md`).
    /// Worth it for collections searched mostly by exact scan: no graph (`min_index_size` above
    /// the size, e.g. to skip builds), filters that match many items, or a large unindexed tail.
    /// Off by default.
    pub quantized_scan: bool,
    /// How vectors are stored: `f32` (default) or `f16`, half the memory and half the bytes an
    /// exact scan reads, for values rounded to `f16` (see [`VectorType`]). Changing it on a
    /// collection converts every stored vector (to `f16`: rounding them).
    pub vector_type: VectorType,
}

/// Default [`IndexPolicy::keep_pruned_from`].
pub const KEEP_PRUNED_FROM: usize = 30_000;

/// Default [`IndexPolicy::max_segment_size`].
pub const MAX_SEGMENT_SIZE: usize = 25_000;

/// How far a graph search's score (`1 - distance`, i.e. `1 - (1 - dot)`) may lie from the exact
/// `dot` it is rescored to: comparisons between the two allow this much.
const GRAPH_SCORE_SLACK: f32 = 1e-6;

/// How many segments more than a full rebuild would make [`Collection::maintain`] lets a
/// growing collection have (each costs a graph search per query) before it rebuilds instead of
/// indexing the tail on its own.
pub const EXTRA_SEGMENTS: usize = 2;

impl Default for IndexPolicy {
    fn default() -> Self {
        IndexPolicy {
            min_index_size: 4096,
            max_tail_fraction: 0.1,
            min_tail: 1024,
            max_tombstone_fraction: 0.2,
            // Measured (benches/RESULTS-index.md, 100k clustered 512-d in Chromium, one
            // thread, one run): one graph with efC 48 / ef 96 built in 194 s for recall@10
            // 0.980 at 0.99 ms p50; four segments of 25k with efC 48 / ef 64 build in 20 s for
            // 0.990 at 1.46 ms (ef 48: 23.6 s, 0.980, 1.1 ms; ef 40: 17.8 s, 0.973, 0.98 ms,
            // but 0.954 on tests/index_recall.rs's 50k). instant-distance's build cost grows
            // ~efC^3 (its heuristic re-selects every neighbour's links on each insertion) and
            // faster than linearly in the graph's size, hence segments.
            ef_construction: 48,
            ef_search: 64,
            heuristic: true,
            keep_pruned_from: KEEP_PRUNED_FROM,
            max_segment_size: MAX_SEGMENT_SIZE,
            seed: 0x5eed_c11b,
            quantized_scan: false,
            vector_type: VectorType::F32,
        }
    }
}

/// Options of a search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SearchOptions {
    /// How many results at most (default 10).
    pub k: usize,
    /// Drop results whose cosine score is below this.
    pub min_score: Option<f32>,
    /// Keep only items whose metadata passes this filter.
    pub filter: Option<Filter>,
    /// Length of each graph segment's candidate list (HNSW `ef`, Qdrant's `hnsw_ef`) for this
    /// search, in place of the policy's [`IndexPolicy::ef_search`]: larger finds more of the
    /// true nearest items and takes longer (see `BENCHMARKS.md`). `None` uses the policy's.
    /// Items not yet in a graph are scanned exactly either way, and a search for more than
    /// `ef` results scans exactly.
    pub ef: Option<usize>,
}

impl Default for SearchOptions {
    fn default() -> Self {
        SearchOptions {
            k: 10,
            min_score: None,
            filter: None,
            ef: None,
        }
    }
}

impl SearchOptions {
    /// Options for the top `k` results, no threshold, no filter.
    pub fn top(k: usize) -> Self {
        SearchOptions {
            k,
            ..Self::default()
        }
    }
}

/// One search result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchHit {
    /// The item's id.
    pub id: String,
    /// Cosine similarity to the query, in `[-1, 1]`.
    pub score: f32,
    /// The item's metadata.
    pub metadata: Metadata,
}

/// A positive or negative example of a recommendation: an item id or a raw vector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Example {
    /// An item of the collection (excluded from the results).
    Id(String),
    /// A raw embedding (normalised before use).
    Vector(Vec<f32>),
}

/// A recommendation query (Qdrant's `average_vector` strategy).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Recommend {
    /// Examples the results should resemble (at least one).
    pub positive: Vec<Example>,
    /// Examples the results should not resemble.
    pub negative: Vec<Example>,
}

/// What [`Collection::upsert`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Upserted {
    /// A new id.
    Inserted,
    /// The id existed: its embedding and metadata were replaced.
    Replaced,
}

/// Sizes of a collection's parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IndexStats {
    /// Live items.
    pub live: usize,
    /// Live items in the HNSW graph.
    pub indexed: usize,
    /// Live items in the exact-scan tail.
    pub tail: usize,
    /// Graph points whose item was removed or replaced.
    pub tombstones: usize,
    /// HNSW graphs (segments) every search visits: those of the last rebuild plus any that
    /// [`Collection::index_tail`] added (see [`IndexPolicy::max_segment_size`]); 0 without a graph.
    pub segments: usize,
}

/// A borrowed view of one live item.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemRef<'a> {
    /// The id.
    pub id: &'a str,
    /// The L2-normalised embedding (borrowed; widened to `f32` if stored as
    /// [`VectorType::F16`]).
    pub embedding: Cow<'a, [f32]>,
    /// The metadata.
    pub metadata: &'a Metadata,
}

impl ItemRef<'_> {
    /// An owned copy.
    pub fn to_item(&self) -> Item {
        Item {
            id: self.id.to_string(),
            embedding: self.embedding.to_vec(),
            metadata: self.metadata.clone(),
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Slot {
    pub(crate) id: String,
    pub(crate) metadata: Metadata,
    /// `None` once removed.
    pub(crate) vector: Option<Vector>,
    /// Graph point of this slot (numbered across segments), or `NONE` (tail or removed).
    pub(crate) pid: u32,
}

/// The HNSW graphs of the last build: segments whose points are numbered consecutively.
pub(crate) struct Graph {
    pub(crate) segments: Vec<Segment>,
    /// Graph point -> slot, `NONE` for tombstones.
    pub(crate) slot_of: Vec<u32>,
    pub(crate) tombstones: usize,
    /// `ef_search` the graph was built with.
    pub(crate) ef_search: usize,
}

/// What an index build makes: the slots of each new segment, in build order.
pub(crate) struct Cut {
    /// Whether the segments replace the graph (else they are added to it).
    pub(crate) rebuild: bool,
    /// Number of the first new segment (its seed offset).
    pub(crate) base: usize,
    /// Live slots of each new segment.
    pub(crate) members: Vec<Vec<u32>>,
}

/// One instant-distance graph; its point `i` is graph point `offset + i`.
pub(crate) struct Segment {
    pub(crate) hnsw: Hnsw<Vector>,
    pub(crate) offset: u32,
    pub(crate) len: u32,
}

/// A searchable collection of embedded items; the source of truth for ids, embeddings and
/// metadata.
///
/// - Vectors are checked (dimension, finite, non-zero) and stored L2-normalised as `f32`
///   (2 KiB per 512-d item, shared by the item and the graph) or, with
///   [`IndexPolicy::vector_type`] [`VectorType::F16`], rounded to `f16` (1 KiB); every score is
///   a cosine similarity (the dot product with the stored values).
/// - Search = instant-distance HNSW graphs over the items present at the last build (one per
///   segment of at most [`IndexPolicy::max_segment_size`] items, candidates merged) + exact scan
///   over items added since; filters are applied to the candidates, with an exact scan over the
///   matching items whenever the graphs' candidates cannot settle the top `k`, so `k` results
///   come back whenever `k` items match. Ties are broken by id.
///
/// # Example
/// ```
/// use clipsearch::{Item, SpaceInfo};
/// use clipsearch::index::{Collection, SearchOptions};
/// let space = SpaceInfo { model_key: "m".into(), model_name: "toy".into(), dim: 2,
///                         quantization: "f32".into() };
/// let mut c = Collection::new(space).unwrap();
/// for (id, v) in [("a", [1.0, 0.0]), ("b", [0.0, 1.0]), ("c", [1.0, 1.0])] {
///     c.upsert(Item { id: id.into(), embedding: v.to_vec(), metadata: Default::default() }).unwrap();
/// }
/// let hits = c.search(&[1.0, 0.1], &SearchOptions::top(2)).unwrap();
/// assert_eq!(hits[0].id, "a");
/// assert_eq!(hits[1].id, "c");
/// ```
pub struct Collection {
    pub(crate) space: SpaceInfo,
    pub(crate) policy: IndexPolicy,
    pub(crate) slots: Vec<Slot>,
    pub(crate) by_id: IdMap,
    /// Slots not in the graph (some may be dead).
    pub(crate) tail: Vec<u32>,
    pub(crate) graph: Option<Graph>,
    /// Int8 copies of the slots' vectors when [`IndexPolicy::quantized_scan`] is on.
    pub(crate) codes: Option<ScanCodes>,
    /// Bumped by every change to the items, the slots' numbering, the graph or the policy: an
    /// [`IndexPlan`](super::IndexPlan) applies only to the generation it was made from.
    pub(crate) generation: u64,
}

impl std::fmt::Debug for Collection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Collection")
            .field("space", &self.space)
            .field("stats", &self.stats())
            .finish()
    }
}

/// A scored slot in a top-k heap: the "greatest" entry is the worst result.
struct Ranked<'a> {
    score: f32,
    id: &'a str,
    slot: u32,
}

impl Ord for Ranked<'_> {
    fn cmp(&self, o: &Self) -> Ordering {
        // Better = higher score, then smaller id. Worst compares greatest.
        o.score
            .total_cmp(&self.score)
            .then_with(|| self.id.cmp(o.id))
    }
}
impl PartialOrd for Ranked<'_> {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl PartialEq for Ranked<'_> {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for Ranked<'_> {}

struct TopK<'a> {
    k: usize,
    heap: BinaryHeap<Ranked<'a>>,
}

impl<'a> TopK<'a> {
    fn new(k: usize) -> Self {
        TopK {
            k,
            heap: BinaryHeap::with_capacity(k + 1),
        }
    }
    #[inline]
    fn push(&mut self, r: Ranked<'a>) {
        if self.heap.len() < self.k {
            self.heap.push(r);
        } else if let Some(worst) = self.heap.peek() {
            if r < *worst {
                self.heap.pop();
                self.heap.push(r);
            }
        }
    }
    fn into_sorted(self) -> Vec<Ranked<'a>> {
        self.heap.into_sorted_vec()
    }
}

impl Collection {
    /// An empty collection for vectors of `space`, with the default [`IndexPolicy`].
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if `space.dim` is 0.
    pub fn new(space: SpaceInfo) -> Result<Self> {
        Self::with_policy(space, IndexPolicy::default())
    }

    /// An empty collection with an explicit [`IndexPolicy`].
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if `space.dim` is 0 or the policy is unusable.
    pub fn with_policy(space: SpaceInfo, policy: IndexPolicy) -> Result<Self> {
        if space.dim == 0 {
            return Err(Error::InvalidArgument(
                "a collection needs a dimension of at least 1".into(),
            ));
        }
        check_policy(&policy)?;
        let mut c = Collection {
            space,
            policy,
            slots: Vec::new(),
            by_id: IdMap::default(),
            tail: Vec::new(),
            graph: None,
            codes: None,
            generation: 0,
        };
        c.sync_codes();
        Ok(c)
    }

    /// Marks a change (see `generation`).
    #[inline]
    pub(crate) fn changed(&mut self) {
        self.generation = self.generation.wrapping_add(1);
    }

    /// Stores every vector (graph points and the slots sharing them, tail items) as `ty`; the
    /// scan codes, made from the stored values, are dropped (for [`sync_codes`](Self::sync_codes)
    /// to remake).
    fn store_as(&mut self, ty: VectorType) {
        if let Some(g) = &mut self.graph {
            for seg in &mut g.segments {
                for (i, p) in seg.hnsw.points_mut().iter_mut().enumerate() {
                    *p = p.to_type(ty);
                    let s = g.slot_of.get(seg.offset as usize + i).copied();
                    if let Some(slot) = s.and_then(|s| self.slots.get_mut(s as usize)) {
                        slot.vector = Some(p.clone());
                    }
                }
            }
        }
        for slot in &mut self.slots {
            if let Some(v) = slot.vector.as_mut().filter(|v| v.vector_type() != ty) {
                *v = v.to_type(ty);
            }
        }
        self.codes = None;
    }

    /// Builds or drops the scan codes to match the policy (all rows recomputed when built).
    pub(crate) fn sync_codes(&mut self) {
        let want = self.policy.quantized_scan && self.space.dim <= MAX_CODE_DIM;
        match (want, self.codes.is_some()) {
            (false, _) => self.codes = None,
            (true, true) => {}
            (true, false) => {
                let mut codes = ScanCodes::new(self.space.dim);
                for (s, slot) in self.slots.iter().enumerate() {
                    if let Some(v) = &slot.vector {
                        codes.set(s, &v.values());
                    }
                }
                self.codes = Some(codes);
            }
        }
    }

    /// The embedding space (model key, name, dimension, quantization).
    pub fn space(&self) -> &SpaceInfo {
        &self.space
    }

    /// The rebuild policy.
    pub fn policy(&self) -> &IndexPolicy {
        &self.policy
    }

    /// Replaces the rebuild policy; graph parameters take effect at the next [`rebuild`](Self::rebuild).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if a parameter is out of range (e.g. `ef_search` 0).
    pub fn set_policy(&mut self, policy: IndexPolicy) -> Result<()> {
        check_policy(&policy)?;
        let retype = policy.vector_type != self.policy.vector_type;
        self.policy = policy;
        if retype {
            self.store_as(self.policy.vector_type);
        }
        self.sync_codes();
        self.changed();
        Ok(())
    }

    /// Number of live items.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Whether there are no live items.
    pub fn is_empty(&self) -> bool {
        self.by_id.len() == 0
    }

    /// Whether a live item has this id.
    pub fn contains(&self, id: &str) -> bool {
        self.by_id.get(&self.slots, id).is_some()
    }

    /// Checks that vectors described by `other` may enter this collection.
    ///
    /// # Errors
    /// [`Error::ModelMismatch`] if the model keys differ, [`Error::DimensionMismatch`] if the
    /// dimensions differ.
    pub fn check_space(&self, other: &SpaceInfo) -> Result<()> {
        if other.model_key != self.space.model_key {
            return Err(Error::ModelMismatch {
                expected: self.space.model_key.clone(),
                found: other.model_key.clone(),
            });
        }
        if other.dim != self.space.dim {
            return Err(Error::DimensionMismatch {
                expected: self.space.dim,
                found: other.dim,
            });
        }
        Ok(())
    }

    /// A live item by id.
    pub fn get(&self, id: &str) -> Option<ItemRef<'_>> {
        let slot = self.slots.get(self.by_id.get(&self.slots, id)? as usize)?;
        Some(ItemRef {
            id: &slot.id,
            embedding: slot.vector.as_ref()?.values(),
            metadata: &slot.metadata,
        })
    }

    /// The live items, in insertion order (an upserted id keeps its first position).
    pub fn iter(&self) -> impl Iterator<Item = ItemRef<'_>> + '_ {
        self.slots.iter().filter_map(|s| {
            Some(ItemRef {
                id: &s.id,
                embedding: s.vector.as_ref()?.values(),
                metadata: &s.metadata,
            })
        })
    }

    /// Adds an item, or replaces the item with the same id. The embedding is stored
    /// L2-normalised. The item goes to the exact-scan tail until the next rebuild.
    ///
    /// # Errors
    /// [`Error::DimensionMismatch`] if the embedding has the wrong length,
    /// [`Error::InvalidVector`] if it holds NaN/infinite values or is all zeros. Nothing changes
    /// on error.
    pub fn upsert(&mut self, item: Item) -> Result<Upserted> {
        if item.embedding.len() != self.space.dim {
            return Err(Error::DimensionMismatch {
                expected: self.space.dim,
                found: item.embedding.len(),
            });
        }
        let v = Vector::new(&normalized(&item.embedding)?, self.policy.vector_type);
        if let Some(s) = self.by_id.get(&self.slots, &item.id) {
            self.changed();
            if let Some(c) = self.codes.as_mut() {
                c.set(s as usize, &v.values());
            }
            self.tombstone(s);
            let slot = &mut self.slots[s as usize];
            slot.vector = Some(v);
            slot.metadata = item.metadata;
            // A live slot outside the graph is always in the tail already.
            return Ok(Upserted::Replaced);
        }
        let s = u32::try_from(self.slots.len())
            .ok()
            .filter(|&s| s != NONE)
            .ok_or_else(|| {
                Error::InvalidArgument("a collection holds at most 2^32-2 items".into())
            })?;
        if let Some(c) = self.codes.as_mut() {
            c.set(s as usize, &v.values());
        }
        self.slots.push(Slot {
            id: item.id,
            metadata: item.metadata,
            vector: Some(v),
            pid: NONE,
        });
        self.by_id.insert(&self.slots, s);
        self.tail.push(s);
        self.changed();
        Ok(Upserted::Inserted)
    }

    /// Upserts many items; one result per item, in order (nothing is dropped silently).
    pub fn upsert_batch(&mut self, items: Vec<Item>) -> Vec<Result<Upserted>> {
        items.into_iter().map(|it| self.upsert(it)).collect()
    }

    /// Upserts many items produced in the space `space` (e.g. a table being imported).
    ///
    /// # Errors
    /// [`Error::ModelMismatch`] / [`Error::DimensionMismatch`] if `space` does not match this
    /// collection (then nothing is added); otherwise one result per item.
    pub fn upsert_batch_from(
        &mut self,
        space: &SpaceInfo,
        items: Vec<Item>,
    ) -> Result<Vec<Result<Upserted>>> {
        self.check_space(space)?;
        Ok(self.upsert_batch(items))
    }

    /// Removes items by id; returns how many were present. Removed items are never returned by
    /// a search (graph points become tombstones until the next rebuild).
    pub fn remove(&mut self, ids: &[&str]) -> usize {
        let mut n = 0;
        for id in ids {
            if let Some(s) = self.by_id.remove(&self.slots, id) {
                self.tombstone(s);
                let slot = &mut self.slots[s as usize];
                slot.vector = None;
                slot.metadata = Metadata::new();
                n += 1;
            }
        }
        if n > 0 {
            self.changed();
        }
        if self.slots.len() > 2 * self.by_id.len() + 1024 {
            self.compact();
        }
        n
    }

    /// Detaches a slot from the graph (its point becomes a tombstone).
    fn tombstone(&mut self, s: u32) {
        let slot = &mut self.slots[s as usize];
        if slot.pid != NONE {
            if let Some(g) = self.graph.as_mut() {
                if let Some(x) = g.slot_of.get_mut(slot.pid as usize) {
                    *x = NONE;
                    g.tombstones += 1;
                }
            }
            slot.pid = NONE;
            self.tail.push(s);
        }
    }

    /// Drops dead slots, renumbering the live ones (order kept).
    pub(crate) fn compact(&mut self) {
        if self.slots.len() == self.by_id.len() {
            return; // nothing dead: the numbering stays
        }
        self.changed();
        let mut new_of = vec![NONE; self.slots.len()];
        let mut slots = Vec::with_capacity(self.by_id.len());
        let mut kept = Vec::with_capacity(self.by_id.len());
        for (old, slot) in std::mem::take(&mut self.slots).into_iter().enumerate() {
            if slot.vector.is_some() {
                new_of[old] = slots.len() as u32;
                slots.push(slot);
                kept.push(old);
            }
        }
        self.slots = slots;
        if let Some(c) = self.codes.as_mut() {
            c.retain_rows(&kept);
        }
        self.by_id.renumber(&new_of);
        let mut tail: Vec<u32> = self
            .tail
            .iter()
            .map(|&s| new_of[s as usize])
            .filter(|&s| s != NONE && self.slots[s as usize].pid == NONE)
            .collect();
        tail.sort_unstable();
        tail.dedup();
        self.tail = tail;
        if let Some(g) = self.graph.as_mut() {
            for s in g.slot_of.iter_mut().filter(|s| **s != NONE) {
                *s = new_of[*s as usize];
            }
        }
    }

    /// Sizes of the graph, tail and tombstones.
    pub fn stats(&self) -> IndexStats {
        let live = self.len();
        let indexed = self.slots.iter().filter(|s| s.pid != NONE).count();
        IndexStats {
            live,
            indexed,
            tail: live - indexed,
            tombstones: self.graph.as_ref().map_or(0, |g| g.tombstones),
            segments: self.graph.as_ref().map_or(0, |g| g.segments.len()),
        }
    }

    /// Whether the policy asks for a rebuild: enough items for a graph and none yet, a tail or
    /// tombstone share above the thresholds, a graph built with other parameters, or a graph
    /// no longer worth having. Searches are correct either way; this is about speed.
    pub fn needs_rebuild(&self) -> bool {
        let p = &self.policy;
        let live = self.len();
        match &self.graph {
            None => live >= p.min_index_size,
            Some(g) => {
                let (indexed, tail) = self.indexed_and_tail(g);
                live < p.min_index_size
                    || (tail > p.min_tail && tail as f32 > p.max_tail_fraction * indexed as f32)
                    || self.too_many_tombstones(g)
                    || g.ef_search != p.ef_search
            }
        }
    }

    /// Live graph points, and live items outside the graph.
    fn indexed_and_tail(&self, g: &Graph) -> (usize, usize) {
        let indexed = g.slot_of.len() - g.tombstones;
        (indexed, self.len().saturating_sub(indexed))
    }

    fn too_many_tombstones(&self, g: &Graph) -> bool {
        g.tombstones as f32 > self.policy.max_tombstone_fraction * g.slot_of.len() as f32
    }

    /// If [`needs_rebuild`](Self::needs_rebuild): when only the tail has grown and the graphs
    /// would stay at most [`EXTRA_SEGMENTS`] more than a rebuild makes, indexes the tail as new
    /// segments ([`index_tail`](Self::index_tail)); otherwise [`rebuild`](Self::rebuild)s.
    /// Returns whether it did either.
    pub fn maintain(&mut self) -> bool {
        if !self.needs_rebuild() {
            return false;
        }
        if let Some(cut) = self.cut_segments() {
            self.build_cut(&cut);
        }
        true
    }

    /// Cuts what [`maintain`](Self::maintain) builds into segments (call it only when
    /// [`needs_rebuild`](Self::needs_rebuild)): the live tail when
    /// [`appendable`](Self::appendable), else every live item after compacting the slots (the
    /// graph stays until the cut is built). `None` when the collection is below
    /// `min_index_size`: the graph is then dropped here.
    ///
    /// [`maintain`](Self::maintain), [`rebuild`](Self::rebuild), [`index_tail`](Self::index_tail)
    /// and [`plan_index`](Self::plan_index) all cut here, so a plan built in workers holds the
    /// graphs an in-place build makes.
    pub(crate) fn cut_segments(&mut self) -> Option<Cut> {
        if self.appendable() {
            let base = self.graph.as_ref().map_or(0, |g| g.segments.len());
            return Some(Cut {
                rebuild: false,
                base,
                members: self.even_parts(&self.live_tail()),
            });
        }
        self.full_cut()
    }

    /// Compacts the slots and cuts every live item into segments, in insertion order; `None`
    /// (the graph dropped, every item in the tail) below `min_index_size`.
    fn full_cut(&mut self) -> Option<Cut> {
        self.compact();
        if self.slots.len() < self.policy.min_index_size.max(1) {
            self.changed();
            self.graph = None;
            for s in &mut self.slots {
                s.pid = NONE;
            }
            self.tail = (0..self.slots.len() as u32).collect();
            return None;
        }
        let all: Vec<u32> = (0..self.slots.len() as u32).collect();
        Some(Cut {
            rebuild: true,
            base: 0,
            members: self.even_parts(&all),
        })
    }

    /// `slots` in order, cut into `ceil(len / max_segment_size)` parts of equal size.
    fn even_parts(&self, slots: &[u32]) -> Vec<Vec<u32>> {
        // (`max_segment_size` >= 1: every policy passes `check_policy`.)
        let parts = slots.len().div_ceil(self.policy.max_segment_size);
        let at = |i: usize| i * slots.len() / parts;
        (0..parts)
            .map(|i| slots[at(i)..at(i + 1)].to_vec())
            .collect()
    }

    /// Builds the segments of `cut` here: a new graph for a rebuild, else more segments of the
    /// current one. The tail is then empty.
    pub(crate) fn build_cut(&mut self, cut: &Cut) {
        let mut graph = if cut.rebuild {
            self.graph = None; // before the build: one graph in memory at a time
            for s in &mut self.slots {
                s.pid = NONE;
            }
            Graph {
                segments: Vec::with_capacity(cut.members.len()),
                slot_of: Vec::with_capacity(self.slots.len()),
                tombstones: 0,
                ef_search: self.policy.ef_search,
            }
        } else {
            match self.graph.take() {
                Some(g) => g,
                None => return,
            }
        };
        self.changed();
        for m in &cut.members {
            self.add_segment(&mut graph, m);
        }
        self.tail.clear();
        self.graph = Some(graph);
    }

    /// Whether [`maintain`](Self::maintain) would index the tail as new segments (rather than
    /// rebuild everything).
    pub(crate) fn appendable(&self) -> bool {
        let p = &self.policy;
        let live = self.len();
        // (`max_segment_size` >= 1: every policy passes `check_policy`.)
        self.graph.as_ref().is_some_and(|g| {
            let (_, tail) = self.indexed_and_tail(g);
            let max = p.max_segment_size;
            live >= p.min_index_size
                && g.ef_search == p.ef_search
                && !self.too_many_tombstones(g)
                && g.segments.len() + tail.div_ceil(max) <= live.div_ceil(max) + EXTRA_SEGMENTS
        })
    }

    /// Live tail slots not in a graph, sorted, each once.
    pub(crate) fn live_tail(&self) -> Vec<u32> {
        let mut tail: Vec<u32> = self
            .tail
            .iter()
            .copied()
            .filter(|&s| {
                self.slots
                    .get(s as usize)
                    .is_some_and(|x| x.vector.is_some() && x.pid == NONE)
            })
            .collect();
        tail.sort_unstable();
        tail.dedup();
        tail
    }

    /// The build parameters of segment number `index` (its seed) holding `len` points.
    pub(crate) fn segment_params(&self, index: usize, len: usize) -> SegmentParams {
        let p = &self.policy;
        SegmentParams {
            ef_construction: p.ef_construction,
            ef_search: p.ef_search,
            heuristic: p.heuristic,
            keep_pruned: len >= p.keep_pruned_from,
            seed: p.seed.wrapping_add(index as u64),
        }
    }

    /// Rebuilds the HNSW graphs over all live items (or drops them below `min_index_size`), clearing
    /// the tail and tombstones. In Chromium it takes about 2 s for 10k items and 20 s for 100k
    /// (four segments): in the browser, run it in the worker between batches.
    pub fn rebuild(&mut self) {
        self.changed();
        if let Some(cut) = self.full_cut() {
            self.build_cut(&cut);
        }
    }

    /// Builds one more segment over the live `members` (slots not in a graph) and numbers its
    /// points after the graph's last one.
    fn add_segment(&mut self, graph: &mut Graph, members: &[u32]) {
        let members: Vec<u32> = members
            .iter()
            .copied()
            .filter(|&s| self.slots[s as usize].vector.is_some())
            .collect();
        if members.is_empty() {
            return;
        }
        let points: Vec<Vector> = members
            .iter()
            .filter_map(|&s| {
                // Built on `f32` (as a worker builds a plan's segment), stored as the policy says.
                let v = self.slots[s as usize].vector.as_ref()?;
                Some(v.to_type(VectorType::F32))
            })
            .collect();
        let params = self.segment_params(graph.segments.len(), points.len());
        let (hnsw, pids) = params.builder().build_hnsw(points);
        let pids: Vec<u32> = pids.iter().map(|p| p.into_inner()).collect();
        self.attach_segment(graph, &members, hnsw, &pids);
    }

    /// Numbers the points of a built segment after the graph's last one: `pids[i]` is the
    /// segment point of slot `members[i]`.
    pub(crate) fn attach_segment(
        &mut self,
        graph: &mut Graph,
        members: &[u32],
        mut hnsw: Hnsw<Vector>,
        pids: &[u32],
    ) {
        // The graph's points become the slots' vectors (one copy), stored as the policy says
        // (segments are built and saved as `f32`; equal values, checked by the callers).
        let ty = self.policy.vector_type;
        let points = hnsw.points_mut();
        for p in points.iter_mut() {
            if p.vector_type() != ty {
                *p = p.to_type(ty);
            }
        }
        let offset = graph.slot_of.len() as u32;
        graph
            .slot_of
            .resize(graph.slot_of.len() + members.len(), NONE);
        for (&s, &pid) in members.iter().zip(pids) {
            if let Some(p) = points.get(pid as usize) {
                self.slots[s as usize].vector = Some(p.clone());
            }
            let pid = offset + pid;
            graph.slot_of[pid as usize] = s;
            self.slots[s as usize].pid = pid;
        }
        graph.segments.push(Segment {
            hnsw,
            offset,
            len: members.len() as u32,
        });
    }

    /// Indexes the tail as new segments (of at most `max_segment_size`), keeping the graphs
    /// there are; returns `false` (and does nothing) when there is no graph or the tail is empty.
    ///
    /// Cheaper than [`rebuild`](Self::rebuild) for a growing collection: adding 10k items to
    /// 100k builds a graph of 10k instead of four of 27.5k. Tombstones stay, and every segment
    /// adds a graph search to each query; [`maintain`](Self::maintain) chooses between the two.
    pub fn index_tail(&mut self) -> bool {
        let Some(base) = self.graph.as_ref().map(|g| g.segments.len()) else {
            return false;
        };
        let tail = self.live_tail();
        if tail.is_empty() {
            return false;
        }
        let members = self.even_parts(&tail);
        self.build_cut(&Cut {
            rebuild: false,
            base,
            members,
        });
        true
    }

    fn query_vector(&self, q: &[f32]) -> Result<Vec<f32>> {
        if q.len() != self.space.dim {
            return Err(Error::DimensionMismatch {
                expected: self.space.dim,
                found: q.len(),
            });
        }
        normalized(q)
    }

    /// The top `k` items by cosine similarity to `query` (normalised first), best first, ties by
    /// id, filtered and thresholded by `opts`.
    ///
    /// # Errors
    /// [`Error::DimensionMismatch`], [`Error::InvalidVector`] for a bad query,
    /// [`Error::InvalidArgument`] for `k` 0, a NaN `min_score` or an `ef` of 0 or above 100000.
    pub fn search(&self, query: &[f32], opts: &SearchOptions) -> Result<Vec<SearchHit>> {
        check_options(opts)?;
        let q = self.query_vector(query)?;
        let mut scratch = Search::default();
        Ok(self.hits(self.search_normalized(&q, opts, &[], &mut scratch)))
    }

    /// [`search`](Self::search) for many queries with the same options.
    ///
    /// # Errors
    /// As [`search`](Self::search), for the first bad query.
    pub fn search_batch<Q: AsRef<[f32]>>(
        &self,
        queries: &[Q],
        opts: &SearchOptions,
    ) -> Result<Vec<Vec<SearchHit>>> {
        check_options(opts)?;
        let mut scratch = Search::default();
        queries
            .iter()
            .map(|q| {
                let q = self.query_vector(q.as_ref())?;
                Ok(self.hits(self.search_normalized(&q, opts, &[], &mut scratch)))
            })
            .collect()
    }

    /// "More like this": the items nearest to item `id`, which is itself excluded.
    ///
    /// # Errors
    /// [`Error::UnknownId`] if no live item has this id; as [`search`](Self::search) otherwise.
    pub fn search_by_id(&self, id: &str, opts: &SearchOptions) -> Result<Vec<SearchHit>> {
        check_options(opts)?;
        let s = self
            .by_id
            .get(&self.slots, id)
            .ok_or_else(|| Error::UnknownId(id.to_string()))?;
        let q = self.vector_of(s)?;
        let mut scratch = Search::default();
        Ok(self.hits(self.search_normalized(&q, opts, &[s], &mut scratch)))
    }

    /// Recommends items close to the positive examples and far from the negative ones, with
    /// Qdrant's `average_vector` strategy: query = avg(pos) + (avg(pos) - avg(neg)) (just
    /// avg(pos) without negatives), over normalised examples; example items are excluded.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] without positive examples or when the query vector cancels
    /// out; [`Error::UnknownId`] for an unknown example id; [`Error::DimensionMismatch`] /
    /// [`Error::InvalidVector`] for a bad example vector.
    pub fn recommend(&self, query: &Recommend, opts: &SearchOptions) -> Result<Vec<SearchHit>> {
        check_options(opts)?;
        if query.positive.is_empty() {
            return Err(Error::InvalidArgument(
                "recommend needs at least one positive example".into(),
            ));
        }
        let mut exclude = Vec::new();
        let pos = self.average(&query.positive, &mut exclude)?;
        let q: Vec<f32> = if query.negative.is_empty() {
            pos
        } else {
            let neg = self.average(&query.negative, &mut exclude)?;
            pos.iter().zip(&neg).map(|(p, n)| p + (p - n)).collect()
        };
        let q = normalized(&q).map_err(|_| {
            Error::InvalidArgument(
                "the positive and negative examples cancel out: give different examples".into(),
            )
        })?;
        let mut scratch = Search::default();
        Ok(self.hits(self.search_normalized(&q, opts, &exclude, &mut scratch)))
    }

    fn vector_of(&self, s: u32) -> Result<Vec<f32>> {
        self.slots
            .get(s as usize)
            .and_then(|x| x.vector.as_ref())
            .map(|v| v.values().into_owned())
            .ok_or_else(|| Error::InvalidArgument("item has no vector".into()))
    }

    fn average(&self, examples: &[Example], exclude: &mut Vec<u32>) -> Result<Vec<f32>> {
        let mut sum = vec![0.0_f32; self.space.dim];
        for e in examples {
            let v = match e {
                Example::Id(id) => {
                    let s = self
                        .by_id
                        .get(&self.slots, id)
                        .ok_or_else(|| Error::UnknownId(id.clone()))?;
                    exclude.push(s);
                    self.vector_of(s)?
                }
                Example::Vector(v) => self.query_vector(v)?,
            };
            for (a, b) in sum.iter_mut().zip(&v) {
                *a += b;
            }
        }
        let n = examples.len() as f32;
        Ok(sum.into_iter().map(|x| x / n).collect())
    }

    fn hits(&self, ranked: Vec<(f32, u32)>) -> Vec<SearchHit> {
        ranked
            .into_iter()
            .filter_map(|(score, s)| {
                let slot = self.slots.get(s as usize)?;
                Some(SearchHit {
                    id: slot.id.clone(),
                    score,
                    metadata: slot.metadata.clone(),
                })
            })
            .collect()
    }

    /// Core search over a normalised query: returns (score, slot), best first.
    fn search_normalized(
        &self,
        q: &[f32],
        opts: &SearchOptions,
        exclude: &[u32],
        scratch: &mut Search,
    ) -> Vec<(f32, u32)> {
        let min = opts.min_score.unwrap_or(f32::NEG_INFINITY);
        let filter = opts.filter.as_ref();
        let mut top = TopK::new(opts.k);
        let accept = |s: u32, slot: &Slot| -> bool {
            !exclude.contains(&s) && filter.is_none_or(|f| f.matches(&slot.metadata))
        };
        let slots: &[Slot] = &self.slots;
        // Exact scan of the tail (everything when there is no graph).
        let in_tail = |s: u32| {
            slots
                .get(s as usize)
                .is_some_and(|slot| slot.vector.is_some() && slot.pid == NONE && accept(s, slot))
        };
        self.scan_exact(
            q,
            opts.k,
            min,
            self.tail.iter().copied().filter(|&s| in_tail(s)),
            &mut top,
        );
        if let Some(g) = &self.graph {
            // Graph candidates, then the filter; if fewer than k candidates pass (a selective
            // filter, tombstones, exclusions, k > ef), scan the graph's items exactly instead.
            let mut matched: Vec<(u32, f32)> = Vec::new();
            // Per segment: whether its candidate list is complete, and the score it stopped at
            // (items it did not return score at most that).
            let mut frontiers: Vec<(bool, f32)> = Vec::with_capacity(g.segments.len());
            let ef = opts.ef.unwrap_or(g.ef_search);
            if opts.k <= ef {
                let query = Vector::F32(Arc::from(q));
                for seg in &g.segments {
                    let mut n_candidates = 0;
                    let mut last_score = f32::INFINITY;
                    // Once this segment has given k matches, the items further down its list
                    // (nearest first) score below all k and cannot reach the top k: their
                    // slots are not read. (`GRAPH_SCORE_SLACK` also keeps ties, which rank by
                    // id.)
                    let mut n_matched = 0;
                    let mut below = f32::NEG_INFINITY;
                    for item in seg.hnsw.search_ef(&query, scratch, ef) {
                        n_candidates += 1;
                        let score = 1.0 - item.distance;
                        last_score = score;
                        if score < below {
                            continue;
                        }
                        let pid = seg.offset as usize + item.pid.into_inner() as usize;
                        let s = g.slot_of.get(pid).copied().unwrap_or(NONE);
                        if s == NONE {
                            continue;
                        }
                        if let Some(slot) = self.slots.get(s as usize) {
                            if accept(s, slot) && score >= min {
                                // Re-score exactly with the query (not the Vector clone) for
                                // bit-identical scores across exact and graph paths.
                                let exact = slot.vector.as_ref().map_or(score, |v| v.dot(q));
                                matched.push((s, exact));
                                n_matched += 1;
                                if n_matched == opts.k {
                                    below = score - GRAPH_SCORE_SLACK;
                                }
                            }
                        }
                    }
                    // The list is complete if it ran below the threshold or covered every point.
                    let complete = last_score < min || n_candidates >= seg.len as usize;
                    frontiers.push((complete, last_score));
                }
            }
            // The matches are the answer if every segment's list is complete, or if at least k
            // matched and no segment's unseen items can beat the k-th best of them.
            let exhausted = frontiers.len() == g.segments.len()
                && frontiers.iter().all(|&(complete, _)| complete);
            let enough = matched.len() >= opts.k && {
                let mut scores: Vec<f32> = matched.iter().map(|m| m.1).collect();
                let (_, &mut kth, _) =
                    scores.select_nth_unstable_by(opts.k - 1, |a, b| b.total_cmp(a));
                frontiers
                    .iter()
                    .all(|&(complete, last)| complete || last <= kth + GRAPH_SCORE_SLACK)
            };
            if enough || exhausted {
                for (s, score) in matched {
                    push_ranked(slots, &mut top, s, score, min);
                }
            } else {
                let in_graph = |(s, slot): (usize, &Slot)| {
                    let s = s as u32;
                    (slot.vector.is_some() && slot.pid != NONE && accept(s, slot)).then_some(s)
                };
                let all = slots.iter().enumerate().filter_map(in_graph);
                self.scan_exact(q, opts.k, min, all, &mut top);
            }
        }
        top.into_sorted()
            .into_iter()
            .map(|r| (r.score, r.slot))
            .collect()
    }
}

impl Collection {
    /// Exact top-`k` scan of `candidates` (live slots the search accepts) into `top`: every
    /// candidate's `f32` dot product, or with scan codes only the candidates that can still
    /// reach the top `k` (same results, see `codes.rs`).
    fn scan_exact<'a>(
        &'a self,
        q: &[f32],
        k: usize,
        min: f32,
        candidates: impl Iterator<Item = u32>,
        top: &mut TopK<'a>,
    ) {
        let slots: &[Slot] = &self.slots;
        let exact = |s: u32| {
            if let Some(v) = slots.get(s as usize).and_then(|x| x.vector.as_ref()) {
                push_ranked(slots, top, s, v.dot(q), min);
            }
        };
        match &self.codes {
            Some(codes) => codes.scan(q, k, min, candidates, exact),
            None => candidates.for_each(exact),
        }
    }
}

fn push_ranked<'a>(slots: &'a [Slot], top: &mut TopK<'a>, s: u32, score: f32, min: f32) {
    if score < min {
        return;
    }
    if let Some(slot) = slots.get(s as usize) {
        top.push(Ranked {
            score,
            id: &slot.id,
            slot: s,
        });
    }
}

fn check_options(o: &SearchOptions) -> Result<()> {
    if o.k == 0 {
        return Err(Error::InvalidArgument("k must be at least 1".into()));
    }
    if o.min_score.is_some_and(f32::is_nan) {
        return Err(Error::InvalidArgument("minScore is NaN".into()));
    }
    if o.ef.is_some_and(|ef| ef == 0 || ef > 100_000) {
        return Err(Error::InvalidArgument(
            "ef must be between 1 and 100000".into(),
        ));
    }
    Ok(())
}

pub(crate) fn check_policy(p: &IndexPolicy) -> Result<()> {
    if p.ef_search == 0 || p.ef_construction == 0 {
        return Err(Error::InvalidArgument(
            "efSearch and efConstruction must be at least 1".into(),
        ));
    }
    if p.ef_search > 100_000 || p.ef_construction > 100_000 {
        return Err(Error::InvalidArgument(
            "efSearch and efConstruction must be at most 100000".into(),
        ));
    }
    if p.max_segment_size == 0 {
        return Err(Error::InvalidArgument(
            "maxSegmentSize must be at least 1".into(),
        ));
    }
    if !(p.max_tail_fraction >= 0.0 && p.max_tombstone_fraction >= 0.0) {
        return Err(Error::InvalidArgument(
            "maxTailFraction and maxTombstoneFraction must be non-negative numbers".into(),
        ));
    }
    Ok(())
}
