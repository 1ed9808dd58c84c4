"""Webhooks: a signed POST to the client's ``callback_url`` (and to ``WEBHOOK_URL``)
when an image or a word count ends.

- :mod:`~imgsvc.webhooks.signing`: the Standard Webhooks headers and signature
- :mod:`~imgsvc.webhooks.transport`: one POST through the SSRF-safe fetcher's rules
- :mod:`~imgsvc.webhooks.record`: deliveries and their attempts in Redis
- :mod:`~imgsvc.webhooks.delivery`: announcing an event, the delivery job
"""
