"""zarr-python's codec pipeline without a copy of every complete inner chunk.

When zarr-python 3.1 writes a shard (``ShardingCodec``), it hands each inner chunk to the inner
codec pipeline with the whole shard's array as ``value``;
``BatchedCodecPipeline._merge_chunk_array`` then returns ``value`` itself only when ``value``
*is* the chunk, so for every frame of a shard it allocates a chunk filled with the fill value
and copies the frame into it before encoding. The chunk is complete: the copy holds exactly the
frame's values. :class:`CompleteChunkPipeline` encodes a view of them instead. The bytes
written are identical (tested: ``tests/unit/test_zarr_pipeline.py``); a level-1 frame's write
costs 11.0 instead of 16.5 ms of CPU (32 frames of 1024x1024 float32 in one shard, Blosc LZ4,
measured 2026-12-01, ``bench/bench_level1.py`` has the end-to-end figures).

:func:`install` makes it zarr's pipeline in this process, unless the configuration names
another pipeline than zarr's own (a user's choice, e.g. zarrs-python, is kept) or
``LASCOPROC_ZARR_PIPELINE=zarr`` says not to. ``lascoproc.io.zarr_store`` installs it on import;
region writes on a dask.distributed cluster install it on the workers there at the start
(``client.run(install)``; a worker that joins later writes with zarr's own pipeline: the same
bytes, slower).
"""

from __future__ import annotations

import os

from zarr.core.codec_pipeline import BatchedCodecPipeline

__all__ = ["CompleteChunkPipeline", "install", "ZARR_DEFAULT"]

#: zarr's own pipeline, as its configuration names it.
ZARR_DEFAULT = "zarr.core.codec_pipeline.BatchedCodecPipeline"
PATH = f"{__name__}.CompleteChunkPipeline"


class CompleteChunkPipeline(BatchedCodecPipeline):
    """:class:`zarr.core.codec_pipeline.BatchedCodecPipeline`, but a complete chunk that is a
    slice of a larger array being written (an inner chunk of a shard) is encoded from a view of
    it, not from a fill-value chunk it is copied into."""

    def _merge_chunk_array(self, existing_chunk_array, value, out_selection, chunk_spec,
                           chunk_selection, is_complete_chunk, drop_axes):
        if is_complete_chunk and existing_chunk_array is None and not drop_axes \
                and chunk_selection != () and len(value.shape) == len(chunk_spec.shape):
            view = value[out_selection]
            if view.shape == chunk_spec.shape:
                return view
        return super()._merge_chunk_array(existing_chunk_array, value, out_selection,
                                          chunk_spec, chunk_selection, is_complete_chunk,
                                          drop_axes)


def install() -> bool:
    """Make :class:`CompleteChunkPipeline` zarr's codec pipeline here; ``True`` if it is."""
    import zarr
    from zarr.registry import register_pipeline

    current = zarr.config.get("codec_pipeline.path")
    if current == PATH:
        return True
    if os.environ.get("LASCOPROC_ZARR_PIPELINE", "").lower() == "zarr" or current != ZARR_DEFAULT:
        return False
    register_pipeline(CompleteChunkPipeline)
    zarr.config.set({"codec_pipeline.path": PATH})
    return True

