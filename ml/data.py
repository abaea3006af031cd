"""Input pipelines: ``tf.data`` datasets streamed from packed HDF5 image shards.

Images are never loaded whole: shards are read in blocks (:func:`hscanom.ingest.shards.iter_batches`),
shuffled through a bounded buffer, and prefetched while the model trains.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import tensorflow as tf

from hscanom.ingest.shards import Shard, iter_batches

_READ_BLOCK = 256


def image_dataset(shard_paths: Sequence[Path | str], *, shuffle_buffer: int = 2048, seed: int = 0) -> tf.data.Dataset:
    """An endless, shuffled dataset of single images (H, W, C) float32 in [0, 1].

    Args:
        shard_paths: packed shards (in a fixed order).
        shuffle_buffer: images held in the shuffle buffer (bounds memory).
        seed: shuffle seed (each pass over the data reshuffles deterministically).
    """
    paths = [str(p) for p in shard_paths]
    if not paths:
        raise ValueError("no packed shards to train on (run `hscanom cutouts pack` first)")
    with Shard(paths[0]) as first:
        shape = first.image_shape

    def blocks():
        for _, images in iter_batches(paths, _READ_BLOCK):
            yield images

    ds = tf.data.Dataset.from_generator(blocks, output_signature=tf.TensorSpec((None, *shape), tf.float32))
    return ds.unbatch().shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True).repeat()


def training_batches(shard_paths, batch_size: int, *, stack: int | None = None, seed: int = 0) -> tf.data.Dataset:
    """Batches (B, H, W, C) — or stacks (stack, B, H, W, C) for the critic updates — prefetched."""
    ds = image_dataset(shard_paths, seed=seed).batch(batch_size, drop_remainder=True)
    if stack:
        ds = ds.batch(stack, drop_remainder=True)
    return ds.prefetch(tf.data.AUTOTUNE)


def count_images(shard_paths) -> int:
    total = 0
    for path in shard_paths:
        with Shard(path) as shard:
            total += len(shard)
    return total


__all__ = ["count_images", "image_dataset", "training_batches"]
