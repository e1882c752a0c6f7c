"""sam2_engine: a clean-room SAM 2 implementation in pure torch + numpy.

The model (``sam2_engine.modeling``), its configurations, weights handling and predictors.
It never imports napari, Qt or the official ``sam2`` package (``tests/test_engine_isolation.py``
checks this). Keep this file import-light: submodules are imported where they are used.
"""
