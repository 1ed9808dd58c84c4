"""The word-count flow: the counter and the ``count_words`` job (docs/word-counter.md).

The SSRF-safe fetcher it uses (:mod:`imgsvc.fetch`, :mod:`imgsvc.netguard`)
stays at the top level: other outbound requests will share it."""
