"""The server side of every RPC as single-purpose steps run in order by one gRPC
interceptor (interceptor.py says the order): deadline, validation (the lenient
deserializer and field limits), authn, authz, audit, metrics, errors, logging.

The steps know no storage library: what a storage failure means to the caller is
an injected error mapper (phs_runtime.db_errors), and the guard (phs_runtime.policy)
is handed in.
"""

from phs_runtime.pipeline.interceptor import Pipeline, ServerInterceptor

__all__ = ["Pipeline", "ServerInterceptor"]
