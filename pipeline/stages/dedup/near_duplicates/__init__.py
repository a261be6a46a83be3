"""MinHash LSH near-duplicate detection over token sequences (datasketch's MinHash family).

  shingles     tokens -> word shingles -> 32-bit shingle ids (vectorised per batch)
  signatures   shingle ids -> MinHash signatures with datasketch's affine32 permutations
  banding      S-curve, choice of bands x rows, candidate pairs from band buckets
  pairs        candidates verified by exact (or estimated) Jaccard >= threshold
  clusters     connected components of the verified pairs
  split_check  how many duplicate pairs straddle train/validation after the split
"""

from pipeline.stages.dedup.near_duplicates.banding import candidate_probability, choose_banding, s_curve
from pipeline.stages.dedup.near_duplicates.clusters import connected_components
from pipeline.stages.dedup.near_duplicates.pairs import LshSettings, NearPairs, near_duplicate_pairs
from pipeline.stages.dedup.near_duplicates.split_check import CLUSTER_COLUMN, split_straddle_facts

__all__ = [
    "CLUSTER_COLUMN", "LshSettings", "NearPairs", "candidate_probability", "choose_banding",
    "connected_components", "near_duplicate_pairs", "s_curve", "split_straddle_facts",
]
