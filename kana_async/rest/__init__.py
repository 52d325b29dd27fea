"""The Kana REST API: transport policy (:class:`RestSession`) and one coroutine per endpoint
(:class:`KanaRest`)."""

from .kana import KanaRest
from .ratelimit import RateLimiter
from .session import RestSession, RetryPolicy

__all__ = ["KanaRest", "RateLimiter", "RestSession", "RetryPolicy"]
