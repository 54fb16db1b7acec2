"""The notifier's providers: e-mail over SMTP (``email``), SMS over the HTTP gateway (``sms``).

Each implements a port of ``services.notifier.domain.providers``.
"""
