"""The notifier's pure rules, no I/O: which steps the citizen hears of (``steps``), what they
read (``texts``, ``smsparts``), what is sent (``outgoing``), the jobs that send it and when
to try again (``jobs``), and what an e-mail or SMS provider is (``providers``).
"""
