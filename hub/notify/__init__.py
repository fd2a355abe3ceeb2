"""Notifications: every event about a resident is announced in the transaction that records it.

``outbox.announce`` is called by :class:`hub.uow.Trail` right after the audit append, in the same session, so
a notice exists exactly when its event committed. ``dispatch`` (the ``gongyu worker`` and the demo's
in-process loop) delivers the rows; ``inbox`` reads the delivered inbox messages for the resident and for the
public verification of a notice's code. Both faces (``hub.api`` and ``hub.web``) read through this package,
never through each other.
"""
