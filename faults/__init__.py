"""``make faults``: the fault suite (issue 11; the rules it checks are in docs/reliability.md).

The system runs as ``make run`` runs it — each service its own process — against a
RabbitMQ node, a MongoDB-compatible server and mail/SMS sinks that the suite starts, breaks
and repairs itself; portal clients and a field team drive applications through every
scenario, and the end state is counted: applications lost, effects done twice, seconds
to recover. ``python -m faults --help`` lists the scenarios and variants.
"""
