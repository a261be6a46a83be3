"""Connected components of a graph given as edge arrays: near-duplicate clusters (A~B, B~C -> {A, B, C}).

Vectorised union-find: every round hooks the larger root of each edge under the smaller one (a
minimum scatter), then compresses paths by pointer jumping, until no edge joins two roots. Each
label is the smallest node index of its component.
"""

from __future__ import annotations

import numpy as np


def connected_components(n: int, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    parent = np.arange(n, dtype=np.int64)
    left = np.asarray(left, dtype=np.int64)
    right = np.asarray(right, dtype=np.int64)
    while True:
        root_l, root_r = parent[left], parent[right]
        differ = root_l != root_r
        if not differ.any():
            return parent
        root_l, root_r = root_l[differ], root_r[differ]
        low = np.minimum(root_l, root_r)
        np.minimum.at(parent, root_l, low)
        np.minimum.at(parent, root_r, low)
        while True:                                   # pointer jumping until every node points at a root
            jumped = parent[parent]
            if np.array_equal(jumped, parent):
                break
            parent = jumped
