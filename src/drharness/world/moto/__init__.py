"""The world's adapter to moto: the only part of the world that imports moto.

One module per emulated service reads and writes moto's in-process backends where no API does it
cheaply (a bucket's region, an object version's bytes, a replica written without re-entering the
HTTP path); `app` builds moto's WSGI application. A moto upgrade's blast radius is this package.
"""

from drharness._lazy import lazy_exports

__all__ = ["dynamodb_backend", "s3_backend"]

# moto's raw backends, for benchmarks and tests that set up state directly (PEP 562: loaded on first use).
__getattr__, __dir__ = lazy_exports(
    __name__,
    {"drharness.world.moto.dynamodb": ["dynamodb_backend"], "drharness.world.moto.s3": ["s3_backend"]},
)
