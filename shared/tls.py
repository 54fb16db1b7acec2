"""TLS to the broker and the database, configured through their URLs (pure).

- RabbitMQ: an ``amqps://`` URL; the CA that signed the broker's certificate is the URL's
  ``cafile`` parameter (aiormq reads it), which ``RABBITMQ_CA_FILE`` adds when the URL has
  none. Without a CA file the system's trusted CAs verify the broker.
- MongoDB: ``tls=true`` in the URL; the CA is ``tlsCAFile``, which ``MONGO_CA_FILE`` adds
  (with ``tls=true``) when the URL has none.

A URL that names its own CA keeps it: the URL is the more specific setting.
"""

from __future__ import annotations

import urllib.parse


def with_parameters(url: str, **parameters: str) -> str:
    """``url`` with these query parameters added where it has none of the same name."""
    parts = urllib.parse.urlsplit(url)
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    present = {name.lower() for name, _ in query}
    query += [(name, value) for name, value in parameters.items() if name.lower() not in present]
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query, safe="/:")))


def amqp_url(url: str, ca_file: str = "") -> str:
    """``amqps://`` URLs verified against ``ca_file`` (other URLs are returned as given).

    ``url`` may name several nodes of a cluster, separated by commas: each gets the CA.
    """
    if not ca_file:
        return url
    return ",".join(
        with_parameters(address, cafile=ca_file) if address.startswith("amqps://") else address
        for address in (part.strip() for part in url.split(","))
    )


def mongo_url(url: str, ca_file: str = "") -> str:
    """A MongoDB URL with TLS verified against ``ca_file`` (unchanged without one)."""
    if not ca_file:
        return url
    parts = urllib.parse.urlsplit(url)
    # MongoDB wants a "/" between the hosts and the options.
    url = urllib.parse.urlunsplit(parts._replace(path=parts.path or "/"))
    return with_parameters(url, tls="true", tlsCAFile=ca_file)
