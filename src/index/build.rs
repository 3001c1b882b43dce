//! Index builds done elsewhere: [`Collection::plan_index`] cuts what
//! [`Collection::maintain`] would build into independent graph segments, each a
//! [`PlannedSegment`] sharing its vectors with the collection (written out where the build runs:
//! a [`SegmentJob`] holding a copy of them, or a worker's message); [`build_segment`] builds one
//! anywhere (another
//! thread, another Web Worker: it needs no collection); [`Collection::apply_index`] attaches
//! the built segments, checking that the collection has not changed since the plan and that
//! every segment holds exactly the planned vectors.
//!
//! In the browser this is how the package builds a collection's segments in parallel, one per
//! worker (the collection stays searchable on its old graph meanwhile). A plan builds the same
//! segments with the same seeds as [`Collection::maintain`].
//!
//! ```
//! use clipsearch::{Item, SpaceInfo};
//! use clipsearch::index::{build_segment, Collection, IndexPolicy, SearchOptions};
//! let space = SpaceInfo { model_key: "m".into(), model_name: "toy".into(), dim: 8,
//!                         quantization: "f32".into() };
//! let policy = IndexPolicy { min_index_size: 40, max_segment_size: 25, ..Default::default() };
//! let mut c = Collection::with_policy(space, policy).unwrap();
//! for i in 0..50 {
//!     let v: Vec<f32> = (0..8).map(|j| ((i * 7 + j * 3) % 11) as f32 - 5.0).collect();
//!     c.upsert(Item { id: format!("{i}"), embedding: v, metadata: Default::default() }).unwrap();
//! }
//! let mut plan = c.plan_index().expect("50 items need a graph");
//! assert_eq!(plan.segments(), 2);
//! // Each job could go to its own worker; here they are built in turn.
//! let built: Vec<Vec<u8>> = plan.take_jobs().iter().map(|j| build_segment(j).unwrap()).collect();
//! assert!(c.apply_index(plan, &built).unwrap());
//! assert_eq!(c.stats().segments, 2);
//! assert_eq!(c.stats().tail, 0);
//! ```

use std::borrow::Cow;
use std::sync::Arc;

use instant_distance::{Builder, Hnsw};
use serde::{Deserialize, Serialize};

use super::collection::{Collection, Graph, Vector, NONE};
use super::persist::decode_segment;
use crate::{Error, Result};

/// How one graph segment is built (from the collection's [`IndexPolicy`](super::IndexPolicy)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SegmentParams {
    /// HNSW `ef_construction`.
    pub ef_construction: usize,
    /// HNSW `ef_search` (stored in the graph).
    pub ef_search: usize,
    /// instant-distance's neighbour-selection heuristic.
    pub heuristic: bool,
    /// The heuristic's `keep_pruned` (see [`IndexPolicy::keep_pruned_from`](super::IndexPolicy)).
    pub keep_pruned: bool,
    /// Seed of the layer assignment.
    pub seed: u64,
}

impl SegmentParams {
    /// The instant-distance builder for these parameters.
    pub(crate) fn builder(&self) -> Builder {
        Builder::default()
            .ef_construction(self.ef_construction)
            .ef_search(self.ef_search)
            .seed(self.seed)
            .select_heuristic(self.heuristic.then_some(instant_distance::Heuristic {
                extend_candidates: false,
                keep_pruned: self.keep_pruned,
            }))
    }
}

/// One segment to build: its parameters and a copy of its L2-normalised vectors, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct SegmentJob {
    /// Build parameters.
    pub params: SegmentParams,
    /// Values per vector.
    pub dim: usize,
    /// `points * dim` values.
    pub vectors: Vec<f32>,
}

/// One segment of an [`IndexPlan`]: its build parameters and its items' vectors, shared with
/// the collection (nothing is copied until they are written where the build runs).
#[derive(Debug, Clone)]
pub struct PlannedSegment {
    params: SegmentParams,
    dim: usize,
    vectors: Vec<Vector>,
}

impl PlannedSegment {
    /// Build parameters.
    pub fn params(&self) -> &SegmentParams {
        &self.params
    }

    /// Values per vector.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Number of points (items) in the segment.
    pub fn points(&self) -> usize {
        self.vectors.len()
    }

    /// The points' L2-normalised vectors, in build order (widened to `f32` if the collection
    /// stores [`VectorType::F16`](super::VectorType): segments are built on `f32`).
    pub fn vectors(&self) -> impl ExactSizeIterator<Item = Cow<'_, [f32]>> + '_ {
        self.vectors.iter().map(Vector::values)
    }

    /// The segment as a [`SegmentJob`] (a copy of its vectors) for [`build_segment`].
    pub fn to_job(&self) -> SegmentJob {
        let mut vectors = Vec::with_capacity(self.points() * self.dim);
        for v in self.vectors() {
            vectors.extend_from_slice(&v);
        }
        SegmentJob {
            params: self.params.clone(),
            dim: self.dim,
            vectors,
        }
    }
}

/// What [`Collection::maintain`] would build, cut into segments built elsewhere
/// ([`Collection::plan_index`], [`build_segment`], [`Collection::apply_index`]).
#[derive(Debug)]
pub struct IndexPlan {
    generation: u64,
    rebuild: bool,
    ef_search: usize,
    /// Slots of each segment, in job order.
    members: Vec<Vec<u32>>,
    jobs: Vec<PlannedSegment>,
}

impl IndexPlan {
    /// Number of segments to build.
    pub fn segments(&self) -> usize {
        self.members.len()
    }

    /// Whether the plan replaces every graph (a rebuild) rather than indexing the tail as new
    /// segments.
    pub fn is_rebuild(&self) -> bool {
        self.rebuild
    }

    /// The segments to build (empty once taken).
    pub fn jobs(&self) -> &[PlannedSegment] {
        &self.jobs
    }

    /// Takes the segments out of the plan, e.g. to write their vectors into workers' messages
    /// one segment at a time; the plan keeps what [`Collection::apply_index`] needs.
    pub fn take_segments(&mut self) -> Vec<PlannedSegment> {
        std::mem::take(&mut self.jobs)
    }

    /// Takes the segments out of the plan as [`SegmentJob`]s (each a copy of its vectors), e.g.
    /// to send them to threads.
    pub fn take_jobs(&mut self) -> Vec<SegmentJob> {
        self.take_segments()
            .iter()
            .map(PlannedSegment::to_job)
            .collect()
    }
}

/// What [`Collection::plan_or_build`] did.
#[derive(Debug)]
pub enum Planned {
    /// Nothing needed building.
    Nothing,
    /// The index was built here and now: the plan would have had fewer segments than asked
    /// for (`segments` of them; 0 when the collection fell below `min_index_size` and its graph
    /// was dropped).
    Built {
        /// Whether the graph was replaced rather than grown by new segments.
        rebuild: bool,
        /// Segments built.
        segments: usize,
    },
    /// Segments to build elsewhere and attach with [`Collection::apply_index`].
    Plan(IndexPlan),
}

/// Builds one segment; returns its bytes for [`Collection::apply_index`]: each input vector's
/// point id (postcard `Vec<u32>`), then the graph in instant-distance's serde form (as saved
/// collections hold it).
///
/// # Errors
/// [`Error::InvalidArgument`] if the job is empty, its vectors are not `points * dim` values or
/// its parameters are out of range; [`Error::InvalidVector`] if a value is NaN or infinite.
pub fn build_segment(job: &SegmentJob) -> Result<Vec<u8>> {
    let p = &job.params;
    if job.dim == 0 || job.vectors.is_empty() || job.vectors.len() % job.dim != 0 {
        return Err(Error::InvalidArgument(format!(
            "a segment needs whole vectors of {} values, got {} values",
            job.dim,
            job.vectors.len()
        )));
    }
    if p.ef_search == 0 || p.ef_construction == 0 || p.ef_search > 100_000 {
        return Err(Error::InvalidArgument(
            "segment parameters out of range (ef_search and ef_construction 1..=100000)".into(),
        ));
    }
    if job.vectors.iter().any(|v| !v.is_finite()) {
        return Err(Error::InvalidVector(
            "a segment vector holds NaN or infinite values".into(),
        ));
    }
    let points: Vec<Vector> = job
        .vectors
        .chunks_exact(job.dim)
        .map(|v| Vector::F32(Arc::from(v)))
        .collect();
    let (hnsw, pids) = p.builder().build_hnsw(points);
    let pids: Vec<u32> = pids.iter().map(|p| p.into_inner()).collect();
    let bytes = postcard::to_allocvec(&pids).map_err(|e| Error::InvalidData(e.to_string()))?;
    postcard::to_extend(&hnsw, bytes).map_err(|e| Error::InvalidData(e.to_string()))
}

/// A segment decoded and checked against its plan.
struct Checked {
    hnsw: Hnsw<Vector>,
    pids: Vec<u32>,
}

impl Collection {
    /// Plans what [`maintain`](Self::maintain) would do, as segments to build elsewhere: `None`
    /// when nothing needs building (no rebuild needed, or the graph is simply dropped because
    /// the collection became smaller than `min_index_size`, which this call does at once).
    ///
    /// A rebuild plan first compacts the slots (removed items leave); the current graph stays
    /// and keeps answering searches until [`apply_index`](Self::apply_index).
    pub fn plan_index(&mut self) -> Option<IndexPlan> {
        match self.plan_or_build(1) {
            Planned::Plan(plan) => Some(plan),
            Planned::Nothing | Planned::Built { .. } => None,
        }
    }

    /// [`plan_index`](Self::plan_index), except that a build of fewer than `min_jobs` segments
    /// is done here at once, as [`maintain`](Self::maintain) does it: with one worker to build
    /// in, or a build of one segment, there is nothing to share out.
    pub fn plan_or_build(&mut self, min_jobs: usize) -> Planned {
        if !self.needs_rebuild() {
            return Planned::Nothing;
        }
        let Some(cut) = self.cut_segments() else {
            return Planned::Built {
                rebuild: true,
                segments: 0,
            };
        };
        if cut.members.len() < min_jobs {
            self.build_cut(&cut);
            return Planned::Built {
                rebuild: cut.rebuild,
                segments: cut.members.len(),
            };
        }
        let dim = self.space.dim;
        let jobs = cut
            .members
            .iter()
            .enumerate()
            .map(|(i, m)| PlannedSegment {
                params: self.segment_params(cut.base + i, m.len()),
                dim,
                vectors: m
                    .iter()
                    .filter_map(|&s| self.slots[s as usize].vector.clone())
                    .collect(),
            })
            .collect();
        Planned::Plan(IndexPlan {
            generation: self.generation,
            rebuild: cut.rebuild,
            ef_search: self.policy.ef_search,
            members: cut.members,
            jobs,
        })
    }

    /// Attaches the segments built for `plan` (`built[i]` from job `i`, by [`build_segment`]).
    /// Returns `Ok(false)`, changing nothing, when the collection changed after the plan (an
    /// upsert, a removal, another build): plan again.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if there is not one segment per job; [`Error::InvalidData`]
    /// if a segment is unreadable or does not hold exactly its job's vectors. Nothing changes on
    /// error.
    pub fn apply_index<B: AsRef<[u8]>>(&mut self, plan: IndexPlan, built: &[B]) -> Result<bool> {
        if plan.generation != self.generation {
            return Ok(false);
        }
        if built.len() != plan.members.len() {
            return Err(Error::InvalidArgument(format!(
                "the plan has {} segments, {} were given",
                plan.members.len(),
                built.len()
            )));
        }
        let checked = plan
            .members
            .iter()
            .zip(built)
            .enumerate()
            .map(|(i, (m, b))| self.check_segment(i, m, b.as_ref(), plan.ef_search))
            .collect::<Result<Vec<Checked>>>()?;
        let mut graph = if plan.rebuild {
            for s in &mut self.slots {
                s.pid = NONE;
            }
            Graph {
                segments: Vec::with_capacity(checked.len()),
                slot_of: Vec::with_capacity(self.slots.len()),
                tombstones: 0,
                ef_search: plan.ef_search,
            }
        } else {
            match self.graph.take() {
                Some(g) => g,
                None => return Ok(false),
            }
        };
        for (m, c) in plan.members.iter().zip(checked) {
            // Equal to the bit (checked): the slots and the graph now share one copy.
            self.attach_segment(&mut graph, m, c.hnsw, &c.pids);
        }
        self.tail.clear();
        self.graph = Some(graph);
        self.changed();
        Ok(true)
    }

    /// Decodes segment `i` and checks it holds exactly the vectors of slots `members`.
    fn check_segment(
        &self,
        i: usize,
        members: &[u32],
        bytes: &[u8],
        ef_search: usize,
    ) -> Result<Checked> {
        let bad = |m: &str| Error::InvalidData(format!("graph segment {i}: {m}"));
        let n = members.len();
        let (pids, rest): (Vec<u32>, _) =
            postcard::take_from_bytes(bytes).map_err(|e| bad(&e.to_string()))?;
        if pids.len() != n {
            return Err(bad("it does not hold one point per planned item"));
        }
        let mut seen = vec![false; n];
        for &p in &pids {
            match seen.get_mut(p as usize) {
                Some(x) if !*x => *x = true,
                _ => return Err(bad("its point ids are not a permutation")),
            }
        }
        let hnsw = decode_segment(rest, self.space.dim, ef_search, n)?;
        let points: Vec<&Vector> = hnsw.iter().map(|(_, p)| p).collect();
        for (&s, &p) in members.iter().zip(&pids) {
            let same = self.slots[s as usize]
                .vector
                .as_ref()
                .is_some_and(|v| v.same_values(points[p as usize]));
            if !same {
                return Err(bad("a point differs from the item planned for it"));
            }
        }
        Ok(Checked { hnsw, pids })
    }
}
